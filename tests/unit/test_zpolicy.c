/*
 * Unit tests for the compression policy (libxl-ext/zpolicy.c), with fake
 * rates and a fake clock: the pipeline's cost per byte is what the test
 * says it is, and the policy must find the faster mode, never stay in the
 * slower one, and not be swayed by one slow window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "zpolicy.h"

#define MB 1e6
#define NS 1e-9
#define JOB (1u << 20)

static const struct xlmig_sample text = { .ratio = 0.4, .Bps = 170 * MB };
static const struct xlmig_sample noise = { .ratio = 1.0, .Bps = 150 * MB };

/* A policy that has seen text and knows this machine's compressor. */
static void setup_policy(struct xlmig_zpolicy *p, double link_Bps,
                         double share)
{
    bool on;

    xlmig_zpolicy_init(p, 2, 2);
    for (int i = 0; i < 8; i++)
        xlmig_zpolicy_decide(p, &text, &on);
    /* 10 ms of CPU a MiB: ~105 MB/s per CPU second, at this share. */
    for (int i = 0; i < 8; i++)
        xlmig_zpolicy_deflated(p, JOB, 10000000,
                               (uint64_t)(10000000 / share));
    xlmig_zpolicy_inflated(p, JOB, 3000000);
    xlmig_zpolicy_link(p, link_Bps);
}

/*
 * Runs `jobs` jobs of 1 MiB through the policy: half text, half noise,
 * each taking the busy time the costs say (ns per disk byte: raw for
 * anything sent raw, z for text sent compressed).  The mode is the
 * policy's own at each job.  Returns how many were compressed.
 */
static unsigned run_jobs(struct xlmig_zpolicy *p, uint64_t *now,
                         unsigned jobs, double c_raw_ns, double c_z_ns)
{
    unsigned compressed = 0;

    for (unsigned i = 0; i < jobs; i++) {
        bool on, is_text = i % 2 == 0;
        enum xlmig_zdecision d = XLMIG_Z_RAW;
        bool z;

        /* As the send queue asks: a sample first, if wanted. */
        if (xlmig_zpolicy_wants_sample(p, &on))
            d = xlmig_zpolicy_decide(p, is_text ? &text : &noise, &on);
        z = d != XLMIG_Z_RAW;
        uint64_t busy = (uint64_t)((z ? c_z_ns : c_raw_ns) * JOB);

        *now += busy;
        xlmig_zpolicy_job_done(p, *now, busy, on, z ? 0 : JOB, z ? JOB : 0);
        compressed += z;
    }
    return compressed;
}

/* Runs on until no trial is under way: the mode the policy settled on. */
static void settle(struct xlmig_zpolicy *p, uint64_t *now, double c_raw_ns,
                   double c_z_ns)
{
    for (int i = 0; i < 10000 && p->trial; i++)
        run_jobs(p, now, 1, c_raw_ns, c_z_ns);
    assert_false(p->trial);
}

static void test_model(void **state)
{
    struct xlmig_zpolicy p;

    (void)state;
    /* 1 Gbit/s, workers get 90% of a CPU: compressing text could pay. */
    setup_policy(&p, 117 * MB, 0.9);
    assert_true(xlmig_zpolicy_model_gain(&p) > 1.15);
    /* The same link, workers starved (30%): it cannot. */
    setup_policy(&p, 117 * MB, 0.3);
    assert_true(xlmig_zpolicy_model_gain(&p) < 1.0);
    /* Loopback-fast link: never. */
    setup_policy(&p, 4600 * MB, 1.0);
    assert_true(xlmig_zpolicy_model_gain(&p) < 0.2);
    /* Not link-bound (no estimate): no gain at all. */
    setup_policy(&p, 0, 1.0);
    assert_true(xlmig_zpolicy_model_gain(&p) == 0);
    /* 100 Mbit/s: the link times the ratio. */
    setup_policy(&p, 12.5 * MB, 0.5);
    assert_true(xlmig_zpolicy_model_gain(&p) > 2.3);
    assert_true(xlmig_zpolicy_model_gain(&p) < 2.6);
}

