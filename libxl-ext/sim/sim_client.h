/*
 * Guest controls of the simulated VBD, for the engine and the CLI.
 *
 * The simulated VBD daemon (xlmig-vbdsim serve) stands in for xen-blkback
 * *and* the guest behind it: a workload writes tagged blocks and checks
 * every read against a model of the acknowledged writes.  The block-level
 * interface (tracking, quiesce, gate, install) is struct xlmig_vbd_ops,
 * opened with xlmig_vbd_sim_open() (vbd.h).  The functions here are the
 * analog of libxl's domain operations, since the simulated guest migrates
 * too:
 *
 *   source                              destination
 *   ------                              -----------
 *   (guest runs)                        serve --dest (guest empty)
 *   suspend -> state blob  ───────────▶ load (guest paused)
 *   resume   (rollback before GO)       unpause (after GO; reads of stale
 *                                                blocks park in the gate)
 *   report                              report, stop_and_verify
 *
 * Every function takes a handle from xlmig_vbd_sim_open() and returns 0 or
 * a negative errno, with the daemon's message in v->err.
 */
#ifndef XLMIG_SIM_CLIENT_H
#define XLMIG_SIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd.h"

enum xlmig_sim_guest_state {
    XLMIG_SIM_GUEST_EMPTY = 0,      /* destination: no state loaded yet */
    XLMIG_SIM_GUEST_PAUSED = 1,     /* state loaded, workload not started */
    XLMIG_SIM_GUEST_RUNNING = 2,
    XLMIG_SIM_GUEST_SUSPENDED = 3,  /* suspended; its state was handed out */
    XLMIG_SIM_GUEST_STOPPED = 4,    /* stopped by stop_and_verify */
};

/*
 * What the guest saw.  Counters are cumulative over the guest's life (they
 * travel in the state blob); rates and latencies cover the time the
 * workload ran in this daemon.  All fixed-width: this struct is also the
 * wire format.
 */
struct xlmig_sim_report {
    uint64_t state;             /* enum xlmig_sim_guest_state */
    uint64_t writes, reads;     /* completed requests */
    uint64_t write_bytes, read_bytes;
    uint64_t reads_verified;    /* 4 KiB blocks read and checked */
    uint64_t verify_failures;   /* blocks read back wrong: must be 0 */
    uint64_t io_errors;         /* requests the backend failed: must be 0 */
    uint64_t run_us;            /* workload running time in this daemon */
    uint64_t write_rate;        /* bytes/s written in this daemon */
    uint64_t write_p50_us, write_p99_us, write_max_us;
    uint64_t read_p50_us, read_p99_us, read_max_us;
    /*
     * Largest gap between two successful write completions, including
     * across a migration (the guest-visible downtime under writes), and
     * the CLOCK_REALTIME (µs) at which it ended.
     */
    uint64_t max_gap_us, max_gap_end_us;
    /* Filled by stop_and_verify only. */
    uint64_t verified;          /* 1: this report includes a full check */
    uint64_t blocks_checked;    /* 4 KiB blocks compared with the model */
    uint64_t mismatches;        /* blocks whose content is wrong: must be 0 */
    uint64_t unknown;           /* blocks not checkable (a write failed) */
    char detail[512];           /* the first failures, human readable */
};

/* True when nothing went wrong: no failed read, I/O error or mismatch. */
bool xlmig_sim_report_ok(const struct xlmig_sim_report *r);
/* A multi-line human-readable rendering (for the CLI and test logs). */
void xlmig_sim_report_format(const struct xlmig_sim_report *r, char *buf,
                             size_t len);

/*
 * Source: stops the workload, drains its requests (held requests of a
 * quiesced backend are withdrawn unexecuted, as a guest would re-issue
 * them) and returns the guest's state, to be freed with free().
 * Idempotent while suspended.
 */
int xlmig_sim_guest_suspend(struct xlmig_vbd *v, void **blob, size_t *len);
/* Source rollback: the suspended guest runs on. */
int xlmig_sim_guest_resume(struct xlmig_vbd *v);
/*
 * Source, just before GO: commits to handing the suspended guest over.
 * Until then, if the connection that suspended the guest goes away (the
 * migration tool died), the daemon resumes the guest itself; after it, it
 * never does (the destination may be running it).
 */
int xlmig_sim_guest_handoff(struct xlmig_vbd *v);
/* Destination: loads a state blob; the guest stays paused. */
int xlmig_sim_guest_load(struct xlmig_vbd *v, const void *blob, size_t len);
/* Destination: starts the loaded guest. */
int xlmig_sim_guest_unpause(struct xlmig_vbd *v);
int xlmig_sim_guest_report(struct xlmig_vbd *v, struct xlmig_sim_report *r);
/*
 * Stops the workload and compares every block of the image with the
 * model.  Refused (-EBUSY, the guest untouched) while the gate still has
 * stale blocks.  The check itself passed when xlmig_sim_report_ok(r).
 * The guest stays stopped (resume continues it); calling it again checks
 * again.
 */
int xlmig_sim_guest_stop_and_verify(struct xlmig_vbd *v,
                                    struct xlmig_sim_report *r);
/* Asks the daemon to exit (as SIGTERM does). */
int xlmig_sim_shutdown(struct xlmig_vbd *v);

/*
 * Test hook (daemon started with --test-hooks): ORs into out (one bit per
 * 4 KiB block) the blocks of writes the guest saw acknowledged since the
 * previous call, and clears that set.
 */
int xlmig_sim_test_written(struct xlmig_vbd *v, struct xlmig_bitmap *out,
                           uint64_t *count);

#endif
