/*
 * The auto-converge policy (xconv_policy.c): the option's strict parsing,
 * the steps (start, increments, ceiling, trigger), and, driven by the
 * memory progress capture the way the migration will drive it, a modelled
 * guest whose dirtying follows its CPU share: the throttle makes the
 * stop-and-copy set smaller.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <errno.h>

#include "err.h"
#include "xconv_policy.h"
#include "xmem_progress.h"

#define S 1000000000ull

static void test_parse(void **state)
{
    static const char *const bad[] = {
        "", "50", "50,20", "50,20,90,", "50,20,90,1", ",20,90", "50,,90",
        "a,b,c", " 50,20,90", "50, 20,90", "50,20,90 ", "+50,20,90",
        "-5,20,90", "50,20,100", "0,20,90", "50,0,90", "50,20,0",
        "60,20,50", "050,20,90", "1000,20,90", "99999999999,1,1",
        "50.5,20,90", "50;20;90", "0x10,20,90",
    };
    struct xconv_opts o;
    struct xlmig_error err;

    (void)state;
    assert_int_equal(xconv_parse(NULL, &o, &err), 0);
    assert_int_equal(o.start, 50);
    assert_int_equal(o.step, 20);
    assert_int_equal(o.max, 90);
    assert_int_equal(o.trigger_pct, 50);
    assert_int_equal(o.trigger_passes, 1);
    assert_int_equal(xconv_parse("20,10,99", &o, &err), 0);
    assert_int_equal(o.start, 20);
    assert_int_equal(o.step, 10);
    assert_int_equal(o.max, 99);
    assert_int_equal(xconv_parse("5,99,5", &o, &err), 0);
    assert_int_equal(xconv_parse("99,1,99", &o, &err), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (xconv_parse(bad[i], &o, &err) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
        assert_non_null(strstr(err.msg, "--auto-converge="));
        /* a refused value leaves the defaults, never half of it */
        assert_int_equal(o.start, 50);
    }
    xconv_parse("60,20,50", &o, &err);
    assert_non_null(strstr(err.msg, "START (60) is above MAX (50)"));
}

static void test_steps_and_ceiling(void **state)
{
    struct xconv_policy p;
    struct xconv_opts o;
    struct xlmig_error err;

    (void)state;
    assert_int_equal(xconv_parse("20,30,75", &o, &err), 0);
    xconv_policy_init(&p, &o);
    /* pass 1: 30% of memory dirtied while it was sent: converging */
    assert_int_equal(xconv_policy_pass(&p, 1 * S, 1, 100000, 30000), 0);
    /* pass 2: 80% of pass 1's set: not converging */
    assert_int_equal(xconv_policy_pass(&p, 2 * S, 2, 30000, 24000), 20);
    assert_int_equal(xconv_policy_pass(&p, 3 * S, 3, 24000, 20000), 50);
    xconv_policy_set_cap(&p, 50);
    assert_int_equal(xconv_policy_pass(&p, 4 * S, 4, 20000, 19000), 75);
    assert_int_equal(xconv_policy_pass(&p, 5 * S, 5, 19000, 19000), 0);
    assert_int_equal(p.throttle, 75);       /* never beyond MAX */
    assert_int_equal(p.nsteps, 3);
    assert_int_equal(p.steps[0].pass, 2);
    assert_int_equal(p.steps[0].throttle, 20);
    assert_int_equal(p.steps[0].t_ns, 2 * S);
    assert_int_equal(p.steps[0].cap, -1);
    assert_int_equal(p.steps[1].cap, 50);
    assert_int_equal(p.steps[1].prev_pages, 24000);
    assert_int_equal(p.steps[1].pages, 20000);
    assert_int_equal(p.steps[2].throttle, 75);

    /* exactly 50% is converging; just above is not */
    xconv_policy_init(&p, NULL);
    assert_int_equal(xconv_policy_pass(&p, 0, 2, 10000, 5000), 0);
    assert_int_equal(xconv_policy_pass(&p, 0, 3, 10000, 5001), 50);
    /* a converging pass in between does not undo the throttle */
    assert_int_equal(xconv_policy_pass(&p, 0, 4, 5001, 1000), 0);
    assert_int_equal(p.throttle, 50);
    /* small sets never trigger, however they compare */
    assert_int_equal(xconv_policy_pass(&p, 0, 5, 200, 255), 0);
    assert_int_equal(xconv_policy_pass(&p, 0, 6, 255, 256), 70);
    /* pass 0 (all of memory) is not a comparison */
    assert_int_equal(xconv_policy_pass(&p, 0, 0, 0, 100000), 0);
    /* suspended: nothing more */
    xconv_policy_stop(&p);
    assert_int_equal(xconv_policy_pass(&p, 0, 7, 1000, 1000), 0);
    assert_int_equal(p.throttle, 70);
    assert_int_equal(p.nsteps, 2);
}

