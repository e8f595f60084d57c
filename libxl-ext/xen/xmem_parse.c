#include <stdio.h>
#include <string.h>

#include "xmem_parse.h"

#define NS 1e-9

void xmem_model_default(struct xmem_model *m)
{
    m->page_size = 4096;            /* XC_PAGE_SIZE on x86 */
    m->max_iters = 5;               /* xg_sr_save.c SPP_MAX_ITERATIONS */
    m->target_dirty = 50;           /* SPP_TARGET_DIRTY_COUNT */
}

void xmem_parser_init(struct xmem_parser *p, const struct xmem_model *m)
{
    memset(p, 0, sizeof(*p));
    if (m)
        p->m = *m;
    else
        xmem_model_default(&p->m);
    if (!p->m.page_size)
        p->m.page_size = 4096;
    p->last_dirty_pps = -1;
    p->last_rate_pps = -1;
}

const char *xmem_state_name(enum xmem_state s)
{
    switch (s) {
    case XMEM_IDLE: return "idle";
    case XMEM_STARTED: return "started";
    case XMEM_LIVE: return "live";
    case XMEM_SUSPENDED: return "suspended";
    case XMEM_VERIFY: return "verify";
    case XMEM_END: return "end";
    case XMEM_COMPLETE: return "complete";
    }
    return "?";
}

enum label { L_OTHER, L_ITER, L_FRAMES, L_CHECKPOINT, L_VERIFY };

/* "Frames iteration %u" exactly: digits only, nothing after. */
static enum label classify(const char *s, unsigned *iter)
{
    static const char pfx[] = "Frames iteration ";
    const char *d;
    unsigned long v = 0;

    if (!strcmp(s, "Frames"))
        return L_FRAMES;
    if (!strcmp(s, "Frames verify"))
        return L_VERIFY;
    if (!strcmp(s, "Checkpointed save"))
        return L_CHECKPOINT;
    if (strncmp(s, pfx, sizeof(pfx) - 1))
        return L_OTHER;
    d = s + sizeof(pfx) - 1;
    if (!*d || strlen(d) > 9)
        return L_OTHER;
    for (; *d; d++) {
        if (*d < '0' || *d > '9')
            return L_OTHER;
        v = v * 10 + (unsigned long)(*d - '0');
    }
    *iter = (unsigned)v;
    return L_ITER;
}

static struct xmem_pass *cur(struct xmem_parser *p)
{
    return p->nkept ? &p->pass[p->nkept - 1] : NULL;
}

static const struct xmem_pass *ccur(const struct xmem_parser *p)
{
    return p->nkept ? &p->pass[p->nkept - 1] : NULL;
}

static void sample(struct xmem_parser *p, uint64_t now)
{
    const struct xmem_pass *c = cur(p);
    uint64_t sent = p->sent_before + (c ? c->sent : 0);
    unsigned i = (p->sample_head + p->nsample) % XMEM_SAMPLES;

    if (p->nsample == XMEM_SAMPLES) {
        i = p->sample_head;
        p->sample_head = (p->sample_head + 1) % XMEM_SAMPLES;
    } else {
        p->nsample++;
    }
    p->sample[i].t_ns = now;
    p->sample[i].sent = sent;
}

static void close_pass(struct xmem_pass *c, uint64_t now)
{
    if (c && !c->t_end_ns)
        c->t_end_ns = now ? now : 1;
}

static void new_pass(struct xmem_parser *p, uint64_t now, unsigned iter,
                     bool final, uint64_t pages)
{
    struct xmem_pass *prev = cur(p), *c;

    if (prev) {
        close_pass(prev, now);
        p->sent_before += prev->sent;
        /*
         * The new set was dirtied while the previous pass was sent: from
         * its start (the bitmap was cleaned just before) to now, or to the
         * suspension for the final set.
         */
        if (!prev->final) {
            uint64_t end = final && p->t_suspended_ns ? p->t_suspended_ns
                                                      : now;
            if (end > prev->t_start_ns + 1000000ull) {
                prev->dirty_pps = (double)pages /
                                  ((double)(end - prev->t_start_ns) * NS);
                p->last_dirty_pps = prev->dirty_pps;
            }
        }
    }
    if (p->nkept == XMEM_MAX_PASSES) {
        memmove(&p->pass[0], &p->pass[1],
                (XMEM_MAX_PASSES - 1) * sizeof(p->pass[0]));
        p->nkept--;
    }
    c = &p->pass[p->nkept++];
    memset(c, 0, sizeof(*c));
    c->iteration = iter;
    c->final = final;
    c->pages = pages;
    c->t_start_ns = now;
    c->dirty_pps = -1;
    if (!p->npasses && !p->total_pages)
        p->total_pages = pages;
    p->npasses++;
}

