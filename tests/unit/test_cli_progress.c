/*
 * The terminal progress display, without a terminal: the lines the pure
 * formatter makes from event sequences recorded from real migrations (the
 * fields today's engine sends), from events with the proposed fields, and
 * from nearly empty events; the widths; the writer's in-place rewriting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli_progress.h"
#include "progress.h"

#define has(s, sub)                                                         \
    do {                                                                    \
        if (!strstr((s), (sub)))                                            \
            fail_msg("'%s' not in: %s", (sub), (s));                        \
    } while (0)
#define hasnt(s, sub)                                                       \
    do {                                                                    \
        if (strstr((s), (sub)))                                             \
            fail_msg("'%s' unexpectedly in: %s", (sub), (s));               \
    } while (0)

static struct cli_pev ev(const char *event, const char *phase)
{
    return cli_pev_none(event, phase);
}

/* A source's push tick as the engine sends it today. */
static struct cli_pev push_tick(int64_t rem, int64_t sent, int64_t wire,
                                double rate, double eta)
{
    struct cli_pev e = ev("progress", "push");

    e.pass = 0;
    e.remaining_bytes = rem;
    e.sent_bytes = sent;
    e.wire_bytes = wire;
    e.rate_Bps = rate;
    e.eta_s = eta;
    return e;
}

static void fmt(struct cli_pstate *st, struct cli_pev e, double t,
                struct cli_pout *o)
{
    cli_progress_format(st, &e, t, 200, o);
    if (strlen(o->live) > 199 || strlen(o->done) > 199)
        fail_msg("line longer than the width");
}

