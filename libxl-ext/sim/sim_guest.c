/*
 * The simulated guest: workload, completion checking, life cycle.
 *
 * Invariant that makes checking exact: at most one request is in flight on
 * a 4 KiB block (BLK_BUSY), so when a read is issued the block's newest
 * acknowledged generation is fixed until the read completes, and the read
 * must return exactly that generation's content.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_guest_int.h"
#include "sim/sim_util.h"

/*
 * After a stall (scheduling delay, quiesce, downtime) the workload catches
 * up on at most this much of its schedule: a loaded host keeps the rate,
 * a long pause does not turn into a burst.
 */
#define MAX_LAG_NS (100ULL * 1000000)
#define PICK_TRIES 8
#define MAX_LOGGED_FAILURES 20

struct greq {
    struct sim_io io;           /* first: the backend hands it back */
    struct sim_guest *g;
    uint64_t first;             /* first 4 KiB block */
    uint32_t nb;                /* blocks */
    uint64_t t_submit_ns;
    uint32_t gen[];             /* read: expected; write: new generation */
};

static const char *const kind_names[] = { "random", "seq", "hotspot" };

const char *sim_workload_name(uint32_t kind)
{
    return kind < 3 ? kind_names[kind] : "?";
}

bool sim_workload_parse(const char *name, uint32_t *kind)
{
    for (uint32_t k = 0; k < 3; k++)
        if (!strcmp(name, kind_names[k])) {
            *kind = k;
            return true;
        }
    return false;
}

void sim_workload_defaults(struct sim_workload_cfg *c)
{
    *c = (struct sim_workload_cfg){
        .kind = SIM_WL_RANDOM, .read_pct = 30, .qd = 4,
        .io_size = SIM_BLOCK_SIZE, .hot_pct = 90, .hot_area_pct = 10,
        .write_rate = 5ULL << 20, .seed = 1,
    };
}

int sim_workload_check(const struct sim_workload_cfg *c,
                       const struct sim_layout *l, struct xlmig_error *err)
{
    if (c->kind > SIM_WL_HOTSPOT)
        return xlmig_fail(err, EINVAL, "unknown workload %" PRIu32,
                       c->kind);
    if (c->read_pct > 95)
        return xlmig_fail(err, EINVAL, "read share %" PRIu32 "%% is "
                       "above 95%%", c->read_pct);
    if (!c->qd || c->qd > 256)
        return xlmig_fail(err, EINVAL, "queue depth %" PRIu32
                       " is not in 1..256", c->qd);
    if (!c->io_size || c->io_size % SIM_BLOCK_SIZE || c->io_size > (1u << 20))
        return xlmig_fail(err, EINVAL, "I/O size %" PRIu32 " is not a "
                       "multiple of 4 KiB up to 1 MiB", c->io_size);
    if (!c->hot_pct || c->hot_pct > 100 || !c->hot_area_pct ||
        c->hot_area_pct > 100)
        return xlmig_fail(err, EINVAL, "hot-spot shares must be 1..100");
    if (l && l->nblocks / (c->io_size / SIM_BLOCK_SIZE) < 2)
        return xlmig_fail(err, EINVAL, "the image is too small for %"
                       PRIu32 "-byte requests", c->io_size);
    return 0;
}

void sim_guest_derive(struct sim_guest *g)
{
    const struct sim_workload_cfg *c = &g->p.cfg;
    uint64_t nb = c->io_size / SIM_BLOCK_SIZE, x = c->seed;

    /* Unit 0 holds the superblock: the guest never touches it. */
    g->units = g->layout.nblocks / nb;
    g->hot_units = (g->units - 1) * c->hot_area_pct / 100;
    if (!g->hot_units)
        g->hot_units = 1;
    g->hot_start = 1 + sim_splitmix64(&x) % (g->units - g->hot_units);
    g->interval_ns = 0;
    if (c->write_rate)
        /* Writes are (100 - read_pct)% of the requests. */
        g->interval_ns = (uint64_t)((double)c->io_size * 1e9 *
                                    (double)(100 - c->read_pct) /
                                    (100.0 * (double)c->write_rate));
}

int sim_guest_new(struct sim_guest **out, struct sim_backend *b,
                  bool test_hooks)
{
    struct sim_guest *g = calloc(1, sizeof(*g));
    pthread_condattr_t ca;

    *out = NULL;
    if (!g)
        return -ENOMEM;
    g->backend = b;
    g->test_hooks = test_hooks;
    g->state = XLMIG_SIM_GUEST_EMPTY;
    pthread_mutex_init(&g->life, NULL);
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = g;
    return 0;
}

