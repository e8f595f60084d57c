/*
 * libxl as the Xen flows use it: a context whose messages go to the flow's
 * observer (a xentoollog logger of our own), xl's domain lookup and lock,
 * and small helpers shared by both sides.
 */
#ifndef XLMIG_XEN_XLX_H
#define XLMIG_XEN_XLX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxl.h>

#include "err.h"
#include "xflow.h"
#include "xmem_progress.h"

struct xlx {
    libxl_ctx *ctx;
    void *logger;               /* xentoollog_logger *: to the observer */
    struct xmem_logger *mem;    /* wraps it: libxc's save progress */
    xmem_cb *mem_cb;            /* xlx_watch_memory() */
    void *mem_opaque;
    const struct xflow_observer *obs;
};

/*
 * libxl at XTL_PROGRESS (xl's default) or, verbose, XTL_DEBUG.  Its
 * messages go to the observer; its progress reports (libxc's save, i.e. the
 * memory pre-copy) to the xmem logger (xmem_progress.h) in between.
 */
int xlx_open(struct xlx *x, int verbose, const struct xflow_observer *obs,
             struct xlmig_error *err);
void xlx_close(struct xlx *x);
/* The memory figures go to cb from now on (NULL: nowhere); cb runs inside
 * libxl, under xmem_progress.h's rules. */
void xlx_watch_memory(struct xlx *x, xmem_cb *cb, void *opaque);
/* The logger libxl gets (for a second ctx: serialised with the first). */
xentoollog_logger *xlx_logger(struct xlx *x);
/* A domain name or number, as xl's find_domain. */
int xlx_find_domain(struct xlx *x, const char *s, uint32_t *domid,
                    struct xlmig_error *err);
/* The domain's UUID as text (the key of its status in xenstore). */
void xlx_uuid_string(const libxl_uuid *u, char out[40]);
/* The UUID of domain domid (named domain in the error: ENOENT). */
int xlx_domain_uuid(struct xlx *x, uint32_t domid, const char *domain,
                    char out[40], struct xlmig_error *err);
/* xl's global lock around domain creation (/var/lock/xl). */
int xlx_lock(void);
void xlx_unlock(int fd);
/* Single-quotes s for sh -c into out (false if it does not fit). */
bool xlx_shell_quote(const char *s, char *out, size_t len);
/* A line as xl prints it ("xl: " + text, see xflow.h). */
void xlx_say(const struct xflow_observer *obs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* One of xlmig's own messages. */
void xlx_log(const struct xflow_observer *obs, enum xlmig_log_level level,
             const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
