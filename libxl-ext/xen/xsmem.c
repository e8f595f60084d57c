#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "xmem_report.h"
#include "xsmem.h"

void xsmem_init(struct xsmem *m, const struct xflow_observer *obs,
                struct xst *st, const struct xconv_cap_ops *ops, void *h)
{
    memset(m, 0, sizeof(*m));
    xlmig_emitter_init(&m->em, "source", obs ? obs->event : NULL,
                       obs ? obs->log : NULL, obs ? obs->opaque : NULL);
    m->st = st;
    m->ops = ops;
    m->h = h;
}

int xsmem_recover(struct xsmem *m, const char *uuid, const char *name,
                  struct xlmig_error *err)
{
    struct xconv_recovery r;
    struct xlmig_error e = { 0 };

    if (!m->ops)
        return 0;
    if (xconv_cap_recover(m->ops, m->h, uuid, &r, &e) < 0)
        return xlmig_fail(err, e.code, "%s: the CPU cap left by an earlier "
                          "migration: %s", name, e.msg);
    switch (r.what) {
    case XCONV_NONE:
        break;
    case XCONV_BUSY:
        return xlmig_fail(err, EBUSY, "%s: a migration of this domain is "
                          "running (process %s holds its CPU cap record)",
                          name, r.owner);
    case XCONV_RESTORED:
        xlmig_logf(&m->em, XLMIG_LOG_WARN, "%s: restored the CPU cap %d "
                   "(%s) that a migration which did not finish (process "
                   "%s) had lowered to %d", name, r.orig.cap, r.orig.sched,
                   r.owner, r.found_cap);
        break;
    case XCONV_ALREADY:
        xlmig_logf(&m->em, XLMIG_LOG_INFO, "%s: removed the CPU cap record "
                   "of a migration which did not finish (process %s); the "
                   "domain has its original cap %d", name, r.owner,
                   r.orig.cap);
        break;
    case XCONV_GONE:
        xlmig_logf(&m->em, XLMIG_LOG_INFO, "%s: removed the CPU cap record "
                   "of a migration which did not finish (process %s): "
                   "domain %u is gone", name, r.owner, r.domid);
        break;
    case XCONV_CHANGED:
        xlmig_logf(&m->em, XLMIG_LOG_WARN, "%s: a migration which did not "
                   "finish (process %s) had throttled the domain, whose CPU "
                   "cap is now %d (the original was %d): left as it is, "
                   "record removed", name, r.owner, r.found_cap, r.orig.cap);
        break;
    }
    return 0;
}

int xsmem_prepare(struct xsmem *m, const struct xconv_opts *o,
                  uint32_t domid, const char *uuid, struct xlmig_error *err)
{
    char owner[64];
    int rc;

    if (!m->ops)
        return xlmig_fail(err, ENOSYS, "auto-converge: no scheduler access");
    if (xconv_owner_self(owner, sizeof(owner)) < 0)
        return xlmig_fail(err, EIO, "auto-converge: cannot read /proc/self");
    rc = xconv_cap_prepare(&m->cap, m->ops, m->h, domid, uuid, owner, err);
    if (rc < 0)
        return rc;
    xconv_policy_init(&m->pol, o);
    m->ac = true;
    xlmig_logf(&m->em, XLMIG_LOG_INFO, "auto-converge: throttle %u%% first, "
               "+%u%% per step, at most %u%%; domain %u on %s, %u vCPU(s), "
               "CPU cap %d%s", m->pol.o.start, m->pol.o.step, m->pol.o.max,
               domid,
               m->cap.orig.sched, m->cap.orig.vcpus, m->cap.orig.cap,
               m->cap.orig.cap ? "" : " (none)");
    if (m->st) {
        xst_set(m->st, "ac_orig_cap", "%d", m->cap.orig.cap);
        xst_set(m->st, "ac_sched", "%s", m->cap.orig.sched);
        xst_set(m->st, "ac_throttle_pct", "0");
        xst_flush(m->st);
    }
    return 0;
}

