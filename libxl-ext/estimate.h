/*
 * The migration predicted from measurements: the engine's own phases
 * replayed on a model of the guest and the link (no I/O here; the
 * measuring is src_estimate.c's).  Shared by `xlmig estimate` and by the
 * engine, which records its own prediction early in a real migration.
 *
 * The guest: it dirties w distinct blocks per second (over one second)
 * within a region of R blocks, so that over t seconds
 *     W(t) = R (1 - exp(-w t / R))
 * distinct blocks are dirty (uniform writes; R infinite: W(t) = w t).  R
 * is fitted to the distinct blocks seen over the whole sample.
 *
 * The engine: a full pass over the allocated bytes at the pipeline's rate
 * (read, compression, link, the receiver's decoding, all measured at once
 * by sending a sample), a flush, then dirty passes under the same
 * convergence policy (policy.c) until it says stop; keep-up while the
 * memory moves; stop-copy sends the final set within the downtime or
 * hands it over for post-copy.
 */
#ifndef XLMIG_ESTIMATE_H
#define XLMIG_ESTIMATE_H

#include <stdbool.h>
#include <stdint.h>

#include "xlmig.h"

struct xlmig_est_in {
    uint32_t block_size;
    unsigned ndisks;
    uint64_t allocated;         /* bytes the full pass reads */
    uint64_t nblocks;           /* of all disks */
    double pipe_Bps;            /* disk bytes per second of a full pass */
    double dirty_pipe_Bps;      /* ... of scattered rewritten blocks */
    double link_Bps;            /* the data channel alone (0: unknown) */
    double rtt_s;
    double w;                   /* distinct blocks dirtied per second */
    double region;              /* R, blocks (0: unbounded) */
    double vbd_op_s;            /* one quiesce/snapshot call */
    double full_wire_ratio;     /* wire bytes / disk bytes, full pass */
    double dirty_wire_ratio;    /* the same for rewritten blocks */
    double flush_Bps;           /* the receiver's flush (0: free) */
    /* the migration's options */
    double max_downtime_s;
    bool postcopy;
    unsigned max_passes;
    double memory_s;            /* the memory phase (keep-up meanwhile) */
    uint64_t memory_bytes;      /* ... plus moving this much memory */
    double setup_s, state_s, handoff_s;         /* xlmig_estimate_opts */
    bool offline;               /* cold: one pass, no guest */
};

/* Distinct blocks dirty after t seconds. */
double xlmig_est_dirty(const struct xlmig_est_in *in, double t);
/* Fits R so that W(span) = distinct, given w (0: unbounded). */
double xlmig_est_fit_region(double w, double span, double distinct);
/* Replays the migration: fills the "predicted" half of e. */
void xlmig_est_predict(const struct xlmig_est_in *in,
                       struct xlmig_estimate *e);

#endif
