/*
 * xlmig_source_estimate(): what a migration of these disks to that
 * destination would do, measured without changing anything on either
 * host (the destination creates nothing: the ESTIMATE feature).
 *
 *   the disks       allocated bytes (SEEK_DATA), a compressibility sample
 *                   (deflate level 1, compress.c)
 *   the link        round trips (PROBE / PROBE_ACK without padding), then
 *                   padded PROBEs for at most a second: the raw rate
 *   the pipeline    a sample of the disks, evenly spread, through the real
 *                   send pipeline (read, zero check, the compression
 *                   decision, the link, the destination's decoding), and
 *                   scattered single blocks as dirty passes send them,
 *                   about 2.5 s and 0.7 s
 *   the guest       write tracking on for the sample (track_start), a
 *                   snapshot a second: the distinct blocks dirtied per
 *                   second and the region they fall in (track_stop after)
 *
 * then estimate.c replays the migration.  Every wait is bounded (the
 * probes by time and by the peer timeout).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include "compress.h"
#include "estimate.h"
#include "src_internal.h"

#define RTT_PINGS 5
#define LINK_PROBE_NS 1000000000ull
#define LINK_PROBE_MAX (256ull << 20)
#define PIPE_PROBE_NS 2500000000ull
#define PIPE_EXTENT (1u << 20)
#define SCATTER_MAX 2048
#define SCATTER_PROBE_NS 700000000ull
#define COMPRESS_SAMPLES 16
#define END_WAIT_S 5            /* the destination's close after ours */

struct measure {
    struct xlmig_source *s;
    struct xlmig_bitmap *seen[XLMIG_MAX_DISKS];
    bool tracking;
    pthread_t sampler;
    bool sampling, stop;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int rc;
    double interval_sum, interval_blocks;       /* short intervals */
    double first_s, first_blocks;               /* the first snapshot's */
    double op_min;                              /* the quickest snapshot
                                                   call (noise only adds) */
    unsigned ops;
    uint64_t t_track, t_last;
};

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&t, NULL);
}

/* ---- probes ---- */

/* Waits (bounded by the peer timeout) until the ack of seq came. */
static int wait_ack(struct xlmig_source *s, uint64_t seq)
{
    uint64_t until = xlmig_now_ns() +
                     (uint64_t)s->o.peer_timeout_ms * 1000000ull;
    int rc = 0;

    pthread_mutex_lock(&s->lock);
    while (s->probe.seq < seq && !s->failed && !s->cancelled) {
        struct timespec t;

        if (xlmig_now_ns() >= until) {
            rc = -ETIMEDOUT;
            break;
        }
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 50 * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->lock, &t);
    }
    if (s->failed)
        rc = -s->err.code;
    pthread_mutex_unlock(&s->lock);
    if (s->cancelled && !rc)
        return src_fail(s, ECANCELED, "cancelled");
    if (rc == -ETIMEDOUT)
        return src_fail(s, ETIMEDOUT, "the destination did not answer a "
                        "probe within %d s", s->o.peer_timeout_ms / 1000);
    return rc;
}

static int probe(struct xlmig_source *s, uint8_t *buf, uint32_t pad)
{
    struct xlmig_probe p = { .seq = ++s->probe.sent, .t_ns = xlmig_now_ns(),
                             .pad = pad };

    if (xlmig_conn_send(&s->conn, buf, xlmig_enc_probe(buf, &p)) < 0)
        return src_fail(s, EIO, "sending PROBE: %s", s->conn.err.msg);
    return 0;
}

/*
 * The median of RTT_PINGS round trips: what the stop-copy's SYNC meets
 * (the quickest one predicted idle downtimes of 0.1 ms where they took
 * 0.3-0.4 ms on veth).
 */
static int measure_rtt(struct xlmig_source *s, double *rtt_s)
{
    uint8_t buf[XLMIG_HDR_LEN + XLMIG_PROBE_HDR_LEN];
    double d[RTT_PINGS];

    for (int i = 0; i < RTT_PINGS; i++) {
        uint64_t t0 = xlmig_now_ns();
        int rc;

        if ((rc = probe(s, buf, 0)) < 0 || (rc = wait_ack(s, s->probe.sent)))
            return rc;
        d[i] = (double)(xlmig_now_ns() - t0) * 1e-9;
        for (int j = i; j > 0 && d[j - 1] > d[j]; j--) {
            double t = d[j];

            d[j] = d[j - 1];
            d[j - 1] = t;
        }
    }
    *rtt_s = d[RTT_PINGS / 2];
    return 0;
}

