/* Internals of the simulated guest, shared by its implementation files. */
#ifndef XLMIG_SIM_GUEST_INT_H
#define XLMIG_SIM_GUEST_INT_H

#include <pthread.h>

#include "sim/sim_guest.h"
#include "sim/sim_latency.h"
#include "sim/sim_map.h"
#include "sim/sim_rng.h"
#include "err.h"

/* Per-block flags, kept with the generation in the model. */
#define BLK_BUSY 1u         /* a request is in flight on the block */
#define BLK_UNKNOWN 2u      /* a write failed: content unknown until the
                               next successful write */

/* Everything that travels in the state blob. */
struct sim_guest_persist {
    struct sim_workload_cfg cfg;
    struct sim_rng rng;
    uint64_t wcursor, rcursor;  /* sequential workload: next unit */
    uint64_t writes, reads, write_bytes, read_bytes;
    uint64_t reads_verified, verify_failures, io_errors;
    uint64_t last_write_us;     /* CLOCK_REALTIME of the last write done */
    uint64_t max_gap_us, max_gap_end_us;
};

struct sim_guest {
    struct sim_backend *backend;
    bool test_hooks;

    pthread_mutex_t life;       /* serialises life-cycle operations */

    pthread_mutex_t lock;       /* everything below */
    pthread_cond_t cond;        /* a request completed / stop requested */
    enum xlmig_sim_guest_state state;
    struct sim_layout layout;   /* kind == NULL while EMPTY */
    struct sim_guest_persist p;
    /*
     * The model: per block, its latest acknowledged generation and BLK_*
     * flags; only blocks with either non-zero have an entry (sparse: a
     * 1 TiB disk costs what its guest wrote, not 1.25 GiB).
     */
    struct sim_map model;
    struct xlmig_bitmap *written;   /* test hook: acked since last fetch */

    /* The workload in this daemon. */
    pthread_t thread;
    bool thread_live;
    bool stop;
    bool halted;                /* for good: nothing may start it again */
    uint64_t outstanding;
    uint64_t units;             /* io-size units on the disk */
    uint64_t hot_start, hot_units;
    uint64_t interval_ns;       /* between requests; 0: unpaced */
    uint64_t run_ns, run_start_ns;
    uint64_t local_write_bytes;
    struct sim_latency wlat, rlat;
    uint64_t failures_logged;
    char first_failure[256];
};

static inline uint64_t sim_model_pack(uint32_t gen, uint8_t flags)
{
    return gen | (uint64_t)flags << 32;
}

static inline uint32_t sim_model_gen(const struct sim_map *m, uint64_t b)
{
    uint64_t v = 0;

    sim_map_get(m, b, &v);
    return (uint32_t)v;
}

static inline uint8_t sim_model_flags(const struct sim_map *m, uint64_t b)
{
    uint64_t v = 0;

    sim_map_get(m, b, &v);
    return (uint8_t)(v >> 32);
}

/*
 * Sets a block's generation and flags (all zero: the entry goes).  Only
 * a block without an entry can need memory: 0 or -ENOMEM.
 */
static inline int sim_model_set(struct sim_map *m, uint64_t b, uint32_t gen,
                                uint8_t flags)
{
    if (!gen && !flags) {
        sim_map_del(m, b);
        return 0;
    }
    return sim_map_put(m, b, sim_model_pack(gen, flags));
}

/* Derived workload parameters (units, hot area, pacing); lock held. */
void sim_guest_derive(struct sim_guest *g);

/* The state blob (sim_guest_state.c); lock held, workload stopped. */
int sim_guest_state_encode(struct sim_guest *g, void **blob, size_t *len,
                           struct xlmig_error *err);
/* Validates blob and fills the out-parameters (allocated here). */
int sim_guest_state_decode(const void *blob, size_t len, uint64_t image_size,
                           struct sim_layout *layout,
                           struct sim_guest_persist *p, struct sim_map *model,
                           struct xlmig_error *err);

/*
 * Compares the whole image with the model (sim_verify.c); workload
 * stopped.  Fills the verification fields of r.  Reads only the layout's
 * data, the blocks the model knows and what the file holds as data: the
 * rest is holes, which read as the zeros the model expects there.
 */
int sim_guest_verify_image(struct sim_guest *g, struct xlmig_sim_report *r,
                           struct xlmig_error *err);

/*
 * Rebuilds the model (empty on entry) from an image the guest wrote in an
 * earlier run: each block must be its initial content or a consistent
 * tagged block of this disk (else -EINVAL naming the first bad block).
 * *written counts the blocks found at a generation above 0.
 */
int sim_image_adopt(const struct sim_layout *l, int fd, struct sim_map *model,
                    uint64_t *written, struct xlmig_error *err);

#endif
