/* The terminal progress display: see cli_progress.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_progress.h"

#define BAR_MIN 12              /* "[" + 10 cells + "]" */
#define BAR_MAX 22
#define WIRE_MIN_DT 0.2         /* s between samples of the wire rate */

struct cli_pev cli_pev_none(const char *event, const char *phase)
{
    return (struct cli_pev){
        .event = event, .phase = phase, .pass = -1,
        .remaining_blocks = -1, .remaining_bytes = -1, .sent_bytes = -1,
        .wire_bytes = -1, .rate_Bps = -1, .eta_s = -1,
        .expected_downtime_ms = -1, .total_bytes = -1, .total_blocks = -1,
        .block_size = -1, .wire_rate_Bps = -1, .demanded_blocks = -1,
        .background_blocks = -1, .installed_blocks = -1, .max_passes = -1,
        .downtime_budget_ms = -1,
    };
}

struct cli_pev cli_pev_from(const struct xlmig_event *ev)
{
    struct cli_pev p = cli_pev_none(ev->event, ev->phase);

    p.message = ev->message;
    p.pass = ev->pass;
    p.remaining_blocks = ev->remaining_blocks;
    p.remaining_bytes = ev->remaining_bytes;
    p.sent_bytes = ev->sent_bytes;
    p.wire_bytes = ev->wire_bytes;
    p.rate_Bps = ev->rate_Bps;
    p.eta_s = ev->eta_s;
    p.expected_downtime_ms = ev->expected_downtime_ms;
    p.total_bytes = ev->total_bytes;
    p.wire_rate_Bps = ev->wire_rate_Bps;
    p.total_blocks = ev->total_blocks;
    p.block_size = ev->block_size;
    p.demanded_blocks = ev->demanded_blocks;
    p.background_blocks = ev->background_blocks;
    p.installed_blocks = ev->installed_blocks;
    p.max_passes = ev->max_passes;
    p.downtime_budget_ms = ev->downtime_budget_ms;
    return p;
}

void cli_progress_init(struct cli_pstate *st, const char *role,
                       double budget_ms, int max_passes)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->role, sizeof(st->role), "%s", role ? role : "");
    st->budget_ms = budget_ms;
    st->max_passes = max_passes;
    st->block_size = -1;
    st->last_sent = st->last_wire = -1;
}

/* ---- units ------------------------------------------------------------ */

static const char *bytes_unit(double v, double *div)
{
    static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;

    *div = 1;
    while (i < 4 && v >= 1024 * *div) {
        *div *= 1024;
        i++;
    }
    return u[i];
}

static void fmt_bytes(char *buf, size_t len, double v)
{
    double d;
    const char *u = bytes_unit(v, &d);

    if (d == 1)
        snprintf(buf, len, "%.0f B", v);
    else
        snprintf(buf, len, "%.1f %s", v / d, u);
}

/* "70.3/138.3 MiB": both in the unit of the total. */
static void fmt_bytes_of(char *buf, size_t len, double done, double total)
{
    double d;
    const char *u = bytes_unit(total, &d);

    if (d == 1)
        snprintf(buf, len, "%.0f/%.0f B", done, total);
    else
        snprintf(buf, len, "%.1f/%.1f %s", done / d, total / d, u);
}

static void fmt_rate(char *buf, size_t len, const char *what, double Bps)
{
    if (Bps >= 1e9)
        snprintf(buf, len, "%s%.2f GB/s", what, Bps / 1e9);
    else if (Bps >= 1e6)
        snprintf(buf, len, "%s%.1f MB/s", what, Bps / 1e6);
    else
        snprintf(buf, len, "%s%.0f kB/s", what, Bps / 1e3);
}

static void fmt_secs(char *buf, size_t len, const char *what, double s)
{
    long v = (long)(s + 0.5);

    if (s < 10)
        snprintf(buf, len, "%s%.1fs", what, s);
    else if (v < 60)
        snprintf(buf, len, "%s%lds", what, v);
    else if (v < 3600)
        snprintf(buf, len, "%s%ldm%02lds", what, v / 60, v % 60);
    else
        snprintf(buf, len, "%s%ldh%02ldm", what, v / 3600, v / 60 % 60);
}

