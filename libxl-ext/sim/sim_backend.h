/*
 * The simulated xen-blkback: serves one raw image with pread/pwrite in a
 * few I/O threads and runs the tracking/gate core (blkback-patch/src/
 * migrate.c, struct blkmig) exactly as blkback does:
 *   - a request passes blkmig_gate_admit() at dispatch; a PARKED request
 *     waits on the gate's list (other I/O goes on) until a commit, unclaim
 *     or covering-write completion releases it;
 *   - every write, successful or not, calls blkmig_mark_written() when it
 *     completes, before the guest sees the completion; a write that covers
 *     stale blocks calls blkmig_gate_write_done();
 *   - quiesce stops dispatching (new requests are held, like requests left
 *     in the shared ring) and waits until nothing is in flight.
 * Blocks in this interface are in units of the tracking / gate block size.
 */
#ifndef XLMIG_SIM_BACKEND_H
#define XLMIG_SIM_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitmap.h"
#include "sim/sim_proto.h"
#include "err.h"

struct sim_backend;

/* A guest request.  The submitter owns it; done() is its completion. */
struct sim_io {
    bool write;
    uint64_t offset;            /* bytes, 512-aligned */
    uint32_t len;               /* bytes, 512-aligned, > 0 */
    void *buf;
    int result;                 /* set before done(): 0, -EIO, -ECANCELED */
    void (*done)(struct sim_io *io);
};

int sim_backend_open(struct sim_backend **out, const char *path,
                     unsigned io_threads, struct xlmig_error *err);
/*
 * Shutdown, in two steps: sim_backend_shutdown() fails new requests
 * (-ESHUTDOWN), withdraws held ones (-ECANCELED), fails parked ones (-EIO,
 * unless nothing is stale), and waits for the rest; every other call stays
 * valid.  sim_backend_close() also stops the I/O threads and frees.
 */
void sim_backend_shutdown(struct sim_backend *b);
void sim_backend_close(struct sim_backend *b);
uint64_t sim_backend_size(const struct sim_backend *b);
int sim_backend_fd(const struct sim_backend *b);

/*
 * Queues a guest request.  done() runs later on another thread, or at once
 * with -ESHUTDOWN when the backend is closing.  The caller must hold no
 * lock that done() takes.
 */
void sim_backend_submit(struct sim_backend *b, struct sim_io *io);
/* Completes the requests held back by a quiesce with -ECANCELED. */
void sim_backend_cancel_held(struct sim_backend *b);

/* Source. */
int sim_backend_track_start(struct sim_backend *b, uint32_t block_size);
void sim_backend_track_stop(struct sim_backend *b);
/*
 * Takes and clears the dirty set and hands it to emit() in batches of at
 * most max extents.  If emit() fails, the blocks not yet emitted (and the
 * failed batch) go back into the dirty set.  One snapshot at a time.
 */
int sim_backend_snapshot(struct sim_backend *b,
                         int (*emit)(void *ctx, const struct xlmig_extent *e,
                                     size_t n),
                         void *ctx, size_t max);
int sim_backend_quiesce(struct sim_backend *b, unsigned timeout_ms);
void sim_backend_unquiesce(struct sim_backend *b);

/* Destination. */
int sim_backend_gate_start(struct sim_backend *b, uint32_t block_size);
/* Each gate_start begins a new epoch (claims of older epochs are void). */
uint64_t sim_backend_gate_epoch(struct sim_backend *b);
int sim_backend_gate_add_stale(struct sim_backend *b,
                               const struct xlmig_extent *e, size_t n);
int sim_backend_wanted_fd(const struct sim_backend *b);
size_t sim_backend_wanted_pop(struct sim_backend *b, struct xlmig_extent *out,
                              size_t max);
long sim_backend_claim(struct sim_backend *b, uint64_t start, uint32_t count,
                       unsigned long *mask);
void sim_backend_commit(struct sim_backend *b, uint64_t start,
                        uint32_t count);
void sim_backend_unclaim(struct sim_backend *b, uint64_t start,
                         uint32_t count);
void sim_backend_gate_stop(struct sim_backend *b);

void sim_backend_stats(struct sim_backend *b, struct sim_stats *st);

#endif