static void test_trigger_passes(void **state)
{
    struct xconv_policy p;
    struct xconv_opts o;

    (void)state;
    xconv_opts_default(&o);
    o.trigger_passes = 2;                   /* QEMU's */
    xconv_policy_init(&p, &o);
    assert_int_equal(xconv_policy_pass(&p, 0, 1, 1000, 900), 0);
    assert_int_equal(xconv_policy_pass(&p, 0, 2, 900, 200), 0);  /* reset */
    assert_int_equal(xconv_policy_pass(&p, 0, 3, 900, 900), 0);
    assert_int_equal(xconv_policy_pass(&p, 0, 4, 900, 900), 50);
    assert_int_equal(xconv_policy_pass(&p, 0, 5, 900, 900), 0);
    assert_int_equal(xconv_policy_pass(&p, 0, 6, 900, 900), 70);
}

static void test_json(void **state)
{
    struct xconv_policy p;
    char buf[512] = "";
    size_t pos = 0;

    (void)state;
    xconv_policy_init(&p, NULL);
    xconv_policy_pass(&p, 12 * S + 500000000ull, 2, 30000, 29000);
    xconv_policy_set_cap(&p, 100);
    xconv_policy_pass(&p, 13 * S, 3, 29000, 28000);
    xconv_steps_json(&p, 10 * S, buf, sizeof(buf), &pos);
    assert_int_equal(pos, strlen(buf));
    assert_string_equal(buf,
        "[{\"t\":2.500,\"pass\":2,\"throttle_pct\":50,\"cap\":100,"
        "\"prev_pages\":30000,\"pages\":29000},"
        "{\"t\":3.000,\"pass\":3,\"throttle_pct\":70,\"cap\":-1,"
        "\"prev_pages\":29000,\"pages\":28000}]");
}

/* ---- the policy driven by the progress capture, as it will be -------- */

/*
 * A guest rewriting a working set of W pages at random, D pages a second
 * at full CPU (dirtying scales with the CPU share left to it); the link
 * sends R pages a second.  Distinct pages dirtied in T seconds:
 * W (1 - exp(-D' T / W)).  The memory stream is libxenguest's default
 * policy: pass 0 of all P pages, passes 1..4 of what was dirtied, then the
 * guest suspends and the final set goes.
 */
#define P 65536.0
#define W 40000.0
#define D 30000.0
#define R 12800.0

struct sim {
    struct xmem_logger *l;
    xentoollog_logger *lg;
    uint64_t t;
    struct xconv_policy pol;
    bool autoconverge;
    unsigned throttle;
    unsigned max_seen;
};

static uint64_t sim_now(void *opaque)
{
    return ((struct sim *)opaque)->t;
}

