/*
 * The source handle: creation, disks, failure and events, and the helpers
 * every phase uses to queue records and extents and to wait for the
 * destination.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src_internal.h"

void xlmig_source_opts_init(struct xlmig_source_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->block_size = 4096;
    o->max_downtime_ms = 50;
    o->postcopy = true;
    o->workers = 2;
    o->max_passes = 30;
    o->compress = XLMIG_COMPRESS_AUTO;
    o->quiesce_timeout_ms = 10000;
    o->ack_timeout_ms = 300000;
    o->peer_timeout_ms = 30000;
    o->stopcopy_timeout_ms = 30000;
    o->recover_timeout_s = 3600;
    o->connections = 1;
    o->keepup_share = 0.25;
}

int src_fail(struct xlmig_source *s, int code, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&s->lock);
    /* The destination's own reason beats our view of a broken channel. */
    if (!s->failed ||
        (!strncmp(fmt, "destination: ", 13) &&
         (!strncmp(s->err.msg, "send queue:", 11) ||
          !strncmp(s->err.msg, "data channel", 12)))) {
        va_start(ap, fmt);
        xlmig_vfail(&s->err, code, fmt, ap);
        va_end(ap);
        s->failed = true;
        /* Nothing but an ERROR goes out now: no waiting on the peer. */
        src_interrupt_all(s);
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return -s->err.code;
}

