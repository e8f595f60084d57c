/*
 * Migration status for orchestration: in xenstore and in a state file,
 * on both hosts, mirrored from the engine's progress events.
 *
 *   /local/domain/0/xlmig/<uuid>/<role>/KEY     role: source | destination
 *   <rundir>/<uuid>.<role>.status  the same KEY=VALUE lines (/run/xlmig)
 *
 * Keyed by the domain's UUID, the one name that is the same on both hosts
 * and survives the renames (<name>--incoming, --migratedaway) and the
 * source domain's destruction (post-copy is served after it).  Keys:
 *   name, domid, pid, peer, disks, state (active | postcopy | completed |
 *   failed | rolled-back), phase, pass, remaining_blocks, remaining_bytes,
 *   sent_bytes, wire_bytes, rate_Bps, eta_s, expected_downtime_ms,
 *   message, started, updated (Unix seconds); the source's memory
 *   figures (xmem_report.h: mem_*, ac_*) from the migrating process.
 * The last job's keys stay until the next migration of that UUID.
 */
#ifndef XLMIG_XEN_STATUS_H
#define XLMIG_XEN_STATUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "progress.h"

#define XST_ROOT "/local/domain/0/xlmig"
#define XST_MAX_KEYS 48

struct xst {
    void *xs;                   /* struct xs_handle * */
    char base[160];             /* XST_ROOT/<uuid>/<role> */
    char file[512];
    struct { char key[32]; char val[256]; } kv[XST_MAX_KEYS];
    unsigned nkv;
    char gone[XST_MAX_KEYS][32];        /* keys to remove at the next flush */
    unsigned ngone;
    uint64_t last_flush_ns;
    pthread_mutex_t lock;       /* engine threads report concurrently */
};

/* Opens xenstore (if asked and it can: else the status goes only to the
 * file in rundir) and clears the previous job's keys for this UUID and
 * role. */
void xst_open(struct xst *s, const char *rundir, const char *uuid,
              const char *role, bool xenstore);
/*
 * A second writer of the same job's status: the source's memory figures
 * (xmem_report.h), written by the migrating process while its engine
 * writes the rest.  Its keys go to the same xenstore directory, which it
 * does not clear (the engine does), and to <rundir>/<uuid>.<role>.status.
 * <part> (the previous job's is removed), which xjob merges.
 */
void xst_open_part(struct xst *s, const char *rundir, const char *uuid,
                   const char *role, const char *part, bool xenstore);
void xst_set(struct xst *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Writes what changed (xenstore in one transaction, the file whole). */
void xst_flush(struct xst *s);
void xst_close(struct xst *s);
/* Removes a key (e.g. an ETA that no longer applies). */
void xst_unset(struct xst *s, const char *key);
/* Mirrors a progress event, flushing at most 4 times a second
 * except on phase changes.  A new phase drops the previous one's message,
 * remaining counts, ETA and expected downtime; "done" leaves nothing
 * remaining. */
void xst_progress_hook(struct xst *s, const struct xlmig_event *ev);

#endif