/* What the migration's callback will do (see MEMORY.md). */
static void sim_cb(void *opaque, const struct xmem_stats *st)
{
    struct sim *s = opaque;

    if (st->event == XMEM_EV_SUSPENDED)
        xconv_policy_stop(&s->pol);
    if (st->event != XMEM_EV_PASS || st->final || !s->autoconverge)
        return;
    unsigned t = xconv_policy_pass(&s->pol, s->t, st->pass,
                                   st->prev_iter_pages, st->iter_pages);
    if (t) {
        s->throttle = t;                /* xconv_cap_throttle() here */
        xconv_policy_set_cap(&s->pol, 100 - (int)t);
        if (t > s->max_seen)
            s->max_seen = t;
    }
}

static double dirtied(const struct sim *s, double secs)
{
    double d = D * (100 - s->throttle) / 100.0;
    return floor(W * (1 - exp(-d * secs / W)));
}

static void send_pass(struct sim *s, const char *label, unsigned long n)
{
    for (unsigned long w = 0; w < n; w++)
        if ((w & 1023) == 0) {
            xtl_progress(s->lg, "xc", label, w, n);
            s->t += (uint64_t)(1024 / R * 1e9);
        }
    s->t -= (uint64_t)(((n + 1023) / 1024) * 1024 / R * 1e9);
    s->t += (uint64_t)(n / R * 1e9);
    xtl_progress(s->lg, "xc", label, n, n);
}

/* Returns the final set. */
static unsigned long migrate(bool ac, struct xconv_policy *out)
{
    struct sim s = { .t = 50 * S, .autoconverge = ac };
    struct xmem_opts o;
    unsigned long set = (unsigned long)P, fin;
    char label[32];

    xmem_opts_default(&o);
    o.cb = sim_cb;
    o.cb_opaque = &s;
    o.now_ns = sim_now;
    o.clock_opaque = &s;
    s.l = xmem_logger_new(NULL, &o);
    s.lg = xmem_logger_xtl(s.l);
    xconv_policy_init(&s.pol, NULL);
    xtl_progress(s.lg, "xc", "Start of stream", 0, 0);
    for (unsigned k = 0; k < 5; k++) {
        snprintf(label, sizeof(label), "Frames iteration %u", k);
        send_pass(&s, label, set);
        /* the guest dirtied while the pass went, at the throttle set when
         * it started (the callback ran at its first report) */
        set = (unsigned long)dirtied(&s, set / R);
        s.t += 5000000ull;                      /* the bitmap's CLEAN */
    }
    fin = set;
    xtl_progress(s.lg, "xc", "Domain now suspended", 0, 0);
    send_pass(&s, "Frames iteration 5", fin);
    xtl_progress(s.lg, "xc", "End of stream", 0, 0);
    /* stop() came with the suspension: nothing after */
    assert_int_equal(xconv_policy_pass(&s.pol, s.t, 6, 1000, 1000), 0);
    assert_true(s.max_seen <= s.pol.o.max);
    *out = s.pol;
    xtl_logger_destroy(s.lg);
    return fin;
}

static void test_model(void **state)
{
    struct xconv_policy off, on;
    unsigned long fin_off, fin_on;

    (void)state;
    fin_off = migrate(false, &off);
    fin_on = migrate(true, &on);
    print_message("final set: %lu pages without auto-converge, %lu with "
                  "(steps at passes %u, %u, %u)\n", fin_off, fin_on,
                  on.steps[0].pass, on.steps[1].pass, on.steps[2].pass);
    assert_int_equal(off.nsteps, 0);
    /* pass 1's set is 0.6 of memory: it triggers at once here */
    assert_int_equal(on.nsteps, 3);
    assert_int_equal(on.steps[0].pass, 1);
    assert_int_equal(on.steps[0].throttle, 50);
    assert_int_equal(on.steps[1].pass, 2);
    assert_int_equal(on.steps[1].throttle, 70);
    assert_int_equal(on.steps[2].pass, 3);
    assert_int_equal(on.steps[2].throttle, 90);
    assert_int_equal(on.steps[2].cap, 10);
    assert_true(fin_on * 2 < fin_off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_steps_and_ceiling),
        cmocka_unit_test(test_trigger_passes),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
