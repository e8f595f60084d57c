/*
 * The reports and verdicts people read: only the lines that apply.  Each
 * case builds a report as the library fills it after some outcome and
 * checks what is printed -- and what must not be (issue 10's noise:
 * "stopped: continue", "final dirty set 0 blocks, sent during the
 * downtime", "0 disk(s)", "guest resumed on the source" for a guest never
 * suspended).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"

#define has(s, sub)                                                         \
    do {                                                                    \
        if (!strstr((s), (sub)))                                            \
            fail_msg("'%s' not in:\n%s", (sub), (s));                       \
    } while (0)
#define hasnt(s, sub)                                                       \
    do {                                                                    \
        if (strstr((s), (sub)))                                             \
            fail_msg("'%s' unexpectedly in:\n%s", (sub), (s));              \
    } while (0)

static char *out;
static size_t outlen;

static FILE *open_out(void)
{
    FILE *f;

    free(out);
    out = NULL;
    f = open_memstream(&out, &outlen);
    assert_non_null(f);
    return f;
}

static const char *close_out(FILE *f)
{
    fclose(f);
    return out;
}

/* What the library reports before anything was measured. */
static struct xlmig_source_report blank(void)
{
    return (struct xlmig_source_report){
        .disk_downtime_ms = -1, .guest_downtime_ms = -1, .postcopy_s = -1,
        .expected_downtime_ms = -1, .suspend_ms = -1, .quiesce_ms = -1,
        .handoff_ms = -1, .expected_guest_downtime_ms = -1,
        .downtime_budget_ms = 50, .max_passes = 30,
        .block_size = 4096,
    };
}

/* The destination refused a target during negotiation. */
static void test_failed_in_negotiation(void **state)
{
    struct xlmig_source_report r = blank();
    const char *s;
    FILE *f;

    (void)state;
    r.ok = false;
    r.error = "destination: disk xvda: target /x exists";
    r.ndisks = 1;
    r.allocated_bytes = 8 << 20;
    r.wire_bytes = 1000;
    r.total_s = 0.05;
    f = open_out();
    cli_print_source_report(f, &r);
    assert_int_equal(cli_source_verdict(f, -EEXIST, &r, 0, 0, true), 1);
    s = close_out(f);
    has(s, "FAILED: destination: disk xvda: target /x exists");
    has(s, "in 1 disk,");
    has(s, "failed before the hand-off: destination: disk xvda: target /x "
           "exists; the guest kept running here.");
    hasnt(s, "stopped:");
    hasnt(s, "continue");
    hasnt(s, "dirty passes");
    hasnt(s, "final dirty set");
    hasnt(s, "downtime");
    hasnt(s, "post-copy");
    hasnt(s, "resumed");
    hasnt(s, "disk(s)");
}

/* Nothing at all: no disk, no bytes. */
static void test_failed_before_disks(void **state)
{
    struct xlmig_source_report r = blank();
    const char *s;
    FILE *f;

    (void)state;
    r.error = "no data channel";
    f = open_out();
    cli_print_source_report(f, &r);
    s = close_out(f);
    hasnt(s, "0 disk");
    hasnt(s, "allocated");
    hasnt(s, "wire bytes");
    hasnt(s, "x allocated");
}

/* The guest was suspended, then stop-copy failed: resumed, or not. */
static void test_failed_after_suspend(void **state)
{
    struct xlmig_source_report r = blank();
    const char *s;
    FILE *f;

    (void)state;
    r.error = "destination: data channel: EOF";
    r.ndisks = 1;
    r.suspended = true;
    r.passes = 2;
    r.stop_reason = "fits in downtime";
    r.stopcopy = true;          /* reached, but never confirmed */
    f = open_out();
    cli_print_source_report(f, &r);
    assert_int_equal(cli_source_verdict(f, -EIO, &r, 0, 0, true), 1);
    s = close_out(f);
    has(s, "dirty passes      2 of at most 30");
    has(s, "stopped: fits in downtime");
    has(s, "the guest was resumed here");
    hasnt(s, "final dirty set");        /* the downtime never ended */
    hasnt(s, "disk downtime");
    f = open_out();
    assert_int_equal(cli_source_verdict(f, -EIO, &r, 0, 0, false), 1);
    s = close_out(f);
    has(s, "could NOT be resumed");
}