static void ac_fields(const struct xsmem *m, struct xlmig_memory *mem)
{
    mem->throttle_pct = (int)m->pol.throttle;
    mem->cap = m->cap.current;
    mem->orig_cap = m->cap.orig.cap;
    mem->sched = m->cap.orig.sched;
}

/* One throttle step at the start of a live pass. */
static void step(struct xsmem *m, const struct xmem_stats *st)
{
    uint64_t now = xlmig_now_ns();
    unsigned t = xconv_policy_pass(&m->pol, now, st->pass,
                                   st->prev_iter_pages, st->iter_pages);
    struct xlmig_event ev;
    struct xlmig_memory mem;
    struct xlmig_error e = { 0 };
    char msg[300];
    int cap = -1;
    size_t n;

    if (!t)
        return;
    if (xconv_cap_throttle(&m->cap, t, &cap, &e) < 0) {
        /* A failed throttle never fails the migration. */
        xlmig_logf(&m->em, XLMIG_LOG_WARN, "auto-converge: %s", e.msg);
        cap = -1;
    }
    xconv_policy_set_cap(&m->pol, cap);
    snprintf(msg, sizeof(msg), "memory pass %u: %llu of %llu pages dirtied "
             "again: throttle %u%% (CPU cap %d, was %d)", st->pass,
             (unsigned long long)st->iter_pages,
             (unsigned long long)st->prev_iter_pages, t, cap,
             m->cap.orig.cap);
    xlmig_logf(&m->em, XLMIG_LOG_INFO, "auto-converge: %s", msg);
    xmem_to_event(st, NULL, &mem);
    ac_fields(m, &mem);
    mem.cap = cap;
    ev = xlmig_event_make("autoconverge", "memory");
    ev.memory = &mem;
    ev.message = msg;
    xlmig_emit(&m->em, &ev);
    n = strlen(m->steps);
    snprintf(m->steps + n, sizeof(m->steps) - n, "%s%.1f:%u:%d",
             n ? " " : "", ev.t, t, cap);
    if (m->st)
        xst_set(m->st, "ac_steps", "%s", m->steps);
}

void xsmem_stats_cb(void *opaque, const struct xmem_stats *st)
{
    struct xsmem *m = opaque;
    struct xlmig_event ev = xlmig_event_make("memory", "memory");
    struct xlmig_memory mem;
    struct xmem_ac ac;

    if (m->ac && !m->ended) {
        if (st->event == XMEM_EV_PASS && !st->final && st->pass >= 1)
            step(m, st);
        else if (st->event == XMEM_EV_SUSPENDED)
            xconv_policy_stop(&m->pol);
    }
    ac.throttle = m->pol.throttle;
    ac.cap = m->cap.current;
    xmem_to_event(st, m->ac ? &ac : NULL, &mem);
    if (m->ac)
        ac_fields(m, &mem);
    ev.memory = &mem;
    xlmig_emit(&m->em, &ev);
    if (m->st)
        xmem_status_update(m->st, st, m->ac ? &ac : NULL);
}

static void restore(struct xsmem *m)
{
    if (!m->ac || !m->cap.recorded)
        return;
    xlmig_error_clear(&m->restore_err);
    m->restore_rc = xconv_cap_restore(&m->cap, &m->restore_err);
    if (m->restore_rc < 0)
        xlmig_logf(&m->em, XLMIG_LOG_ERROR, "auto-converge: the original CPU "
                   "cap %d could not be restored: %s (xlmig recover-cap "
                   "puts it back)", m->cap.orig.cap, m->restore_err.msg);
    if (m->st) {
        xst_set(m->st, "ac_restored", "%s", m->restore_rc ? "no" : "yes");
        if (!m->restore_rc)
            xst_set(m->st, "ac_cap", "%d", m->cap.orig.cap);
        xst_flush(m->st);
    }
}

