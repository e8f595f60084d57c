/*
 * The simulated xen-blkback; see sim_backend.h.  The only file of the
 * daemon that includes the kernel core, and so the kshim headers: those
 * shadow <linux/types.h>, so no system header that pulls in the kernel's
 * UAPI headers (such as <sys/stat.h>) may be included here.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "migrate.h"
#include "sim/sim_backend.h"
#include "sim/sim_util.h"

_Static_assert(sizeof(struct blkmig_extent) == sizeof(struct xlmig_extent),
               "extent layouts");

/* A guest request inside the backend. */
struct breq {
    struct blkmig_req gate;     /* its node is the gate's (parked/ready) */
    struct breq *next;          /* our queues: dispatch or held */
    struct sim_io *io;
};

/* A FIFO of requests, linked through next. */
struct chain {
    struct breq *head, **tail;
    uint64_t n;
};

struct sim_backend {
    int fd;
    uint64_t size;
    struct blkmig mig;
    int wanted_efd;

    /* Serialises control calls that change the core's geometry/bitmaps. */
    pthread_mutex_t ctl;
    uint64_t gate_epoch;

    pthread_mutex_t lock;       /* everything below */
    pthread_cond_t work;        /* I/O threads wait for the queue */
    pthread_cond_t idle;        /* inflight dropped to 0 */
    struct chain queue;         /* admitted, waiting for an I/O thread */
    struct chain held;          /* not dispatched: a quiesce is on */
    uint64_t inflight;          /* admitted: queued, executing or parked */
    unsigned quiesced;          /* quiesce holders */
    bool closing;
    bool stop_threads;
    unsigned nthreads;
    pthread_t *threads;
};

static void chain_init(struct chain *c)
{
    c->head = NULL;
    c->tail = &c->head;
    c->n = 0;
}

static void chain_add(struct chain *c, struct breq *r)
{
    r->next = NULL;
    *c->tail = r;
    c->tail = &r->next;
    c->n++;
}

static void chain_splice(struct chain *dst, struct chain *src)
{
    if (!src->head)
        return;
    *dst->tail = src->head;
    dst->tail = src->tail;
    dst->n += src->n;
    chain_init(src);
}

