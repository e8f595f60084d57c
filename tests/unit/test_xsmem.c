/*
 * The source's memory phase (xsmem.c) as xlmig migrate wires it: libxc's
 * progress reports through the xmem logger into xsmem_stats_cb, against a
 * fake host (tests/xen/fake_cap.h) and a status part in the build
 * directory.  Checks the events the front receives, the status keys, the
 * throttle steps (never beyond MAX) and that the original CPU cap comes
 * back on every path: success, a failed suspend, a failed throttle, a
 * failed restore retried at exit, and a crashed migration's record.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_cap.h"
#include "xsmem.h"

#define U1 "6f0c7a52-1d7e-4b8e-9a51-0c1d2e3f4a5b"
#define DIR1 "/local/domain/0/xlmig/" U1 "/cap"
#define MS 1000000ull

/* What the front saw. */
struct seen {
    unsigned nmem, nac;
    int ac_throttle[8], ac_cap[8];
    char last_state[16];
    int last_throttle;
    char log[16384];
    unsigned nwarn, nerr;
};

static void on_event(void *opaque, const struct xlmig_event *ev)
{
    struct seen *s = opaque;

    assert_non_null(ev->memory);
    assert_string_equal(ev->role, "source");
    assert_string_equal(ev->phase, "memory");
    if (!strcmp(ev->event, "autoconverge")) {
        assert_true(s->nac < 8);
        s->ac_throttle[s->nac] = ev->memory->throttle_pct;
        s->ac_cap[s->nac++] = ev->memory->cap;
        assert_non_null(ev->message);
        return;
    }
    assert_string_equal(ev->event, "memory");
    s->nmem++;
    snprintf(s->last_state, sizeof(s->last_state), "%s", ev->memory->state);
    s->last_throttle = ev->memory->throttle_pct;
}

static void on_log(void *opaque, enum xlmig_log_level level, const char *msg)
{
    struct seen *s = opaque;

    s->nwarn += level == XLMIG_LOG_WARN;
    s->nerr += level == XLMIG_LOG_ERROR;
    strncat(s->log, msg, sizeof(s->log) - strlen(s->log) - 2);
    strcat(s->log, "\n");
}

struct clock {
    uint64_t t;
};

static uint64_t clk(void *opaque)
{
    return ((struct clock *)opaque)->t;
}

struct rig {
    struct host *h;
    struct seen seen;
    struct xflow_observer obs;
    struct xst st;
    struct xsmem m;
    struct clock c;
    struct xmem_logger *lg;
};

static struct rig *rig_new(int cap)
{
    struct rig *r = calloc(1, sizeof(*r));
    struct xmem_opts o;

    assert_non_null(r);
    r->h = calloc(1, sizeof(*r->h));
    assert_non_null(r->h);
    fake_cap_add_dom(r->h, 7, U1, "credit2", cap, 1);
    r->obs = (struct xflow_observer){ on_event, on_log, &r->seen };
    xst_open_part(&r->st, ".", U1, "source", "memory", false);
    xsmem_init(&r->m, &r->obs, &r->st, &fake_cap_ops, r->h);
    xmem_opts_default(&o);
    o.cb = xsmem_stats_cb;
    o.cb_opaque = &r->m;
    o.now_ns = clk;
    o.clock_opaque = &r->c;
    r->c.t = 1000 * MS;
    r->lg = xmem_logger_new(NULL, &o);
    assert_non_null(r->lg);
    return r;
}

static void rig_free(struct rig *r)
{
    xtl_logger_destroy(xmem_logger_xtl(r->lg));
    unlink(r->st.file);
    xst_close(&r->st);
    free(r->h);
    free(r);
}

static const char *key(struct rig *r, const char *k)
{
    for (unsigned i = 0; i < r->st.nkv; i++)
        if (!strcmp(r->st.kv[i].key, k))
            return r->st.kv[i].val;
    return NULL;
}

static const char *rec(struct rig *r, const char *k)
{
    char path[192];
    int j;

    snprintf(path, sizeof(path), "%s/%s", DIR1, k);
    j = fake_cap_kv_find(r->h, path);
    return j < 0 ? NULL : r->h->kv[j].v;
}

/* One pass of n pages as libxc reports it, 100 ms per 1024 pages. */
static void pass(struct rig *r, unsigned it, unsigned long n)
{
    xentoollog_logger *x = xmem_logger_xtl(r->lg);
    char label[32];

    snprintf(label, sizeof(label), "Frames iteration %u", it);
    for (unsigned long w = 0; w < n; w += 1024) {
        xtl_progress(x, "xc", label, w, n);
        r->c.t += 100 * MS;
    }
    xtl_progress(x, "xc", label, n, n);
    r->c.t += 5 * MS;
}

