/*
 * The estimate's model (estimate.c): the guest's dirtying curve and its
 * fit, and the engine's phases replayed on known inputs, checked against
 * what the engine's own policy would decide.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "estimate.h"

static struct xlmig_est_in base(void)
{
    struct xlmig_est_in in = {
        .block_size = 4096, .ndisks = 1,
        .allocated = 1ull << 30, .nblocks = (2ull << 30) / 4096,
        .pipe_Bps = 100e6, .dirty_pipe_Bps = 50e6, .link_Bps = 125e6,
        .rtt_s = 0.0005, .vbd_op_s = 0.0002,
        .full_wire_ratio = 0.8, .dirty_wire_ratio = 1.0,
        .max_downtime_s = 0.05, .postcopy = true, .max_passes = 30,
    };
    return in;
}

static void test_dirty_curve(void **state)
{
    struct xlmig_est_in in = base();
    double r;

    (void)state;
    in.w = 1000;
    in.region = 0;
    assert_true(fabs(xlmig_est_dirty(&in, 2) - 2000) < 1e-6);
    /* A region of 4096 blocks saturates. */
    in.region = 4096;
    assert_true(xlmig_est_dirty(&in, 100) <= 4096);
    assert_true(xlmig_est_dirty(&in, 100) > 4090);
    /* The fit finds the region back from one point of its curve. */
    r = xlmig_est_fit_region(1000, 5, xlmig_est_dirty(&in, 5));
    assert_true(fabs(r - 4096) < 1);
    /* Linear growth: no bound visible. */
    assert_true(xlmig_est_fit_region(1000, 5, 4990) == 0);
    assert_true(xlmig_est_dirty(&in, 0) == 0);
}

static void test_idle(void **state)
{
    struct xlmig_est_in in = base();
    struct xlmig_estimate e;

    (void)state;
    memset(&e, 0, sizeof(e));
    xlmig_est_predict(&in, &e);
    /* 1 GiB at 100 MB/s, a few round trips and the flush. */
    assert_true(e.total_s > 10.7 && e.total_s < 10.9);
    assert_int_equal(e.passes, 0);
    assert_int_equal(e.final_blocks, 0);
    assert_false(e.postcopy);
    assert_true(e.downtime_ms > 0 && e.downtime_ms < 2);
    assert_true(llabs((long long)e.wire_bytes - (long long)(0.8 * (1 << 30)))
                < 1000);
}

/* 5 MB/s of distinct writes, a link 20 times faster: converges in a
 * couple of passes, the last set sent within the downtime. */
static void test_converges(void **state)
{
    struct xlmig_est_in in = base();
    struct xlmig_estimate e;

    (void)state;
    in.w = 5e6 / 4096;
    xlmig_est_predict(&in, &e);
    assert_true(e.passes >= 1 && e.passes <= 4);
    assert_false(e.postcopy);
    assert_string_equal(e.stop_reason, "fits in downtime");
    assert_true(e.downtime_ms < 50);
    /* 10.7 s of full pass, ~1.1 s and ~0.1 s of passes, keep-up. */
    assert_true(e.total_s > 11.8 && e.total_s < 12.3);
}

/*
 * Few writes: the set fits the downtime right after the full pass, no
 * dirty pass runs.  The engine decided on the full pass's rate, but the
 * final set is scattered rewritten blocks: the downtime is theirs at the
 * scattered rate (50 MB/s here, half the sequential one).
 */
static void test_final_scattered(void **state)
{
    struct xlmig_est_in in = base();
    struct xlmig_estimate e;
    double want;

    (void)state;
    in.w = 50;
    xlmig_est_predict(&in, &e);
    assert_int_equal(e.passes, 0);
    assert_false(e.postcopy);
    assert_true(e.final_blocks > 400 && e.final_blocks < 700);
    want = 1e3 * (e.final_blocks * 4096.0 / 50e6 + 2 * 0.0002 + 0.0005);
    assert_true(fabs(e.downtime_ms - want) < 0.01);
}

/* The guest out-writes the link: the policy gives up at once, keep-up
 * sends nothing, the final set goes after the hand-off. */
static void test_stalls(void **state)
{
    struct xlmig_est_in in = base();
    struct xlmig_estimate e;

    (void)state;
    in.pipe_Bps = in.dirty_pipe_Bps = 3e6;
    in.allocated = 16ull << 20;
    in.w = 6e6 / 4096;
    in.region = 16ull << 20 >> 12;
    in.memory_s = 2;
    xlmig_est_predict(&in, &e);
    assert_string_equal(e.stop_reason, "dirty set no longer shrinks");
    assert_true(e.postcopy);
    assert_true(e.postcopy_blocks > 3000);
    assert_true(e.postcopy_blocks <= 4096);
    assert_true(e.postcopy_s > 4);
    /* Without post-copy the same set goes within the downtime. */
    in.postcopy = false;
    xlmig_est_predict(&in, &e);
    assert_false(e.postcopy);
    assert_true(e.downtime_ms > 4000);
}

/* Memory moves over the same link: it counts, at that link's rate. */
static void test_memory(void **state)
{
    struct xlmig_est_in in = base();
    struct xlmig_estimate a, b;

    (void)state;
    xlmig_est_predict(&in, &a);
    in.memory_bytes = 125000000;
    xlmig_est_predict(&in, &b);
    assert_true(fabs((b.total_s - a.total_s) - 1.1) < 0.15);
    assert_true(fabs(b.memory_s - 1.1) < 1e-6);
}

/*
 * Keep-up and the suspension: a keep-up pass the suspension interrupts
 * yields (the engine's keepup_yields), so what it has not sent is still
 * in the final set; over a long memory phase keep-up passes finish and
 * hold the set within the budget.
 */
static void test_keepup_yields(void **state)
{
    struct xlmig_est_in in = base();
    struct xlmig_estimate a, b, c;

    (void)state;
    in.w = 20e6 / 4096;
    xlmig_est_predict(&in, &a);         /* suspended at the verdict */
    in.memory_s = 0.001;                /* a pass starts, then yields */
    xlmig_est_predict(&in, &b);
    in.memory_s = 5;                    /* passes finish */
    xlmig_est_predict(&in, &c);
    assert_true(a.final_blocks > 300);
    assert_true(fabs((double)b.final_blocks - (double)a.final_blocks) <
                0.1 * (double)a.final_blocks);
    assert_true(b.downtime_ms > 0.9 * a.downtime_ms);
    assert_true(c.passes > b.passes + 10);
    assert_true(c.downtime_ms < 50);
}

static void test_offline(void **state)
{
    struct xlmig_est_in in = base();
    struct xlmig_estimate e;

    (void)state;
    in.offline = true;
    in.w = 1000;                /* ignored: nothing runs */
    xlmig_est_predict(&in, &e);
    assert_int_equal(e.passes, 0);
    assert_int_equal(e.final_blocks, 0);
    assert_false(e.postcopy);
    assert_true(e.downtime_ms < 0);
    assert_string_equal(e.stop_reason, "cold copy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dirty_curve),
        cmocka_unit_test(test_idle),
        cmocka_unit_test(test_converges),
        cmocka_unit_test(test_final_scattered),
        cmocka_unit_test(test_stalls),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_keepup_yields),
        cmocka_unit_test(test_offline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