static enum xmem_event single(struct xmem_parser *p, uint64_t now,
                              const char *s)
{
    if (!strcmp(s, "Start of stream")) {
        if (p->state != XMEM_IDLE) {
            /* the next save on the same ctx: start over */
            struct xmem_model m = p->m;
            xmem_parser_init(p, &m);
        }
        p->state = XMEM_STARTED;
        return XMEM_EV_START;
    }
    if (!strcmp(s, "Domain now suspended")) {
        close_pass(cur(p), now);
        p->t_suspended_ns = now;
        p->state = XMEM_SUSPENDED;
        return XMEM_EV_SUSPENDED;
    }
    if (!strcmp(s, "End of stream")) {
        close_pass(cur(p), now);
        p->state = XMEM_END;
        return XMEM_EV_END;
    }
    if (!strcmp(s, "Complete")) {
        close_pass(cur(p), now);
        p->state = XMEM_COMPLETE;
        return XMEM_EV_COMPLETE;
    }
    return XMEM_EV_NONE;
}

enum xmem_event xmem_parser_feed(struct xmem_parser *p, uint64_t now_ns,
                                 const char *context, const char *doing,
                                 unsigned long done, unsigned long total)
{
    struct xmem_pass *c;
    unsigned iter = 0;
    enum label l;
    enum xmem_event ev;
    bool final;

    if (!context || strcmp(context, "xc") || !doing)
        return XMEM_EV_NONE;
    l = classify(doing, &iter);
    if (l == L_OTHER) {
        if (done || total)
            return XMEM_EV_NONE;
        ev = single(p, now_ns, doing);
        if (ev != XMEM_EV_NONE && !p->t_first_ns)
            p->t_first_ns = now_ns;
        return ev;
    }
    if (l == L_VERIFY) {
        /* --debug: every page again, guest suspended; not migration data */
        if (p->state == XMEM_VERIFY)
            return XMEM_EV_NONE;
        close_pass(cur(p), now_ns);
        p->state = XMEM_VERIFY;
        return XMEM_EV_PROGRESS;
    }
    if (!p->t_first_ns)
        p->t_first_ns = now_ns;
    final = l != L_ITER || p->state == XMEM_SUSPENDED;
    if (l == L_FRAMES)
        iter = 0;
    c = cur(p);
    /*
     * libxc reports done == 0 exactly once per pass, first (xtl's
     * contract: done == 0 for each new doing_what).  A different
     * iteration without it would be a missed report: a new pass too.
     */
    if (done == 0 || !c || c->iteration != iter || (final && !c->final)) {
        if (p->state != XMEM_SUSPENDED)
            p->state = XMEM_LIVE;
        new_pass(p, now_ns, iter, final, total);
        ev = XMEM_EV_PASS;
        c = cur(p);
    } else {
        ev = XMEM_EV_PROGRESS;
    }
    c->sent = done > total ? total : done;
    if (total > c->pages)
        c->pages = total;
    if (c->sent == c->pages)
        close_pass(c, now_ns);
    sample(p, now_ns);
    return ev;
}

const struct xmem_pass *xmem_parser_pass(const struct xmem_parser *p,
                                         unsigned i)
{
    unsigned first = p->npasses - p->nkept;

    if (i < first || i >= p->npasses)
        return NULL;
    return &p->pass[i - first];
}

/* Pages per second over the last XMEM_RATE_WINDOW_NS of samples. */
static double rate(const struct xmem_parser *p, uint64_t now)
{
    unsigned newest, oldest = p->sample_head;
    uint64_t span;

    if (p->nsample < 2)
        return -1;
    newest = (p->sample_head + p->nsample - 1) % XMEM_SAMPLES;
    for (unsigned k = 0; k + 1 < p->nsample; k++) {
        unsigned i = (p->sample_head + k) % XMEM_SAMPLES;
        if (now - p->sample[i].t_ns <= XMEM_RATE_WINDOW_NS) {
            oldest = i;
            break;
        }
        oldest = (i + 1) % XMEM_SAMPLES;
    }
    /* Too short a window: take an earlier sample if there is one. */
    while (oldest != p->sample_head &&
           p->sample[newest].t_ns - p->sample[oldest].t_ns <
               XMEM_MIN_WINDOW_NS)
        oldest = (oldest + XMEM_SAMPLES - 1) % XMEM_SAMPLES;
    if (oldest == newest)
        return -1;
    span = p->sample[newest].t_ns - p->sample[oldest].t_ns;
    if (!span)
        return -1;
    return (double)(p->sample[newest].sent - p->sample[oldest].sent) /
           ((double)span * NS);
}

