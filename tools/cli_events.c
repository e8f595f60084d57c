/*
 * What the commands show of a migration: the library's events as JSON
 * lines on stdout (--json) and as a human progress line on stderr (unless
 * --quiet), and its log messages on stderr.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define HUMAN_INTERVAL_S 0.25

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

void cli_out_init(struct cli_out *o, bool json, bool quiet)
{
    memset(o, 0, sizeof(*o));
    o->json = json;
    o->quiet = quiet;
    o->tty = isatty(2) == 1;
    o->last_human = -1;
    o->last_mem_pass = -1;
}

/* The guest's memory (xlmig_event.memory): pass, what is left, rates. */
static void human_memory(struct cli_out *o, const struct xlmig_event *ev)
{
    const struct xlmig_memory *m = ev->memory;
    bool tick = !strcmp(ev->event, "memory") && m->pass == o->last_mem_pass &&
                m->state && o->last_mem_state &&
                !strcmp(m->state, o->last_mem_state);

    o->last_mem_pass = m->pass;
    o->last_mem_state = m->state;
    if (tick && (!o->tty || ev->t - o->last_human < HUMAN_INTERVAL_S))
        return;
    o->last_human = ev->t;
    fprintf(stderr, "%s[%6.1fs] %s %-9s", o->tty ? "\r\033[K" : "", ev->t,
            ev->role, ev->event);
    if (m->state)
        fprintf(stderr, " %s", m->state);
    if (m->pass >= 0)
        fprintf(stderr, " pass %d", m->pass);
    if (m->remaining_pages >= 0 && m->page_size > 0)
        fprintf(stderr, " remaining %.1f MiB", (double)m->remaining_pages *
                m->page_size / 1048576.0);
    if (m->rate_Bps > 0)
        fprintf(stderr, " at %.1f MB/s", m->rate_Bps / 1e6);
    if (m->dirty_rate_pps >= 0)
        fprintf(stderr, " dirty %.0f pages/s", m->dirty_rate_pps);
    if (m->eta_s >= 0)
        fprintf(stderr, " eta %s%.1fs", m->eta_lower_bound ? ">" : "",
                m->eta_s);
    if (m->throttle_pct > 0)
        fprintf(stderr, " throttle %d%%", m->throttle_pct);
    if (ev->message)
        fprintf(stderr, " %s", ev->message);
    if (!tick || !o->tty)
        fputc('\n', stderr);
    fflush(stderr);
}

static void human(struct cli_out *o, const struct xlmig_event *ev)
{
    bool tick = !strcmp(ev->event, "progress");

    if (ev->memory) {
        human_memory(o, ev);
        return;
    }

    /* Ticks are rate-limited and only drawn on a terminal. */
    if (tick && (!o->tty || ev->t - o->last_human < HUMAN_INTERVAL_S))
        return;
    o->last_human = ev->t;
    fprintf(stderr, "%s[%6.1fs] %s %-9s", o->tty ? "\r\033[K" : "", ev->t,
            ev->role, ev->phase ? ev->phase : ev->event);
    if (ev->pass >= 0)
        fprintf(stderr, " pass %d", ev->pass);
    if (ev->remaining_bytes >= 0)
        fprintf(stderr, " remaining %.1f MiB",
                (double)ev->remaining_bytes / 1048576.0);
    if (ev->rate_Bps > 0)
        fprintf(stderr, " at %.1f MB/s", ev->rate_Bps / 1e6);
    if (ev->eta_s >= 0)
        fprintf(stderr, " eta %.1fs", ev->eta_s);
    if (ev->expected_downtime_ms >= 0)
        fprintf(stderr, " downtime~%.0fms", ev->expected_downtime_ms);
    if (ev->message)
        fprintf(stderr, " %s", ev->message);
    if (!tick || !o->tty)
        fputc('\n', stderr);
    fflush(stderr);
}

void cli_on_event(void *opaque, const struct xlmig_event *ev)
{
    struct cli_out *o = opaque;

    pthread_mutex_lock(&out_lock);
    if (o->json) {
        char line[2048];

        FILE *f = o->jf ? o->jf : stdout;

        xlmig_event_json(ev, line, sizeof(line));
        fprintf(f, "%s\n", line);
        fflush(f);
    }
    if (!o->quiet)
        human(o, ev);
    pthread_mutex_unlock(&out_lock);
}

void cli_on_log(void *opaque, enum xlmig_log_level level, const char *msg)
{
    struct cli_out *o = opaque;

    if (o->quiet && level < XLMIG_LOG_WARN)
        return;
    pthread_mutex_lock(&out_lock);
    fprintf(stderr, "%sxlmig: %s%s\n", o->tty ? "\r\033[K" : "",
            level == XLMIG_LOG_WARN ? "warning: " : "", msg);
    pthread_mutex_unlock(&out_lock);
}

/* The Xen flows: xl's own lines ("xl: ...") as xl prints them. */
void cli_on_xl_log(void *opaque, enum xlmig_log_level level, const char *msg)
{
    struct cli_out *o = opaque;

    if (strncmp(msg, "xl: ", 4)) {
        cli_on_log(opaque, level, msg);
        return;
    }
    pthread_mutex_lock(&out_lock);
    fprintf(stderr, "%s%s\n", o->tty ? "\r\033[K" : "", msg + 4);
    pthread_mutex_unlock(&out_lock);
}
