/*
 * The memory progress capture (xmem_parse.c, xmem_progress.c), fed the way
 * libxl feeds the logger given to libxl_ctx_alloc: xtl_progress(lg, "xc",
 * doing_what, done, total) with libxc's own strings, in the order and at
 * the steps xg_sr_save.c reports them (every 1024 pages from 0, then
 * (entries, entries)), and xtl_log for the helper's messages.  A fake
 * clock makes rates, dirty rates and ETAs exact.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xmem_progress.h"

#define MS 1000000ull
#define S 1000000000ull

/* ---- a recording logger standing in for xl's stdio logger ------------ */

struct rec {
    xentoollog_logger vt;
    unsigned nmsg, nprog;
    char last_msg[256];
    int last_level, last_errno;
    char last_ctx[32], last_doing[64];
    int last_percent;
    unsigned long last_done, last_total;
};

__attribute__((format(printf, 5, 0)))
static void rec_vmessage(xentoollog_logger *lg, xentoollog_level level,
                         int errnoval, const char *context,
                         const char *format, va_list al)
{
    struct rec *r = (struct rec *)lg;

    r->nmsg++;
    r->last_level = level;
    r->last_errno = errnoval;
    snprintf(r->last_ctx, sizeof(r->last_ctx), "%s", context ? context : "");
    vsnprintf(r->last_msg, sizeof(r->last_msg), format, al);
}

static void rec_progress(xentoollog_logger *lg, const char *context,
                         const char *doing, int percent, unsigned long done,
                         unsigned long total)
{
    struct rec *r = (struct rec *)lg;

    r->nprog++;
    snprintf(r->last_ctx, sizeof(r->last_ctx), "%s", context ? context : "");
    snprintf(r->last_doing, sizeof(r->last_doing), "%s", doing);
    r->last_percent = percent;
    r->last_done = done;
    r->last_total = total;
}

static void rec_destroy(xentoollog_logger *lg)
{
    (void)lg;
}

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    r->vt.vmessage = rec_vmessage;
    r->vt.progress = rec_progress;
    r->vt.destroy = rec_destroy;
}

/* ---- fixture: the wrapper over a recorder, a fake clock, callbacks ---- */

struct fx {
    struct rec inner;
    struct xmem_logger *l;
    xentoollog_logger *lg;
    uint64_t t;
    unsigned ncb, ncb_pass, ncb_progress;
    struct xmem_stats last;
};

static uint64_t fake_now(void *opaque)
{
    return ((struct fx *)opaque)->t;
}

static void on_stats(void *opaque, const struct xmem_stats *st)
{
    struct fx *f = opaque;

    f->ncb++;
    if (st->event == XMEM_EV_PASS)
        f->ncb_pass++;
    if (st->event == XMEM_EV_PROGRESS)
        f->ncb_progress++;
    f->last = *st;
}

static struct fx *fx_new(double max_hz)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct xmem_opts o;

    assert_non_null(f);
    rec_init(&f->inner);
    xmem_opts_default(&o);
    o.max_hz = max_hz;
    o.cb = on_stats;
    o.cb_opaque = f;
    o.now_ns = fake_now;
    o.clock_opaque = f;
    f->t = 1000 * S;
    f->l = xmem_logger_new(&f->inner.vt, &o);
    assert_non_null(f->l);
    f->lg = xmem_logger_xtl(f->l);
    return f;
}

static void fx_free(struct fx *f)
{
    xtl_logger_destroy(f->lg);
    free(f);
}

static void single(struct fx *f, const char *what)
{
    /* xc_report_progress_single, through libxl's forwarding */
    xtl_progress(f->lg, "xc", what, 0, 0);
}

/*
 * One pass as xg_sr_save.c's send_dirty_pages reports it: (written,
 * entries) whenever written % 1024 == 0, then (entries, entries), the
 * pages going at pps.  pv_run reports the pages before `until`.
 */
struct pv {
    char label[32];
    unsigned long entries, w;
    double pps;
    uint64_t t0;
};

static void pv_begin(struct fx *f, struct pv *p, const char *label,
                     unsigned long entries, double pps)
{
    snprintf(p->label, sizeof(p->label), "%s", label);
    p->entries = entries;
    p->pps = pps;
    p->t0 = f->t;
    p->w = 0;
}