/* Live passes of these sets (pass 0: all of memory). */
static void live(struct rig *r, const unsigned long *sets, unsigned n)
{
    xtl_progress(xmem_logger_xtl(r->lg), "xc", "Start of stream", 0, 0);
    for (unsigned i = 0; i < n; i++)
        pass(r, i, sets[i]);
}

static void finish(struct rig *r, unsigned it, unsigned long final)
{
    xentoollog_logger *x = xmem_logger_xtl(r->lg);

    xtl_progress(x, "xc", "Domain now suspended", 0, 0);
    pass(r, it, final);
    xtl_progress(x, "xc", "End of stream", 0, 0);
    xtl_progress(x, "xc", "Complete", 0, 0);
}

static const unsigned long hot[] = { 32768, 30000, 29000, 28000, 27000 };

static void test_success(void **state)
{
    struct rig *r = rig_new(0);
    struct xconv_opts o;
    struct xlmig_error err;
    char report[XSMEM_REPORT_LEN];

    (void)state;
    xconv_opts_default(&o);
    assert_int_equal(xsmem_prepare(&r->m, &o, 7, U1, &err), 0);
    assert_string_equal(rec(r, "cap"), "0");
    assert_string_equal(rec(r, "sched"), "credit2");
    assert_string_equal(key(r, "ac_orig_cap"), "0");
    live(r, hot, 5);
    /* passes 1, 2, 3 did not shrink: 50, 70, 90; pass 4 is at MAX */
    assert_int_equal(r->seen.nac, 3);
    assert_int_equal(r->seen.ac_throttle[0], 50);
    assert_int_equal(r->seen.ac_cap[0], 50);
    assert_int_equal(r->seen.ac_throttle[1], 70);
    assert_int_equal(r->seen.ac_cap[1], 30);
    assert_int_equal(r->seen.ac_throttle[2], 90);
    assert_int_equal(r->seen.ac_cap[2], 10);
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 10);
    assert_string_equal(rec(r, "current"), "10");
    assert_int_equal(r->seen.last_throttle, 90);
    /* the status as jobinfo reads it */
    assert_string_equal(key(r, "mem_state"), "live");
    assert_string_equal(key(r, "mem_pass"), "4");
    assert_string_equal(key(r, "mem_total_pages"), "32768");
    assert_string_equal(key(r, "ac_throttle_pct"), "90");
    assert_string_equal(key(r, "ac_cap"), "10");
    assert_non_null(strstr(key(r, "ac_steps"), ":50:50 "));
    assert_non_null(strstr(key(r, "ac_steps"), ":90:10"));
    finish(r, 5, 26000);
    assert_string_equal(r->seen.last_state, "complete");
    /* nothing steps once suspended; the cap is back at the end */
    assert_int_equal(r->seen.nac, 3);
    xsmem_end(&r->m, r->lg, 0, report, sizeof(report));
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 0);
    assert_null(rec(r, "sched"));
    assert_string_equal(key(r, "ac_restored"), "yes");
    assert_string_equal(key(r, "ac_cap"), "0");
    assert_non_null(strstr(report, "{\"memory\":{\"result\":0,\"passes\":"
                                   "[{\"pass\":0,\"iteration\":0,"
                                   "\"final\":false,\"pages\":32768,"));
    assert_non_null(strstr(report, "\"final\":true,\"pages\":26000"));
    assert_non_null(strstr(report, "\"total_pages\":32768"));
    assert_non_null(strstr(report, "\"final_pages\":26000"));
    assert_non_null(strstr(report, "\"autoconverge\":{\"start\":50,"
                                   "\"step\":20,\"max\":90,"
                                   "\"sched\":\"credit2\",\"orig_cap\":0,"
                                   "\"vcpus\":1,\"steps\":[{\"t\":"));
    assert_non_null(strstr(report, "\"throttle_pct\":90,\"cap\":10,"));
    assert_non_null(strstr(report, "\"restored\":true}}"));
    assert_non_null(strstr(r->seen.log, report));
    /* again on the way out: nothing more to do */
    unsigned nset = r->h->nset;
    xsmem_close(&r->m);
    assert_int_equal(r->h->nset, nset);
    assert_int_equal(r->seen.nerr, 0);
    rig_free(r);
}