/* Recorded: xlmig send --bandwidth 40M, 128 MiB allocated, 20M writes. */
static void test_source_today(void **state)
{
    struct cli_pstate st;
    struct cli_pout o;
    struct cli_pev e;

    (void)state;
    cli_progress_init(&st, "source", 50, 30);
    fmt(&st, ev("phase", "negotiate"), 0.113, &o);
    has(o.live, "source  negotiate");
    assert_false(o.live_is_final);
    hasnt(o.live, "[");

    e = ev("phase", "push");
    e.remaining_bytes = 145043456;
    fmt(&st, e, 0.146, &o);
    has(o.done, "negotiate");
    has(o.done, "in 0.0s");
    has(o.live, "source  push");
    has(o.live, "[....");
    has(o.live, "  0.0%");
    has(o.live, "0.0/138.3 MiB");
    has(o.live, "ETA --");
    assert_true(o.first);

    fmt(&st, push_tick(145043456, 0, 94, 0, 0), 0.146, &o);
    has(o.live, "  0.0%");
    assert_true(o.tick);
    fmt(&st, push_tick(89210880, 55832576, 41377352, 53618307, 1.664),
        1.749, &o);
    has(o.live, " 38.5%");
    has(o.live, "53.2/138.3 MiB");
    has(o.live, "53.6 MB/s");
    /* ETA from the percentage and the rate: 85.1 MiB at 53.6 MB/s. */
    has(o.live, "ETA 1.7s");
    fmt(&st, push_tick(66465792, 78577664, 58475785, 43778997, 1.518),
        2.258, &o);
    has(o.live, " 54.2%");
    /* The wire rate, from successive wire_bytes, smoothed: 25.8 MB/s
     * over the first 1.6 s, then 17.1 MB in 0.509 s = 33.6 MB/s. */
    has(o.live, "wire 29.7 MB/s");
    hasnt(o.done, "push");
    assert_true(o.tick);
    assert_false(o.first);

    /* The first dirty pass: push ends at 100%. */
    e = ev("pass", "dirty");
    e.pass = 1;
    e.remaining_blocks = 18480;
    e.remaining_bytes = 75694080;
    e.rate_Bps = 42331568;
    e.eta_s = 1.788;
    e.expected_downtime_ms = 1788.1;
    fmt(&st, e, 4.480, &o);
    has(o.done, "source  push");
    has(o.done, "[####################]");
    has(o.done, "100.0%");
    has(o.done, "138.3 MiB");
    hasnt(o.done, "/138.3");
    has(o.done, "in 4.3s");
    has(o.live, "dirty 1/30");
    has(o.live, "  0.0%");
    has(o.live, "0.0/72.2 MiB");
    has(o.live, "downtime~1.79 s > 50 ms budget");
    assert_true(o.first);

    /* Today's ticks: "remaining" does not move; sent_bytes does. */
    e = ev("progress", "dirty");
    e.pass = 1;
    e.remaining_bytes = 75685888;
    e.sent_bytes = 186880000;
    e.wire_bytes = 149340703;
    e.rate_Bps = 34714071;
    e.eta_s = 2.180;
    fmt(&st, e, 5.511, &o);
    /* The pass began where the push ended (sent 0 + 145043456):
     * (186880000 - 145043456) / 75694080. */
    has(o.live, " 55.3%");
    has(o.live, "ETA 1.0s");
    e.sent_bytes = 180000000;     /* never backwards */
    fmt(&st, e, 5.6, &o);
    has(o.live, " 55.3%");

    e = ev("pass", "dirty");
    e.pass = 2;
    e.remaining_blocks = 11456;
    e.remaining_bytes = 46923776;
    e.rate_Bps = 37948320;
    e.expected_downtime_ms = 1236.5;
    fmt(&st, e, 6.952, &o);
    assert_string_equal(o.done, "");    /* the same line, a new pass */
    has(o.live, "dirty 2/30");
    has(o.live, "  0.0%");
    has(o.live, "0.0/44.8 MiB");
    assert_true(o.first);

    /* The verdict ends the passes: a summary, final at once. */
    e = ev("pass", "dirty");
    e.pass = 3;
    e.remaining_blocks = 1098;
    e.remaining_bytes = 4497408;
    e.rate_Bps = 23657448;
    e.eta_s = 0.190;
    e.expected_downtime_ms = 190.1;
    e.message = "dirty set no longer shrinks";
    fmt(&st, e, 10.440, &o);
    assert_true(o.live_is_final);
    has(o.live, "source  dirty       2 passes in 6.0 s: dirty set no longer "
                "shrinks");
    has(o.live, "1098 blocks (4.3 MiB) left");
    has(o.live, "downtime~190 ms > 50 ms budget");
    hasnt(o.live, "[");

    e = ev("stopcopy", "stopcopy");
    e.remaining_blocks = 1102;
    e.remaining_bytes = 4513792;
    e.expected_downtime_ms = 0;
    e.message = "handing the stale bitmap over (post-copy)";
    fmt(&st, e, 10.442, &o);
    assert_string_equal(o.done, "");    /* the dirty line is final already */
    has(o.live, "stop-copy   1102 blocks (4.3 MiB)  handing the stale bitmap "
                "over (post-copy)");

    e = ev("phase", "postcopy");
    e.remaining_blocks = 1102;
    e.remaining_bytes = 4513792;
    fmt(&st, e, 10.446, &o);
    has(o.done, "stop-copy");
    has(o.done, "in 0.0s");
    has(o.live, "post-copy");
    has(o.live, "0/1102 blocks");
    e = ev("progress", "postcopy");
    e.remaining_blocks = 551;
    e.remaining_bytes = 2256896;
    e.sent_bytes = 352960512;
    e.wire_bytes = 309392402;
    e.rate_Bps = 23657448;
    fmt(&st, e, 10.6, &o);
    has(o.live, " 50.0%");
    has(o.live, "551/1102 blocks");
    /* ETA from the block size (bytes / blocks) and the rate. */
    has(o.live, "ETA 0.1s");
    hasnt(o.live, "demand");    /* not in today's events */

    fmt(&st, ev("done", "done"), 10.759, &o);
    has(o.done, "post-copy");
    has(o.done, "100.0%");
    has(o.done, "1102/1102 blocks");
    assert_string_equal(o.live, "");
}

/* Recorded: the destination of the same run (blocks only, no ticks
 * before post-copy). */
static void test_destination_today(void **state)
{
    struct cli_pstate st;
    struct cli_pout o;
    struct cli_pev e;

    (void)state;
    cli_progress_init(&st, "destination", -1, -1);
    fmt(&st, ev("phase", "negotiate"), 0.023, &o);
    e = ev("phase", "push");
    e.pass = 0;
    e.remaining_blocks = 35411;
    fmt(&st, e, 0.171, &o);
    has(o.live, "destination  push");
    has(o.live, "0/35411 blocks");
    has(o.live, "ETA --");
    e = ev("phase", "dirty");
    e.pass = 1;
    e.remaining_blocks = 18480;
    fmt(&st, e, 4.522, &o);
    has(o.done, "35411/35411 blocks");
    has(o.done, "in 4.4s");
    has(o.live, "dirty 1 ");
    has(o.live, "0/18480 blocks");
    e.pass = 2;
    e.remaining_blocks = 11456;
    fmt(&st, e, 7.229, &o);
    has(o.live, "dirty 2 ");
    e = ev("phase", "stopcopy");
    e.pass = 0;
    e.remaining_blocks = 1102;
    fmt(&st, e, 10.466, &o);
    /* No verdict on this side: the passes' summary when they end. */
    has(o.done, "dirty       2 passes in 5.9 s");
    has(o.live, "stop-copy   1102 blocks");
    e = ev("phase", "postcopy");
    e.remaining_blocks = 1102;
    fmt(&st, e, 10.468, &o);
    has(o.done, "stop-copy   1102 blocks  in 0.0s");
    e = ev("progress", "postcopy");
    e.remaining_blocks = 1055;
    fmt(&st, e, 10.497, &o);
    has(o.live, "  4.3%");
    has(o.live, "47/1102 blocks");
    /* The ETA from how fast the stale set has been falling. */
    e.remaining_blocks = 555;
    fmt(&st, e, 10.997, &o);
    has(o.live, " 49.6%");
    /* Smoothed: 1620 blocks/s over 29 ms, then 1000/s over 0.5 s. */
    has(o.live, "ETA 0.4s");
    fmt(&st, ev("done", "done"), 11.2, &o);
    has(o.done, "1102/1102 blocks");
}

