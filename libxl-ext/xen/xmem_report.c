#include <string.h>

#include "conn.h"
#include "progress.h"
#include "xmem_report.h"

#define FLUSH_NS 250000000ull

void xmem_to_event(const struct xmem_stats *st, const struct xmem_ac *ac,
                   struct xlmig_memory *m)
{
    xlmig_memory_init(m);
    m->state = xmem_state_name(st->state);
    if (st->total_pages) {
        m->pass = (int)st->pass;
        m->iteration = (int)st->iteration;
        m->final = st->final;
        m->total_pages = (int64_t)st->total_pages;
        m->iter_pages = (int64_t)st->iter_pages;
        m->iter_sent_pages = (int64_t)st->iter_sent_pages;
        m->sent_pages = (int64_t)st->sent_pages;
        m->remaining_pages = st->remaining_pages;
    }
    m->rate_pps = st->rate_pps;
    m->rate_Bps = st->rate_Bps;
    m->dirty_rate_pps = st->dirty_pps;
    m->eta_s = st->eta_s;
    m->eta_lower_bound = st->eta_lower_bound;
    m->expected_downtime_ms = st->expected_downtime_ms;
    m->page_size = (int)st->page_size;
    if (ac) {
        m->throttle_pct = (int)ac->throttle;
        m->cap = ac->cap;
    }
}

static void snum(struct xst *s, const char *k, double v, bool integer)
{
    if (v < 0) {
        xst_unset(s, k);
        return;
    }
    if (integer)
        xst_set(s, k, "%lld", (long long)(v + 0.5));
    else
        xst_set(s, k, "%.3f", v);
}

void xmem_status_update(struct xst *s, const struct xmem_stats *st,
                        const struct xmem_ac *ac)
{
    bool urgent = st->event != XMEM_EV_PROGRESS;
    uint64_t last;

    xst_set(s, "mem_state", "%s", xmem_state_name(st->state));
    if (st->total_pages) {
        xst_set(s, "mem_pass", "%u", st->pass);
        xst_set(s, "mem_iteration", "%u", st->iteration);
        xst_set(s, "mem_total_pages", "%llu",
                (unsigned long long)st->total_pages);
        xst_set(s, "mem_sent_pages", "%llu",
                (unsigned long long)st->sent_pages);
    }
    snum(s, "mem_remaining_pages", (double)st->remaining_pages, true);
    snum(s, "mem_rate_Bps", st->rate_Bps, true);
    snum(s, "mem_dirty_rate_pps", st->dirty_pps, false);
    snum(s, "mem_eta_s", st->eta_s, false);
    snum(s, "mem_expected_downtime_ms", st->expected_downtime_ms, false);
    if (ac) {
        xst_set(s, "ac_throttle_pct", "%u", ac->throttle);
        snum(s, "ac_cap", ac->cap, true);
    }
    pthread_mutex_lock(&s->lock);
    last = s->last_flush_ns;
    pthread_mutex_unlock(&s->lock);
    if (urgent || xlmig_now_ns() - last > FLUSH_NS)
        xst_flush(s);
}
