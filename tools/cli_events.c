/*
 * What the commands show of a migration: the library's events as JSON
 * lines on stdout (--json), the progress display on stderr (a bar, a
 * percentage, the payload and wire rates and an ETA per phase; unless
 * --quiet), and its log messages on stderr (with --quiet only warnings
 * and errors).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Memory progress lines within a pass: at most one per interval. */
#define MEM_INTERVAL_S 1.0

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

void cli_out_init(struct cli_out *o, bool json, bool quiet, const char *role,
                  double budget_ms, int max_passes)
{
    memset(o, 0, sizeof(*o));
    o->json = json;
    o->quiet = quiet;
    cli_progress_term_init(&o->prog, quiet ? NULL : stderr, role, budget_ms,
                           max_passes);
    o->last_mem_t = -1;
    o->last_mem_pass = -1;
}

void cli_out_finish(struct cli_out *o)
{
    pthread_mutex_lock(&out_lock);
    cli_progress_term_finish(&o->prog);
    pthread_mutex_unlock(&out_lock);
}

void cli_out_destroy(struct cli_out *o)
{
    cli_progress_term_destroy(&o->prog);
}

/* Lock held.  A message line: the display's live line makes room. */
static void line(struct cli_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void line(struct cli_out *o, const char *fmt, ...)
{
    va_list ap;

    cli_progress_term_clear(&o->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
}

struct mline {
    char s[512];
    size_t n;
};

static void madd(struct mline *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void madd(struct mline *b, const char *fmt, ...)
{
    va_list ap;
    int k;

    if (b->n >= sizeof(b->s))
        return;
    va_start(ap, fmt);
    k = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        b->n += (size_t)k;
}

/*
 * Lock held.  The guest's memory (xlmig_event.memory, the Xen flow): a
 * line when a pass or state changes, an auto-converge step, and within a
 * pass at most one a second.
 */
static void human_memory(struct cli_out *o, const struct xlmig_event *ev)
{
    const struct xlmig_memory *m = ev->memory;
    struct mline b = { .n = 0 };
    bool tick = !strcmp(ev->event, "memory") && m->pass == o->last_mem_pass &&
                m->state && o->last_mem_state &&
                !strcmp(m->state, o->last_mem_state);

    o->last_mem_pass = m->pass;
    o->last_mem_state = m->state;
    if (tick && ev->t - o->last_mem_t < MEM_INTERVAL_S)
        return;
    o->last_mem_t = ev->t;
    madd(&b, "[%6.1fs] %s %s", ev->t, ev->role, ev->event);
    if (m->state)
        madd(&b, " %s", m->state);
    if (m->pass >= 0)
        madd(&b, " pass %d", m->pass);
    if (m->remaining_pages >= 0 && m->page_size > 0)
        madd(&b, " remaining %.1f MiB", (double)m->remaining_pages *
             m->page_size / 1048576.0);
    if (m->rate_Bps > 0)
        madd(&b, " at %.1f MB/s", m->rate_Bps / 1e6);
    if (m->dirty_rate_pps >= 0)
        madd(&b, " dirty %.0f pages/s", m->dirty_rate_pps);
    if (m->eta_s >= 0)
        madd(&b, " eta %s%.1fs", m->eta_lower_bound ? ">" : "", m->eta_s);
    if (m->throttle_pct > 0)
        madd(&b, " throttle %d%%", m->throttle_pct);
    if (ev->message)
        madd(&b, " %s", ev->message);
    line(o, "%s\n", b.s);
}

/*
 * Lock held.  A signal after the hand-off does not stop the migration
 * (the library ignores the cancel: stopping post-copy would strand the
 * destination's stale blocks); say so once, with what remains.
 */
static void signal_notice(struct cli_out *o)
{
    int sig = cli_signal_seen();

    if (!sig || o->noticed)
        return;
    if (o->src && xlmig_source_past_go(o->src)) {
        o->noticed = true;
        line(o, "xlmig: %s after the hand-off: the guest runs on the "
             "destination; of the %llu block(s) handed over as stale, those "
             "it has not received yet exist only in the source image.  "
             "Post-copy goes on until it holds them: stopping it would "
             "leave the guest's reads of them hanging (kill -9 does stop "
             "it; keep the source image then).\n", cli_signal_name(sig),
             (unsigned long long)xlmig_source_stale_blocks(o->src));
    } else if (o->dst && xlmig_dest_past_go(o->dst)) {
        /* (The gate's count is not asked from here: this may run on a
         * thread of the library that holds the VBD; the last post-copy
         * event's count is as good.) */
        o->noticed = true;
        line(o, "xlmig: %s after the hand-off: the guest runs here; "
             "%lld block(s) are still to come from the source.  Post-copy "
             "goes on until they are here (stopping now would leave the "
             "guest's reads of them waiting).\n", cli_signal_name(sig),
             (long long)o->stale_left);
    }
}

void cli_on_event(void *opaque, const struct xlmig_event *ev)
{
    struct cli_out *o = opaque;

    pthread_mutex_lock(&out_lock);
    if (!strcmp(ev->role, "destination") && ev->phase &&
        !strcmp(ev->phase, "postcopy") && ev->remaining_blocks >= 0)
        o->stale_left = ev->remaining_blocks;
    if (o->json) {
        char buf[2048];
        FILE *f = o->jf ? o->jf : stdout;

        xlmig_event_json(ev, buf, sizeof(buf));
        fprintf(f, "%s\n", buf);
        fflush(f);
    }
    if (ev->memory) {
        if (!o->quiet)
            human_memory(o, ev);
    } else if (!strcmp(ev->event, "warning") && o->quiet)
        line(o, "xlmig: warning: %s\n", ev->message ? ev->message : "");
    /* An error ends the command with its own verdict line. */
    else if (!o->quiet && strcmp(ev->event, "error"))
        cli_progress_term_hook(&o->prog, ev);
    signal_notice(o);
    pthread_mutex_unlock(&out_lock);
}

void cli_on_log(void *opaque, enum xlmig_log_level level, const char *msg)
{
    struct cli_out *o = opaque;

    if (level < XLMIG_LOG_INFO || (o->quiet && level < XLMIG_LOG_WARN))
        return;
    pthread_mutex_lock(&out_lock);
    line(o, "xlmig: %s%s\n",
         level == XLMIG_LOG_WARN ? "warning: "
         : level == XLMIG_LOG_ERROR ? "error: " : "", msg);
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
    line(o, "%s\n", msg + 4);
    pthread_mutex_unlock(&out_lock);
}

void cli_info(struct cli_out *o, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (o->quiet)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&out_lock);
    line(o, "xlmig: %s\n", msg);
    pthread_mutex_unlock(&out_lock);
}