static void pv_run(struct fx *f, struct pv *p, unsigned long until)
{
    for (; p->w < p->entries && p->w < until; p->w++) {
        if ((p->w & 1023) == 0) {
            f->t = p->t0 + (uint64_t)((double)p->w / p->pps * 1e9);
            xtl_progress(f->lg, "xc", p->label, p->w, p->entries);
        }
    }
    if (until >= p->entries) {
        f->t = p->t0 + (uint64_t)((double)p->entries / p->pps * 1e9);
        xtl_progress(f->lg, "xc", p->label, p->entries, p->entries);
    }
}

static void pass_part(struct fx *f, const char *label, unsigned long entries,
                      double pps)
{
    struct pv p;

    pv_begin(f, &p, label, entries, pps);
    pv_run(f, &p, entries);
}

static void pass_iter(struct fx *f, unsigned iter, unsigned long entries,
                      double pps)
{
    char label[32];

    snprintf(label, sizeof(label), "Frames iteration %u", iter);
    pass_part(f, label, entries, pps);
}

static double rel(double a, double b)
{
    return b == 0 ? a : (a - b) / b;
}

#define assert_close(a, b) do {                                        \
        double a_ = (a), b_ = (b);                                     \
        if (rel(a_, b_) > 1e-6 || rel(a_, b_) < -1e-6)                 \
            fail_msg("%s = %.9g, expected %.9g", #a, a_, b_);          \
    } while (0)

/* ---- a whole live migration, libxenguest's default policy ------------ */

#define P 32768ul                       /* 128 MiB guest */
#define R 25600.0                       /* 100 MiB/s */
#define CLEAN (10 * MS)                 /* between passes */