/* Padded PROBEs for a second at most: the rate the acks report. */
static int measure_link(struct xlmig_source *s, double *Bps)
{
    uint8_t *buf = malloc(XLMIG_HDR_LEN + XLMIG_PROBE_HDR_LEN +
                          XLMIG_MAX_PROBE_PAD);
    uint64_t t0 = xlmig_now_ns(), sent = 0, first_seq;
    int rc = 0;

    if (!buf)
        return src_fail(s, ENOMEM, "out of memory");
    /* Incompressible padding, should anything compress the channel. */
    for (uint32_t i = 0; i < XLMIG_MAX_PROBE_PAD; i++)
        buf[XLMIG_HDR_LEN + XLMIG_PROBE_HDR_LEN + i] =
            (uint8_t)((i * 2654435761u) >> 13);
    pthread_mutex_lock(&s->lock);
    s->probe.mark = true;       /* the next ack starts the measurement */
    pthread_mutex_unlock(&s->lock);
    first_seq = s->probe.sent + 1;
    while (!rc && xlmig_now_ns() - t0 < LINK_PROBE_NS &&
           sent < LINK_PROBE_MAX) {
        rc = probe(s, buf, XLMIG_MAX_PROBE_PAD);
        sent += XLMIG_MAX_PROBE_PAD;
    }
    free(buf);
    if (!rc)
        rc = wait_ack(s, s->probe.sent);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->lock);
    *Bps = s->probe.t_last > s->probe.t_first
               ? (double)(s->probe.received_last - s->probe.received_first) /
                     ((double)(s->probe.t_last - s->probe.t_first) * 1e-9)
               : 0;
    pthread_mutex_unlock(&s->lock);
    /* One PROBE only: its time is all we know. */
    if (*Bps <= 0 && s->probe.sent == first_seq)
        *Bps = (double)XLMIG_MAX_PROBE_PAD /
               ((double)(xlmig_now_ns() - t0) * 1e-9);
    return 0;
}

struct pipe_result {
    double Bps;                 /* disk bytes covered per second */
    double wire_ratio;          /* wire bytes / disk bytes */
    double zero_fraction;
};

static void pipe_result(struct xlmig_source *s,
                        const struct xlmig_sendq_stats *a,
                        const struct xlmig_sendq_stats *b, uint64_t ns,
                        struct pipe_result *r)
{
    double covered = (double)(b->data_bytes + b->zero_bytes +
                              b->skipped_bytes - a->data_bytes -
                              a->zero_bytes - a->skipped_bytes);

    (void)s;
    r->Bps = ns ? covered / ((double)ns * 1e-9) : 0;
    r->wire_ratio = covered > 0 ? (double)(b->wire_bytes - a->wire_bytes) /
                                      covered : 1;
    r->zero_fraction = covered > 0
                           ? (double)(b->zero_bytes + b->skipped_bytes -
                                      a->zero_bytes - a->skipped_bytes) /
                                 covered
                           : 0;
}

/*
 * Evenly spread 1 MiB extents of the allocated data, in increasing order:
 * one walk over the data regions for the whole sample (a walk from the
 * start for each extent cost O(regions) lseeks each, and a guest writing
 * random blocks into holes makes thousands of regions: under 5 MB/s of
 * writes that halved the measured pipeline).
 */
struct spread {
    unsigned disk;
    uint64_t start, end;        /* the current data region */
    uint64_t base;              /* allocated bytes before it */
    bool have;
};

/* The extent at allocated offset target (not below the previous one). */
static bool spread_extent(struct xlmig_source *s, struct spread *sp,
                          uint64_t target, unsigned *disk, uint64_t *first,
                          uint64_t *count)
{
    uint64_t bs = s->o.block_size;

    while (sp->disk < s->ndisks) {
        struct src_disk *d = &s->disks[sp->disk];

        if (!sp->have) {
            sp->have = xlmig_image_next_data(&d->img, 0, &sp->start,
                                             &sp->end);
        } else if (target >= sp->base + (sp->end - sp->start)) {
            sp->base += sp->end - sp->start;
            sp->have = xlmig_image_next_data(&d->img, sp->end, &sp->start,
                                             &sp->end);
        } else {
            uint64_t at = (sp->start + (target - sp->base)) / bs;
            uint64_t last = (sp->end + bs - 1) / bs;

            *disk = sp->disk;
            *first = at;
            *count = last - at < PIPE_EXTENT / bs ? last - at
                                                  : PIPE_EXTENT / bs;
            return *count > 0;
        }
        if (!sp->have)
            sp->disk++;         /* this disk's data is behind us */
    }
    return false;
}

