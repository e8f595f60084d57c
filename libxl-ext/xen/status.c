#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#include "conn.h"
#include "status.h"

void xst_open(struct xst *s, const char *rundir, const char *uuid,
              const char *role, bool xenstore)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->base, sizeof(s->base), "%s/%s/%s", XST_ROOT, uuid, role);
    snprintf(s->file, sizeof(s->file), "%s/%s.%s.status", rundir, uuid,
             role);
    pthread_mutex_init(&s->lock, NULL);
    mkdir(rundir, 0700);
    s->xs = xenstore ? xs_open(0) : NULL;
    if (s->xs)
        xs_rm(s->xs, XBT_NULL, s->base);
    xst_set(s, "pid", "%ld", (long)getpid());
    xst_set(s, "started", "%ld", (long)time(NULL));
}

void xst_open_part(struct xst *s, const char *rundir, const char *uuid,
                   const char *role, const char *part, bool xenstore)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->base, sizeof(s->base), "%s/%s/%s", XST_ROOT, uuid, role);
    snprintf(s->file, sizeof(s->file), "%s/%s.%s.status.%s", rundir, uuid,
             role, part);
    pthread_mutex_init(&s->lock, NULL);
    mkdir(rundir, 0700);
    unlink(s->file);
    s->xs = xenstore ? xs_open(0) : NULL;
}