static void test_live_migration(void **state)
{
    static const unsigned long set[] = { P, 6450, 4000, 3000, 2500 };
    uint64_t start[6], t_susp;
    struct fx *f = fx_new(0);
    struct xmem_stats st;
    struct xmem_pass ps;
    struct pv pv;
    double d;

    (void)state;
    /* libxl-save-helper's own messages come through xtl_log. */
    xtl_log(f->lg, XTL_DEBUG, -1, "libxl-save-helper", "starting save: %s",
            "Success");
    xtl_log(f->lg, XTL_INFO, -1, "xc", "Saving domain %d, type %s", 7,
            "x86 PV");
    assert_int_equal(f->inner.nmsg, 2);
    assert_string_equal(f->inner.last_msg, "Saving domain 7, type x86 PV");
    assert_int_equal(f->ncb, 0);

    single(f, "Start of stream");
    assert_int_equal(f->last.event, XMEM_EV_START);
    assert_int_equal(f->last.state, XMEM_STARTED);
    f->t += 30 * MS;

    /* pass 0, half way */
    start[0] = f->t;
    pv_begin(f, &pv, "Frames iteration 0", P, R);
    pv_run(f, &pv, 16385);
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.state, XMEM_LIVE);
    assert_int_equal(st.pass, 0);
    assert_int_equal(st.iteration, 0);
    assert_false(st.final);
    assert_int_equal(st.total_pages, P);
    assert_int_equal(st.iter_pages, P);
    assert_int_equal(st.sent_pages, 16384);
    assert_close(st.rate_pps, R);
    assert_close(st.rate_Bps, R * 4096);
    assert_true(st.dirty_pps < 0);                  /* not known yet */
    assert_int_equal(st.remaining_pages, P - 16384);
    assert_close(st.eta_s, 16384 / R);              /* a lower bound */
    assert_true(st.eta_lower_bound);
    assert_int_equal(f->inner.nprog, 1 + 17);       /* all passed on */
    assert_string_equal(f->inner.last_doing, "Frames iteration 0");
    assert_int_equal(f->inner.last_percent, 50);
    assert_int_equal(f->inner.last_done, 16384);
    pv_run(f, &pv, P);
    assert_int_equal(f->last.iter_sent_pages, P);

    /* passes 1..3: each set was dirtied during the pass before */
    for (unsigned k = 1; k < 4; k++) {
        f->t += CLEAN;
        start[k] = f->t;
        pass_iter(f, k, set[k], R);
        assert_int_equal(f->last.iteration, k);
        assert_int_equal(f->last.prev_iter_pages, set[k - 1]);
        assert_close(f->last.dirty_pps,
                     set[k] / ((double)(start[k] - start[k - 1]) * 1e-9));
    }
    assert_int_equal(f->ncb_pass, 4);
    for (unsigned k = 0; k < 3; k++) {
        assert_true(xmem_logger_pass(f->l, k, &ps) == 0);
        assert_int_equal(ps.iteration, k);
        assert_int_equal(ps.pages, set[k]);
        assert_int_equal(ps.sent, set[k]);
        assert_false(ps.final);
        assert_close(ps.dirty_pps,
                     set[k + 1] / ((double)(start[k + 1] - start[k]) * 1e-9));
    }

    /* pass 4, the last live one, 1024 pages in: remaining counts what was
     * dirtied since its set was taken; the ETA expects the final set to be
     * what the guest dirties during all of pass 4 */
    f->t += CLEAN;
    start[4] = f->t;
    pv_begin(f, &pv, "Frames iteration 4", set[4], R);
    pv_run(f, &pv, 1025);
    xmem_logger_stats(f->l, &st);
    d = set[4] / ((double)(start[4] - start[3]) * 1e-9);
    assert_close(st.dirty_pps, d);
    assert_int_equal(st.pass, 4);
    /* the rate over the last 2 s includes the pauses between passes */
    assert_true(st.rate_pps < R && st.rate_pps > 0.9 * R);
    {
        double el = 1024 / R, left = (double)(set[4] - 1024), r = st.rate_pps;
        double t = left / r, fin = d * (el + t);
        assert_close(st.iter_elapsed_s, el);
        assert_int_equal(st.iter_sent_pages, 1024);
        assert_int_equal(st.prev_iter_pages, set[3]);
        assert_int_equal(st.remaining_pages,
                         (int64_t)left + (int64_t)(d * el));
        assert_close(st.eta_s, t + fin / r);
        assert_false(st.eta_lower_bound);
        assert_int_equal(st.expected_final_pages, (int64_t)(fin + 0.5));
        assert_close(st.expected_downtime_ms, fin / r * 1000);
    }
    pv_run(f, &pv, set[4]);

    /* suspend (the guest takes 40 ms to suspend), the final set */
    f->t += 40 * MS;
    t_susp = f->t;
    single(f, "Domain now suspended");
    assert_int_equal(f->last.event, XMEM_EV_SUSPENDED);
    assert_int_equal(f->last.state, XMEM_SUSPENDED);
    f->t += CLEAN;
    start[5] = f->t;
    pass_iter(f, 5, 1900, R);
    assert_true(xmem_logger_pass(f->l, 4, &ps) == 0);
    assert_close(ps.dirty_pps, 1900 / ((double)(t_susp - start[4]) * 1e-9));
    assert_true(xmem_logger_pass(f->l, 5, &ps) == 0);
    assert_true(ps.final);
    assert_int_equal(ps.iteration, 5);
    assert_int_equal(ps.pages, 1900);
    assert_true(ps.t_end_ns > ps.t_start_ns);
    xmem_logger_stats(f->l, &st);
    assert_true(st.final);
    assert_int_equal(st.remaining_pages, 0);

    single(f, "End of stream");
    single(f, "Complete");
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.state, XMEM_COMPLETE);
    assert_int_equal(st.sent_pages, P + 6450 + 4000 + 3000 + 2500 + 1900);
    assert_int_equal(st.remaining_pages, 0);
    assert_close(st.eta_s, 0);
    assert_int_equal(xmem_logger_npasses(f->l), 6);

    /* the next migration on the same ctx starts from nothing */
    f->t += 5 * S;
    single(f, "Start of stream");
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.state, XMEM_STARTED);
    assert_int_equal(xmem_logger_npasses(f->l), 0);
    assert_int_equal(st.sent_pages, 0);
    assert_true(st.dirty_pps < 0);
    pass_iter(f, 0, 1000, R);
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.total_pages, 1000);
    assert_true(st.elapsed_s < 0.1);
    fx_free(f);
}

/* Pre-copy stops early on "< 50 pages": the last live set is sent under
 * the same iteration string as the final one; only "Domain now suspended"
 * in between tells them apart.  An empty final set still reports (0, 0). */
static void test_small_set_and_empty_final(void **state)
{
    struct fx *f = fx_new(0);
    struct xmem_pass ps;
    struct xmem_stats st;

    (void)state;
    single(f, "Start of stream");
    pass_iter(f, 0, P, R);
    f->t += CLEAN;
    pass_iter(f, 1, 3000, R);
    f->t += CLEAN;
    pass_iter(f, 2, 30, R);             /* < 50: sent live, then stop */
    single(f, "Domain now suspended");
    pass_iter(f, 2, 4, R);
    assert_int_equal(xmem_logger_npasses(f->l), 4);
    assert_true(xmem_logger_pass(f->l, 2, &ps) == 0);
    assert_false(ps.final);
    assert_int_equal(ps.pages, 30);
    assert_true(xmem_logger_pass(f->l, 3, &ps) == 0);
    assert_true(ps.final);
    assert_int_equal(ps.iteration, 2);
    assert_int_equal(ps.pages, 4);
    single(f, "End of stream");
    fx_free(f);

    f = fx_new(0);
    single(f, "Start of stream");
    pass_iter(f, 0, 1000, R);
    f->t += CLEAN;
    pass_iter(f, 1, 20, R);
    f->t += CLEAN;
    single(f, "Domain now suspended");
    xtl_progress(f->lg, "xc", "Frames iteration 1", 0, 0);
    assert_int_equal(f->last.event, XMEM_EV_PASS);
    assert_true(f->last.final);
    assert_int_equal(f->last.iter_pages, 0);
    assert_true(xmem_logger_pass(f->l, 2, &ps) == 0);
    assert_true(ps.t_end_ns != 0);      /* empty: ended at once */
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.remaining_pages, 0);
    fx_free(f);
}

