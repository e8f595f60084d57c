/*
 * The peer's guest: tagged 4 KiB writes at random blocks of an NBD export
 * (libnbd), paced to a rate with at most qd in flight and never two on one
 * block, like xlmig's simulated guest with --read-pct 0.  It keeps a model
 * (the newest acknowledged generation of every block) and each write's
 * latency as the guest sees it (submit to NBD reply).
 */
#ifndef PEER_GUEST_H
#define PEER_GUEST_H

#include <stddef.h>
#include <stdint.h>

struct guest_cfg {
    const char *socket;     /* NBD server's unix socket */
    const char *export;     /* export name */
    uint64_t rate;          /* bytes/s of writes; 0: none (idle) */
    uint32_t qd;            /* writes in flight at most, 1..64 */
    uint64_t seed;          /* names this run's data; also the workload's */
};

struct guest_stats {
    uint64_t writes;        /* submitted in the window */
    double mib_s;           /* their bytes over the window */
    uint64_t p50_us, p99_us, max_us;
};

struct guest;

/* Connects and sizes the model.  NULL with err set. */
struct guest *guest_open(const struct guest_cfg *cfg, char *err,
                         size_t errlen);
/* Starts writing (nothing happens with rate 0).  0 or -1 with err. */
int guest_start(struct guest *g, char *err, size_t errlen);
/*
 * Stops issuing writes (the "pause"), then waits up to timeout_ms for the
 * writes in flight.  *t_stop_ns: when the guest stopped issuing.
 * 0, or -1 with err set (a write failed, or did not complete in time).
 */
int guest_stop(struct guest *g, unsigned timeout_ms, uint64_t *t_stop_ns,
               char *err, size_t errlen);
/* Writes submitted in [from_ns, to_ns) (CLOCK_MONOTONIC). */
void guest_stats(const struct guest *g, uint64_t from_ns, uint64_t to_ns,
                 struct guest_stats *st);
/* Model file: header and one 32-bit generation per block. */
int guest_save_model(const struct guest *g, const char *path, char *err,
                     size_t errlen);
void guest_close(struct guest *g);

#define PEER_MODEL_MAGIC "XMPMODL1"
struct peer_model_header {
    char magic[8];
    uint64_t seed;
    uint64_t nblocks;
};

#endif