/* Only what shrinks is compressed; some of it is timed even when off. */
static void test_decide(void **state)
{
    struct xlmig_zpolicy p;
    unsigned measured = 0, sampled = 0;
    bool on;

    (void)state;
    xlmig_zpolicy_init(&p, 2, 2);
    /* Off: one job in 8 is sampled; on: every one. */
    for (int i = 0; i < 800; i++)
        sampled += xlmig_zpolicy_wants_sample(&p, &on);
    assert_int_equal(sampled, 100);
    p.on = true;
    for (int i = 0; i < 800; i++)
        assert_true(xlmig_zpolicy_wants_sample(&p, &on) && on);
    p.on = false;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(xlmig_zpolicy_decide(&p, &noise, &on), XLMIG_Z_RAW);
    for (int i = 0; i < 1000; i++) {
        enum xlmig_zdecision d = xlmig_zpolicy_decide(&p, &text, &on);

        assert_false(on);
        assert_int_not_equal(d, XLMIG_Z_COMPRESS);
        measured += d == XLMIG_Z_MEASURE;
    }
    /* The first three, then one in 16 of those sampled while off (one
     * job in 128 of the disk's). */
    assert_true(measured >= 3 + 1000 / 16 - 1 && measured <= 3 + 1000 / 16 + 1);
    p.on = true;
    assert_int_equal(xlmig_zpolicy_decide(&p, &noise, &on), XLMIG_Z_RAW);
    assert_true(on);
    assert_int_not_equal(xlmig_zpolicy_decide(&p, &text, &on), XLMIG_Z_RAW);
}

/*
 * Off, and far from paying (a loopback-fast link): whole extents are
 * timed 8 times less often than when the model is near a gain.
 */
static void test_far_measures_less(void **state)
{
    struct xlmig_zpolicy p;
    unsigned far = 0, near = 0;
    bool on;

    (void)state;
    setup_policy(&p, 4600 * MB, 1.0);
    assert_true(xlmig_zpolicy_model_gain(&p) < 1.15 / 2);
    for (int i = 0; i < 1600; i++)
        far += xlmig_zpolicy_decide(&p, &text, &on) == XLMIG_Z_MEASURE;
    /* 1600 sampled (12 800 jobs of the disk): one in 128. */
    assert_true(far >= 1600 / 128 - 1 && far <= 1600 / 128 + 1);
    /* 1 Gbit/s, a CPU share at which it could pay: one in 16. */
    setup_policy(&p, 117 * MB, 0.9);
    p.on = false;
    for (int i = 0; i < 1600; i++)
        near += xlmig_zpolicy_decide(&p, &text, &on) == XLMIG_Z_MEASURE;
    assert_true(near >= 1600 / 16 - 1 && near <= 1600 / 16 + 1);
}

/* Link-bound: text compressed costs 40% of raw.  On it goes, and stays. */
static void test_link_bound_turns_on(void **state)
{
    struct xlmig_zpolicy p;
    uint64_t now = 1000000000ull;
    char line[320];
    unsigned z;

    (void)state;
    setup_policy(&p, 117 * MB, 0.9);
    z = run_jobs(&p, &now, 2000, 8.5, 3.4);
    settle(&p, &now, 8.5, 3.4);
    assert_true(p.on);
    assert_true(p.trials >= 1);
    /* Nearly all the text went compressed (2000 jobs, 1000 text). */
    assert_true(z > 900);
    assert_true(p.c_z < p.c_raw / 2);
    xlmig_zpolicy_describe(&p, line, sizeof(line));
    print_message("%s\n", line);
    assert_non_null(strstr(line, "on for 4"));
    /* (The few timed extents in raw windows pull it down a little.) */
    assert_true(p.c_raw > 8.0 * NS && p.c_raw <= 8.5 * NS);
    assert_non_null(strstr(line, "measured per disk byte: raw 8."));
}

/*
 * CPU-bound: compressing makes each text byte cost twice as much.  The
 * model is fooled (it promises a gain) but the trials find the loss and
 * back off: at most a few short trials, hardly any text compressed.
 */
