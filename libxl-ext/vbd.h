/*
 * What the migration engine needs from the backend that serves a guest's
 * virtual block device: write tracking on the source, the post-copy gate on
 * the destination.  Two implementations, one interface:
 *   vbd_sim.c      the simulated VBD (a separate process running
 *                  blkback-patch/src/migrate.c in userspace), for tests;
 *   vbd_blkback.c  the patched xen-blkback (xenstore key + control device).
 * The engine runs the same code path against either.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure, with the reason left in the handle's err.
 */
#ifndef XLMIG_VBD_H
#define XLMIG_VBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitmap.h"
#include "err.h"
#include "xlmig.h"

struct xlmig_vbd;

/* Largest claim, in blocks, and the mask words it needs. */
#define XLMIG_CLAIM_MAX 4096
#define XLMIG_CLAIM_WORDS (XLMIG_CLAIM_MAX / (8 * sizeof(unsigned long)))

struct xlmig_vbd_stats {
    uint32_t block_size;
    uint64_t nr_blocks;
    bool tracking;
    bool overflow;              /* the device grew while tracked */
    uint64_t dirty;
    uint64_t marked;
    bool gate;
    uint64_t stale;
    uint64_t claimed;
    uint64_t wanted;
    uint64_t parked;
    uint64_t installed;
    uint64_t overwritten;
};

/* From xen-blkback's STATS (which the simulator answers too). */
struct blkback_mig_stats;
void xlmig_vbd_stats_from_mig(struct xlmig_vbd_stats *st,
                              const struct blkback_mig_stats *k);

struct xlmig_vbd_ops {
    const char *name;

    /* Source. */
    int (*track_start)(struct xlmig_vbd *v, uint32_t block_size);
    int (*track_stop)(struct xlmig_vbd *v);
    /*
     * Atomically takes and clears the dirty set, ORing it into out (one bit
     * per block); *count gets the number of blocks taken.
     */
    int (*snapshot)(struct xlmig_vbd *v, struct xlmig_bitmap *out,
                    uint64_t *count);
    /* Stop taking guest requests and wait until none is in flight. */
    int (*quiesce)(struct xlmig_vbd *v, int timeout_ms);
    int (*unquiesce)(struct xlmig_vbd *v);

    /* Destination. */
    int (*gate_start)(struct xlmig_vbd *v, uint32_t block_size);
    int (*gate_add_stale)(struct xlmig_vbd *v, const struct xlmig_extent *e,
                          size_t n);
    /* Readable (poll) while demanded blocks wait to be popped. */
    int (*wanted_fd)(struct xlmig_vbd *v);
    int (*wanted_pop)(struct xlmig_vbd *v, struct xlmig_extent *out,
                      size_t max);
    /*
     * Install protocol: claim the range (mask gets a bit per block still
     * needing the data, at most 4096 blocks), write the claimed blocks to
     * the device, then commit (or unclaim if the write failed).
     */
    int (*claim)(struct xlmig_vbd *v, uint64_t start, uint32_t count,
                 unsigned long *mask);
    int (*commit)(struct xlmig_vbd *v, uint64_t start, uint32_t count);
    int (*unclaim)(struct xlmig_vbd *v, uint64_t start, uint32_t count);
    /* Turn the gate off; parked requests are failed if blocks are stale. */
    int (*gate_stop)(struct xlmig_vbd *v);

    int (*stats)(struct xlmig_vbd *v, struct xlmig_vbd_stats *st);
    void (*close)(struct xlmig_vbd *v);
};

struct xlmig_vbd {
    const struct xlmig_vbd_ops *ops;
    uint64_t size;              /* bytes */
    char *data_path;            /* where the engine reads or installs data */
    void *priv;                 /* backend state */
    struct xlmig_error err;     /* the last failure */
};

/* Backends: xlmig_vbd_sim_open(), xlmig_vbd_blkback_open(),
 * xlmig_vbd_image_open() (xlmig.h). */

#endif