static void fmt_ms(char *buf, size_t len, double ms)
{
    if (ms >= 10000)
        snprintf(buf, len, "%.0f s", ms / 1000);
    else if (ms >= 1000)
        snprintf(buf, len, "%.2f s", ms / 1000);
    else
        snprintf(buf, len, "%.0f ms", ms);
}

/* ---- state ------------------------------------------------------------ */

static bool is(const char *a, const char *b)
{
    return a && !strcmp(a, b);
}

static const char *phase_key(const struct cli_pstate *st,
                             const struct cli_pev *ev)
{
    if (is(ev->event, "error"))
        return "error";
    if (is(ev->event, "done") || is(ev->phase, "done"))
        return "done";
    if (is(ev->phase, "dirty"))
        /* After the verdict, dirty passes run while the memory moves. */
        return st->converged && !is(ev->event, "phase") ? "keepup" : "dirty";
    if (!ev->phase && is(ev->event, "progress") && st->key[0] &&
        strcmp(st->key, "closed"))
        return st->key;         /* a tick of the phase on screen */
    return ev->phase ? ev->phase : ev->event ? ev->event : "?";
}

static bool has_bar(const char *key)
{
    return !strcmp(key, "push") || !strcmp(key, "dirty") ||
           !strcmp(key, "keepup") || !strcmp(key, "stopcopy") ||
           !strcmp(key, "postcopy");
}

enum mode { M_NONE, M_BYTES, M_BLOCKS };

/* What the percentage counts: post-copy counts blocks (the destination
 * knows no bytes), the other phases bytes when they can. */
static enum mode mode_of(const struct cli_pstate *st)
{
    if (!strcmp(st->key, "postcopy") && st->total_blocks > 0)
        return M_BLOCKS;
    if (st->total_bytes > 0)
        return M_BYTES;
    if (st->total_blocks > 0)
        return M_BLOCKS;
    return M_NONE;
}

/* A new phase, or a new pass of the dirty phase: totals start again. */
static void open_set(struct cli_pstate *st, const struct cli_pev *ev,
                     double t)
{
    /* Where the payload counter stood when this set began: given, or
     * where the previous set must have ended (it was complete), or the
     * last count seen. */
    int64_t next = st->sent_base >= 0 && st->total_bytes > 0
                       ? st->sent_base + st->total_bytes : -1;

    (void)t;
    st->pct = 0;
    st->total_bytes = ev->total_bytes >= 0 ? ev->total_bytes
                                           : ev->remaining_bytes;
    st->total_blocks = ev->total_blocks >= 0 ? ev->total_blocks
                                             : ev->remaining_blocks;
    st->sent_base = ev->sent_bytes >= 0 ? ev->sent_bytes
                    : next > st->last_sent ? next : st->last_sent;
    st->wire_base = ev->wire_bytes >= 0 ? ev->wire_bytes : st->last_wire;
    st->last_remaining = -1;
    st->drain = -1;
    st->eta = -1;
}

static void start_phase(struct cli_pstate *st, const char *key,
                        const struct cli_pev *ev, double t)
{
    snprintf(st->key, sizeof(st->key), "%s", key);
    st->rate = -1;
    st->wire_rate = -1;         /* each phase its own */
    st->downtime_ms = -1;
    st->demanded = st->background = -1;
    st->remaining_blocks = st->remaining_bytes = -1;
    st->note[0] = '\0';
    st->pass = ev->pass;
    st->t_start = t;
    open_set(st, ev, t);
}