int xlmig_source_set_error(struct xlmig_source *s, int code, const char *fmt, ...)
{
    char msg[XLMIG_ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return src_fail(s, code, "%s", msg);
}

int src_chan_fail(struct xlmig_source *s, int code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (!s->st.t_go) {
        pthread_mutex_unlock(&s->lock);
        va_start(ap, fmt);
        rc = xlmig_vfail(&s->chan_err, code, fmt, ap);
        va_end(ap);
        return src_fail(s, code, "%s", s->chan_err.msg);
    }
    if (!s->broken && !s->failed) {
        va_start(ap, fmt);
        xlmig_vfail(&s->chan_err, code, fmt, ap);
        va_end(ap);
        s->broken = true;
        src_interrupt_all(s);
    }
    rc = -(s->chan_err.code ? s->chan_err.code : EIO);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void src_event(struct xlmig_source *s, struct xlmig_event *ev)
{
    xlmig_emit(&s->em, ev);
}

int xlmig_source_new(const struct xlmig_source_opts *o,
                     const struct xlmig_source_hooks *h,
                     struct xlmig_source **out, struct xlmig_error *err)
{
    struct xlmig_source *s;

    *out = NULL;
    if (!h)
        return xlmig_fail(err, EINVAL, "a source needs hooks");
    if (!xlmig_block_size_ok(o->block_size))
        return xlmig_fail(err, EINVAL, "block size %u is not a power of two "
                          "between 512 and 1048576", o->block_size);
    if (!(o->keepup_share >= 0 && o->keepup_share <= 1))
        return xlmig_fail(err, EINVAL, "keep-up share %g: 0 to 1",
                          o->keepup_share);
    if (o->max_downtime_ms < 0 || o->workers < 1 || o->workers > 8)
        return xlmig_fail(err, EINVAL, "bad options: max downtime %.1f ms, "
                          "%u workers (1..8)", o->max_downtime_ms,
                          o->workers);
    if (o->connections < 1 || o->connections > XLMIG_MAX_CONNS)
        return xlmig_fail(err, EINVAL, "bad options: %u connections "
                          "(1..%d)", o->connections, XLMIG_MAX_CONNS);
    if (o->peer_timeout_ms < 600 || o->stopcopy_timeout_ms < 100 ||
        o->quiesce_timeout_ms < 1 || o->ack_timeout_ms < 1000 ||
        o->recover_timeout_s < 0)
        return xlmig_fail(err, EINVAL, "bad timeouts: peer %d ms (>= 600), "
                          "stop-copy %d ms (>= 100)", o->peer_timeout_ms,
                          o->stopcopy_timeout_ms);
    s = calloc(1, sizeof(*s));
    if (!s)
        return xlmig_fail(err, ENOMEM, "out of memory");
    s->o = *o;
    s->h = *h;
    s->wake[0] = s->wake[1] = -1;
    s->cancel_pipe[0] = s->cancel_pipe[1] = -1;
    s->conn.rfd = s->conn.wfd = -1;
    s->nconns = s->used_conns = 1;
    for (unsigned k = 0; k < XLMIG_MAX_CONNS; k++)
        s->xc[k].wake[0] = s->xc[k].wake[1] = -1;
    s->next_rfd = s->next_wfd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cv, NULL);
    xlmig_emitter_init(&s->em, "source", NULL, NULL, NULL);
    s->st.t_start = xlmig_now_ns();
    if (pipe(s->wake) < 0 || pipe(s->cancel_pipe) < 0) {
        xlmig_fail(err, errno, "pipe: %s", strerror(errno));
        xlmig_source_free(s);
        return -err->code;
    }
    *out = s;
    return 0;
}

void xlmig_source_set_observer(struct xlmig_source *s, xlmig_event_fn *event,
                               xlmig_log_fn *log, void *opaque)
{
    s->em.fn = event;
    s->em.log = log;
    s->em.opaque = opaque;
}

int xlmig_source_set_channel(struct xlmig_source *s, int rfd, int wfd)
{
    if (s->have_channel)
        return src_fail(s, EBUSY, "the data channel is already set");
    if (xlmig_conn_init(&s->conn, rfd, wfd) < 0)
        return src_fail(s, ENOMEM, "out of memory");
    s->conn.wake_fd = s->wake[0];
    /* A peer silent this long (heartbeats included), or taking no data this
     * long, is gone. */
    s->conn.recv_timeout_ms = s->o.peer_timeout_ms;
    s->conn.timeout_ms = s->o.peer_timeout_ms;
    xlmig_conn_set_limit(&s->conn, s->o.bandwidth_Bps);
    s->have_channel = true;
    return 0;
}

int xlmig_source_add_disk(struct xlmig_source *s, const char *name,
                          struct xlmig_vbd *vbd)
{
    struct src_disk *d;
    struct xlmig_error e;

    if (s->ndisks == XLMIG_MAX_DISKS)
        return src_fail(s, E2BIG, "too many disks (at most %d)",
                        XLMIG_MAX_DISKS);
    if (!xlmig_disk_name_ok(name))
        return src_fail(s, EINVAL, "disk name '%s' is not usable on the "
                        "wire (1-64 of [A-Za-z0-9._-])", name);
    for (unsigned i = 0; i < s->ndisks; i++)
        if (!strcmp(s->disks[i].name, name))
            return src_fail(s, EEXIST, "disk %s given twice", name);
    d = &s->disks[s->ndisks];
    memset(d, 0, sizeof(*d));
    d->img.fd = -1;
    d->id = s->ndisks;
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->vbd = vbd;
    if (xlmig_image_open(&d->img, vbd->data_path, false, &e) < 0)
        return src_fail(s, e.code, "disk %s: %s", name, e.msg);
    if (!d->img.size || d->img.size % 512) {
        xlmig_image_close(&d->img);
        return src_fail(s, EINVAL, "disk %s: size %llu is not a multiple "
                        "of 512", name, (unsigned long long)d->img.size);
    }
    d->nblocks = (d->img.size + s->o.block_size - 1) / s->o.block_size;
    d->allocated = xlmig_image_allocated(&d->img);
    d->sq = (struct xlmig_sq_disk){ .id = d->id,
                                    .block_size = s->o.block_size,
                                    .size = d->img.size, .img = &d->img };
    d->pending = xlmig_bitmap_new(d->nblocks);
    if (!d->pending) {
        xlmig_image_close(&d->img);
        return src_fail(s, ENOMEM, "out of memory for a %llu-block bitmap",
                        (unsigned long long)d->nblocks);
    }
    s->st.allocated_bytes += d->allocated;
    s->ndisks++;
    return 0;
}

/*
 * How long a wait for the destination may last: the ack timeout, and
 * while the guest is suspended before GO, what is left of the stop-copy
 * hard limit.  *hard says which bound applies.
 */
static int64_t wait_bound_ms(struct xlmig_source *s, bool *hard)
{
    int64_t left = xlmig_source_time_left_ms(s);

    *hard = left >= 0 && left < s->o.ack_timeout_ms;
    return *hard ? left : s->o.ack_timeout_ms;
}

static void deadline(struct timespec *until, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, until);
    until->tv_sec += ms / 1000;
    until->tv_nsec += (ms % 1000) * 1000000;
    if (until->tv_nsec >= 1000000000) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000;
    }
}