/* With the fields proposed to the engine. */
static void test_proposed_fields(void **state)
{
    struct cli_pstate st;
    struct cli_pout o;
    struct cli_pev e;

    (void)state;
    cli_progress_init(&st, "source", -1, -1);
    e = ev("pass", "dirty");
    e.pass = 4;
    e.max_passes = 10;
    e.downtime_budget_ms = 50;
    e.total_bytes = 1 << 26;
    e.sent_bytes = 1000;
    e.expected_downtime_ms = 20;
    fmt(&st, e, 1, &o);
    has(o.live, "dirty 4/10");
    has(o.live, "0.0/64.0 MiB");
    has(o.live, "downtime~20 ms");
    hasnt(o.live, "budget");
    e = ev("progress", "dirty");
    e.pass = 4;
    e.remaining_bytes = 1 << 24;        /* a "remaining" that moves */
    e.sent_bytes = 1000;
    e.wire_rate_Bps = 12e6;
    e.rate_Bps = 24e6;
    fmt(&st, e, 2, &o);
    has(o.live, " 75.0%");
    has(o.live, "48.0/64.0 MiB");
    has(o.live, "24.0 MB/s");
    has(o.live, "wire 12.0 MB/s");

    cli_progress_init(&st, "destination", -1, -1);
    e = ev("phase", "postcopy");
    e.total_blocks = 1000;
    e.block_size = 4096;
    fmt(&st, e, 1, &o);
    e = ev("progress", "postcopy");
    e.installed_blocks = 250;
    e.demanded_blocks = 12;
    e.background_blocks = 238;
    e.rate_Bps = 4096000;
    fmt(&st, e, 2, &o);
    has(o.live, " 25.0%");
    has(o.live, "250/1000 blocks");
    has(o.live, "demand 12  background 238");
    has(o.live, "ETA 0.8s");    /* 750 blocks of 4 KiB at 4.1 MB/s */
}

/* Events with almost nothing in them. */
static void test_absent_fields(void **state)
{
    struct cli_pstate st;
    struct cli_pout o;

    (void)state;
    cli_progress_init(&st, "source", -1, -1);
    fmt(&st, ev("phase", "push"), 0, &o);
    has(o.live, "source  push");
    hasnt(o.live, "%");
    fmt(&st, ev("progress", "push"), 1, &o);
    has(o.live, "push");
    fmt(&st, ev("progress", NULL), 2, &o);
    fmt(&st, ev("handoff", NULL), 3, &o);
    has(o.done, "push");
    has(o.live, "handoff");
    fmt(&st, ev("start", "weird-new-phase"), 4, &o);
    has(o.live, "weird-new-phase");
    fmt(&st, ev(NULL, NULL), 5, &o);
    has(o.live, "?");
}

static void test_error(void **state)
{
    struct cli_pstate st;
    struct cli_pout o;
    struct cli_pev e;

    (void)state;
    cli_progress_init(&st, "source", 50, 30);
    e = ev("phase", "push");
    e.remaining_bytes = 1000000;
    fmt(&st, e, 0, &o);
    fmt(&st, push_tick(600000, 400000, 400000, 1e6, 0.6), 1, &o);
    e = ev("error", NULL);
    e.message = "the receiver closed the data channel";
    fmt(&st, e, 1.5, &o);
    /* The phase stays where it got to. */
    has(o.done, " 40.0%");
    hasnt(o.done, "100.0%");
    has(o.live, "source  error: the receiver closed the data channel");
    assert_true(o.live_is_final);
    e.message = NULL;
    fmt(&st, e, 1.6, &o);
    assert_string_equal(o.done, "");
    has(o.live, "error: (no reason given)");
}