static void test_failed_suspend(void **state)
{
    struct rig *r = rig_new(150);
    struct xconv_opts o;
    struct xlmig_error err;
    char report[XSMEM_REPORT_LEN];

    (void)state;
    r->h->dom[0].vcpus = 2;
    assert_int_equal(xconv_parse("20,10,30", &o, &err), 0);
    assert_int_equal(xsmem_prepare(&r->m, &o, 7, U1, &err), 0);
    live(r, hot, 3);
    /* the domain's own cap (150) is the base: 20% off = 120, 30% = 105 */
    assert_int_equal(r->seen.nac, 2);
    assert_int_equal(r->seen.ac_cap[0], 120);
    assert_int_equal(r->seen.ac_cap[1], 105);
    /* libxl_domain_suspend fails (the receiver died): the guest resumes
     * with its own cap */
    xsmem_end(&r->m, r->lg, -3, report, sizeof(report));
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 150);
    assert_null(rec(r, "sched"));
    assert_non_null(strstr(report, "\"result\":-3"));
    assert_non_null(strstr(report, "\"orig_cap\":150"));
    assert_non_null(strstr(report, "\"restored\":true"));
    rig_free(r);
}

static void test_throttle_and_restore_fail(void **state)
{
    struct rig *r = rig_new(0);
    struct xlmig_error err;
    char report[XSMEM_REPORT_LEN];

    (void)state;
    assert_int_equal(xsmem_prepare(&r->m, NULL, 7, U1, &err), 0);
    /* a throttle that cannot be set is a warning, never a failure */
    r->h->fail_set = true;
    live(r, hot, 2);
    assert_int_equal(r->seen.nac, 1);
    assert_int_equal(r->seen.ac_cap[0], -1);
    assert_int_equal(r->seen.nwarn, 1);
    assert_non_null(strstr(r->seen.log, "set failed"));
    r->h->fail_set = false;
    pass(r, 2, 29000);
    assert_int_equal(r->seen.nac, 2);
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 30);
    /* the restore fails: the record stays for recover-cap, said loudly */
    r->h->fail_set = true;
    xsmem_end(&r->m, r->lg, 0, report, sizeof(report));
    assert_int_equal(r->seen.nerr, 1);
    assert_non_null(strstr(r->seen.log, "recover-cap"));
    assert_string_equal(key(r, "ac_restored"), "no");
    assert_non_null(rec(r, "sched"));
    assert_non_null(strstr(report, "\"restored\":false"));
    /* the exit path tries again */
    r->h->fail_set = false;
    xsmem_close(&r->m);
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 0);
    assert_null(rec(r, "sched"));
    assert_string_equal(key(r, "ac_restored"), "yes");
    rig_free(r);
}

static void test_off(void **state)
{
    struct rig *r = rig_new(0);
    char report[XSMEM_REPORT_LEN];

    (void)state;
    live(r, hot, 5);
    finish(r, 5, 26000);
    assert_int_equal(r->seen.nac, 0);
    assert_true(r->seen.nmem >= 7);
    assert_int_equal(r->seen.last_throttle, -1);
    assert_int_equal(r->h->nset, 0);
    assert_null(key(r, "ac_throttle_pct"));
    assert_string_equal(key(r, "mem_state"), "complete");
    xsmem_end(&r->m, r->lg, 0, report, sizeof(report));
    assert_null(strstr(report, "autoconverge"));
    assert_int_equal(r->h->nput, 0);
    rig_free(r);
}

static void test_refused(void **state)
{
    struct rig *r = rig_new(0);
    struct xlmig_error err;

    (void)state;
    snprintf(r->h->dom[0].sched, sizeof(r->h->dom[0].sched), "rtds");
    assert_true(xsmem_prepare(&r->m, NULL, 7, U1, &err) < 0);
    assert_non_null(strstr(err.msg, "credit"));
    assert_int_equal(r->h->nput, 0);
    live(r, hot, 3);
    assert_int_equal(r->h->nset, 0);
    xsmem_close(&r->m);
    rig_free(r);
}

static void test_recover(void **state)
{
    struct rig *r = rig_new(0);
    struct xlmig_error err;

    (void)state;
    assert_int_equal(xsmem_prepare(&r->m, NULL, 7, U1, &err), 0);
    live(r, hot, 3);
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 30);
    /* the migrating process is still there: a second migration waits */
    r->h->alive = true;
    assert_int_equal(xsmem_recover(&r->m, U1, "g1", &err), -EBUSY);
    assert_non_null(strstr(err.msg, "running"));
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 30);
    /* it crashed: the next command puts the original back */
    r->h->alive = false;
    assert_int_equal(xsmem_recover(&r->m, U1, "g1", &err), 0);
    assert_int_equal(fake_cap_find(r->h, 7)->cap, 0);
    assert_null(rec(r, "sched"));
    assert_non_null(strstr(r->seen.log, "g1: restored the CPU cap 0"));
    /* nothing left: nothing said */
    size_t l = strlen(r->seen.log);
    assert_int_equal(xsmem_recover(&r->m, U1, "g1", &err), 0);
    assert_int_equal(strlen(r->seen.log), l);
    rig_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success),
        cmocka_unit_test(test_failed_suspend),
        cmocka_unit_test(test_throttle_and_restore_fail),
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_recover),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