static int timed_out(struct xlmig_source *s, bool hard, int64_t ms,
                     const char *what)
{
    if (hard)
        return src_fail(s, ETIMEDOUT, "the destination did not answer "
                        "(%s) within the stop-copy limit of %.1f s: the "
                        "guest resumes here", what,
                        s->o.stopcopy_timeout_ms / 1000.0);
    return src_fail(s, ETIMEDOUT, "timed out after %.0f s waiting for %s",
                    (double)ms / 1000.0, what);
}

int64_t xlmig_source_time_left_ms(const struct xlmig_source *s)
{
    uint64_t now = xlmig_now_ns(), end;

    if (!s->st.t_suspended || s->st.t_go)
        return -1;
    end = s->st.t_suspended + (uint64_t)s->o.stopcopy_timeout_ms * 1000000ull;
    return now >= end ? 0 : (int64_t)((end - now) / 1000000ull);
}

int src_wait(struct xlmig_source *s, bool *flag, const char *what)
{
    struct timespec until;
    bool hard;
    int64_t ms = wait_bound_ms(s, &hard);
    int rc = 0;

    deadline(&until, ms);
    pthread_mutex_lock(&s->lock);
    /* After GO a channel error does not fail the run, it breaks the
     * channel (post-copy pauses): that ends the wait too. */
    while (!*flag && !s->failed && !s->broken) {
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->lock);
            return timed_out(s, hard, ms, what);
        }
    }
    if (s->failed)
        rc = -s->err.code;
    else if (!*flag && s->broken)
        rc = -(s->chan_err.code ? s->chan_err.code : EIO);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int queue_failed(struct xlmig_source *s)
{
    const char *why = xlmig_sendq_error(s->q);

    if (s->broken || s->failed)
        return -(s->failed ? s->err.code : s->chan_err.code);
    /* Writing to the peer failed: the channel; reading our image: ours. */
    if (xlmig_sendq_failed_on_channel(s->q))
        return src_chan_fail(s, EIO, "data channel: %s",
                             why ? why : "stopped");
    return src_fail(s, EIO, "send queue: %s", why ? why : "stopped");
}

int src_queue_record(struct xlmig_source *s, const void *rec, size_t len)
{
    if (xlmig_sendq_record(s->q, rec, len) < 0)
        return queue_failed(s);
    return 0;
}

int src_queue_extent(struct xlmig_source *s, struct src_disk *d,
                     uint64_t first, uint64_t count, uint8_t origin,
                     bool skip_zero)
{
    uint32_t max = xlmig_sendq_max_blocks(s->o.block_size);

    while (count) {
        uint32_t n = count < max ? (uint32_t)count : max;

        if (s->failed || s->broken)
            return -EIO;
        if (xlmig_sendq_extent(s->q, &d->sq, first, n, origin,
                               skip_zero) < 0)
            return queue_failed(s);
        first += n;
        count -= n;
    }
    return 0;
}