/* A warning gets its own line; the phase's line carries on.  The
 * library's explicit "keepup" phase is a phase like the others. */
static void test_warning_keepup(void **state)
{
    struct cli_pstate st;
    struct cli_pout o;
    struct cli_pev e = ev("phase", "push");

    (void)state;
    cli_progress_init(&st, "source", 50, 30);
    e.remaining_bytes = 1000;
    fmt(&st, e, 0, &o);
    fmt(&st, push_tick(250, 750, 700, 1000, 0.25), 1, &o);
    e = ev("warning", NULL);
    e.message = "the link is slower than the guest writes";
    fmt(&st, e, 1.1, &o);
    has(o.done, "source  warning: the link is slower than the guest writes");
    has(o.live, "source  push");
    has(o.live, " 75.0%");
    assert_false(o.live_is_final);

    e = ev("progress", "keepup");
    e.pass = 5;
    e.remaining_bytes = 4096;
    e.sent_bytes = 750;
    fmt(&st, e, 2, &o);
    has(o.done, "push");
    has(o.done, "100.0%");
    has(o.live, "keep-up");
    has(o.live, "0.0/4.0 KiB");
    e.remaining_bytes = 1024;
    fmt(&st, e, 2.5, &o);
    has(o.live, " 75.0%");
    e = ev("stopcopy", "stopcopy");
    e.remaining_blocks = 0;
    e.remaining_bytes = 0;
    e.message = "sending the remaining blocks now";
    fmt(&st, e, 3, &o);
    has(o.done, "keep-up");
    has(o.live, "0 blocks (0 B)  sending the remaining blocks now");
}

/* A "remaining" that grows does not take the bar back. */
static void test_monotonic(void **state)
{
    struct cli_pstate st;
    struct cli_pout o;
    struct cli_pev e = ev("phase", "push");

    (void)state;
    cli_progress_init(&st, "source", -1, -1);
    e.remaining_bytes = 1000;
    fmt(&st, e, 0, &o);
    fmt(&st, push_tick(500, -1, -1, -1, -1), 1, &o);
    has(o.live, " 50.0%");
    fmt(&st, push_tick(800, -1, -1, -1, -1), 2, &o);
    has(o.live, " 50.0%");
    fmt(&st, push_tick(0, -1, -1, -1, -1), 3, &o);
    has(o.live, "100.0%");
}

/* Every width: no line longer than width - 1; the least useful parts go
 * first, the percentage stays longest. */
static void test_widths(void **state)
{
    (void)state;
    for (unsigned w = 1; w <= 220; w++) {
        struct cli_pstate st;
        struct cli_pout o;
        struct cli_pev e = ev("phase", "push");

        cli_progress_init(&st, "destination", 50, 30);
        e.remaining_bytes = 145043456;
        cli_progress_format(&st, &e, 0, w, &o);
        e = push_tick(66465792, 78577664, 58475785, 43778997, 1.518);
        cli_progress_format(&st, &e, 1, w, &o);
        e = push_tick(46465792, 98577664, 78475785, 43778997, 1.0);
        cli_progress_format(&st, &e, 2, w, &o);
        if (strlen(o.live) > (w > 1 ? w - 1 : 1))
            fail_msg("width %u: %zu chars: %s", w, strlen(o.live), o.live);
        if (w >= 40)
            has(o.live, "68.0%");
        if (w >= 60)
            has(o.live, "[");
        if (w >= 80) {
            has(o.live, "destination");
            has(o.live, "ETA");
            has(o.live, "43.8 MB/s");
        }
        if (w >= 120) {
            has(o.live, "wire");
            has(o.live, "/138.3 MiB");
        }
        if (w < 30)
            hasnt(o.live, "[");
        e = ev("phase", "dirty");
        e.remaining_blocks = 3;
        cli_progress_format(&st, &e, 3, w, &o);
        if (strlen(o.done) > (w > 1 ? w - 1 : 1))
            fail_msg("width %u: final line too long: %s", w, o.done);
    }
}

/* ---- the writer ------------------------------------------------------ */