/* A sample of the disks through the send pipeline, sequential extents. */
static int measure_pipeline(struct xlmig_source *s, double link_Bps,
                            struct pipe_result *r)
{
    double depth = link_Bps * 0.2 / PIPE_EXTENT;
    uint64_t n = s->st.allocated_bytes / PIPE_EXTENT, t0;
    struct spread sp = { 0 };
    struct xlmig_sendq_stats a, b;
    int rc;

    if (n > 4096)
        n = 4096;
    if (!n)
        n = 1;
    /* As deep as a migration's queue, but what is queued when time is up
     * must drain within ~0.2 s of the link. */
    xlmig_sendq_set_depth(s->q, depth < 2 ? 2 : depth > 12 ? 12
                                                           : (unsigned)depth);
    if ((rc = src_phase(s, XLMIG_PHASE_FULL, 0, 0)) < 0)
        return rc;
    xlmig_sendq_get_stats(s->q, &a);
    t0 = xlmig_now_ns();
    for (uint64_t k = 0; k < n && xlmig_now_ns() - t0 < PIPE_PROBE_NS; k++) {
        unsigned disk;
        uint64_t first, count;

        if (!spread_extent(s, &sp, s->st.allocated_bytes / n * k, &disk,
                           &first, &count))
            break;
        if ((rc = src_queue_extent(s, &s->disks[disk], first, count,
                                   XLMIG_ORIGIN_PUSH,
                                   s->disks[disk].dest_zeroed)) < 0)
            return rc;
    }
    if ((rc = src_sync(s)) < 0)
        return rc;
    xlmig_sendq_get_stats(s->q, &b);
    pipe_result(s, &a, &b, xlmig_now_ns() - t0, r);
    return 0;
}

/* Single blocks of the data, as a dirty pass sends what a guest rewrote. */
static int measure_scattered(struct xlmig_source *s, struct pipe_result *r)
{
    uint64_t t0, seed = 0x9e3779b97f4a7c15ull;
    uint64_t step = s->st.allocated_bytes / SCATTER_MAX;
    struct xlmig_sendq_stats a, b;
    struct spread sp = { 0 };
    int rc;

    /* A dirty pass: the destination does not flush what it writes. */
    if ((rc = src_phase(s, XLMIG_PHASE_DIRTY, 1, 0)) < 0)
        return rc;
    /* It stands for the final set, sent with the guest stopped: no
     * yielding to the guest (which runs now). */
    xlmig_sendq_set_yield(s->q, false);
    xlmig_sendq_get_stats(s->q, &a);
    t0 = xlmig_now_ns();
    /*
     * A block at a random place in each SCATTER_MAX-th of the allocated
     * data: what a guest rewrites is data.  (Anywhere on the disk, about
     * half the blocks of a half-allocated image were holes, sent as
     * small ZERO records: the rate came out twice the dirty passes'.)
     */
    for (uint64_t i = 0; i < SCATTER_MAX &&
                         xlmig_now_ns() - t0 < SCATTER_PROBE_NS; i++) {
        unsigned disk;
        uint64_t first, count;

        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        if (!step || !spread_extent(s, &sp, step * i + (seed >> 11) % step,
                                    &disk, &first, &count))
            break;
        if ((rc = src_queue_extent(s, &s->disks[disk], first, 1,
                                   XLMIG_ORIGIN_PUSH, false)) < 0)
            break;
    }
    if (rc == 0)
        rc = src_sync(s);
    xlmig_sendq_set_yield(s->q, true);
    if (rc < 0)
        return rc;
    xlmig_sendq_get_stats(s->q, &b);
    pipe_result(s, &a, &b, xlmig_now_ns() - t0, r);
    return 0;
}

/* Deflate level 1 on a few extents of the data: ratio and speed. */
static void measure_compress(struct xlmig_source *s, struct xlmig_estimate *e)
{
    struct xlmig_deflater z = { .c = NULL };
    uint8_t *buf = xlmig_alloc_io(PIPE_EXTENT);
    double in = 0, out = 0, secs = 0;
    struct spread sp = { 0 };

    e->compress_ratio = e->compress_Bps = -1;
    if (!buf)
        return;
    for (uint64_t k = 0; k < COMPRESS_SAMPLES; k++) {
        struct xlmig_sample smp;
        struct xlmig_error err;
        unsigned disk;
        uint64_t first, count, len;

        if (!spread_extent(s, &sp, s->st.allocated_bytes /
                           COMPRESS_SAMPLES * k, &disk, &first, &count))
            break;
        len = count * s->o.block_size;
        if (first * s->o.block_size + len > s->disks[disk].img.size)
            len = s->disks[disk].img.size - first * s->o.block_size;
        if (xlmig_image_read(&s->disks[disk].img, buf, len,
                             first * s->o.block_size, &err) < 0 ||
            xlmig_is_zero(buf, len))
            continue;
        xlmig_sample(&z, NULL, buf, len, &smp);
        in += 1;
        out += smp.ratio;
        secs += 1 / smp.Bps;
    }
    if (in > 0) {
        e->compress_ratio = out / in;
        e->compress_Bps = in / secs;
    }
    xlmig_deflater_end(&z);
    free(buf);
}

