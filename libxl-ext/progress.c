#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "progress.h"

void xlmig_emitter_init(struct xlmig_emitter *em, const char *role,
                        xlmig_event_fn *fn, xlmig_log_fn *log, void *opaque)
{
    em->role = role;
    em->t0_ns = xlmig_now_ns();
    em->fn = fn;
    em->log = log;
    em->opaque = opaque;
}

struct xlmig_event xlmig_event_make(const char *event, const char *phase)
{
    return (struct xlmig_event){
        .event = event, .phase = phase, .pass = -1, .total_bytes = -1,
        .remaining_blocks = -1, .remaining_bytes = -1, .sent_bytes = -1,
        .wire_bytes = -1, .rate_Bps = -1, .wire_rate_Bps = -1, .eta_s = -1,
        .expected_downtime_ms = -1, .total_blocks = -1, .block_size = -1,
        .demanded_blocks = -1, .background_blocks = -1,
        .installed_blocks = -1, .max_passes = -1, .downtime_budget_ms = -1,
    };
}

void xlmig_memory_init(struct xlmig_memory *m)
{
    *m = (struct xlmig_memory){
        .pass = -1, .iteration = -1, .total_pages = -1, .iter_pages = -1,
        .iter_sent_pages = -1, .sent_pages = -1, .remaining_pages = -1,
        .rate_pps = -1, .rate_Bps = -1, .dirty_rate_pps = -1, .eta_s = -1,
        .expected_downtime_ms = -1, .page_size = -1, .throttle_pct = -1,
        .cap = -1, .orig_cap = -1,
    };
}

void xlmig_emit(const struct xlmig_emitter *em, struct xlmig_event *ev)
{
    ev->role = em->role;
    ev->t = (double)(xlmig_now_ns() - em->t0_ns) * 1e-9;
    if (em->fn)
        em->fn(em->opaque, ev);
}