/* Derived rates: the wire's from its counter, "remaining"'s fall. */
static void sample(struct cli_pstate *st, const struct cli_pev *ev, double t,
                   int64_t remaining)
{
    if (ev->wire_rate_Bps >= 0) {
        st->wire_rate = ev->wire_rate_Bps;
        if (ev->wire_bytes >= 0) {      /* for the phase's average */
            st->last_wire = ev->wire_bytes;
            st->last_t_wire = t;
        }
    } else if (ev->wire_bytes >= 0) {
        if (st->last_wire >= 0 && ev->wire_bytes >= st->last_wire &&
            t - st->last_t_wire >= WIRE_MIN_DT) {
            double inst = (double)(ev->wire_bytes - st->last_wire) /
                          (t - st->last_t_wire);
            st->wire_rate = st->wire_rate > 0 ? (st->wire_rate + inst) / 2
                                              : inst;
            st->last_wire = ev->wire_bytes;
            st->last_t_wire = t;
        } else if (st->last_wire < 0 || ev->wire_bytes < st->last_wire) {
            st->last_wire = ev->wire_bytes;
            st->last_t_wire = t;
        }
    }
    if (remaining >= 0) {
        if (st->last_remaining >= 0 && t > st->last_t_rem &&
            remaining <= st->last_remaining) {
            double inst = (double)(st->last_remaining - remaining) /
                          (t - st->last_t_rem);
            st->drain = st->drain >= 0 ? (st->drain + inst) / 2 : inst;
        }
        st->last_remaining = remaining;
        st->last_t_rem = t;
    }
}

static void update(struct cli_pstate *st, const struct cli_pev *ev, double t)
{
    bool dirty = !strcmp(st->key, "dirty") || !strcmp(st->key, "keepup");
    double p = -1, left = -1;
    enum mode m;

    if (ev->block_size > 0)
        st->block_size = ev->block_size;
    if (ev->downtime_budget_ms >= 0)
        st->budget_ms = ev->downtime_budget_ms;
    if (ev->max_passes > 0)
        st->max_passes = ev->max_passes;
    if (ev->total_bytes >= 0)
        st->total_bytes = ev->total_bytes;
    if (ev->total_blocks >= 0)
        st->total_blocks = ev->total_blocks;
    if (ev->rate_Bps >= 0)
        st->rate = ev->rate_Bps;
    if (ev->expected_downtime_ms >= 0)
        st->downtime_ms = ev->expected_downtime_ms;
    if (ev->demanded_blocks >= 0)
        st->demanded = ev->demanded_blocks;
    if (ev->background_blocks >= 0)
        st->background = ev->background_blocks;
    if (ev->remaining_blocks >= 0)
        st->remaining_blocks = ev->remaining_blocks;
    if (ev->remaining_bytes >= 0)
        st->remaining_bytes = ev->remaining_bytes;
    /* Both counts of one set: the block size. */
    if (st->block_size <= 0 && ev->remaining_blocks > 0 &&
        ev->remaining_bytes > 0 &&
        ev->remaining_bytes % ev->remaining_blocks == 0)
        st->block_size = ev->remaining_bytes / ev->remaining_blocks;

    m = mode_of(st);
    if (m == M_BYTES && ev->remaining_bytes >= 0)
        p = 1 - (double)ev->remaining_bytes / (double)st->total_bytes;
    else if (m == M_BLOCKS && ev->remaining_blocks >= 0)
        p = 1 - (double)ev->remaining_blocks / (double)st->total_blocks;
    else if (m == M_BLOCKS && ev->installed_blocks >= 0)
        p = (double)ev->installed_blocks / (double)st->total_blocks;
    /* In the dirty passes the payload counter also says how far the pass
     * got (today's "remaining" stays still there). */
    if (st->sent_base < 0 && ev->sent_bytes >= 0)
        /* The first count of this set: back to where the set began. */
        st->sent_base = ev->sent_bytes -
                        (m == M_BYTES && ev->remaining_bytes >= 0 &&
                         ev->remaining_bytes <= st->total_bytes
                             ? st->total_bytes - ev->remaining_bytes : 0);
    if (dirty && m == M_BYTES && ev->sent_bytes >= 0 && st->sent_base >= 0 &&
        ev->sent_bytes >= st->sent_base) {
        double q = (double)(ev->sent_bytes - st->sent_base) /
                   (double)st->total_bytes;
        if (q > p)
            p = q;
    }
    if (p > 1)
        p = 1;
    if (p > st->pct)
        st->pct = p;
    if (ev->sent_bytes >= 0)
        st->last_sent = ev->sent_bytes;

    sample(st, ev, t, m == M_BYTES ? ev->remaining_bytes
                                   : ev->remaining_blocks);

    /* ETA: consistent with the percentage when there is a rate. */
    st->eta = -1;
    if (m == M_BYTES && st->rate > 0)
        left = (1 - st->pct) * (double)st->total_bytes / st->rate;
    else if (m == M_BLOCKS && st->block_size > 0 && st->rate > 0)
        left = (1 - st->pct) * (double)st->total_blocks *
               (double)st->block_size / st->rate;
    else if (ev->eta_s > 0)
        left = ev->eta_s;
    else if (st->drain > 0 && st->last_remaining >= 0)
        left = (double)st->last_remaining / st->drain;
    if (left >= 0 && isfinite(left))
        st->eta = left;
}