/* ---- the guest ---- */

static int track_start(struct xlmig_source *s, struct measure *m)
{
    m->tracking = true;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];

        if (!(m->seen[i] = xlmig_bitmap_new(d->nblocks)))
            return src_fail(s, ENOMEM, "out of memory");
        if (d->vbd->ops->track_start(d->vbd, s->o.block_size) < 0) {
            /* An image alone (a stopped guest) writes nothing. */
            if (d->vbd->err.code == ENOTSUP)
                continue;
            return src_fail(s, EIO, "disk %s: cannot start write tracking: "
                            "%s", d->name, d->vbd->err.msg);
        }
        d->tracking = true;
    }
    m->t_track = m->t_last = xlmig_now_ns();
    return 0;
}

/* One snapshot of every disk: how many blocks were dirtied since. */
static int snapshot(struct xlmig_source *s, struct measure *m)
{
    uint64_t now, blocks = 0;
    double dt;

    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        uint64_t t0, n = 0;
        double op;

        if (!d->tracking)
            continue;
        xlmig_bitmap_clear_all(d->pending);
        t0 = xlmig_now_ns();
        if (d->vbd->ops->snapshot(d->vbd, d->pending, &n) < 0)
            return src_fail(s, EIO, "disk %s: dirty snapshot failed: %s",
                            d->name, d->vbd->err.msg);
        op = (double)(xlmig_now_ns() - t0) * 1e-9;
        if (!m->ops++ || op < m->op_min)
            m->op_min = op;
        blocks += xlmig_bitmap_count(d->pending);
        xlmig_bitmap_merge(m->seen[i], d->pending);
        xlmig_bitmap_clear_all(d->pending);
    }
    now = xlmig_now_ns();
    dt = (double)(now - m->t_last) * 1e-9;
    if (m->t_last == m->t_track) {
        m->first_s = dt;
        m->first_blocks = (double)blocks;
    } else {
        m->interval_sum += dt;
        m->interval_blocks += (double)blocks;
    }
    m->t_last = now;
    return 0;
}

/* A snapshot a second while the probes run (they never touch the VBDs). */
static void *sampler_main(void *arg)
{
    struct measure *m = arg;

    pthread_mutex_lock(&m->lock);
    while (!m->stop && !m->rc) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        if (pthread_cond_timedwait(&m->cv, &m->lock, &until) != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&m->lock);
        int rc = snapshot(m->s, m);
        pthread_mutex_lock(&m->lock);
        if (rc < 0)
            m->rc = rc;
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

static int sampler_start(struct measure *m)
{
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->sampler, NULL, sampler_main, m))
        return src_fail(m->s, EAGAIN, "cannot start the sampler");
    m->sampling = true;
    return 0;
}

static int sampler_stop(struct measure *m)
{
    if (!m->sampling)
        return 0;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->sampler, NULL);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cv);
    m->sampling = false;
    return m->rc;
}

static void track_stop(struct xlmig_source *s, struct measure *m)
{
    src_release_backend(s);
    for (unsigned i = 0; i < XLMIG_MAX_DISKS; i++)
        xlmig_bitmap_free(m->seen[i]);
    m->tracking = false;
}

/* ---- the whole ---- */

static int measure_all(struct xlmig_source *s, double sample_s,
                       struct xlmig_estimate *e, struct xlmig_est_in *in,
                       struct measure *m)
{
    struct pipe_result seq = { 0 }, sc = { 0 };
    double rtt = 0, link = 0;
    int rc;

