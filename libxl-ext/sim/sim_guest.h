/*
 * The simulated guest: a workload of tagged writes and verified reads
 * through the simulated backend, a model of every acknowledged write, and
 * the guest's life cycle (the analog of libxl's suspend / resume / restore
 * / unpause).  Its whole state travels in an opaque blob.
 */
#ifndef XLMIG_SIM_GUEST_H
#define XLMIG_SIM_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitmap.h"
#include "sim/sim_backend.h"
#include "sim/sim_client.h"
#include "sim/sim_layout.h"
#include "err.h"

enum sim_workload_kind {
    SIM_WL_RANDOM = 0,      /* uniform over the disk */
    SIM_WL_SEQ = 1,         /* reads and writes each walk the disk in order */
    SIM_WL_HOTSPOT = 2,     /* hot_pct% of requests to hot_area_pct% of it */
};

struct sim_workload_cfg {
    uint32_t kind;          /* enum sim_workload_kind */
    uint32_t read_pct;      /* share of requests that are reads, 0..95 */
    uint32_t qd;            /* requests in flight at most, 1..256 */
    uint32_t io_size;       /* bytes per request, 4 KiB multiple, <= 1 MiB */
    uint32_t hot_pct;       /* hotspot: 1..100 */
    uint32_t hot_area_pct;  /* hotspot: 1..100 */
    uint64_t write_rate;    /* bytes/s of writes; 0: as fast as possible */
    uint64_t seed;          /* workload random stream */
};

/* Defaults: random 4 KiB, 5 MB/s of writes, 30% reads, QD 4, 90/10. */
void sim_workload_defaults(struct sim_workload_cfg *c);
/* 0, or -EINVAL with a message. */
int sim_workload_check(const struct sim_workload_cfg *c,
                       const struct sim_layout *l, struct xlmig_error *err);
const char *sim_workload_name(uint32_t kind);
bool sim_workload_parse(const char *name, uint32_t *kind);

struct sim_guest;

int sim_guest_new(struct sim_guest **out, struct sim_backend *b,
                  bool test_hooks);
/*
 * Stops the workload (if running) for good.  Call after
 * sim_backend_shutdown() (so nothing stays parked), and sim_guest_free()
 * after sim_backend_close().
 */
void sim_guest_halt(struct sim_guest *g);
void sim_guest_free(struct sim_guest *g);

/*
 * Source: a new guest on the image.  With scan, the model is rebuilt from
 * the image (which an earlier run may have written; damaged blocks are
 * refused); without, every block is taken to be at generation 0, as
 * mkimage leaves it.
 */
int sim_guest_init(struct sim_guest *g, const struct sim_layout_params *lp,
                   const struct sim_workload_cfg *cfg, bool scan, struct xlmig_error *err);

int sim_guest_suspend(struct sim_guest *g, unsigned timeout_ms, void **blob,
                      size_t *len, struct xlmig_error *err);
int sim_guest_resume(struct sim_guest *g, struct xlmig_error *err);
int sim_guest_load(struct sim_guest *g, const void *blob, size_t len,
                   struct xlmig_error *err);
int sim_guest_unpause(struct sim_guest *g, struct xlmig_error *err);
void sim_guest_report(struct sim_guest *g, struct xlmig_sim_report *r);
int sim_guest_stop_and_verify(struct sim_guest *g, struct xlmig_sim_report *r,
                              struct xlmig_error *err);
/*
 * Test hook: hands the 4 KiB blocks of writes acknowledged since the
 * previous call to emit (in batches) and forgets them.
 */
int sim_guest_test_written(struct sim_guest *g,
                           int (*emit)(void *ctx, const struct xlmig_extent *e,
                                       size_t n),
                           void *ctx, size_t max, struct xlmig_error *err);

#endif