static void test_writer_tty(void **state)
{
    struct cli_progress_term w;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct cli_pev e = ev("phase", "push");

    (void)state;
    cli_progress_term_init(&w, f, "source", 50, 30);
    w.tty = true;                       /* as on a terminal */
    w.width = 100;
    e.remaining_bytes = 1000000;
    cli_progress_term_event(&w, &e, 0);
    e = push_tick(900000, 100000, 100000, 1e6, 0.9);
    cli_progress_term_event(&w, &e, 0.1);      /* within 0.25 s: skipped */
    e = push_tick(500000, 500000, 400000, 1e6, 0.5);
    cli_progress_term_event(&w, &e, 0.5);
    e = ev("phase", "postcopy");
    e.remaining_blocks = 10;
    cli_progress_term_event(&w, &e, 1.0);
    cli_progress_term_finish(&w);
    cli_progress_term_destroy(&w);
    fclose(f);
    has(buf, "\rsource  push");
    hasnt(buf, " 10.0%");
    has(buf, " 50.0%");
    /* Rewritten in place, erased to the end, ended when the phase is. */
    has(buf, "\033[K\rsource  push");
    has(buf, "100.0%");
    has(buf, "\033[K\n\rsource  post-copy");
    assert_int_equal(buf[strlen(buf) - 1], '\n');
    assert_int_equal(strchr(buf, '\n') - buf > 0, 1);
    free(buf);
}

static void test_writer_log(void **state)
{
    struct cli_progress_term w;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct cli_pev e = ev("phase", "push");
    int lines = 0;

    (void)state;
    cli_progress_term_init(&w, f, "source", 50, 30);
    assert_false(w.tty);                /* a memstream is no terminal */
    e.remaining_bytes = 100000000;
    cli_progress_term_event(&w, &e, 0);
    for (int i = 1; i <= 100; i++) {
        e = push_tick(100000000 - i * 1000000, i * 1000000, i * 1000000,
                      4e6, 1);
        cli_progress_term_event(&w, &e, i * 0.25);
    }
    cli_progress_term_destroy(&w);
    fclose(f);
    hasnt(buf, "\r");
    hasnt(buf, "\033");
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    /* The first line, then one each 10 s of the 25 s. */
    assert_int_equal(lines, 3);
    has(buf, "  0.0%");
    has(buf, " 40.0%");
    has(buf, " 80.0%");
    free(buf);
}

static void test_adapter(void **state)
{
    struct xlmig_event x = xlmig_event_make("pass", "dirty");
    struct cli_pev p;

    (void)state;
    x.pass = 3;
    x.remaining_blocks = 12;
    x.remaining_bytes = 49152;
    x.sent_bytes = 7;
    x.wire_bytes = 5;
    x.rate_Bps = 1e6;
    x.eta_s = 0.5;
    x.expected_downtime_ms = 0.4;
    x.message = "m";
    x.total_bytes = 99;
    x.wire_rate_Bps = 3e6;
    p = cli_pev_from(&x);
    assert_string_equal(p.event, "pass");
    assert_string_equal(p.phase, "dirty");
    assert_string_equal(p.message, "m");
    assert_int_equal(p.pass, 3);
    assert_int_equal(p.remaining_blocks, 12);
    assert_int_equal(p.remaining_bytes, 49152);
    assert_int_equal(p.sent_bytes, 7);
    assert_int_equal(p.wire_bytes, 5);
    assert_true(p.rate_Bps == 1e6 && p.eta_s == 0.5 &&
                p.expected_downtime_ms == 0.4);
    assert_int_equal(p.total_bytes, 99);
    assert_true(p.wire_rate_Bps == 3e6);
    /* Not given: absent. */
    assert_true(p.total_blocks < 0 && p.block_size < 0 &&
                p.demanded_blocks < 0 && p.background_blocks < 0 &&
                p.installed_blocks < 0 && p.max_passes < 0 &&
                p.downtime_budget_ms < 0);
    /* The fields of API 1.1, copied. */
    x.total_blocks = 40;
    x.block_size = 4096;
    x.demanded_blocks = 2;
    x.background_blocks = 30;
    x.installed_blocks = 31;
    x.max_passes = 5;
    x.downtime_budget_ms = 50;
    p = cli_pev_from(&x);
    assert_int_equal(p.total_blocks, 40);
    assert_int_equal(p.block_size, 4096);
    assert_int_equal(p.demanded_blocks, 2);
    assert_int_equal(p.background_blocks, 30);
    assert_int_equal(p.installed_blocks, 31);
    assert_int_equal(p.max_passes, 5);
    assert_true(p.downtime_budget_ms == 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_today),
        cmocka_unit_test(test_destination_today),
        cmocka_unit_test(test_proposed_fields),
        cmocka_unit_test(test_absent_fields),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_warning_keepup),
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_widths),
        cmocka_unit_test(test_writer_tty),
        cmocka_unit_test(test_writer_log),
        cmocka_unit_test(test_adapter),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