    m->s = s;
    if ((rc = src_negotiate(s)) < 0 || (rc = track_start(s, m)) < 0 ||
        (rc = sampler_start(m)) < 0)
        return rc;
    if ((rc = measure_rtt(s, &rtt)) < 0 || (rc = measure_link(s, &link)) < 0 ||
        (rc = measure_pipeline(s, link, &seq)) < 0 ||
        (rc = measure_scattered(s, &sc)) < 0) {
        sampler_stop(m);
        return rc;
    }
    measure_compress(s, e);
    /* The rest of the sample, then the last snapshot. */
    while ((double)(xlmig_now_ns() - m->t_track) * 1e-9 < sample_s &&
           !s->cancelled && !m->rc)
        sleep_ms(100);
    if ((rc = sampler_stop(m)) < 0 || (rc = snapshot(s, m)) < 0)
        return rc;
    if (s->cancelled)
        return src_fail(s, ECANCELED, "cancelled");
    e->rtt_ms = rtt * 1e3;
    e->link_Bps = link;
    e->pipeline_Bps = seq.Bps;
    e->zero_fraction = seq.zero_fraction;
    e->sample_s = (double)(m->t_last - m->t_track) * 1e-9;
    in->rtt_s = rtt;
    in->link_Bps = link;
    in->pipe_Bps = seq.Bps;
    in->dirty_pipe_Bps = sc.Bps > 0 ? sc.Bps : seq.Bps;
    in->full_wire_ratio = seq.wire_ratio;
    in->dirty_wire_ratio = sc.wire_ratio;
    in->vbd_op_s = m->ops ? m->op_min : 0;
    return 0;
}

/*
 * An estimate ends with the channel: our side shut for writing, then the
 * destination's close awaited (at most END_WAIT_S).  Closing at once could
 * leave its last heartbeat unread here, and the kernel then resets the
 * connection: the destination saw "connection reset by peer" where the
 * end was meant.  (Pipes, e.g. over ssh, have no shutdown: they just end.)
 */
static void end_channel(struct xlmig_source *s)
{
    struct timespec until;

    xlmig_conn_heartbeat_stop(&s->conn);
    pthread_mutex_lock(&s->lock);
    s->finished = true;
    pthread_mutex_unlock(&s->lock);
    if (!s->reply_running || shutdown(s->conn.wfd, SHUT_WR) < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += END_WAIT_S;
    pthread_mutex_lock(&s->lock);
    while (!s->peer_closed && !s->failed)
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
}

void xlmig_estimate_opts_init(struct xlmig_estimate_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->sample_s = 5;
}

int xlmig_source_estimate(struct xlmig_source *s,
                          const struct xlmig_estimate_opts *eo,
                          struct xlmig_estimate *e)
{
    double sample_s = eo->sample_s;
    struct xlmig_est_in in = { 0 };
    struct measure m = { 0 };
    uint64_t distinct = 0;
    int rc;

    memset(e, 0, sizeof(*e));
    if (!s->have_channel)
        return src_fail(s, EINVAL, "no data channel");
    if (sample_s < 1 || sample_s > 600)
        return src_fail(s, EINVAL, "sample of %.1f s: 1 to 600 s", sample_s);
    s->estimate = true;
    rc = measure_all(s, sample_s, e, &in, &m);
    for (unsigned i = 0; i < s->ndisks; i++) {
        e->disk_bytes += s->disks[i].img.size;
        in.nblocks += s->disks[i].nblocks;
        if (m.seen[i])
            distinct += xlmig_bitmap_count(m.seen[i]);
    }
    if (m.tracking)
        track_stop(s, &m);
    if (rc < 0)
        return rc;
    /* Distinct blocks per second over a second (else the first span). */
    in.w = m.interval_sum > 0 ? m.interval_blocks / m.interval_sum
         : m.first_s > 0 ? m.first_blocks / m.first_s : 0;
    in.region = xlmig_est_fit_region(in.w, e->sample_s, (double)distinct);
    in.block_size = s->o.block_size;
    in.ndisks = s->ndisks;
    in.allocated = s->st.allocated_bytes;
    in.max_downtime_s = s->o.max_downtime_ms / 1e3;
    in.postcopy = s->o.postcopy && (s->features & XLMIG_F_POSTCOPY);
    in.max_passes = s->o.max_passes;
    in.memory_s = eo->memory_s;
    in.memory_bytes = eo->memory_bytes;
    in.setup_s = eo->setup_s;
    in.state_s = eo->state_s;
    in.handoff_s = eo->handoff_s;
    in.offline = s->o.offline;
    e->ndisks = s->ndisks;
    e->allocated_bytes = s->st.allocated_bytes;
    e->dirty_Bps = in.w * s->o.block_size;
    e->working_set_bytes = distinct * s->o.block_size;
    xlmig_est_predict(&in, e);
    end_channel(s);
    return 0;
}
