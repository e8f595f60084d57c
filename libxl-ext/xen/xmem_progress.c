#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmem_progress.h"

struct xmem_logger {
    xentoollog_logger vtable;       /* first: libxl calls through it */
    xentoollog_logger *inner;
    struct xmem_opts o;
    pthread_mutex_t lock;           /* parser, inner logger */
    pthread_mutex_t cb_lock;        /* one callback at a time, in order */
    struct xmem_parser parser;
    uint64_t last_cb_ns;
    bool called;
};

static uint64_t mono_ns(void *opaque)
{
    struct timespec ts;

    (void)opaque;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void xmem_opts_default(struct xmem_opts *o)
{
    memset(o, 0, sizeof(*o));
    xmem_model_default(&o->model);
    o->max_hz = 4;
}

static uint64_t now(const struct xmem_logger *l)
{
    return l->o.now_ns(l->o.clock_opaque);
}

__attribute__((format(printf, 5, 0)))
static void xmem_vmessage(xentoollog_logger *lg, xentoollog_level level,
                          int errnoval, const char *context,
                          const char *format, va_list al)
{
    struct xmem_logger *l = (struct xmem_logger *)lg;

    pthread_mutex_lock(&l->lock);
    if (l->inner && l->inner->vmessage)
        l->inner->vmessage(l->inner, level, errnoval, context, format, al);
    pthread_mutex_unlock(&l->lock);
}

static bool urgent(enum xmem_event ev)
{
    return ev != XMEM_EV_PROGRESS;
}

static void xmem_progress(xentoollog_logger *lg, const char *context,
                          const char *doing_what, int percent,
                          unsigned long done, unsigned long total)
{
    struct xmem_logger *l = (struct xmem_logger *)lg;
    struct xmem_stats st;
    enum xmem_event ev;
    bool deliver = false;
    uint64_t t;

    pthread_mutex_lock(&l->cb_lock);
    pthread_mutex_lock(&l->lock);
    if (l->inner && l->inner->progress)
        l->inner->progress(l->inner, context, doing_what, percent, done,
                           total);
    t = now(l);
    ev = xmem_parser_feed(&l->parser, t, context, doing_what, done, total);
    if (ev != XMEM_EV_NONE && l->o.cb) {
        double gap = l->o.max_hz > 0 ? 1e9 / l->o.max_hz : 0;
        deliver = urgent(ev) || !l->called ||
                  (double)(t - l->last_cb_ns) >= gap;
        if (deliver) {
            xmem_parser_stats(&l->parser, t, &st);
            st.event = ev;
            l->last_cb_ns = t;
            l->called = true;
        }
    }
    pthread_mutex_unlock(&l->lock);
    if (deliver)
        l->o.cb(l->o.cb_opaque, &st);
    pthread_mutex_unlock(&l->cb_lock);
}

static void xmem_destroy(xentoollog_logger *lg)
{
    struct xmem_logger *l = (struct xmem_logger *)lg;

    pthread_mutex_destroy(&l->lock);
    pthread_mutex_destroy(&l->cb_lock);
    free(l);
}

struct xmem_logger *xmem_logger_new(xentoollog_logger *inner,
                                    const struct xmem_opts *o)
{
    struct xmem_logger *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->vtable.vmessage = xmem_vmessage;
    l->vtable.progress = xmem_progress;
    l->vtable.destroy = xmem_destroy;
    l->inner = inner;
    if (o)
        l->o = *o;
    else
        xmem_opts_default(&l->o);
    if (!l->o.now_ns)
        l->o.now_ns = mono_ns;
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->cb_lock, NULL);
    xmem_parser_init(&l->parser, &l->o.model);
    return l;
}

xentoollog_logger *xmem_logger_xtl(struct xmem_logger *l)
{
    return &l->vtable;
}

void xmem_logger_stats(struct xmem_logger *l, struct xmem_stats *st)
{
    pthread_mutex_lock(&l->lock);
    xmem_parser_stats(&l->parser, now(l), st);
    pthread_mutex_unlock(&l->lock);
}

int xmem_logger_pass(struct xmem_logger *l, unsigned i,
                     struct xmem_pass *out)
{
    const struct xmem_pass *p;
    int rc = -1;

    pthread_mutex_lock(&l->lock);
    p = xmem_parser_pass(&l->parser, i);
    if (p) {
        *out = *p;
        rc = 0;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

unsigned xmem_logger_npasses(struct xmem_logger *l)
{
    unsigned n;

    pthread_mutex_lock(&l->lock);
    n = l->parser.npasses;
    pthread_mutex_unlock(&l->lock);
    return n;
}