/* Ctrl-C before GO, on either side. */
static void test_cancelled(void **state)
{
    struct xlmig_source_report r = blank();
    struct xlmig_dest_report d = { .error = "cancelled during PUSH",
                                   .postcopy_s = -1 };
    const char *s;
    FILE *f;

    (void)state;
    r.error = "cancelled";
    f = open_out();
    assert_int_equal(cli_source_verdict(f, -ECANCELED, &r, 0, SIGINT, true),
                     1);
    assert_int_equal(cli_dest_verdict(f, -ECANCELED, &d, 0, SIGTERM), 1);
    d.error = "source: cancelled";
    assert_int_equal(cli_dest_verdict(f, -ECANCELED, &d, 0, 0), 1);
    r.error = "destination: cancelled during PUSH";
    assert_int_equal(cli_source_verdict(f, -ECANCELED, &r, 0, 0, true), 1);
    s = close_out(f);
    has(s, "xlmig: migration cancelled (SIGINT) before the hand-off: the "
           "guest kept running here; the destination deletes its copy.\n");
    has(s, "xlmig: receive cancelled (SIGTERM) before the hand-off: nothing "
           "kept here; the guest runs on at the source.\n");
    has(s, "xlmig: the source cancelled the migration before the hand-off");
    has(s, "xlmig: the destination cancelled the migration before the "
           "hand-off: the guest kept running here.\n");
    hasnt(s, "cancelled: cancelled");
}

/* Success with post-copy, within the budget. */
static void test_success_postcopy(void **state)
{
    struct xlmig_source_report r = blank();
    const char *s;
    FILE *f;

    (void)state;
    r.ok = r.past_go = r.suspended = r.stopcopy = r.postcopy = true;
    r.ndisks = 2;
    r.allocated_bytes = 512ull << 20;
    r.wire_bytes = 520ull << 20;
    r.passes = 3;
    r.max_passes = 30;
    r.stop_reason = "dirty set no longer shrinks";
    r.final_blocks = 487;
    r.disk_downtime_ms = 12.3;
    r.expected_downtime_ms = 10.1;
    r.guest_downtime_ms = 45.6;
    r.suspend_ms = 20;
    r.handoff_ms = 13.3;
    r.expected_guest_downtime_ms = 40;
    r.postcopy_s = 2.5;
    r.demanded_blocks = 7;
    r.background_blocks = 480;
    r.installed_blocks = 470;
    r.overwritten_blocks = 17;
    f = open_out();
    cli_print_source_report(f, &r);
    assert_int_equal(cli_source_verdict(f, 0, &r, 0, 0, true), 0);
    s = close_out(f);
    has(s, "in 2 disks,");
    has(s, "dirty passes      3 of at most 30");
    has(s, "final dirty set   487 blocks, handed over as a bitmap");
    has(s, "disk downtime     12.3 ms (quiesce to destination ready, gates "
           "armed; expected 10.1 ms; budget 50 ms)\n");
    has(s, "guest downtime    45.6 ms (suspended to GO: suspend 20.0 ms, "
           "disk 12.3 ms, hand-off 13.3 ms; expected 40.0 ms)");
    has(s, "post-copy         2.50 s: 7 blocks demanded, 480 pushed in "
           "background, 470 installed, 17 overwritten");
    hasnt(s, "OVER");
    hasnt(s, "keep-up");
    hasnt(s, "xlmig:");                 /* no verdict line on success */
}