static void signal_wanted(struct sim_backend *b)
{
    uint64_t one = 1;

    if (write(b->wanted_efd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is saturated, the fd is readable anyway */
    }
}

static void enqueue(struct sim_backend *b, struct chain *c)
{
    if (!c->head)
        return;
    pthread_mutex_lock(&b->lock);
    chain_splice(&b->queue, c);
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
}

/* Requests the gate released, on our own chain (the gate's node is free). */
static void take_ready(struct list_head *ready, struct chain *out)
{
    struct blkmig_req *r, *tmp;

    list_for_each_entry_safe(r, tmp, ready, node)
        chain_add(out, container_of(r, struct breq, gate));
    INIT_LIST_HEAD(ready);
}

/* Gate admission of a request already counted in flight. */
static void admit(struct sim_backend *b, struct breq *r)
{
    struct chain c;
    bool wake;

    chain_init(&c);
    r->gate.sector = r->io->offset >> BLKMIG_SECTOR_SHIFT;
    r->gate.nr_sectors = r->io->len >> BLKMIG_SECTOR_SHIFT;
    r->gate.write = r->io->write;
    if (blkmig_gate_admit(&b->mig, &r->gate, &wake) == BLKMIG_PROCEED) {
        chain_add(&c, r);
        enqueue(b, &c);
    }
    if (wake)
        signal_wanted(b);
}

static void admit_chain(struct sim_backend *b, struct chain *c)
{
    struct breq *r = c->head, *next;

    for (; r; r = next) {
        next = r->next;
        admit(b, r);
    }
    chain_init(c);
}

/* Ends a request: tracking and gate bookkeeping first, then the guest. */
static void complete(struct sim_backend *b, struct breq *r, int result)
{
    struct sim_io *io = r->io;
    struct list_head ready;
    struct chain c;

    io->result = result;
    if (io->write) {
        INIT_LIST_HEAD(&ready);
        chain_init(&c);
        blkmig_mark_written(&b->mig, r->gate.sector, r->gate.nr_sectors);
        /* A failed write over whole stale blocks demands them again: the
         * engine hears it now, not at its next poll timeout. */
        if (blkmig_gate_write_done(&b->mig, &r->gate, result == 0, &ready))
            signal_wanted(b);
        take_ready(&ready, &c);
        enqueue(b, &c);
    }
    free(r);
    io->done(io);
    pthread_mutex_lock(&b->lock);
    if (--b->inflight == 0)
        pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

static void *io_thread(void *arg)
{
    struct sim_backend *b = arg;

    pthread_mutex_lock(&b->lock);
    for (;;) {
        struct breq *r;
        struct sim_io *io;
        int rc;

        while (!b->queue.head && !b->stop_threads)
            pthread_cond_wait(&b->work, &b->lock);
        if (!b->queue.head)
            break;
        r = b->queue.head;
        b->queue.head = r->next;
        if (!b->queue.head)
            b->queue.tail = &b->queue.head;
        b->queue.n--;
        pthread_mutex_unlock(&b->lock);

        io = r->io;
        if (io->write)
            rc = sim_pwrite_full(b->fd, io->buf, io->len, io->offset);
        else
            rc = sim_pread_full(b->fd, io->buf, io->len, io->offset);
        complete(b, r, rc ? -EIO : 0);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int sim_backend_open(struct sim_backend **out, const char *path,
                     unsigned io_threads, struct xlmig_error *err)
{
    struct sim_backend *b;
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (!io_threads || io_threads > 64)
        return xlmig_fail(err, EINVAL, "I/O threads must be 1..64");
    b = calloc(1, sizeof(*b));
    if (!b)
        return xlmig_fail(err, ENOMEM, "out of memory");
    rc = sim_open_image(path, &b->fd, &b->size, err);
    if (rc) {
        free(b);
        return rc;
    }
    b->wanted_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->threads = calloc(io_threads, sizeof(*b->threads));
    if (b->wanted_efd < 0 || !b->threads) {
        rc = xlmig_fail(err, errno ? errno : ENOMEM,
                     "cannot create the wanted eventfd: %s", strerror(errno));
        if (b->wanted_efd >= 0)
            close(b->wanted_efd);
        free(b->threads);
        close(b->fd);
        free(b);
        return rc;
    }
    blkmig_init(&b->mig);
    pthread_mutex_init(&b->ctl, NULL);
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->work, &ca);
    pthread_cond_init(&b->idle, &ca);
    pthread_condattr_destroy(&ca);
    chain_init(&b->queue);
    chain_init(&b->held);
    for (; b->nthreads < io_threads; b->nthreads++) {
        rc = pthread_create(&b->threads[b->nthreads], NULL, io_thread, b);
        if (rc) {
            sim_backend_close(b);
            return xlmig_fail(err, rc, "cannot start I/O threads: %s",
                           strerror(rc));
        }
    }
    *out = b;
    return 0;
}

uint64_t sim_backend_size(const struct sim_backend *b)
{
    return b->size;
}

int sim_backend_fd(const struct sim_backend *b)
{
    return b->fd;
}

void sim_backend_submit(struct sim_backend *b, struct sim_io *io)
{
    struct breq *r = calloc(1, sizeof(*r));

    if (!r) {
        io->result = -ENOMEM;
        io->done(io);
        return;
    }
    r->io = io;
    pthread_mutex_lock(&b->lock);
    if (b->closing) {
        pthread_mutex_unlock(&b->lock);
        free(r);
        io->result = -ESHUTDOWN;
        io->done(io);
        return;
    }
    if (b->quiesced) {
        chain_add(&b->held, r);
        pthread_mutex_unlock(&b->lock);
        return;
    }
    /* Counted before admission, so that a quiesce from now on waits. */
    b->inflight++;
    pthread_mutex_unlock(&b->lock);
    admit(b, r);
}

static void fail_chain(struct chain *c, int result)
{
    struct breq *r = c->head, *next;

    for (; r; r = next) {
        struct sim_io *io = r->io;

        next = r->next;
        free(r);
        io->result = result;
        io->done(io);
    }
    chain_init(c);
}

void sim_backend_cancel_held(struct sim_backend *b)
{
    struct chain c;

    chain_init(&c);
    pthread_mutex_lock(&b->lock);
    chain_splice(&c, &b->held);
    pthread_mutex_unlock(&b->lock);
    fail_chain(&c, -ECANCELED);
}

/* Lock held: the held requests to dispatch, counted in flight already. */
static void release_held(struct sim_backend *b, struct chain *out)
{
    b->inflight += b->held.n;
    chain_splice(out, &b->held);
}

int sim_backend_quiesce(struct sim_backend *b, unsigned timeout_ms)
{
    struct timespec deadline = sim_deadline_ms((long)timeout_ms);
    struct chain c;
    int rc = 0;

    chain_init(&c);
    pthread_mutex_lock(&b->lock);
    b->quiesced++;
    while (b->inflight && !rc)
        rc = pthread_cond_timedwait(&b->idle, &b->lock, &deadline);
    if (b->inflight) {
        /* Give up: the guest's I/O resumes as if nothing happened. */
        if (--b->quiesced == 0)
            release_held(b, &c);
        rc = -ETIMEDOUT;
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&b->lock);
    admit_chain(b, &c);
    return rc;
}

void sim_backend_unquiesce(struct sim_backend *b)
{
    struct chain c;

    chain_init(&c);
    pthread_mutex_lock(&b->lock);
    if (b->quiesced && --b->quiesced == 0)
        release_held(b, &c);
    pthread_mutex_unlock(&b->lock);
    admit_chain(b, &c);
}

static uint64_t nr_sectors(const struct sim_backend *b)
{
    return b->size >> BLKMIG_SECTOR_SHIFT;
}

int sim_backend_track_start(struct sim_backend *b, uint32_t block_size)
{
    int rc;

    pthread_mutex_lock(&b->ctl);
    rc = blkmig_track_start(&b->mig, nr_sectors(b), block_size);
    pthread_mutex_unlock(&b->ctl);
    return rc;
}

void sim_backend_track_stop(struct sim_backend *b)
{
    pthread_mutex_lock(&b->ctl);
    blkmig_track_stop(&b->mig);
    pthread_mutex_unlock(&b->ctl);
}

/* Puts extents that did not reach the reader back into the dirty set. */
static void remark(struct sim_backend *b, const struct blkmig_extent *e,
                   size_t n)
{
    unsigned shift = b->mig.block_shift - BLKMIG_SECTOR_SHIFT;

    for (size_t i = 0; i < n; i++)
        blkmig_mark_written(&b->mig, e[i].start << shift,
                            e[i].count << shift);
}

int sim_backend_snapshot(struct sim_backend *b,
                         int (*emit)(void *ctx, const struct xlmig_extent *e,
                                     size_t n),
                         void *ctx, size_t max)
{
    struct blkmig_extent *e = calloc(max, sizeof(*e));
    struct blkmig_stats st;
    unsigned n;
    int rc = 0;

    if (!e)
        return -ENOMEM;
    pthread_mutex_lock(&b->ctl);
    blkmig_get_stats(&b->mig, &st);
    if (!st.tracking) {
        rc = -EINVAL;
        goto out;
    }
    blkmig_collect(&b->mig);
    while ((n = blkmig_frozen_read(&b->mig, e, (unsigned)max)) > 0) {
        rc = emit(ctx, (const struct xlmig_extent *)e, n);
        if (rc) {
            remark(b, e, n);
            blkmig_frozen_restore(&b->mig);
            break;
        }
    }
out:
    pthread_mutex_unlock(&b->ctl);
    free(e);
    return rc;
}

int sim_backend_gate_start(struct sim_backend *b, uint32_t block_size)
{
    int rc;

    pthread_mutex_lock(&b->ctl);
    rc = blkmig_gate_start(&b->mig, nr_sectors(b), block_size);
    if (!rc)
        b->gate_epoch++;
    pthread_mutex_unlock(&b->ctl);
    return rc;
}

uint64_t sim_backend_gate_epoch(struct sim_backend *b)
{
    uint64_t e;

    pthread_mutex_lock(&b->ctl);
    e = b->gate_epoch;
    pthread_mutex_unlock(&b->ctl);
    return e;
}

int sim_backend_gate_add_stale(struct sim_backend *b,
                               const struct xlmig_extent *e, size_t n)
{
    int rc = 0;

    pthread_mutex_lock(&b->ctl);
    for (size_t i = 0; i < n && !rc; i++)
        rc = blkmig_gate_add_stale(&b->mig, e[i].start, e[i].count);
    pthread_mutex_unlock(&b->ctl);
    return rc;
}

int sim_backend_wanted_fd(const struct sim_backend *b)
{
    return b->wanted_efd;
}

size_t sim_backend_wanted_pop(struct sim_backend *b, struct xlmig_extent *out,
                              size_t max)
{
    unsigned n;

    pthread_mutex_lock(&b->ctl);
    n = blkmig_wanted_pop(&b->mig, (struct blkmig_extent *)out,
                          (unsigned)max);
    /* More than max were waiting: keep the fd readable. */
    if (blkmig_wanted_pending(&b->mig))
        signal_wanted(b);
    pthread_mutex_unlock(&b->ctl);
    return n;
}

long sim_backend_claim(struct sim_backend *b, uint64_t start, uint32_t count,
                       unsigned long *mask)
{
    long n;

    pthread_mutex_lock(&b->ctl);
    n = blkmig_claim(&b->mig, start, count, mask);
    pthread_mutex_unlock(&b->ctl);
    return n;
}

void sim_backend_commit(struct sim_backend *b, uint64_t start, uint32_t count)
{
    struct list_head ready;
    struct chain c;

    INIT_LIST_HEAD(&ready);
    chain_init(&c);
    pthread_mutex_lock(&b->ctl);
    blkmig_commit(&b->mig, start, count, &ready);
    pthread_mutex_unlock(&b->ctl);
    take_ready(&ready, &c);
    enqueue(b, &c);
}

void sim_backend_unclaim(struct sim_backend *b, uint64_t start,
                         uint32_t count)
{
    struct list_head ready;
    struct chain c;
    bool wake;

    INIT_LIST_HEAD(&ready);
    chain_init(&c);
    pthread_mutex_lock(&b->ctl);
    blkmig_unclaim(&b->mig, start, count, &ready, &wake);
    pthread_mutex_unlock(&b->ctl);
    take_ready(&ready, &c);
    enqueue(b, &c);
    if (wake)
        signal_wanted(b);
}

void sim_backend_gate_stop(struct sim_backend *b)
{
    struct list_head orphans;
    struct blkmig_stats st;
    struct chain c;
    struct breq *r, *next;

    INIT_LIST_HEAD(&orphans);
    chain_init(&c);
    pthread_mutex_lock(&b->ctl);
    blkmig_gate_stop(&b->mig, &orphans);
    blkmig_get_stats(&b->mig, &st);
    pthread_mutex_unlock(&b->ctl);
    take_ready(&orphans, &c);
    if (!st.stale) {
        enqueue(b, &c);
        return;
    }
    /* Their data never arrived: fail them, as blkback does. */
    for (r = c.head; r; r = next) {
        next = r->next;
        complete(b, r, -EIO);
    }
}

void sim_backend_stats(struct sim_backend *b, struct sim_stats *out)
{
    struct blkmig_stats st;

    pthread_mutex_lock(&b->ctl);
    blkmig_get_stats(&b->mig, &st);
    pthread_mutex_unlock(&b->ctl);
    memset(out, 0, sizeof(*out));
    /* As the kernel's control device fills it. */
    out->mig.block_size = st.block_size;
    out->mig.flags = (st.tracking ? BLKBACK_MIG_F_TRACKING : 0) |
                     (st.overflow ? BLKBACK_MIG_F_OVERFLOW : 0) |
                     (st.gate ? BLKBACK_MIG_F_GATE : 0) |
                     BLKBACK_MIG_F_CONNECTED;
    out->mig.sectors = b->size >> BLKMIG_SECTOR_SHIFT;
    out->mig.nr_blocks = st.nr_blocks;
    out->mig.dirty = st.dirty;
    out->mig.frozen = st.frozen;
    out->mig.marked = st.marked;
    out->mig.stale = st.stale;
    out->mig.claimed = st.claimed;
    out->mig.wanted = st.wanted;
    out->mig.parked = st.parked;
    out->mig.installed = st.installed;
    out->mig.overwritten = st.overwritten;
    pthread_mutex_lock(&b->lock);
    if (b->quiesced)
        out->mig.flags |= BLKBACK_MIG_F_QUIESCED;
    out->mig.inflight = b->inflight;
    out->quiesced = b->quiesced;
    out->held = b->held.n;
    pthread_mutex_unlock(&b->lock);
}

void sim_backend_shutdown(struct sim_backend *b)
{
    struct chain held;

    chain_init(&held);
    pthread_mutex_lock(&b->lock);
    b->closing = true;
    chain_splice(&held, &b->held);
    pthread_mutex_unlock(&b->lock);
    fail_chain(&held, -ECANCELED);
    sim_backend_gate_stop(b);
    pthread_mutex_lock(&b->lock);
    while (b->inflight)
        pthread_cond_wait(&b->idle, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

void sim_backend_close(struct sim_backend *b)
{
    if (!b)
        return;
    sim_backend_shutdown(b);
    pthread_mutex_lock(&b->lock);
    b->stop_threads = true;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->lock);
    for (unsigned i = 0; i < b->nthreads; i++)
        pthread_join(b->threads[i], NULL);
    blkmig_free(&b->mig);
    pthread_mutex_destroy(&b->ctl);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->idle);
    close(b->wanted_efd);
    close(b->fd);
    free(b->threads);
    free(b);
}