int src_flush(struct xlmig_source *s)
{
    if (xlmig_sendq_flush(s->q) < 0)
        return queue_failed(s);
    return s->failed ? -s->err.code : s->broken ? -EIO : 0;
}

int src_phase(struct xlmig_source *s, uint32_t phase, uint32_t pass,
              uint64_t remaining)
{
    uint8_t buf[XLMIG_HDR_LEN + 16];
    struct xlmig_phase p = { phase, pass, remaining };

    return src_queue_record(s, buf, xlmig_enc_phase(buf, &p));
}

int src_sync(struct xlmig_source *s)
{
    uint8_t buf[XLMIG_HDR_LEN + 8];
    struct timespec until;
    uint64_t seq;
    int64_t ms;
    bool ok, hard;
    int rc;

    pthread_mutex_lock(&s->lock);
    seq = ++s->sync_seq;
    pthread_mutex_unlock(&s->lock);
    /* On every connection: acknowledged once all of them reached it. */
    if (xlmig_sendq_barrier(s->q, buf, xlmig_enc_u64(buf, XLMIG_REC_SYNC,
                                                     seq)) < 0)
        rc = queue_failed(s);
    else
        rc = src_flush(s);
    if (rc)
        return rc;
    ms = wait_bound_ms(s, &hard);
    deadline(&until, ms);
    pthread_mutex_lock(&s->lock);
    while (s->sync_acked != seq && !s->failed)
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
            break;
    ok = s->sync_acked == seq;
    pthread_mutex_unlock(&s->lock);
    if (!ok && !s->failed)
        return timed_out(s, hard, ms, "the destination writing what was "
                         "sent");
    return ok ? 0 : -s->err.code;
}

uint64_t src_pending_blocks(struct xlmig_source *s)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < s->ndisks; i++)
        n += xlmig_bitmap_count(s->disks[i].pending);
    return n;
}

int src_snapshot_all(struct xlmig_source *s)
{
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        struct xlmig_vbd_stats vs;
        uint64_t n;
        int rc = d->vbd->ops->snapshot(d->vbd, d->pending, &n);

        if (rc < 0)
            return src_fail(s, -rc, "disk %s: dirty snapshot failed: %s",
                            d->name, d->vbd->err.msg);
        if (d->vbd->ops->stats(d->vbd, &vs) == 0 && vs.overflow)
            return src_fail(s, EFBIG, "disk %s grew while it was being "
                            "migrated: the copy cannot be exact", d->name);
    }
    /* --verify: what read back wrong goes again, with the dirty blocks. */
    src_verify_requeue(s);
    return 0;
}

double src_rate(struct xlmig_source *s)
{
    struct xlmig_sendq_stats qs;

    xlmig_sendq_get_stats(s->q, &qs);
    if (qs.send_Bps > 0)
        return qs.send_Bps;
    return qs.link_Bps;
}

void src_release_backend(struct xlmig_source *s)
{
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        if (d->quiesced && d->vbd->ops->unquiesce(d->vbd) == 0)
            d->quiesced = false;
        if (d->tracking && d->vbd->ops->track_stop(d->vbd) == 0)
            d->tracking = false;
    }
}

const char *xlmig_source_error(const struct xlmig_source *s)
{
    return s->failed ? s->err.msg : "";
}

bool xlmig_source_past_go(const struct xlmig_source *s)
{
    return s->st.t_go != 0;
}

uint64_t xlmig_source_stale_blocks(const struct xlmig_source *s)
{
    uint64_t peer = s->have_channel ? s->conn.peer_stale : XLMIG_HB_NO_STALE;

    /* Handed over at stop-copy and not confirmed installed (DONE): the
     * destination's last heartbeat says how many are still missing. */
    if (!s->st.t_go || s->st.t_done || !s->st.postcopy)
        return 0;
    return peer != XLMIG_HB_NO_STALE && peer < s->st.final_blocks
               ? peer : s->st.final_blocks;
}