/* What is not a save report changes nothing, and still reaches xl. */
static void test_not_reports(void **state)
{
    static const char *const bad[] = {
        "Frames iteration ", "Frames iteration 3x", "Frames iteration -1",
        "frames iteration 3", "Frames iteration 3 of 5", "Memory",
        "Frames iteration 12345678901",
    };
    struct fx *f = fx_new(0);
    struct xmem_stats st;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        xtl_progress(f->lg, "xc", bad[i], 0, 100);
    xtl_progress(f->lg, "xl", "Frames iteration 0", 0, 100);
    xtl_progress(f->lg, NULL, "Frames iteration 0", 0, 100);
    xtl_progress(f->lg, "xc", "Something else", 0, 0);
    assert_int_equal(f->ncb, 0);
    assert_int_equal(f->inner.nprog, sizeof(bad) / sizeof(bad[0]) + 3);
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.state, XMEM_IDLE);
    assert_int_equal(xmem_logger_npasses(f->l), 0);
    /* the --debug verify pass is not migration data */
    single(f, "Start of stream");
    pass_iter(f, 0, 2048, R);
    single(f, "Domain now suspended");
    pass_iter(f, 1, 10, R);
    pass_part(f, "Frames verify", 2048, R);
    assert_int_equal(xmem_logger_npasses(f->l), 2);
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.state, XMEM_VERIFY);
    assert_int_equal(st.sent_pages, 2048 + 10);
    fx_free(f);
}

/* Everything reaches the wrapped logger exactly as sent, and the real
 * stdio logger prints what xl prints. */
static void test_passthrough_stdio(void **state)
{
    char buf[4096] = "";
    FILE *tmp = tmpfile();
    xentoollog_logger_stdiostream *sl;
    struct xmem_logger *l;
    xentoollog_logger *lg;
    struct rec r;

    (void)state;
    rec_init(&r);
    l = xmem_logger_new(&r.vt, NULL);
    lg = xmem_logger_xtl(l);
    xtl_log(lg, XTL_ERROR, 5, "libxl", "fd %d: %s", 3, "oops");
    assert_int_equal(r.last_level, XTL_ERROR);
    assert_int_equal(r.last_errno, 5);
    assert_string_equal(r.last_ctx, "libxl");
    assert_string_equal(r.last_msg, "fd 3: oops");
    xtl_progress(lg, "xc", "Frames iteration 2", 300, 1200);
    assert_string_equal(r.last_ctx, "xc");
    assert_string_equal(r.last_doing, "Frames iteration 2");
    assert_int_equal(r.last_percent, 25);
    assert_int_equal(r.last_done, 300);
    assert_int_equal(r.last_total, 1200);
    xtl_logger_destroy(lg);             /* the inner one is not ours */

    assert_non_null(tmp);
    sl = xtl_createlogger_stdiostream(tmp, XTL_PROGRESS,
                                      XTL_STDIOSTREAM_PROGRESS_NO_CR);
    assert_non_null(sl);
    l = xmem_logger_new((xentoollog_logger *)sl, NULL);
    lg = xmem_logger_xtl(l);
    xtl_progress(lg, "xc", "Frames iteration 0", 0, 32768);
    xtl_progress(lg, "xc", "Frames iteration 0", 32768, 32768);
    xtl_log(lg, XTL_DEBUG, -1, "xc", "hidden at XTL_PROGRESS");
    xtl_log(lg, XTL_WARN, -1, "xc", "shown");
    xtl_logger_destroy(lg);
    xtl_logger_destroy((xentoollog_logger *)sl);
    rewind(tmp);
    buf[fread(buf, 1, sizeof(buf) - 1, tmp)] = '\0';
    fclose(tmp);
    assert_non_null(strstr(buf,
                   "xc: progress: Frames iteration 0: 32768/32768  100%"));
    assert_non_null(strstr(buf, "xc: warning: shown"));
    assert_null(strstr(buf, "hidden"));
}

