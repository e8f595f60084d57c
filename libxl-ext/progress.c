#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "progress.h"

#define HUMAN_INTERVAL_NS 250000000ull

void xlmig_progress_init(struct xlmig_progress *p, const char *role,
                         FILE *human, FILE *json)
{
    memset(p, 0, sizeof(*p));
    p->role = role;
    p->human = human;
    p->human_is_tty = human && isatty(fileno(human));
    p->json = json;
    p->t0_ns = xlmig_now_ns();
}

struct xlmig_progress_ev xlmig_progress_ev(const char *event,
                                           const char *phase)
{
    return (struct xlmig_progress_ev){
        .event = event, .phase = phase, .pass = -1,
        .remaining_blocks = -1, .remaining_bytes = -1, .sent_bytes = -1,
        .wire_bytes = -1, .rate_Bps = -1, .eta_s = -1,
        .expected_downtime_ms = -1,
    };
}

void xlmig_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void emit_json(struct xlmig_progress *p,
                      const struct xlmig_progress_ev *ev, double t)
{
    FILE *f = p->json;

    fprintf(f, "{\"event\":");
    xlmig_json_string(f, ev->event);
    fprintf(f, ",\"t\":%.3f,\"role\":", t);
    xlmig_json_string(f, p->role);
    if (ev->phase) {
        fprintf(f, ",\"phase\":");
        xlmig_json_string(f, ev->phase);
    }
    if (ev->pass >= 0)
        fprintf(f, ",\"pass\":%d", ev->pass);
    if (ev->remaining_blocks >= 0)
        fprintf(f, ",\"remaining_blocks\":%lld",
                (long long)ev->remaining_blocks);
    if (ev->remaining_bytes >= 0)
        fprintf(f, ",\"remaining_bytes\":%lld",
                (long long)ev->remaining_bytes);
    if (ev->sent_bytes >= 0)
        fprintf(f, ",\"sent_bytes\":%lld", (long long)ev->sent_bytes);
    if (ev->wire_bytes >= 0)
        fprintf(f, ",\"wire_bytes\":%lld", (long long)ev->wire_bytes);
    if (ev->rate_Bps >= 0)
        fprintf(f, ",\"rate_Bps\":%.0f", ev->rate_Bps);
    if (ev->eta_s >= 0)
        fprintf(f, ",\"eta_s\":%.3f", ev->eta_s);
    if (ev->expected_downtime_ms >= 0)
        fprintf(f, ",\"expected_downtime_ms\":%.1f",
                ev->expected_downtime_ms);
    if (ev->message) {
        fprintf(f, ",\"message\":");
        xlmig_json_string(f, ev->message);
    }
    fprintf(f, "}\n");
    fflush(f);
}

static void emit_human(struct xlmig_progress *p,
                       const struct xlmig_progress_ev *ev, double t,
                       uint64_t now)
{
    bool tick = !strcmp(ev->event, "progress");
    FILE *f = p->human;

    /* Ticks are rate-limited and only drawn on a terminal. */
    if (tick && (!p->human_is_tty || now - p->last_human_ns < HUMAN_INTERVAL_NS))
        return;
    p->last_human_ns = now;
    fprintf(f, "%s[%6.1fs] %s %-9s", p->human_is_tty ? "\r\033[K" : "", t,
            p->role, ev->phase ? ev->phase : ev->event);
    if (ev->pass >= 0)
        fprintf(f, " pass %d", ev->pass);
    if (ev->remaining_bytes >= 0)
        fprintf(f, " remaining %.1f MiB", (double)ev->remaining_bytes / 1048576.0);
    if (ev->rate_Bps > 0)
        fprintf(f, " at %.1f MB/s", ev->rate_Bps / 1e6);
    if (ev->eta_s >= 0)
        fprintf(f, " eta %.1fs", ev->eta_s);
    if (ev->expected_downtime_ms >= 0)
        fprintf(f, " downtime~%.0fms", ev->expected_downtime_ms);
    if (ev->message)
        fprintf(f, " %s", ev->message);
    if (!tick || !p->human_is_tty)
        fputc('\n', f);
    fflush(f);
}

void xlmig_progress_emit(struct xlmig_progress *p,
                         const struct xlmig_progress_ev *ev)
{
    uint64_t now = xlmig_now_ns();
    double t = (double)(now - p->t0_ns) * 1e-9;

    if (p->json)
        emit_json(p, ev, t);
    if (p->human)
        emit_human(p, ev, t, now);
    if (p->hook)
        p->hook(p->hook_opaque, ev);
}
