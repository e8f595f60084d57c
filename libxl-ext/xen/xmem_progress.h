/*
 * A xentoollog logger that follows Xen's memory pre-copy.  Give it to
 * libxl_ctx_alloc instead of the normal logger: it passes every message
 * and every progress call on to that logger unchanged (xl's usual output
 * stays as it was), and parses libxc's save progress (xmem_parse.h: the
 * strings, the call path, the estimates) into struct xmem_stats.
 *
 * The callback is called for every pass start, "Domain now suspended",
 * "End of stream" and "Complete", and for progress within a pass at most
 * max_hz times a second (the time of the opts' clock).
 *
 * Threads.  libxl calls a logger from any thread that calls libxl with
 * that ctx; the save progress arrives on the thread running libxl's event
 * loop for the suspend (the caller of a synchronous libxl_domain_suspend),
 * with libxl's ctx lock held (libxl_event.c:1861-1923 unlocks it only
 * around poll()).  The logger serialises everything with its own mutex,
 * which also makes the wrapped logger safe for concurrent messages (the
 * stdio logger is not).  The callback runs outside that mutex, one at a
 * time and in order, still inside libxl: it must not call libxl with the
 * same ctx (libxl's event loop must be locked exactly once), nor report
 * progress through this logger; it may log messages through it, update
 * status, emit events, run the auto-converge policy, and set a cap through
 * a second libxl ctx (xconv_cap.h).  xmem_logger_stats() may be called
 * from any thread.
 */
#ifndef XLMIG_XEN_XMEM_PROGRESS_H
#define XLMIG_XEN_XMEM_PROGRESS_H

#include <stdint.h>

#include <xentoollog.h>

#include "xmem_parse.h"

typedef void xmem_cb(void *opaque, const struct xmem_stats *st);

struct xmem_opts {
    struct xmem_model model;        /* xmem_model_default() */
    double max_hz;                  /* progress callbacks per second (4) */
    xmem_cb *cb;                    /* NULL: none (poll with _stats) */
    void *cb_opaque;
    uint64_t (*now_ns)(void *opaque);   /* NULL: CLOCK_MONOTONIC */
    void *clock_opaque;
};

struct xmem_logger;

void xmem_opts_default(struct xmem_opts *o);
/* inner: the logger everything is passed to (NULL: none).  It is not
 * owned: destroying this logger (xtl_logger_destroy on xmem_logger_xtl())
 * leaves it alone.  NULL if out of memory. */
struct xmem_logger *xmem_logger_new(xentoollog_logger *inner,
                                    const struct xmem_opts *o);
/* What to give libxl_ctx_alloc. */
xentoollog_logger *xmem_logger_xtl(struct xmem_logger *l);
/* A snapshot now (estimates brought to the present). */
void xmem_logger_stats(struct xmem_logger *l, struct xmem_stats *st);
/* A copy of pass i (absolute index from 0); -1 if not kept. */
int xmem_logger_pass(struct xmem_logger *l, unsigned i,
                     struct xmem_pass *out);
/* Number of passes started so far. */
unsigned xmem_logger_npasses(struct xmem_logger *l);

#endif
