#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "progress.h"
#include "xmem_report.h"

#define FLUSH_NS 250000000ull

/* A JSON string literal (the event's strings are ours: plain ASCII). */
static void jstr(FILE *f, const char *s)
{
    char buf[256];
    size_t p = 0;

    xlmig_json_str(buf, sizeof(buf), &p, s);
    fputs(buf, f);
}

static void jnum(FILE *f, const char *k, double v, bool integer)
{
    if (v < 0)
        return;
    if (integer)
        fprintf(f, ",\"%s\":%lld", k, (long long)(v + 0.5));
    else
        fprintf(f, ",\"%s\":%.3f", k, v);
}

void xmem_json_event(FILE *f, double t, const char *role,
                     const struct xmem_stats *st, const struct xmem_ac *ac)
{
    bool known = st->total_pages > 0;

    fprintf(f, "{\"event\":\"memory\",\"t\":%.3f,\"role\":", t);
    jstr(f, role);
    fprintf(f, ",\"phase\":\"memory\",\"mem_state\":\"%s\"",
            xmem_state_name(st->state));
    if (known) {
        fprintf(f, ",\"mem_pass\":%u,\"mem_iteration\":%u,"
                "\"mem_final\":%s,\"mem_total_pages\":%llu,"
                "\"mem_iter_pages\":%llu,\"mem_iter_sent_pages\":%llu,"
                "\"mem_sent_pages\":%llu", st->pass, st->iteration,
                st->final ? "true" : "false",
                (unsigned long long)st->total_pages,
                (unsigned long long)st->iter_pages,
                (unsigned long long)st->iter_sent_pages,
                (unsigned long long)st->sent_pages);
        jnum(f, "mem_remaining_pages", (double)st->remaining_pages, true);
    }
    jnum(f, "mem_rate_pps", st->rate_pps, false);
    jnum(f, "mem_rate_Bps", st->rate_Bps, true);
    jnum(f, "mem_dirty_rate_pps", st->dirty_pps, false);
    jnum(f, "mem_eta_s", st->eta_s, false);
    if (st->eta_s >= 0)
        fprintf(f, ",\"mem_eta_lower_bound\":%s",
                st->eta_lower_bound ? "true" : "false");
    jnum(f, "mem_expected_downtime_ms", st->expected_downtime_ms, false);
    fprintf(f, ",\"mem_page_size\":%u", st->page_size);
    if (ac) {
        fprintf(f, ",\"ac_throttle_pct\":%u", ac->throttle);
        if (ac->cap >= 0)
            fprintf(f, ",\"ac_cap\":%d", ac->cap);
    }
    fprintf(f, "}\n");
    fflush(f);
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

static void mib(char *out, size_t len, double pages, double page_size)
{
    snprintf(out, len, "%.3f MiB", pages * page_size / 1048576.0);
}

static bool num(const char *v, double *out)
{
    char *end;

    if (!v || !*v)
        return false;
    *out = strtod(v, &end);
    return !*end;
}

void xmem_jobinfo_print(FILE *f, const char *(*get)(void *job,
                                                     const char *key),
                        void *job)
{
    const char *state = get(job, "mem_state");
    double v, ps = 4096;            /* XC_PAGE_SIZE: x86 guests */
    char b[64];

    if (!state)
        return;
    if (num(get(job, "mem_pass"), &v))
        fprintf(f, "%-24s %s, pass %.0f\n", "Memory:", state, v);
    else
        fprintf(f, "%-24s %s\n", "Memory:", state);
    if (num(get(job, "mem_sent_pages"), &v)) {
        mib(b, sizeof(b), v, ps);
        fprintf(f, "%-24s %s\n", "Memory processed:", b);
    }
    if (num(get(job, "mem_remaining_pages"), &v)) {
        mib(b, sizeof(b), v, ps);
        fprintf(f, "%-24s %s\n", "Memory remaining:", b);
    }
    if (num(get(job, "mem_total_pages"), &v)) {
        mib(b, sizeof(b), v, ps);
        fprintf(f, "%-24s %s\n", "Memory total:", b);
    }
    if (num(get(job, "mem_rate_Bps"), &v))
        fprintf(f, "%-24s %.3f MiB/s\n", "Memory bandwidth:", v / 1048576.0);
    if (num(get(job, "mem_dirty_rate_pps"), &v))
        fprintf(f, "%-24s %.0f pages/s\n", "Dirty rate:", v);
    fprintf(f, "%-24s %.0f bytes\n", "Page size:", ps);
    if (num(get(job, "mem_iteration"), &v))
        fprintf(f, "%-24s %.0f\n", "Iteration:", v);
    if (num(get(job, "mem_eta_s"), &v))
        fprintf(f, "%-24s %.1f s\n", "Memory ETA:", v);
    if (num(get(job, "mem_expected_downtime_ms"), &v))
        fprintf(f, "%-24s %.1f ms\n", "Memory downtime (est.):", v);
    if (num(get(job, "ac_throttle_pct"), &v)) {
        double cap;
        if (num(get(job, "ac_cap"), &cap))
            fprintf(f, "%-24s %.0f %% (CPU cap %.0f)\n",
                    "Auto converge throttle:", v, cap);
        else
            fprintf(f, "%-24s %.0f %%\n", "Auto converge throttle:", v);
    }
}