/* Replaces the model (taking over *model); lock held, workload stopped. */
static void install_model(struct sim_guest *g, struct sim_layout *l,
                          struct sim_map *model)
{
    sim_layout_free(&g->layout);
    sim_map_free(&g->model);
    g->layout = *l;
    g->model = *model;
    xlmig_bitmap_free(g->written);
    /* Test hook: record acknowledged writes from the start. */
    g->written = g->test_hooks ? xlmig_bitmap_new(l->nblocks) : NULL;
}

static int check_image(struct sim_guest *g, const struct sim_layout *l,
                       struct xlmig_error *err)
{
    uint64_t size = sim_backend_size(g->backend);

    if (l->p.size != size)
        return xlmig_fail(err, EINVAL, "the guest's disk is %" PRIu64
                       " bytes but the image is %" PRIu64, l->p.size, size);
    return 0;
}

int sim_guest_init(struct sim_guest *g, const struct sim_layout_params *lp,
                   const struct sim_workload_cfg *cfg, bool scan, struct xlmig_error *err)
{
    struct sim_layout l;
    struct sim_map model;
    uint64_t written;
    int rc;

    sim_map_init(&model);
    rc = sim_layout_init(&l, lp, err);
    if (rc)
        return rc;
    rc = check_image(g, &l, err);
    if (!rc)
        rc = sim_workload_check(cfg, &l, err);
    if (rc) {
        sim_layout_free(&l);
        return rc;
    }
    if (scan) {
        rc = sim_image_adopt(&l, sim_backend_fd(g->backend), &model,
                             &written, err);
        if (rc) {
            sim_map_free(&model);
            sim_layout_free(&l);
            return rc;
        }
        if (written)
            sim_log("guest: %" PRIu64 " blocks of the image were written by "
                    "an earlier run; carrying on from there", written);
    }
    pthread_mutex_lock(&g->life);
    pthread_mutex_lock(&g->lock);
    if (g->state != XLMIG_SIM_GUEST_EMPTY) {
        pthread_mutex_unlock(&g->lock);
        pthread_mutex_unlock(&g->life);
        sim_map_free(&model);
        sim_layout_free(&l);
        return xlmig_fail(err, EBUSY, "the guest already exists");
    }
    install_model(g, &l, &model);
    memset(&g->p, 0, sizeof(g->p));
    g->p.cfg = *cfg;
    sim_rng_seed(&g->p.rng, cfg->seed);
    g->p.wcursor = g->p.rcursor = 1;
    sim_guest_derive(g);
    g->state = XLMIG_SIM_GUEST_PAUSED;
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_unlock(&g->life);
    return 0;
}

/* ---- the workload ------------------------------------------------------ */

static uint64_t pick_unit(struct sim_guest *g, bool is_read)
{
    struct sim_rng *r = &g->p.rng;
    uint64_t *cursor;

    switch (g->p.cfg.kind) {
    case SIM_WL_SEQ:
        cursor = is_read ? &g->p.rcursor : &g->p.wcursor;
        if (*cursor < 1 || *cursor >= g->units)
            *cursor = 1;
        return (*cursor)++;
    case SIM_WL_HOTSPOT:
        if (sim_rng_below(r, 100) < g->p.cfg.hot_pct)
            return g->hot_start + sim_rng_below(r, g->hot_units);
        /* fall through */
    default:
        return 1 + sim_rng_below(r, g->units - 1);
    }
}

static bool range_free(const struct sim_guest *g, uint64_t first, uint32_t nb)
{
    for (uint32_t i = 0; i < nb; i++)
        if (sim_model_flags(&g->model, first + i) & BLK_BUSY)
            return false;
    return true;
}

static void io_done(struct sim_io *io);

/* Chooses the next request and reserves its blocks; lock held. */
static struct greq *make_request(struct sim_guest *g)
{
    uint32_t nb = g->p.cfg.io_size / SIM_BLOCK_SIZE;
    bool is_read = g->p.cfg.read_pct &&
                   sim_rng_below(&g->p.rng, 100) < g->p.cfg.read_pct;
    uint64_t first = 0;
    struct greq *r;
    int t;

