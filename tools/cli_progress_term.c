/*
 * The writer of the progress display: the clock, the terminal, the rate
 * limit.  On a terminal the phase's line is rewritten in place ("\r",
 * text, erase to the end of line) and left when the phase ends; anywhere
 * else (a log file) whole lines only: each phase's first and last line,
 * and one line every log_interval_s while it runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli_progress.h"

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cli_progress_term_init(struct cli_progress_term *w, FILE *f,
                            const char *role, double budget_ms,
                            int max_passes)
{
    memset(w, 0, sizeof(*w));
    cli_progress_init(&w->st, role, budget_ms, max_passes);
    w->f = f;
    w->tty = f && isatty(fileno(f));
    w->min_interval_s = 0.25;
    w->log_interval_s = 10;
    w->last_draw = -1e9;
    w->t0_ns = now_ns();
    pthread_mutex_init(&w->lock, NULL);
}

static unsigned columns(const struct cli_progress_term *w)
{
    struct winsize ws;
    const char *env;

    if (w->width)
        return w->width;
    if (w->tty && ioctl(fileno(w->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col)
        return ws.ws_col;
    env = getenv("COLUMNS");
    if (env && atoi(env) > 20)
        return (unsigned)atoi(env);
    return w->tty ? 80 : 160;
}

static void draw(struct cli_progress_term *w, const char *line, bool end)
{
    if (w->tty)
        fprintf(w->f, "\r%s\033[K%s", line, end ? "\n" : "");
    else
        fprintf(w->f, "%s\n", line);
    w->live_shown = w->tty && !end;
}

void cli_progress_term_event(struct cli_progress_term *w,
                             const struct cli_pev *ev, double t)
{
    struct cli_pout out;
    bool show;

    if (!w->f)
        return;
    pthread_mutex_lock(&w->lock);
    cli_progress_format(&w->st, ev, t, columns(w), &out);
    if (out.done[0])
        draw(w, out.done, true);
    if (out.live[0]) {
        if (!out.tick || out.live_is_final || out.first)
            show = true;
        else if (w->tty)
            show = t - w->last_draw >= w->min_interval_s;
        else
            show = t - w->last_draw >= w->log_interval_s;
        if (show) {
            draw(w, out.live, out.live_is_final);
            w->last_draw = t;
        }
    }
    fflush(w->f);
    pthread_mutex_unlock(&w->lock);
}

void cli_progress_term_hook(void *opaque, const struct xlmig_event *ev)
{
    struct cli_progress_term *w = opaque;
    struct cli_pev p = cli_pev_from(ev);

    cli_progress_term_event(w, &p, ev->t >= 0 ? ev->t
                                   : (double)(now_ns() - w->t0_ns) * 1e-9);
}

void cli_progress_term_finish(struct cli_progress_term *w)
{
    if (!w->f)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->live_shown) {
        fputc('\n', w->f);
        w->live_shown = false;
        fflush(w->f);
    }
    pthread_mutex_unlock(&w->lock);
}

void cli_progress_term_clear(struct cli_progress_term *w)
{
    if (!w->f)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->live_shown) {
        fputs("\r\033[K", w->f);
        w->live_shown = false;
        w->last_draw = -1e9;            /* redraw at the next event */
        fflush(w->f);
    }
    pthread_mutex_unlock(&w->lock);
}

void cli_progress_term_destroy(struct cli_progress_term *w)
{
    cli_progress_term_finish(w);
    pthread_mutex_destroy(&w->lock);
}