/* Progress callbacks at most max_hz a second; pass changes always. */
static void test_rate_limit(void **state)
{
    struct fx *f = fx_new(4);

    (void)state;
    single(f, "Start of stream");
    pass_iter(f, 0, 10 * 25600, 25600);     /* 10 s, 251 reports */
    assert_int_equal(f->ncb_pass, 1);
    /* one every 7 reports (280 ms >= 250 ms): 35, never over 4 a second */
    assert_int_equal(f->ncb_progress, 35);
    f->t += CLEAN;
    pass_iter(f, 1, 4096, 25600);
    f->t += CLEAN;
    pass_iter(f, 2, 2048, 25600);
    assert_int_equal(f->ncb_pass, 3);
    assert_int_equal(f->last.pass, 2);
    fx_free(f);
}

/* Remus-like endless checkpoints: the last XMEM_MAX_PASSES are kept. */
static void test_many_passes(void **state)
{
    struct fx *f = fx_new(0);
    struct xmem_pass ps;

    (void)state;
    pass_iter(f, 0, 4096, R);
    for (unsigned i = 0; i < 69; i++) {
        f->t += CLEAN;
        pass_part(f, "Checkpointed save", 100 + i, R);
    }
    assert_int_equal(xmem_logger_npasses(f->l), 70);
    assert_int_equal(xmem_logger_pass(f->l, 5, &ps), -1);
    assert_int_equal(xmem_logger_pass(f->l, 69, &ps), 0);
    assert_true(ps.final);
    assert_int_equal(ps.pages, 168);
    assert_int_equal(xmem_logger_pass(f->l, 6, &ps), 0);
    assert_int_equal(ps.pages, 105);
    fx_free(f);
}

/* libxl may log from several threads at once; progress meanwhile. */
struct hammer { struct fx *f; bool progress; };

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;

    for (unsigned i = 0; i < 20000; i++) {
        if (h->progress)
            xtl_progress(h->f->lg, "xc", "Frames iteration 0", i, 20000);
        else
            xtl_log(h->f->lg, XTL_DEBUG, -1, "libxl", "message %u", i);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fx *f = fx_new(1000);
    struct hammer h[3] = { { f, false }, { f, false }, { f, true } };
    pthread_t th[3];
    struct xmem_stats st;

    (void)state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(f->inner.nmsg, 40000);
    assert_int_equal(f->inner.nprog, 20000);
    xmem_logger_stats(f->l, &st);
    assert_int_equal(st.iter_sent_pages, 19999);
    fx_free(f);
}

/* The ETA model alone: libxenguest's policy, hand-computed. */
static void test_eta_model(void **state)
{
    struct xmem_model m;
    double fin, eta;

    (void)state;
    xmem_model_default(&m);
    /* final pass: what is left */
    assert_close(xmem_eta(&m, 5, true, P, 2560, 0.3, 25600, 9999, &fin),
                 0.1);
    assert_close(fin, 2560);
    /* pass 3 just started (elapsed 0), 2560 pages at 25600/s (0.1 s),
     * guest dirties 12800 distinct pages/s: set 4 = 1280 (0.05 s), the
     * final = 640 (0.025 s) */
    eta = xmem_eta(&m, 3, false, P, 2560, 0, 25600, 12800, &fin);
    assert_close(eta, 0.1 + 0.05 + 0.025);
    assert_close(fin, 640);
    /* a guest dirtying faster than the link: sets saturate at P; passes
     * 1 to 4 and the final each send all of it */
    eta = xmem_eta(&m, 1, false, P, P, 0, 25600, 1e9, &fin);
    assert_close(fin, P);
    assert_close(eta, 5 * (P / 25600.0));
    /* a slow one: set 2 under 50 is sent live, then a tiny final */
    eta = xmem_eta(&m, 1, false, P, 1000, 0, 1000, 40, &fin);
    assert_close(eta, 1 + 0.04 + 40 * 0.04 / 1000);
    assert_close(fin, 1.6);
    assert_true(xmem_eta(&m, 1, false, P, 1000, 0, 0, 40, &fin) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_migration),
        cmocka_unit_test(test_small_set_and_empty_final),
        cmocka_unit_test(test_not_reports),
        cmocka_unit_test(test_passthrough_stdio),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_many_passes),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_eta_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