/* Nothing dirty at stop-copy; the downtime over the budget. */
static void test_success_clean_over_budget(void **state)
{
    struct xlmig_source_report r = blank();
    const char *s;
    FILE *f;

    (void)state;
    r.ok = r.past_go = r.suspended = r.stopcopy = true;
    r.ndisks = 1;
    r.stop_reason = "no dirty block left";
    r.keepup_passes = 4;
    r.disk_downtime_ms = 17.6;
    r.downtime_budget_ms = 5;
    r.downtime_over_budget = true;
    r.expected_downtime_ms = 9;
    f = open_out();
    cli_print_source_report(f, &r);
    s = close_out(f);
    has(s, "final dirty set   none\n");
    has(s, "keep-up passes    4");
    has(s, "budget 5 ms)  OVER THE BUDGET");
    hasnt(s, "sent during the downtime");
    hasnt(s, "post-copy");
    hasnt(s, "0 blocks");
}

/* After GO, post-copy failed: loud, with the count. */
static void test_postcopy_failed(void **state)
{
    struct xlmig_source_report r = blank();
    struct xlmig_dest_report d = { .error = "POST-COPY FAILED: channel",
                                   .past_go = true, .postcopy_s = -1 };
    const char *s;
    FILE *f;

    (void)state;
    r.error = "channel";
    r.past_go = r.postcopy = r.suspended = r.stopcopy = true;
    f = open_out();
    cli_print_source_report(f, &r);
    assert_int_equal(cli_source_verdict(f, XLMIG_RESULT_POSTCOPY_FAILED, &r,
                                        42, 0, true), 3);
    assert_int_equal(cli_dest_verdict(f, XLMIG_RESULT_POSTCOPY_FAILED, &d,
                                      42, 0), 3);
    s = close_out(f);
    has(s, "post-copy         not finished: ");
    has(s, "42 block(s) it has not received exist only in the source image");
    has(s, "42 block(s) exist only on the source");
    hasnt(s, "resumed");
}

static void test_dest_report(void **state)
{
    const char *names[] = { "xvda", "xvdb" };
    const char *paths[] = { "/srv/a.img", "/srv/b.img" };
    struct xlmig_dest_report d = {
        .ok = false, .ndisks = 2, .error = "source: cancelled",
        .data_bytes = 1 << 20, .postcopy_s = -1,
    };
    const char *s;
    FILE *f;

    (void)state;
    /* Failed before GO: the targets are gone; none is listed. */
    f = open_out();
    cli_print_dest_report(f, &d, names, paths);
    s = close_out(f);
    has(s, "FAILED: source: cancelled");
    has(s, "none kept");
    hasnt(s, "/srv/a.img");
    hasnt(s, "post-copy");
    /* Success, with post-copy. */
    d = (struct xlmig_dest_report){
        .ok = true, .past_go = true, .ndisks = 2, .data_bytes = 3 << 20,
        .stale_blocks = 100, .installed = 90, .demanded = 5, .refused = 10,
        .postcopy_s = 1.25,
    };
    f = open_out();
    cli_print_dest_report(f, &d, names, paths);
    s = close_out(f);
    has(s, "disk xvda         -> /srv/a.img\n");
    has(s, "disk xvdb         -> /srv/b.img\n");
    has(s, "written           3.0 MiB data, 0.0 MiB zeroed");
    has(s, "post-copy         100 stale blocks: 90 installed, 5 demanded, 10 "
           "deliveries discarded (the guest had written the block), 1.25 s");
    hasnt(s, "none kept");
    /* No post-copy, nothing zeroed: no line for it. */
    d.stale_blocks = 0;
    f = open_out();
    cli_print_dest_report(f, &d, names, paths);
    s = close_out(f);
    hasnt(s, "post-copy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_in_negotiation),
        cmocka_unit_test(test_failed_before_disks),
        cmocka_unit_test(test_failed_after_suspend),
        cmocka_unit_test(test_cancelled),
        cmocka_unit_test(test_success_postcopy),
        cmocka_unit_test(test_success_clean_over_budget),
        cmocka_unit_test(test_postcopy_failed),
        cmocka_unit_test(test_dest_report),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    free(out);
    return rc;
}