void xlmig_logf(const struct xlmig_emitter *em, enum xlmig_log_level level,
                const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (!em->log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    em->log(em->opaque, level, msg);
}

void xlmig_json_fmt(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(*pos < len ? buf + *pos : NULL, *pos < len ? len - *pos : 0,
                  fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n;
}

void xlmig_json_str(char *buf, size_t len, size_t *pos, const char *s)
{
    xlmig_json_fmt(buf, len, pos, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            xlmig_json_fmt(buf, len, pos, "\\%c", c);
        else if (c < 0x20)
            xlmig_json_fmt(buf, len, pos, "\\u%04x", c);
        else
            xlmig_json_fmt(buf, len, pos, "%c", c);
    }
    xlmig_json_fmt(buf, len, pos, "\"");
}

static void num(char *buf, size_t len, size_t *p, const char *k, double v,
                bool integer)
{
    if (v < 0)
        return;
    if (integer)
        xlmig_json_fmt(buf, len, p, ",\"%s\":%lld", k, (long long)(v + 0.5));
    else
        xlmig_json_fmt(buf, len, p, ",\"%s\":%.3f", k, v);
}

/* The memory's fields (mem_*, ac_*): unknown figures left out. */
static void memory_json(const struct xlmig_memory *m, char *buf, size_t len,
                        size_t *p)
{
    if (m->state) {
        xlmig_json_fmt(buf, len, p, ",\"mem_state\":");
        xlmig_json_str(buf, len, p, m->state);
    }
    if (m->total_pages >= 0) {
        xlmig_json_fmt(buf, len, p, ",\"mem_pass\":%d,\"mem_iteration\":%d,"
                       "\"mem_final\":%s", m->pass, m->iteration,
                       m->final ? "true" : "false");
        num(buf, len, p, "mem_total_pages", (double)m->total_pages, true);
        num(buf, len, p, "mem_iter_pages", (double)m->iter_pages, true);
        num(buf, len, p, "mem_iter_sent_pages", (double)m->iter_sent_pages,
            true);
        num(buf, len, p, "mem_sent_pages", (double)m->sent_pages, true);
        num(buf, len, p, "mem_remaining_pages", (double)m->remaining_pages,
            true);
    }
    num(buf, len, p, "mem_rate_pps", m->rate_pps, false);
    num(buf, len, p, "mem_rate_Bps", m->rate_Bps, true);
    num(buf, len, p, "mem_dirty_rate_pps", m->dirty_rate_pps, false);
    num(buf, len, p, "mem_eta_s", m->eta_s, false);
    if (m->eta_s >= 0)
        xlmig_json_fmt(buf, len, p, ",\"mem_eta_lower_bound\":%s",
                       m->eta_lower_bound ? "true" : "false");
    num(buf, len, p, "mem_expected_downtime_ms", m->expected_downtime_ms,
        false);
    num(buf, len, p, "mem_page_size", m->page_size, true);
    num(buf, len, p, "ac_throttle_pct", m->throttle_pct, true);
    num(buf, len, p, "ac_cap", m->cap, true);
    num(buf, len, p, "ac_orig_cap", m->orig_cap, true);
    if (m->sched) {
        xlmig_json_fmt(buf, len, p, ",\"ac_sched\":");
        xlmig_json_str(buf, len, p, m->sched);
    }
}

size_t xlmig_event_json(const struct xlmig_event *ev, char *buf, size_t len)
{
    size_t p = 0;

    if (len)
        buf[0] = '\0';
    xlmig_json_fmt(buf, len, &p, "{\"event\":");
    xlmig_json_str(buf, len, &p, ev->event ? ev->event : "");
    xlmig_json_fmt(buf, len, &p, ",\"t\":%.3f", ev->t);
    if (ev->role) {
        xlmig_json_fmt(buf, len, &p, ",\"role\":");
        xlmig_json_str(buf, len, &p, ev->role);
    }
    if (ev->phase) {
        xlmig_json_fmt(buf, len, &p, ",\"phase\":");
        xlmig_json_str(buf, len, &p, ev->phase);
    }
    if (ev->pass >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"pass\":%d", ev->pass);
    if (ev->total_bytes >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"total_bytes\":%lld",
                       (long long)ev->total_bytes);
    if (ev->remaining_blocks >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"remaining_blocks\":%lld",
                       (long long)ev->remaining_blocks);
    if (ev->remaining_bytes >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"remaining_bytes\":%lld",
                       (long long)ev->remaining_bytes);
    if (ev->sent_bytes >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"sent_bytes\":%lld",
                       (long long)ev->sent_bytes);
    if (ev->wire_bytes >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"wire_bytes\":%lld",
                       (long long)ev->wire_bytes);
    if (ev->rate_Bps >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"rate_Bps\":%.0f", ev->rate_Bps);
    if (ev->wire_rate_Bps >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"wire_rate_Bps\":%.0f",
                       ev->wire_rate_Bps);
    if (ev->eta_s >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"eta_s\":%.3f", ev->eta_s);
    if (ev->expected_downtime_ms >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"expected_downtime_ms\":%.1f",
                       ev->expected_downtime_ms);
    if (ev->total_blocks >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"total_blocks\":%lld",
                       (long long)ev->total_blocks);
    if (ev->block_size >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"block_size\":%lld",
                       (long long)ev->block_size);
    if (ev->demanded_blocks >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"demanded_blocks\":%lld",
                       (long long)ev->demanded_blocks);
    if (ev->background_blocks >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"background_blocks\":%lld",
                       (long long)ev->background_blocks);
    if (ev->installed_blocks >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"installed_blocks\":%lld",
                       (long long)ev->installed_blocks);
    if (ev->max_passes >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"max_passes\":%d", ev->max_passes);
    if (ev->downtime_budget_ms >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"downtime_budget_ms\":%.1f",
                       ev->downtime_budget_ms);
    if (ev->memory)
        memory_json(ev->memory, buf, len, &p);
    if (ev->message) {
        xlmig_json_fmt(buf, len, &p, ",\"message\":");
        xlmig_json_str(buf, len, &p, ev->message);
    }
    xlmig_json_fmt(buf, len, &p, "}");
    return p;
}