/* ---- lines -------------------------------------------------------------- */

struct piece {
    char text[160];
    int prio;                   /* dropped lowest first; 100 = never */
};

#define MAXP 12

static void add(struct piece *p, int *n, int prio, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(struct piece *p, int *n, int prio, const char *fmt, ...)
{
    va_list ap;

    if (*n == MAXP)
        return;
    va_start(ap, fmt);
    vsnprintf(p[*n].text, sizeof(p[*n].text), fmt, ap);
    va_end(ap);
    p[*n].prio = prio;
    (*n)++;
}

/*
 * Joins the pieces (two spaces apart) within limit columns, dropping the
 * least important first; the bar (bar_at: the piece it precedes, -1:
 * none) takes the room left, BAR_MIN..BAR_MAX columns.
 */
static void join(char *out, size_t len, const struct piece *p, int n,
                 int bar_at, double pct, int bar_prio, unsigned limit)
{
    bool keep[MAXP], bar = bar_at >= 0;
    size_t o = 0, barw = 0;
    bool first = true;

    for (int i = 0; i < n; i++)
        keep[i] = true;
    /* The bar keeps its full width while less important pieces can go;
     * then it narrows; then the rest goes by importance. */
    for (;;) {
        size_t used = 0;
        int cnt = bar ? 1 : 0, worst = -1, wp = 100;

        for (int i = 0; i < n; i++)
            if (keep[i]) {
                used += strlen(p[i].text);
                cnt++;
            }
        used += cnt > 1 ? 2 * (size_t)(cnt - 1) : 0;
        if (bar && used + BAR_MAX <= limit) {
            barw = BAR_MAX;
            break;
        }
        if (!bar && used <= limit)
            break;
        for (int i = 0; i < n; i++)
            if (keep[i] && p[i].prio < wp &&
                (!bar || p[i].prio < bar_prio || used + BAR_MIN > limit)) {
                worst = i;
                wp = p[i].prio;
            }
        if (bar && worst < 0 && used + BAR_MIN <= limit) {
            barw = limit - used;        /* narrower */
            break;
        }
        if (bar && bar_prio < wp && used + BAR_MIN > limit) {
            worst = n;
            wp = bar_prio;
        }
        if (worst < 0)
            break;              /* only the essentials: cut below */
        if (worst == n)
            bar = false;
        else
            keep[worst] = false;
    }
    out[0] = '\0';
    for (int i = 0; i <= n && o < len; i++) {
        if (bar && i == bar_at) {
            char b[BAR_MAX + 1];
            size_t cells = barw - 2, full = (size_t)(pct * (double)cells +
                                                     1e-9);
            b[0] = '[';
            for (size_t c = 0; c < cells; c++)
                b[1 + c] = c < full ? '#' : '.';
            b[cells + 1] = ']';
            b[cells + 2] = '\0';
            o += (size_t)snprintf(out + o, len - o, "%s%s",
                                  first ? "" : "  ", b);
            first = false;
        }
        if (i == n || !keep[i] || o >= len)
            continue;
        o += (size_t)snprintf(out + o, len - o, "%s%s", first ? "" : "  ",
                              p[i].text);
        first = false;
    }
    if (strlen(out) > limit)
        out[limit] = '\0';
    for (o = strlen(out); o > 0 && out[o - 1] == ' '; o--)
        out[o - 1] = '\0';
}

static void label(const struct cli_pstate *st, char *buf, size_t len)
{
    const char *k = st->key;

    if (!strcmp(k, "dirty") && st->pass >= 0 && st->max_passes > 0)
        snprintf(buf, len, "dirty %d/%d", st->pass, st->max_passes);
    else if (!strcmp(k, "dirty") && st->pass >= 0)
        snprintf(buf, len, "dirty %d", st->pass);
    else if (!strcmp(k, "keepup"))
        snprintf(buf, len, "keep-up");
    else if (!strcmp(k, "stopcopy"))
        snprintf(buf, len, "stop-copy");
    else if (!strcmp(k, "postcopy"))
        snprintf(buf, len, "post-copy");
    else
        snprintf(buf, len, "%s", k);
}

/* "1102 blocks (4.3 MiB)" */
static void fmt_set(const struct cli_pstate *st, char *buf, size_t len,
                    int64_t blocks, int64_t bytes)
{
    char b[32];

    if (bytes < 0 && blocks >= 0 && st->block_size > 0)
        bytes = blocks * st->block_size;
    if (bytes >= 0)
        fmt_bytes(b, sizeof(b), (double)bytes);
    if (blocks >= 0 && bytes >= 0)
        snprintf(buf, len, "%lld blocks (%s)", (long long)blocks, b);
    else if (blocks >= 0)
        snprintf(buf, len, "%lld blocks", (long long)blocks);
    else if (bytes >= 0)
        snprintf(buf, len, "%s", b);
    else
        buf[0] = '\0';
}

/* The dirty passes, all in one line. */
static void render_dirty_summary(struct cli_pstate *st, double t,
                                 unsigned limit, char *out, size_t len)
{
    struct piece p[MAXP];
    char tmp[64];
    int n = 0;

    add(p, &n, 40, "%s", st->role);
    add(p, &n, 100, "%-10s", "dirty");
    add(p, &n, 100, "%d pass%s in %.1f s%s%s", st->passes,
        st->passes == 1 ? "" : "es", t - st->t_start,
        st->verdict[0] ? ": " : "", st->verdict);
    if (st->verdict[0]) {
        fmt_set(st, tmp, sizeof(tmp), st->remaining_blocks,
                st->remaining_bytes);
        if (tmp[0])
            add(p, &n, 30, "%s left", tmp);
        if (st->downtime_ms >= 0) {
            char a[24], b[24];
            fmt_ms(a, sizeof(a), st->downtime_ms);
            if (st->budget_ms >= 0 && st->downtime_ms > st->budget_ms) {
                fmt_ms(b, sizeof(b), st->budget_ms);
                add(p, &n, 20, "downtime~%s > %s budget", a, b);
            } else {
                add(p, &n, 20, "downtime~%s", a);
            }
        }
    }
    join(out, len, p, n, -1, 0, 0, limit);
}

/* Phases without a percentage, and stop-copy until it has one. */
static void render_plain(struct cli_pstate *st, double t, bool final,
                         unsigned limit, char *out, size_t len)
{
    struct piece p[MAXP];
    char lab[32], tmp[64];
    int n = 0;

    label(st, lab, sizeof(lab));
    add(p, &n, 40, "%s", st->role);
    add(p, &n, 100, "%-10s", lab);
    if (has_bar(st->key)) {
        fmt_set(st, tmp, sizeof(tmp),
                st->total_blocks >= 0 ? st->total_blocks
                                      : st->remaining_blocks,
                st->total_bytes >= 0 ? st->total_bytes
                                     : st->remaining_bytes);
        if (tmp[0])
            add(p, &n, 90, "%s", tmp);
    }
    if (st->downtime_ms > 0 && !strcmp(st->key, "stopcopy"))
        add(p, &n, 50, "downtime~%.0f ms", st->downtime_ms);
    if (final) {
        fmt_secs(tmp, sizeof(tmp), "in ", t - st->t_start);
        add(p, &n, 80, "%s", tmp);
    }
    if (st->note[0])
        add(p, &n, 30, "%s", st->note);
    join(out, len, p, n, -1, 0, 0, limit);
}

/* The summary's figures: the average payload and wire rates, the time. */
static void add_final_rates(const struct cli_pstate *st, enum mode m,
                            bool completed, double elapsed, struct piece *p,
                            int *n)
{
    double avg = -1, wavg = -1;
    char tmp[64];

    if (m == M_BYTES && completed && elapsed > 0.05)
        avg = (double)st->total_bytes / elapsed;
    if (st->last_wire >= 0 && st->wire_base >= 0 && elapsed > 0.05 &&
        st->last_wire > st->wire_base)
        wavg = (double)(st->last_wire - st->wire_base) / elapsed;
    if (avg > 0) {
        fmt_rate(tmp, sizeof(tmp), "", avg);
        add(p, n, 70, "%s", tmp);
    }
    if (wavg > 0) {
        fmt_rate(tmp, sizeof(tmp), "wire ", wavg);
        add(p, n, 30, "%s", tmp);
    }
    fmt_secs(tmp, sizeof(tmp), "in ", elapsed);
    add(p, n, 80, "%s", tmp);
}

/* The live line's figures: the recent rates and the ETA. */
static void add_live_rates(const struct cli_pstate *st, struct piece *p,
                           int *n)
{
    char tmp[64];

    if (st->rate > 0) {
        fmt_rate(tmp, sizeof(tmp), "", st->rate);
        add(p, n, 70, "%s", tmp);
    }
    if (st->wire_rate > 0) {
        fmt_rate(tmp, sizeof(tmp), "wire ", st->wire_rate);
        add(p, n, 30, "%s", tmp);
    }
    if (st->eta >= 0)
        fmt_secs(tmp, sizeof(tmp), "ETA ", st->eta);
    else
        snprintf(tmp, sizeof(tmp), "ETA --");
    add(p, n, 80, "%s", tmp);
}

static void render(struct cli_pstate *st, double t, unsigned width,
                   bool final, bool completed, char *out, size_t len)
{
    struct piece p[MAXP];
    char lab[32], tmp[64];
    int n = 0, bar_at;
    enum mode m = mode_of(st);
    double elapsed = t - st->t_start;
    unsigned limit = width > 1 ? width - 1 : 1;

    if (!strcmp(st->key, "dirty") && final) {
        render_dirty_summary(st, t, limit, out, len);
        return;
    }
    if (!has_bar(st->key) || m == M_NONE ||
        (!strcmp(st->key, "stopcopy") && st->pct <= 0)) {
        render_plain(st, t, final, limit, out, len);
        return;
    }
    if (final && completed)
        st->pct = 1;
    label(st, lab, sizeof(lab));
    add(p, &n, 40, "%s", st->role);
    add(p, &n, 100, "%-10s", lab);
    bar_at = n;
    add(p, &n, 90, "%5.1f%%", 100 * st->pct);
    if (m == M_BYTES) {
        double total = (double)st->total_bytes;
        if (final && completed)
            fmt_bytes(tmp, sizeof(tmp), total);
        else
            fmt_bytes_of(tmp, sizeof(tmp), st->pct * total, total);
        add(p, &n, 20, "%s", tmp);
    } else {
        double total = (double)st->total_blocks;
        add(p, &n, 20, "%.0f/%.0f blocks",
            (double)(int64_t)(st->pct * total + 0.5), total);
    }
    if (final)
        add_final_rates(st, m, completed, elapsed, p, &n);
    else
        add_live_rates(st, p, &n);
    if (!strcmp(st->key, "postcopy") && st->background >= 0)
        add(p, &n, 50, "demand %lld  background %lld",
            (long long)(st->demanded > 0 ? st->demanded : 0),
            (long long)st->background);
    else if (!strcmp(st->key, "postcopy") && st->demanded >= 0)
        add(p, &n, 50, "demanded %lld", (long long)st->demanded);
    if ((!strcmp(st->key, "dirty") || !strcmp(st->key, "keepup")) &&
        st->downtime_ms >= 0 && !final) {
        char a[24], b[24];
        fmt_ms(a, sizeof(a), st->downtime_ms);
        if (st->budget_ms >= 0 && st->downtime_ms > st->budget_ms) {
            fmt_ms(b, sizeof(b), st->budget_ms);
            add(p, &n, 50, "downtime~%s > %s budget", a, b);
        } else {
            add(p, &n, 50, "downtime~%s", a);
        }
    }
    if (st->note[0])
        add(p, &n, 10, "%s", st->note);
    join(out, len, p, n, bar_at, st->pct, 60, limit);
}

void cli_progress_format(struct cli_pstate *st, const struct cli_pev *ev,
                         double t, unsigned width, struct cli_pout *out)
{
    const char *key = phase_key(st, ev);
    bool newkey = strcmp(key, st->key) != 0;
    unsigned limit = width > 1 ? width - 1 : 1;

    memset(out, 0, sizeof(*out));
    if (width < 2)
        width = 2;
    if (is(ev->event, "warning")) {
        /* A line of its own; the phase's line carries on below it. */
        snprintf(out->done, sizeof(out->done), "%s  warning: %s", st->role,
                 ev->message ? ev->message : "(no text)");
        if (strlen(out->done) > limit)
            out->done[limit] = '\0';
        if (st->key[0] && strcmp(st->key, "closed"))
            render(st, t, width, false, false, out->live, sizeof(out->live));
        return;
    }
    /* The phase on screen ends: leave its final line. */
    if (newkey && st->key[0] && strcmp(st->key, "closed"))
        render(st, t, width, true, strcmp(key, "error") != 0, out->done,
               sizeof(out->done));
    if (!strcmp(key, "error")) {
        snprintf(out->live, sizeof(out->live), "%s  error: %s", st->role,
                 ev->message ? ev->message : "(no reason given)");
        if (strlen(out->live) > limit)
            out->live[limit] = '\0';
        out->live_is_final = true;
        snprintf(st->key, sizeof(st->key), "closed");
        return;
    }
    if (!strcmp(key, "done")) {
        snprintf(st->key, sizeof(st->key), "closed");
        return;
    }
    out->first = newkey;
    if (newkey) {
        start_phase(st, key, ev, t);
        if (!strcmp(key, "dirty") && !ev->message)
            st->passes++;
    } else if ((!strcmp(key, "dirty") &&
                (is(ev->event, "pass") || is(ev->event, "phase"))) ||
               (!strcmp(key, "keepup") && ev->pass >= 0 &&
                ev->pass != st->pass)) {
        /* The next pass: its own set, from 0%. */
        out->first = true;
        if (!ev->message)
            open_set(st, ev, t);
        st->pass = ev->pass;
        if (!strcmp(key, "dirty") && !ev->message)
            st->passes++;
    }
    if (!strcmp(key, "dirty") && ev->message) {
        /* The verdict: the passes are over. */
        snprintf(st->verdict, sizeof(st->verdict), "%s", ev->message);
        st->converged = true;
        st->sent_base = -1;     /* the verdict's set is not sent here */
    }
    if (!strcmp(key, "stopcopy") && ev->message)
        snprintf(st->note, sizeof(st->note), "%s", ev->message);
    update(st, ev, t);
    out->tick = is(ev->event, "progress");
    if (!strcmp(key, "dirty") && st->converged) {
        /* The dirty line's summary, final at once. */
        render(st, t, width, true, true, out->live, sizeof(out->live));
        out->live_is_final = true;
        snprintf(st->key, sizeof(st->key), "closed");
        return;
    }
    render(st, t, width, false, false, out->live, sizeof(out->live));
}