static void test_cpu_bound_stays_off(void **state)
{
    struct xlmig_zpolicy p;
    uint64_t now = 1000000000ull;
    char line[320];
    unsigned z;

    (void)state;
    setup_policy(&p, 150 * MB, 0.9);
    assert_true(xlmig_zpolicy_model_gain(&p) > 1.15);
    /* 4000 jobs at ~7 ms (raw) or 14 ms (text compressed): ~30 s. */
    z = run_jobs(&p, &now, 4000, 6.6, 13.2);
    settle(&p, &now, 6.6, 13.2);
    assert_false(p.on);
    /* Back-off 2, 4, 8, 16 s: about five trials in 30 s, not 100. */
    assert_true(p.trials >= 3 && p.trials <= 6);
    /* Trials stop after one window: < 3% of the text compressed (the
     * timed extents included). */
    assert_true(z < 2000 * 3 / 100);
    xlmig_zpolicy_describe(&p, line, sizeof(line));
    print_message("%s\n", line);
    assert_non_null(strstr(line, "on for 1% of extents (measured"));
}

/* Neither wins clearly (5%): compression stays off (CPU is not free). */
static void test_marginal_gain_stays_off(void **state)
{
    struct xlmig_zpolicy p;
    uint64_t now = 1000000000ull;

    (void)state;
    setup_policy(&p, 117 * MB, 0.9);
    run_jobs(&p, &now, 3000, 8.5, 8.1);
    settle(&p, &now, 8.5, 8.1);
    assert_false(p.on);
}

/* Conditions change: the link gets faster and compression must stop. */
static void test_recheck_turns_off(void **state)
{
    struct xlmig_zpolicy p;
    uint64_t now = 1000000000ull;

    (void)state;
    setup_policy(&p, 117 * MB, 0.9);
    run_jobs(&p, &now, 1000, 8.5, 3.4);
    settle(&p, &now, 8.5, 3.4);
    assert_true(p.on);
    /* Now raw costs 2 ns a byte (a faster path), text compressed 3.4. */
    run_jobs(&p, &now, 12000, 2.0, 3.4);
    settle(&p, &now, 2.0, 3.4);
    assert_false(p.on);
    assert_true(p.c_raw < 2.5 * NS);
}

/*
 * A stall during a trial (a hiccup on a busy machine) can make it fail,
 * but only delays compression: a later trial turns it on.
 */
static void test_one_slow_window(void **state)
{
    struct xlmig_zpolicy p;
    uint64_t now = 1000000000ull;
    bool on;

    (void)state;
    setup_policy(&p, 117 * MB, 0.9);
    /* Until the trial starts. */
    while (!p.on)
        run_jobs(&p, &now, 2, 8.5, 3.4);
    /* Its first window: a 150 ms stall on top. */
    for (int i = 0; i < 12; i++) {
        enum xlmig_zdecision d = XLMIG_Z_RAW;
        bool z;

        if (xlmig_zpolicy_wants_sample(&p, &on))
            d = xlmig_zpolicy_decide(&p, i % 2 ? &noise : &text, &on);
        z = d != XLMIG_Z_RAW;
        uint64_t busy = (uint64_t)((z ? 3.4 : 8.5) * JOB) +
                        (i == 0 ? 150000000ull : 0);

        now += busy;
        xlmig_zpolicy_job_done(&p, now, busy, on, z ? 0 : JOB, z ? JOB : 0);
    }
    run_jobs(&p, &now, 2000, 8.5, 3.4);
    settle(&p, &now, 8.5, 3.4);
    assert_true(p.on);
    assert_true(p.trials >= 1);
}

/* Records and all-zero jobs have no mode: they neither close a window
 * nor count as bytes. */
static void test_untagged_jobs(void **state)
{
    struct xlmig_zpolicy p;

    (void)state;
    xlmig_zpolicy_init(&p, 2, 2);
    xlmig_zpolicy_job_done(&p, 1000, 500, false, 0, 0);
    assert_false(p.win_open);
    xlmig_zpolicy_job_done(&p, 2000, 500, false, JOB, 0);
    assert_true(p.win_open);
    xlmig_zpolicy_job_done(&p, 3000, 700, true, 0, 0);
    assert_true(p.win_open);
    assert_false(p.win_on);
    /* All the busy time counts, the records' too. */
    assert_int_equal(p.win_busy_ns, 1700);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_far_measures_less),
        cmocka_unit_test(test_link_bound_turns_on),
        cmocka_unit_test(test_cpu_bound_stays_off),
        cmocka_unit_test(test_marginal_gain_stays_off),
        cmocka_unit_test(test_recheck_turns_off),
        cmocka_unit_test(test_one_slow_window),
        cmocka_unit_test(test_untagged_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