static void xst_vset(struct xst *s, const char *key, const char *fmt,
                     va_list ap)
{
    unsigned i;

    for (i = 0; i < s->ngone; i++)
        if (!strcmp(s->gone[i], key)) {
            /* set again before its removal was flushed */
            memmove(s->gone[i], s->gone[i + 1],
                    (s->ngone - i - 1) * sizeof(s->gone[0]));
            s->ngone--;
            break;
        }
    for (i = 0; i < s->nkv; i++)
        if (!strcmp(s->kv[i].key, key))
            break;
    if (i == s->nkv) {
        if (s->nkv == XST_MAX_KEYS)
            return;
        snprintf(s->kv[i].key, sizeof(s->kv[i].key), "%s", key);
        s->nkv++;
    }
    vsnprintf(s->kv[i].val, sizeof(s->kv[i].val), fmt, ap);
    /* One line per key in the file: no newlines inside values. */
    for (char *p = s->kv[i].val; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

static void unset_locked(struct xst *s, const char *key)
{
    for (unsigned i = 0; i < s->nkv; i++) {
        if (strcmp(s->kv[i].key, key))
            continue;
        if (s->ngone < XST_MAX_KEYS)
            snprintf(s->gone[s->ngone++], sizeof(s->gone[0]), "%s", key);
        s->kv[i] = s->kv[--s->nkv];
        return;
    }
}

void xst_unset(struct xst *s, const char *key)
{
    pthread_mutex_lock(&s->lock);
    unset_locked(s, key);
    pthread_mutex_unlock(&s->lock);
}

__attribute__((format(printf, 3, 4)))
static void xst_set_locked(struct xst *s, const char *key, const char *fmt,
                           ...)
{
    va_list ap;

    va_start(ap, fmt);
    xst_vset(s, key, fmt, ap);
    va_end(ap);
}

void xst_set(struct xst *s, const char *key, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&s->lock);
    va_start(ap, fmt);
    xst_vset(s, key, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&s->lock);
}

static void write_file(struct xst *s)
{
    char tmp[200];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", s->file);
    f = fopen(tmp, "w");
    if (!f)
        return;
    for (unsigned i = 0; i < s->nkv; i++)
        fprintf(f, "%s=%s\n", s->kv[i].key, s->kv[i].val);
    if (fclose(f) == 0)
        rename(tmp, s->file);
    else
        unlink(tmp);
}

static void flush_locked(struct xst *s)
{
    xst_set_locked(s, "updated", "%ld", (long)time(NULL));
    s->last_flush_ns = xlmig_now_ns();
    write_file(s);
    if (!s->xs)
        return;
    for (int tries = 0; tries < 5; tries++) {
        xs_transaction_t t = xs_transaction_start(s->xs);
        char path[256];

        if (t == XBT_NULL)
            break;
        for (unsigned i = 0; i < s->nkv; i++) {
            snprintf(path, sizeof(path), "%s/%s", s->base, s->kv[i].key);
            xs_write(s->xs, t, path, s->kv[i].val, strlen(s->kv[i].val));
        }
        for (unsigned i = 0; i < s->ngone; i++) {
            snprintf(path, sizeof(path), "%s/%s", s->base, s->gone[i]);
            xs_rm(s->xs, t, path);
        }
        if (xs_transaction_end(s->xs, t, false)) {
            s->ngone = 0;
            break;
        }
        if (errno != EAGAIN)
            break;
    }
}

void xst_flush(struct xst *s)
{
    pthread_mutex_lock(&s->lock);
    flush_locked(s);
    pthread_mutex_unlock(&s->lock);
}

void xst_close(struct xst *s)
{
    if (s->xs)
        xs_close(s->xs);
    s->xs = NULL;
}

static void set_num(struct xst *s, const char *key, double v, bool integer)
{
    if (v < 0)
        return;
    if (integer)
        xst_set_locked(s, key, "%lld", (long long)v);
    else
        xst_set_locked(s, key, "%.3f", v);
}

void xst_progress_hook(struct xst *s, const struct xlmig_event *ev)
{
    bool urgent = strcmp(ev->event, "progress") != 0;

    pthread_mutex_lock(&s->lock);
    if (ev->phase) {
        const char *cur = NULL;
        for (unsigned i = 0; i < s->nkv; i++)
            if (!strcmp(s->kv[i].key, "phase"))
                cur = s->kv[i].val;
        if (!cur || strcmp(cur, ev->phase)) {
            /* What the last phase said no longer applies. */
            static const char *const stale[] = {
                "message", "remaining_blocks", "remaining_bytes", "eta_s",
                "expected_downtime_ms", "total_bytes", "total_blocks",
            };
            for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++)
                unset_locked(s, stale[i]);
            urgent = true;
        }
        xst_set_locked(s, "phase", "%s", ev->phase);
    }
    if (!strcmp(ev->event, "done")) {
        xst_set_locked(s, "remaining_blocks", "0");
        xst_set_locked(s, "remaining_bytes", "0");
        unset_locked(s, "eta_s");
        unset_locked(s, "expected_downtime_ms");
    }
    if (!strcmp(ev->event, "error"))
        xst_set_locked(s, "state", "failed");
    else if (!strcmp(ev->event, "done"))
        xst_set_locked(s, "state", "completed");
    else if (ev->phase && !strcmp(ev->phase, "postcopy"))
        xst_set_locked(s, "state", "postcopy");
    if (ev->pass >= 0)
        xst_set_locked(s, "pass", "%d", ev->pass);
    set_num(s, "remaining_blocks", (double)ev->remaining_blocks, true);
    set_num(s, "remaining_bytes", (double)ev->remaining_bytes, true);
    set_num(s, "sent_bytes", (double)ev->sent_bytes, true);
    set_num(s, "wire_bytes", (double)ev->wire_bytes, true);
    set_num(s, "rate_Bps", ev->rate_Bps, true);
    set_num(s, "wire_rate_Bps", ev->wire_rate_Bps, true);
    set_num(s, "total_bytes", (double)ev->total_bytes, true);
    set_num(s, "total_blocks", (double)ev->total_blocks, true);
    set_num(s, "eta_s", ev->eta_s, false);
    set_num(s, "expected_downtime_ms", ev->expected_downtime_ms, false);
    if (ev->message)
        xst_set_locked(s, "message", "%s", ev->message);
    if (urgent || xlmig_now_ns() - s->last_flush_ns > 250000000ull)
        flush_locked(s);
    pthread_mutex_unlock(&s->lock);
}
