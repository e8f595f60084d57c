/*
 * The source's memory phase as the migrating process follows it (issue
 * 11): libxc's pre-copy progress, captured by the xmem logger that xlx.c
 * puts between libxl and the observer (xlx_watch_memory), becomes
 *
 *   - events "memory" (phase "memory", struct xlmig_memory) through the
 *     front's observer: `xlmig migrate --json` prints them;
 *   - the status keys of xmem_report.h, in a part of the source's status
 *     of its own (status.h: xst_open_part), which `xlmig jobinfo` shows
 *     beside the engine's disk figures;
 *   - with auto-converge, the throttle: at the start of each live pass the
 *     policy (xconv_policy.h) decides, the CPU cap is lowered through the
 *     cap ops (xconv_cap.h; a libxl ctx of its own), and every step is an
 *     "autoconverge" event, a log line, the status key ac_steps and an
 *     entry of the final report.
 *
 * The original cap is recorded in xenstore before the first step
 * (xsmem_prepare) and put back as soon as libxl_domain_suspend returns,
 * whatever it returned (xsmem_end: no memory pass follows; on failure the
 * guest resumes with its own cap), and again on every exit path
 * (xsmem_close, idempotent).  A crash of the migrating process leaves the
 * record: the next `xlmig migrate` of the domain (xsmem_recover, before
 * the configuration is read, so that the destination gets the original)
 * and `xlmig recover-cap` put it back.
 *
 * The destination's domain needs nothing: the configuration sent carries
 * the cap read before any throttle, and libxl applies it there.  Restore
 * reports no progress (xg_sr_restore.c): the memory figures exist on the
 * source only.
 *
 * Threads: xsmem_stats_cb runs inside libxl (xmem_progress.h's rules: it
 * must not use the migration's libxl ctx; the cap ops use their own).
 */
#ifndef XLMIG_XEN_XSMEM_H
#define XLMIG_XEN_XSMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "progress.h"
#include "status.h"
#include "xconv_cap.h"
#include "xconv_policy.h"
#include "xflow.h"
#include "xmem_progress.h"

#define XSMEM_REPORT_LEN 8192

struct xsmem {
    struct xlmig_emitter em;
    struct xst *st;                     /* NULL: no status */
    const struct xconv_cap_ops *ops;    /* NULL: no auto-converge */
    void *h;
    bool ac;                            /* auto-converge is on */
    struct xconv_policy pol;
    struct xconv_cap cap;
    char steps[256];                    /* ac_steps: "T:THROTTLE:CAP ..." */
    bool ended;
    int restore_rc;                     /* of the last restore: 0, -errno */
    struct xlmig_error restore_err;
};

/* obs: where the events and log lines go; st: the status part (or NULL);
 * ops/h: the cap operations (NULL: no auto-converge, no recovery). */
void xsmem_init(struct xsmem *m, const struct xflow_observer *obs,
                struct xst *st, const struct xconv_cap_ops *ops, void *h);
/*
 * A record of the CPU cap left by a crashed migration of uuid: put the
 * original back and remove it (one log line says what was found).
 * -EBUSY if its owner still runs (a migration of this domain is under
 * way), else xconv_cap_recover's -errno (-EIO if the record is
 * unreadable or libxl cannot set the cap).
 */
int xsmem_recover(struct xsmem *m, const char *uuid, const char *name,
                  struct xlmig_error *err);
/* Auto-converge on: checks the scheduler, records the original cap;
 * 0 or xconv_cap_prepare's -errno. */
int xsmem_prepare(struct xsmem *m, const struct xconv_opts *o,
                  uint32_t domid, const char *uuid, struct xlmig_error *err);
/* The xmem logger's callback (opaque: the struct xsmem). */
void xsmem_stats_cb(void *opaque, const struct xmem_stats *st);
/*
 * libxl_domain_suspend returned rc: no further step, the original cap
 * back, the final figures published, and the report (one JSON line, also
 * logged) left in report (may be NULL).
 */
void xsmem_end(struct xsmem *m, struct xmem_logger *lg, int rc,
               char *report, size_t len);
/* Every exit path: the original cap back if it is not yet (idempotent). */
void xsmem_close(struct xsmem *m);

#endif