static void report(struct xsmem *m, struct xmem_logger *lg, int rc,
                   char *buf, size_t len)
{
    struct xmem_stats st;
    struct xmem_pass p;
    unsigned n = lg ? xmem_logger_npasses(lg) : 0;
    uint64_t t_first = 0, t_last = 0, final_pages = 0;
    size_t pos = 0;
    bool first = true;

    if (lg)
        xmem_logger_stats(lg, &st);
    else
        memset(&st, 0, sizeof(st));
    xlmig_json_fmt(buf, len, &pos, "{\"memory\":{\"result\":%d,\"passes\":[",
                   rc);
    for (unsigned i = 0; i < n; i++) {
        if (xmem_logger_pass(lg, i, &p) < 0)
            continue;
        if (!t_first)
            t_first = p.t_start_ns;
        t_last = p.t_end_ns ? p.t_end_ns : p.t_start_ns;
        if (p.final)
            final_pages = p.pages;
        xlmig_json_fmt(buf, len, &pos, "%s{\"pass\":%u,\"iteration\":%u,"
                       "\"final\":%s,\"pages\":%llu,\"sent\":%llu,"
                       "\"s\":%.3f", first ? "" : ",", i, p.iteration,
                       p.final ? "true" : "false",
                       (unsigned long long)p.pages,
                       (unsigned long long)p.sent,
                       p.t_end_ns > p.t_start_ns
                           ? (double)(p.t_end_ns - p.t_start_ns) * 1e-9 : 0);
        if (p.dirty_pps >= 0)
            xlmig_json_fmt(buf, len, &pos, ",\"dirty_pps\":%.1f",
                           p.dirty_pps);
        xlmig_json_fmt(buf, len, &pos, "}");
        first = false;
    }
    xlmig_json_fmt(buf, len, &pos, "],\"total_pages\":%llu,"
                   "\"sent_pages\":%llu,\"final_pages\":%llu,"
                   "\"memory_s\":%.3f}", (unsigned long long)st.total_pages,
                   (unsigned long long)st.sent_pages,
                   (unsigned long long)final_pages,
                   t_last > t_first ? (double)(t_last - t_first) * 1e-9 : 0);
    if (m->ac) {
        xlmig_json_fmt(buf, len, &pos, ",\"autoconverge\":{\"start\":%u,"
                       "\"step\":%u,\"max\":%u,\"sched\":",
                       m->pol.o.start, m->pol.o.step, m->pol.o.max);
        xlmig_json_str(buf, len, &pos, m->cap.orig.sched);
        xlmig_json_fmt(buf, len, &pos, ",\"orig_cap\":%d,\"vcpus\":%u,"
                       "\"steps\":", m->cap.orig.cap, m->cap.orig.vcpus);
        xconv_steps_json(&m->pol, m->em.t0_ns, buf, len, &pos);
        xlmig_json_fmt(buf, len, &pos, ",\"restored\":%s}",
                       m->restore_rc == 0 && !m->cap.recorded ? "true"
                                                              : "false");
    }
    xlmig_json_fmt(buf, len, &pos, "}");
    if (pos >= len && len)
        buf[0] = '\0';                  /* never half a line */
}

void xsmem_end(struct xsmem *m, struct xmem_logger *lg, int rc,
               char *out, size_t len)
{
    char buf[XSMEM_REPORT_LEN];

    m->ended = true;
    if (m->ac)
        xconv_policy_stop(&m->pol);
    restore(m);
    report(m, lg, rc, buf, sizeof(buf));
    if (buf[0] && m->em.log)            /* longer than xlmig_logf's */
        m->em.log(m->em.opaque, XLMIG_LOG_INFO, buf);
    if (out && len)
        snprintf(out, len, "%s", buf);
}

void xsmem_close(struct xsmem *m)
{
    m->ended = true;
    restore(m);
}