static double min_d(double a, double b)
{
    return a < b ? a : b;
}

double xmem_eta(const struct xmem_model *m, unsigned iteration, bool final,
                uint64_t total, uint64_t left, double pass_elapsed_s,
                double rate_pps, double dirty_pps, double *final_pages)
{
    double t, set, d = dirty_pps > 0 ? dirty_pps : 0;
    double cap = total ? (double)total : 1e300;
    unsigned i;

    if (final_pages)
        *final_pages = -1;
    if (rate_pps <= 0)
        return -1;
    t = (double)left / rate_pps;
    if (final) {
        if (final_pages)
            *final_pages = (double)left;
        return t;
    }
    /* The next set: what is dirtied during the whole current pass. */
    set = min_d(cap, d * (pass_elapsed_s + t));
    for (i = iteration + 1; i < 1000; i++) {
        if (i >= m->max_iters) {
            /* no more live passes: this set is the final one */
            if (final_pages)
                *final_pages = set;
            return t + set / rate_pps;
        }
        if (set < m->target_dirty) {
            /* sent live, then the final: what it took to send it */
            double dur = set / rate_pps, fin = min_d(cap, d * dur);
            if (final_pages)
                *final_pages = fin;
            return t + dur + fin / rate_pps;
        }
        double dur = set / rate_pps;
        t += dur;
        set = min_d(cap, d * dur);
    }
    if (final_pages)
        *final_pages = set;
    return t;
}

void xmem_parser_stats(const struct xmem_parser *p, uint64_t now_ns,
                       struct xmem_stats *st)
{
    const struct xmem_pass *c = ccur(p);
    double r, fin = -1;
    uint64_t left;

    memset(st, 0, sizeof(*st));
    st->state = p->state;
    st->page_size = p->m.page_size;
    st->total_pages = p->total_pages;
    st->remaining_pages = -1;
    st->rate_pps = st->rate_Bps = -1;
    st->dirty_pps = p->last_dirty_pps;
    st->eta_s = -1;
    st->expected_final_pages = -1;
    st->expected_downtime_ms = -1;
    if (p->t_first_ns && now_ns >= p->t_first_ns)
        st->elapsed_s = (double)(now_ns - p->t_first_ns) * NS;
    if (!c)
        return;
    st->pass = p->npasses - 1;
    st->iteration = c->iteration;
    st->final = c->final;
    st->iter_pages = c->pages;
    st->iter_sent_pages = c->sent;
    if (p->nkept >= 2)
        st->prev_iter_pages = p->pass[p->nkept - 2].pages;
    st->sent_pages = p->sent_before + c->sent;
    if (now_ns >= c->t_start_ns)
        st->iter_elapsed_s = (double)(now_ns - c->t_start_ns) * NS;
    left = c->pages - c->sent;

    if (p->state == XMEM_END || p->state == XMEM_COMPLETE) {
        st->remaining_pages = 0;
        st->eta_s = 0;
    } else if (c->final || p->state == XMEM_SUSPENDED) {
        st->remaining_pages = (int64_t)left;
    } else {
        /* This pass' rest, and what the guest dirtied since its set was
         * taken (the next set so far). */
        double dirtied = st->dirty_pps > 0 ? st->dirty_pps *
                         st->iter_elapsed_s : 0;
        if (p->total_pages && dirtied > (double)p->total_pages)
            dirtied = (double)p->total_pages;
        st->remaining_pages = (int64_t)left + (int64_t)dirtied;
    }

    r = rate(p, now_ns);
    if (r < 0) {
        /* Not enough samples in this pass yet: the previous pass' mean */
        if (p->nkept >= 2) {
            const struct xmem_pass *pv = &p->pass[p->nkept - 2];
            if (pv->t_end_ns > pv->t_start_ns && pv->sent)
                r = (double)pv->sent /
                    ((double)(pv->t_end_ns - pv->t_start_ns) * NS);
        }
    }
    if (r >= 0) {
        st->rate_pps = r;
        st->rate_Bps = r * p->m.page_size;
    }
    if (st->state == XMEM_END || st->state == XMEM_COMPLETE)
        return;
    if (r > 0) {
        st->eta_s = xmem_eta(&p->m, c->iteration,
                             c->final || p->state == XMEM_SUSPENDED,
                             p->total_pages, left, st->iter_elapsed_s, r,
                             st->dirty_pps, &fin);
        st->eta_lower_bound = st->dirty_pps < 0 &&
                              !(c->final || p->state == XMEM_SUSPENDED);
        if (fin >= 0) {
            st->expected_final_pages = (int64_t)(fin + 0.5);
            st->expected_downtime_ms = fin / r * 1000.0;
        }
    }
}
