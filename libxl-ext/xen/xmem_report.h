/*
 * The memory figures for orchestration, in the places the disk figures
 * already go: the library's progress event (struct xlmig_memory in a
 * struct xlmig_event, printed by xlmig_event_json as the mem_* / ac_*
 * fields) and the migration's status (xenstore and /run/xlmig, status.h),
 * which `xlmig jobinfo` shows (tools/cmd_jobinfo.c, in `virsh domjobinfo`'s
 * words).  Unknown figures (< 0) are left out everywhere.
 *
 * JSON, one line per update (at most 4 a second, every pass change):
 *   {"event":"memory","t":S,"role":"source","phase":"memory",
 *    "mem_state":"live"|"suspended"|..., "mem_pass":N, "mem_iteration":N,
 *    "mem_final":BOOL, "mem_total_pages":N, "mem_iter_pages":N,
 *    "mem_iter_sent_pages":N, "mem_sent_pages":N, "mem_remaining_pages":N,
 *    "mem_rate_pps":X, "mem_rate_Bps":N, "mem_dirty_rate_pps":X,
 *    "mem_eta_s":X, "mem_eta_lower_bound":BOOL,
 *    "mem_expected_downtime_ms":X, "mem_page_size":4096,
 *    "ac_throttle_pct":N, "ac_cap":N}          (ac_*: with auto-converge)
 *
 * Status keys (xenstore .../<uuid>/source/KEY and the status file):
 *   mem_state mem_pass mem_iteration mem_total_pages mem_sent_pages
 *   mem_remaining_pages mem_rate_Bps mem_dirty_rate_pps mem_eta_s
 *   mem_expected_downtime_ms ac_throttle_pct ac_cap
 */
#ifndef XLMIG_XEN_XMEM_REPORT_H
#define XLMIG_XEN_XMEM_REPORT_H

#include "status.h"
#include "xlmig.h"
#include "xmem_parse.h"

/* Auto-converge as the reports show it; NULL when it is off. */
struct xmem_ac {
    unsigned throttle;              /* percent in force, 0: none yet */
    int cap;                        /* the cap set, -1: none */
};

/* The event's memory fields (state points to a static string). */
void xmem_to_event(const struct xmem_stats *st, const struct xmem_ac *ac,
                   struct xlmig_memory *m);
/* Sets the status keys; flushes on pass changes and the like, otherwise
 * at most every 250 ms. */
void xmem_status_update(struct xst *s, const struct xmem_stats *st,
                        const struct xmem_ac *ac);

#endif