    for (t = 0; t < PICK_TRIES; t++) {
        first = pick_unit(g, is_read) * nb;
        if (range_free(g, first, nb))
            break;
    }
    /* Room for the blocks' BUSY entries: the puts below cannot fail. */
    if (t == PICK_TRIES || sim_map_reserve(&g->model, nb) < 0)
        return NULL;
    r = calloc(1, sizeof(*r) + nb * sizeof(r->gen[0]));
    if (!r)
        return NULL;
    r->io.buf = malloc(g->p.cfg.io_size);
    if (!r->io.buf) {
        free(r);
        return NULL;
    }
    r->g = g;
    r->first = first;
    r->nb = nb;
    r->io.write = !is_read;
    r->io.offset = first << SIM_BLOCK_SHIFT;
    r->io.len = g->p.cfg.io_size;
    r->io.done = io_done;
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t gen = sim_model_gen(&g->model, first + i);
        uint8_t flags = sim_model_flags(&g->model, first + i);

        sim_model_set(&g->model, first + i, gen, flags | BLK_BUSY);
        /*
         * A write gets a generation newer than any ever attempted; a read
         * of a block whose content is unknown (a write to it failed) is
         * not checked.
         */
        if (!is_read)
            r->gen[i] = gen + 1;
        else if (flags & BLK_UNKNOWN)
            r->gen[i] = UINT32_MAX;
        else
            r->gen[i] = gen;
    }
    return r;
}

static void *workload_main(void *arg)
{
    struct sim_guest *g = arg;
    uint64_t next_due = sim_now_ns();

    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        uint64_t now = sim_now_ns();
        struct timespec ts;
        struct greq *r;

        if (g->outstanding >= g->p.cfg.qd) {
            pthread_cond_wait(&g->cond, &g->lock);
            continue;
        }
        if (g->interval_ns && now < next_due) {
            ts = sim_ns_to_timespec(next_due);
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
            continue;
        }
        r = make_request(g);
        if (!r) {
            /* Every pick was busy (or no memory): wait for a completion. */
            ts = sim_ns_to_timespec(now + 1000000);
            pthread_cond_timedwait(&g->cond, &g->lock, &ts);
            continue;
        }
        if (g->interval_ns) {
            next_due += g->interval_ns;
            if (next_due + MAX_LAG_NS < now)
                next_due = now - MAX_LAG_NS;
        }
        g->outstanding++;
        pthread_mutex_unlock(&g->lock);

        if (r->io.write)
            for (uint32_t i = 0; i < r->nb; i++)
                sim_layout_expected(&g->layout, r->first + i, r->gen[i],
                                    (char *)r->io.buf +
                                        ((size_t)i << SIM_BLOCK_SHIFT));
        r->t_submit_ns = sim_now_ns();
        sim_backend_submit(g->backend, &r->io);
        pthread_mutex_lock(&g->lock);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

/* Checks the blocks of a completed read; returns failures, counts checks. */
static uint64_t check_read(struct sim_guest *g, struct greq *r,
                           uint64_t *verified, char *first, size_t firstlen)
{
    unsigned char want[SIM_BLOCK_SIZE];
    uint64_t fails = 0;

    for (uint32_t i = 0; i < r->nb; i++) {
        const unsigned char *got = (const unsigned char *)r->io.buf +
                                   ((size_t)i << SIM_BLOCK_SHIFT);
        uint64_t b = r->first + i;

        if (r->gen[i] == UINT32_MAX)
            continue;       /* marked unknown when issued */
        sim_layout_expected(&g->layout, b, r->gen[i], want);
        (*verified)++;
        if (!memcmp(got, want, SIM_BLOCK_SIZE))
            continue;
        if (!fails++ && first)
            sim_pattern_explain(got, want, g->layout.p.seed, b, r->gen[i],
                                first, firstlen);
    }
    return fails;
}

static bool withdrawn(const struct sim_io *io)
{
    return io->result == -ECANCELED || io->result == -ESHUTDOWN;
}

static void io_done(struct sim_io *io)
{
    struct greq *r = (struct greq *)io;
    struct sim_guest *g = r->g;
    uint64_t lat_us = (sim_now_ns() - r->t_submit_ns) / 1000;
    uint64_t verified = 0, fails = 0, now_us;
    char why[256] = "";

    if (!io->write && !io->result)
        fails = check_read(g, r, &verified, why, sizeof(why));
    pthread_mutex_lock(&g->lock);
    if (withdrawn(io)) {
        /* Never executed: withdrawn from a quiesced or closing backend. */
    } else if (io->write) {
        /* Each block has its BUSY entry: these updates cannot fail. */
        for (uint32_t i = 0; i < r->nb; i++) {
            uint64_t b = r->first + i;
            uint8_t flags = sim_model_flags(&g->model, b);

            if (io->result)
                flags |= BLK_UNKNOWN;
            else
                flags &= (uint8_t)~BLK_UNKNOWN;
            sim_model_set(&g->model, b, r->gen[i], flags);
        }
        sim_latency_add(&g->wlat, lat_us);
        if (io->result) {
            g->p.io_errors++;
        } else {
            g->p.writes++;
            g->p.write_bytes += io->len;
            g->local_write_bytes += io->len;
            now_us = sim_realtime_us();
            if (g->p.last_write_us && now_us > g->p.last_write_us &&
                now_us - g->p.last_write_us > g->p.max_gap_us) {
                g->p.max_gap_us = now_us - g->p.last_write_us;
                g->p.max_gap_end_us = now_us;
            }
            if (now_us > g->p.last_write_us)
                g->p.last_write_us = now_us;
            if (g->written)
                xlmig_bitmap_set_range(g->written, r->first, r->nb);
        }
    } else {
        sim_latency_add(&g->rlat, lat_us);
        if (io->result) {
            g->p.io_errors++;
        } else {
            g->p.reads++;
            g->p.read_bytes += io->len;
            g->p.reads_verified += verified;
            g->p.verify_failures += fails;
        }
    }
    if (io->result && !withdrawn(io)) {
        /* This failure; the report keeps the first one. */
        char now[sizeof(g->first_failure)];

        snprintf(now, sizeof(now), "%s of blocks %" PRIu64 "+%" PRIu32
                 " failed: %s", io->write ? "write" : "read", r->first,
                 r->nb, strerror(-io->result));
        if (!g->first_failure[0])
            snprintf(g->first_failure, sizeof(g->first_failure), "%s",
                     now);
        if (g->failures_logged++ < MAX_LOGGED_FAILURES)
            sim_log("guest: %s", now);
    } else if (fails) {
        if (!g->first_failure[0])
            snprintf(g->first_failure, sizeof(g->first_failure),
                     "read: %s", why);
        if (g->failures_logged++ < MAX_LOGGED_FAILURES)
            sim_log("guest: %s", why);
    }
    for (uint32_t i = 0; i < r->nb; i++) {
        uint64_t b = r->first + i;

        sim_model_set(&g->model, b, sim_model_gen(&g->model, b),
                      sim_model_flags(&g->model, b) & (uint8_t)~BLK_BUSY);
    }
    g->outstanding--;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    free(io->buf);
    free(r);
}

/* ---- life cycle -------------------------------------------------------- */

/* life held, lock not held. */
static int start_workload(struct sim_guest *g)
{
    int rc;

    pthread_mutex_lock(&g->lock);
    if (g->halted) {
        pthread_mutex_unlock(&g->lock);
        return -ESHUTDOWN;
    }
    g->stop = false;
    g->run_start_ns = sim_now_ns();
    g->state = XLMIG_SIM_GUEST_RUNNING;
    pthread_mutex_unlock(&g->lock);
    rc = pthread_create(&g->thread, NULL, workload_main, g);
    pthread_mutex_lock(&g->lock);
    if (rc) {
        g->state = XLMIG_SIM_GUEST_PAUSED;
        g->run_ns += sim_now_ns() - g->run_start_ns;
    }
    g->thread_live = !rc;
    pthread_mutex_unlock(&g->lock);
    return -rc;
}

/*
 * Stops issuing, withdraws requests a quiesce holds back, waits for the
 * rest.  On timeout the workload runs on and -ETIMEDOUT is returned.
 * life held, lock not held; on success the state is `next`.
 */
static int stop_workload(struct sim_guest *g, unsigned timeout_ms,
                         enum xlmig_sim_guest_state next)
{
    struct timespec deadline = sim_deadline_ms((long)timeout_ms);
    int rc = 0;

    pthread_mutex_lock(&g->lock);
    if (!g->thread_live) {
        g->state = next;
        pthread_mutex_unlock(&g->lock);
        return 0;
    }
    g->stop = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    sim_backend_cancel_held(g->backend);
    pthread_mutex_lock(&g->lock);
    g->thread_live = false;
    while (g->outstanding && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cond, &g->lock, &deadline);
    if (g->outstanding) {
        g->run_ns += sim_now_ns() - g->run_start_ns;
        pthread_mutex_unlock(&g->lock);
        start_workload(g);
        return -ETIMEDOUT;
    }
    g->run_ns += sim_now_ns() - g->run_start_ns;
    g->state = next;
    pthread_mutex_unlock(&g->lock);
    return 0;
}

int sim_guest_suspend(struct sim_guest *g, unsigned timeout_ms, void **blob,
                      size_t *len, struct xlmig_error *err)
{
    int rc;

    pthread_mutex_lock(&g->life);
    if (g->state != XLMIG_SIM_GUEST_RUNNING &&
        g->state != XLMIG_SIM_GUEST_SUSPENDED) {
        pthread_mutex_unlock(&g->life);
        return xlmig_fail(err, EINVAL, "cannot suspend a guest that is "
                       "not running");
    }
    rc = stop_workload(g, timeout_ms, XLMIG_SIM_GUEST_SUSPENDED);
    if (rc) {
        pthread_mutex_unlock(&g->life);
        return xlmig_fail(err, -rc, "the guest's requests did not "
                       "drain within %u ms; it runs on", timeout_ms);
    }
    pthread_mutex_lock(&g->lock);
    rc = sim_guest_state_encode(g, blob, len, err);
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_unlock(&g->life);
    return rc;
}

int sim_guest_resume(struct sim_guest *g, struct xlmig_error *err)
{
    int rc;

    pthread_mutex_lock(&g->life);
    if (g->state != XLMIG_SIM_GUEST_SUSPENDED &&
        g->state != XLMIG_SIM_GUEST_STOPPED)
        rc = xlmig_fail(err, EINVAL, "only a suspended or stopped guest "
                     "can be resumed");
    else if ((rc = start_workload(g)))
        xlmig_fail(err, -rc, "cannot start the workload");
    pthread_mutex_unlock(&g->life);
    return rc;
}

int sim_guest_unpause(struct sim_guest *g, struct xlmig_error *err)
{
    int rc;

    pthread_mutex_lock(&g->life);
    if (g->state != XLMIG_SIM_GUEST_PAUSED)
        rc = xlmig_fail(err, EINVAL, "only a paused guest can be "
                     "unpaused (load a state first)");
    else if ((rc = start_workload(g)))
        xlmig_fail(err, -rc, "cannot start the workload");
    pthread_mutex_unlock(&g->life);
    return rc;
}

int sim_guest_load(struct sim_guest *g, const void *blob, size_t len,
                   struct xlmig_error *err)
{
    struct sim_guest_persist p;
    struct sim_layout l;
    struct sim_map model;
    int rc;

    pthread_mutex_lock(&g->life);
    if (g->state != XLMIG_SIM_GUEST_EMPTY &&
        g->state != XLMIG_SIM_GUEST_PAUSED) {
        pthread_mutex_unlock(&g->life);
        return xlmig_fail(err, EBUSY, "a state can only be loaded into "
                       "an empty or paused guest");
    }
    rc = sim_guest_state_decode(blob, len, sim_backend_size(g->backend), &l,
                                &p, &model, err);
    if (rc) {
        pthread_mutex_unlock(&g->life);
        return rc;
    }
    pthread_mutex_lock(&g->lock);
    install_model(g, &l, &model);
    g->p = p;
    sim_guest_derive(g);
    g->state = XLMIG_SIM_GUEST_PAUSED;
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_unlock(&g->life);
    return 0;
}

void sim_guest_report(struct sim_guest *g, struct xlmig_sim_report *r)
{
    uint64_t run_ns;

    memset(r, 0, sizeof(*r));
    pthread_mutex_lock(&g->lock);
    r->state = g->state;
    r->writes = g->p.writes;
    r->reads = g->p.reads;
    r->write_bytes = g->p.write_bytes;
    r->read_bytes = g->p.read_bytes;
    r->reads_verified = g->p.reads_verified;
    r->verify_failures = g->p.verify_failures;
    r->io_errors = g->p.io_errors;
    run_ns = g->run_ns + (g->thread_live ? sim_now_ns() - g->run_start_ns
                                         : 0);
    r->run_us = run_ns / 1000;
    if (run_ns)
        r->write_rate = (uint64_t)((double)g->local_write_bytes * 1e9 /
                                   (double)run_ns);
    r->write_p50_us = sim_latency_quantile(&g->wlat, 0.50);
    r->write_p99_us = sim_latency_quantile(&g->wlat, 0.99);
    r->write_max_us = g->wlat.max;
    r->read_p50_us = sim_latency_quantile(&g->rlat, 0.50);
    r->read_p99_us = sim_latency_quantile(&g->rlat, 0.99);
    r->read_max_us = g->rlat.max;
    r->max_gap_us = g->p.max_gap_us;
    r->max_gap_end_us = g->p.max_gap_end_us;
    snprintf(r->detail, sizeof(r->detail), "%s", g->first_failure);
    pthread_mutex_unlock(&g->lock);
}

int sim_guest_stop_and_verify(struct sim_guest *g, struct xlmig_sim_report *r,
                              struct xlmig_error *err)
{
    struct sim_stats st;
    int rc;

    pthread_mutex_lock(&g->life);
    if (g->state == XLMIG_SIM_GUEST_EMPTY) {
        pthread_mutex_unlock(&g->life);
        return xlmig_fail(err, EINVAL, "no guest state to verify "
                       "against (load one first)");
    }
    /* Refuse before stopping anything: the guest runs on untouched. */
    sim_backend_stats(g->backend, &st);
    if ((st.mig.flags & BLKBACK_MIG_F_GATE) && st.mig.stale) {
        pthread_mutex_unlock(&g->life);
        return xlmig_fail(err, EBUSY, "%" PRIu64 " blocks are still "
                       "stale in the gate: finish the pull first",
                       (uint64_t)st.mig.stale);
    }
    rc = stop_workload(g, 30000, g->state == XLMIG_SIM_GUEST_RUNNING
                                     ? XLMIG_SIM_GUEST_STOPPED : g->state);
    if (rc) {
        pthread_mutex_unlock(&g->life);
        return xlmig_fail(err, -rc, "the guest's requests did not "
                       "drain within 30 s (reads parked in the gate?)");
    }
    sim_backend_stats(g->backend, &st);
    if ((st.mig.flags & BLKBACK_MIG_F_GATE) && st.mig.stale) {
        /* stale blocks added meanwhile */
        pthread_mutex_unlock(&g->life);
        return xlmig_fail(err, EBUSY, "%" PRIu64 " blocks are still "
                       "stale in the gate: finish the pull first (the "
                       "guest is stopped)", (uint64_t)st.mig.stale);
    }
    sim_guest_report(g, r);
    rc = sim_guest_verify_image(g, r, err);
    pthread_mutex_unlock(&g->life);
    return rc;
}

int sim_guest_test_written(struct sim_guest *g,
                           int (*emit)(void *ctx, const struct xlmig_extent *e,
                                       size_t n),
                           void *ctx, size_t max, struct xlmig_error *err)
{
    struct xlmig_extent *e = NULL;
    size_t n = 0, cap = 0;
    uint64_t pos = 0;
    struct xlmig_extent x;
    int rc = 0;

    if (!g->test_hooks)
        return xlmig_fail(err, EPERM, "test hooks are off (serve "
                       "--test-hooks)");
    pthread_mutex_lock(&g->lock);
    if (!g->layout.kind) {
        pthread_mutex_unlock(&g->lock);
        return xlmig_fail(err, EINVAL, "no guest");
    }
    if (!g->written) {
        pthread_mutex_unlock(&g->lock);
        return xlmig_fail(err, ENOMEM, "out of memory");
    }
    while (xlmig_bitmap_next_extent(g->written, &pos, UINT64_MAX, &x)) {
        if (n == cap) {
            struct xlmig_extent *grown;

            cap = cap ? cap * 2 : 256;
            grown = realloc(e, cap * sizeof(*e));
            if (!grown) {
                rc = xlmig_fail(err, ENOMEM, "out of memory");
                break;
            }
            e = grown;
        }
        e[n++] = x;
    }
    if (!rc)
        xlmig_bitmap_clear_all(g->written);
    pthread_mutex_unlock(&g->lock);
    for (size_t i = 0; i < n && !rc; i += max)
        rc = emit(ctx, e + i, n - i < max ? n - i : max);
    free(e);
    return rc;
}

void sim_guest_halt(struct sim_guest *g)
{
    pthread_mutex_lock(&g->lock);
    g->halted = true;
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_lock(&g->life);
    /* Keep the state: a report after halt still says what it was. */
    stop_workload(g, 10000, g->state);
    pthread_mutex_unlock(&g->life);
}

void sim_guest_free(struct sim_guest *g)
{
    if (!g)
        return;
    sim_layout_free(&g->layout);
    sim_map_free(&g->model);
    xlmig_bitmap_free(g->written);
    pthread_mutex_destroy(&g->life);
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
    free(g);
}
