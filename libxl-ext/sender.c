/*
 * Source side of a disk migration: negotiation, the reply thread, stop-copy
 * and hand-off.  PUSH passes live in push.c, the PULL service in
 * pull_server.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "sender.h"
#include "sender_int.h"

void xlmig_sender_opts_default(struct xlmig_sender_opts *o)
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
    o->idle_timeout_s = 600;
}

int sender_fail(struct xlmig_sender *s, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&s->lock);
    /* The receiver's own reason beats our view of a broken channel. */
    if (!s->failed ||
        (!strncmp(fmt, "receiver: ", 10) &&
         (!strncmp(s->err, "send queue:", 11) ||
          !strncmp(s->err, "data channel", 12)))) {
        va_start(ap, fmt);
        vsnprintf(s->err, sizeof(s->err), fmt, ap);
        va_end(ap);
        s->failed = true;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return -1;
}

void sender_event(struct xlmig_sender *s, const struct xlmig_progress_ev *ev)
{
    if (s->o.progress)
        xlmig_progress_emit(s->o.progress, ev);
}

int xlmig_sender_init(struct xlmig_sender *s,
                      const struct xlmig_sender_opts *o, int rfd, int wfd)
{
    memset(s, 0, sizeof(*s));
    s->o = *o;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->st.t_start = xlmig_now_ns();
    if (!xlmig_block_size_ok(o->block_size))
        return sender_fail(s, "block size %u is not a power of two between "
                           "512 and 1048576", o->block_size);
    if (xlmig_conn_init(&s->conn, rfd, wfd) < 0)
        return sender_fail(s, "out of memory");
    if (pipe(s->wake) < 0)
        return sender_fail(s, "pipe: %s", strerror(errno));
    s->conn.wake_fd = s->wake[0];
    xlmig_conn_set_limit(&s->conn, o->bandwidth_Bps);
    return 0;
}

int xlmig_sender_add_disk(struct xlmig_sender *s, const char *name,
                          struct xlmig_vbd *vbd)
{
    struct xlmig_send_disk *d;
    char err[XLMIG_ERRLEN];

    if (s->ndisks == XLMIG_MAX_DISKS)
        return sender_fail(s, "too many disks (at most %d)", XLMIG_MAX_DISKS);
    if (!xlmig_disk_name_ok(name))
        return sender_fail(s, "disk name '%s' is not usable on the wire "
                           "(1-64 of [A-Za-z0-9._-])", name);
    for (unsigned i = 0; i < s->ndisks; i++)
        if (!strcmp(s->disks[i].name, name))
            return sender_fail(s, "disk %s given twice", name);
    d = &s->disks[s->ndisks];
    memset(d, 0, sizeof(*d));
    d->img.fd = -1;
    d->id = s->ndisks;
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->vbd = vbd;
    if (xlmig_image_open(&d->img, vbd->data_path, false, err) < 0)
        return sender_fail(s, "disk %s: %s", name, err);
    if (!d->img.size || d->img.size % 512)
        return sender_fail(s, "disk %s: size %llu is not a multiple of 512",
                           name, (unsigned long long)d->img.size);
    d->nblocks = (d->img.size + s->o.block_size - 1) / s->o.block_size;
    d->allocated = xlmig_image_allocated(&d->img);
    d->sq = (struct xlmig_sq_disk){ .id = d->id,
                                    .block_size = s->o.block_size,
                                    .size = d->img.size, .img = &d->img };
    d->pending = xlmig_bitmap_new(d->nblocks);
    if (!d->pending)
        return sender_fail(s, "out of memory for a %llu-block bitmap",
                           (unsigned long long)d->nblocks);
    s->st.allocated_bytes += d->allocated;
    s->ndisks++;
    return 0;
}

/* ---- replies from the receiver ---- */

static int queue_demand(struct xlmig_sender *s, const struct xlmig_rec *r)
{
    struct xlmig_extent_list l;
    char err[XLMIG_ERRLEN];

    if (xlmig_dec_extents(r, &l, err) < 0)
        return sender_fail(s, "bad PULL_REQ from receiver: %s", err);
    if (l.disk >= s->ndisks)
        return sender_fail(s, "receiver asked for unknown disk %u", l.disk);
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < l.n; i++) {
        struct xlmig_extent e;

        xlmig_extent_at(&l, i, &e);
        if (xlmig_check_extent(e.start, e.count, s->disks[l.disk].nblocks,
                               err) < 0) {
            pthread_mutex_unlock(&s->lock);
            return sender_fail(s, "bad PULL_REQ for disk %s: %s",
                               s->disks[l.disk].name, err);
        }
        /* A peer cannot make us hold unbounded requests. */
        if (s->dq_len >= (1u << 20)) {
            pthread_mutex_unlock(&s->lock);
            return sender_fail(s, "receiver has over a million pending "
                               "demand requests");
        }
        if (s->dq_len == s->dq_cap) {
            size_t cap = s->dq_cap ? s->dq_cap * 2 : 256;
            struct xlmig_demand *n = realloc(s->dq, cap * sizeof(*n));
            if (!n) {
                pthread_mutex_unlock(&s->lock);
                return sender_fail(s, "out of memory");
            }
            s->dq = n;
            s->dq_cap = cap;
        }
        s->dq[s->dq_len++] = (struct xlmig_demand){ l.disk, e.start,
                                                    e.count };
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int handle_reply(struct xlmig_sender *s, const struct xlmig_rec *r)
{
    char err[XLMIG_ERRLEN];
    uint64_t seq;

    switch (r->type) {
    case XLMIG_REC_SYNC_ACK:
        if (xlmig_dec_u64(r, &seq, err) < 0)
            return sender_fail(s, "bad SYNC_ACK: %s", err);
        pthread_mutex_lock(&s->lock);
        if (seq != s->sync_seq) {
            pthread_mutex_unlock(&s->lock);
            return sender_fail(s, "receiver acknowledged sync %llu, "
                               "expected %llu", (unsigned long long)seq,
                               (unsigned long long)s->sync_seq);
        }
        s->sync_acked = seq;
        break;
    case XLMIG_REC_READY:
        if (xlmig_dec_empty(r, err) < 0)
            return sender_fail(s, "bad READY: %s", err);
        pthread_mutex_lock(&s->lock);
        s->got_ready = true;
        break;
    case XLMIG_REC_REPORT: {
        int32_t status;
        if (xlmig_dec_report(r, &status, err) < 0)
            return sender_fail(s, "bad REPORT: %s", err);
        pthread_mutex_lock(&s->lock);
        s->report = status;
        s->got_report = true;
        break;
    }
    case XLMIG_REC_PULL_REQ:
        return queue_demand(s, r);
    case XLMIG_REC_DONE: {
        struct xlmig_done d;
        if (xlmig_dec_done(r, &d, err) < 0)
            return sender_fail(s, "bad DONE: %s", err);
        pthread_mutex_lock(&s->lock);
        s->st.done = d;
        s->got_done = true;
        break;
    }
    case XLMIG_REC_ERROR: {
        struct xlmig_error_rec e;
        if (xlmig_dec_error(r, &e, err) < 0)
            return sender_fail(s, "receiver failed, and its ERROR record is "
                               "malformed: %s", err);
        return sender_fail(s, "receiver: %s", e.reason);
    }
    default:
        return sender_fail(s, "protocol error: unexpected %s record from "
                           "the receiver", xlmig_rec_name(r->type));
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void *reply_main(void *arg)
{
    struct xlmig_sender *s = arg;
    struct xlmig_rec r;

    for (;;) {
        int rc = xlmig_conn_recv(&s->conn, &r);

        if (rc == -2)
            break;
        if (rc < 0) {
            sender_fail(s, "data channel: %s", s->conn.err);
            break;
        }
        if (rc == 0) {
            pthread_mutex_lock(&s->lock);
            bool fine = s->finished;
            pthread_mutex_unlock(&s->lock);
            if (!fine)
                sender_fail(s, "the receiver closed the data channel");
            break;
        }
        if (handle_reply(s, &r) < 0)
            break;
    }
    return NULL;
}

int sender_wait(struct xlmig_sender *s, bool *flag, const char *what)
{
    struct timespec until;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->o.ack_timeout_ms / 1000;
    pthread_mutex_lock(&s->lock);
    while (!*flag && !s->failed) {
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->lock);
            return sender_fail(s, "timed out after %d s waiting for %s",
                               s->o.ack_timeout_ms / 1000, what);
        }
    }
    if (s->failed)
        rc = -1;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- negotiation ---- */

static int recv_now(struct xlmig_sender *s, struct xlmig_rec *r,
                    const char *what)
{
    int rc = xlmig_conn_recv(&s->conn, r);
    struct xlmig_error_rec e;
    char err[XLMIG_ERRLEN];

    if (rc < 0)
        return sender_fail(s, "waiting for %s: %s", what, s->conn.err);
    if (rc == 0)
        return sender_fail(s, "receiver closed the channel before %s", what);
    if (r->type == XLMIG_REC_ERROR) {
        if (xlmig_dec_error(r, &e, err) < 0)
            return sender_fail(s, "receiver failed: %s", err);
        return sender_fail(s, "receiver: %s", e.reason);
    }
    return 0;
}

int xlmig_sender_negotiate(struct xlmig_sender *s)
{
    uint8_t buf[XLMIG_HDR_LEN + 128];
    struct xlmig_hello h = { 1, XLMIG_VERSION, XLMIG_F_ALL,
                             XLMIG_ROLE_SENDER }, peer;
    struct xlmig_rec r;
    char err[XLMIG_ERRLEN];
    bool acked[XLMIG_MAX_DISKS] = { false };
    struct xlmig_progress_ev ev = xlmig_progress_ev("phase", "negotiate");

    sender_event(s, &ev);
    if (!s->ndisks)
        return sender_fail(s, "no disk to migrate");
    if (xlmig_conn_send(&s->conn, buf, xlmig_enc_hello(buf, &h)) < 0)
        return sender_fail(s, "sending HELLO: %s", s->conn.err);
    if (recv_now(s, &r, "the receiver's HELLO") < 0)
        return -1;
    if (xlmig_dec_hello(&r, &peer, err) < 0)
        return sender_fail(s, "bad HELLO from receiver: %s", err);
    if (peer.role != XLMIG_ROLE_RECEIVER)
        return sender_fail(s, "the peer is not a receiver");
    if (peer.version_min > XLMIG_VERSION)
        return sender_fail(s, "receiver speaks protocol versions %u..%u, we "
                           "speak 1..%u", peer.version_min, peer.version_max,
                           XLMIG_VERSION);
    s->features = peer.features & XLMIG_F_ALL;

    for (unsigned i = 0; i < s->ndisks; i++) {
        struct xlmig_send_disk *d = &s->disks[i];
        struct xlmig_disk dr = { .id = d->id, .count = s->ndisks,
                                 .block_size = s->o.block_size,
                                 .size = d->img.size,
                                 .allocated = d->allocated };

        snprintf(dr.name, sizeof(dr.name), "%s", d->name);
        if (xlmig_conn_send(&s->conn, buf, xlmig_enc_disk(buf, &dr)) < 0)
            return sender_fail(s, "sending DISK: %s", s->conn.err);
    }
    for (unsigned n = 0; n < s->ndisks; n++) {
        struct xlmig_disk_ack a;

        if (recv_now(s, &r, "disk acknowledgements") < 0)
            return -1;
        if (xlmig_dec_disk_ack(&r, &a, err) < 0)
            return sender_fail(s, "bad DISK_ACK: %s", err);
        if (a.id >= s->ndisks || acked[a.id])
            return sender_fail(s, "receiver acknowledged disk %u twice or "
                               "that we never sent", a.id);
        acked[a.id] = true;
        s->disks[a.id].dest_zeroed = a.flags & XLMIG_ACK_ZEROED;
    }

    s->q = xlmig_sendq_new(&s->conn, s->o.workers, s->o.compress,
                           s->features);
    if (!s->q)
        return sender_fail(s, "out of memory for the send queue");
    if (pthread_create(&s->reply_thread, NULL, reply_main, s))
        return sender_fail(s, "cannot start the reply thread");
    s->reply_running = true;
    return 0;
}

/* ---- queueing helpers shared by the phases ---- */

int sender_queue_record(struct xlmig_sender *s, const void *rec, size_t len)
{
    if (xlmig_sendq_record(s->q, rec, len) < 0)
        return sender_fail(s, "send queue: %s", xlmig_sendq_error(s->q)
                           ? xlmig_sendq_error(s->q) : "stopped");
    return 0;
}

int sender_queue_extent(struct xlmig_sender *s, struct xlmig_send_disk *d,
                        uint64_t first, uint64_t count, uint8_t origin,
                        bool skip_zero)
{
    uint32_t max = xlmig_sendq_max_blocks(s->o.block_size);

    while (count) {
        uint32_t n = count < max ? (uint32_t)count : max;

        if (s->failed)
            return -1;
        if (xlmig_sendq_extent(s->q, &d->sq, first, n, origin,
                               skip_zero) < 0)
            return sender_fail(s, "send queue: %s", xlmig_sendq_error(s->q)
                               ? xlmig_sendq_error(s->q) : "stopped");
        first += n;
        count -= n;
    }
    return 0;
}

int sender_flush(struct xlmig_sender *s)
{
    if (xlmig_sendq_flush(s->q) < 0)
        return sender_fail(s, "send queue: %s", xlmig_sendq_error(s->q)
                           ? xlmig_sendq_error(s->q) : "stopped");
    return s->failed ? -1 : 0;
}

int sender_phase(struct xlmig_sender *s, uint32_t phase, uint32_t pass,
                 uint64_t remaining)
{
    uint8_t buf[XLMIG_HDR_LEN + 16];
    struct xlmig_phase p = { phase, pass, remaining };

    return sender_queue_record(s, buf, xlmig_enc_phase(buf, &p));
}

/* Waits until the receiver has written and flushed everything queued. */
int sender_sync(struct xlmig_sender *s)
{
    uint8_t buf[XLMIG_HDR_LEN + 8];
    struct timespec until;
    uint64_t seq;
    bool ok;

    pthread_mutex_lock(&s->lock);
    seq = ++s->sync_seq;
    pthread_mutex_unlock(&s->lock);
    if (sender_queue_record(s, buf, xlmig_enc_u64(buf, XLMIG_REC_SYNC,
                                                  seq)) < 0 ||
        sender_flush(s) < 0)
        return -1;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += s->o.ack_timeout_ms / 1000;
    pthread_mutex_lock(&s->lock);
    while (s->sync_acked != seq && !s->failed)
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
            break;
    ok = s->sync_acked == seq;
    pthread_mutex_unlock(&s->lock);
    if (!ok && !s->failed)
        return sender_fail(s, "timed out waiting for the receiver to flush");
    return ok ? 0 : -1;
}

uint64_t sender_pending_blocks(struct xlmig_sender *s)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < s->ndisks; i++)
        n += xlmig_bitmap_count(s->disks[i].pending);
    return n;
}

int sender_snapshot_all(struct xlmig_sender *s)
{
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct xlmig_send_disk *d = &s->disks[i];
        struct xlmig_vbd_stats vs;
        uint64_t n;

        if (d->vbd->ops->snapshot(d->vbd, d->pending, &n) < 0)
            return sender_fail(s, "disk %s: dirty snapshot failed: %s",
                               d->name, d->vbd->err);
        if (d->vbd->ops->stats(d->vbd, &vs) == 0 && vs.overflow)
            return sender_fail(s, "disk %s grew while it was being "
                               "migrated: the copy cannot be exact", d->name);
    }
    return 0;
}

/* ---- state, stop-copy, hand-off ---- */

int xlmig_sender_send_state(struct xlmig_sender *s, const void *blob,
                            size_t len)
{
    const size_t chunk = XLMIG_SENDQ_MAX_RECORD - XLMIG_HDR_LEN - 64;
    uint8_t *buf = malloc(XLMIG_SENDQ_MAX_RECORD);
    struct xlmig_state_end end = { .total = len,
                                   .crc = (uint32_t)crc32(0, Z_NULL, 0) };
    const uint8_t *p = blob;
    int rc = 0;

    if (!buf)
        return sender_fail(s, "out of memory");
    if (!(s->features & XLMIG_F_SIM_STATE)) {
        free(buf);
        return sender_fail(s, "receiver does not accept guest state");
    }
    for (size_t off = 0; off < len && !rc; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        end.crc = (uint32_t)crc32(end.crc, p + off, (uInt)n);
        rc = sender_queue_record(s, buf, xlmig_enc_blob(buf, XLMIG_REC_STATE,
                                                        p + off,
                                                        (uint32_t)n));
    }
    if (!rc)
        rc = sender_queue_record(s, buf, xlmig_enc_state_end(buf, &end));
    free(buf);
    return rc;
}

static int send_bitmap(struct xlmig_sender *s, struct xlmig_send_disk *d)
{
    const uint32_t max = 32768;
    struct xlmig_extent *e = malloc(max * sizeof(*e));
    uint8_t *buf = malloc(XLMIG_HDR_LEN + 8 + max * XLMIG_EXTENT_LEN);
    struct xlmig_bitmap_end end = { .disk = d->id, .total = 0 };
    uint64_t pos = 0;
    uint32_t n = 0;
    int rc = 0;

    if (!e || !buf) {
        free(e);
        free(buf);
        return sender_fail(s, "out of memory");
    }
    while (!rc) {
        bool more = xlmig_bitmap_next_extent(d->stale, &pos, 0, &e[n]);
        if (more) {
            end.total += e[n].count;
            n++;
        }
        if (n && (n == max || !more)) {
            rc = sender_queue_record(s, buf,
                                     xlmig_enc_extents(buf, XLMIG_REC_BITMAP,
                                                       d->id, e, n));
            n = 0;
        }
        if (!more)
            break;
    }
    if (!rc)
        rc = sender_queue_record(s, buf, xlmig_enc_bitmap_end(buf, &end));
    free(e);
    free(buf);
    return rc;
}

int xlmig_sender_stopcopy(struct xlmig_sender *s)
{
    struct xlmig_progress_ev ev = xlmig_progress_ev("stopcopy", "stopcopy");
    uint64_t final_bytes;
    double rate, eta;
    bool send_blocks;

    if (xlmig_sender_keepup_stop(s) < 0)
        return -1;
    s->st.t_stopcopy_start = xlmig_now_ns();
    if (!s->st.t_suspended)
        s->st.t_suspended = s->st.t_stopcopy_start;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct xlmig_send_disk *d = &s->disks[i];
        if (d->vbd->ops->quiesce(d->vbd, s->o.quiesce_timeout_ms) < 0)
            return sender_fail(s, "disk %s: quiesce failed: %s", d->name,
                               d->vbd->err);
        d->quiesced = true;
    }
    /* No request in flight any more: this snapshot is exact. */
    if (sender_snapshot_all(s) < 0)
        return -1;
    s->st.final_blocks = sender_pending_blocks(s);
    final_bytes = s->st.final_blocks * s->o.block_size;
    rate = sender_rate(s);
    eta = xlmig_conv_eta(final_bytes, rate);
    send_blocks = !s->o.postcopy || !(s->features & XLMIG_F_POSTCOPY) ||
                  final_bytes == 0 ||
                  (rate > 0 && eta * 1000.0 <= s->o.max_downtime_ms);
    s->st.postcopy = !send_blocks;

    ev.remaining_blocks = (int64_t)s->st.final_blocks;
    ev.remaining_bytes = (int64_t)final_bytes;
    ev.expected_downtime_ms = send_blocks ? eta * 1000.0 : 0;
    ev.message = send_blocks ? "sending the remaining blocks now"
                             : "handing the stale bitmap over (post-copy)";
    sender_event(s, &ev);

    if (sender_phase(s, XLMIG_PHASE_STOPCOPY, 0, s->st.final_blocks) < 0)
        return -1;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct xlmig_send_disk *d = &s->disks[i];
        uint64_t pos = 0;
        struct xlmig_extent e;

        if (send_blocks) {
            while (xlmig_bitmap_next_extent(d->pending, &pos, 0, &e))
                if (sender_queue_extent(s, d, e.start, e.count,
                                        XLMIG_ORIGIN_STOPCOPY, false) < 0)
                    return -1;
            xlmig_bitmap_clear_all(d->pending);
        } else {
            /* The pending set becomes the stale set post-copy pushes. */
            d->stale = d->pending;
            d->pending = xlmig_bitmap_new(d->nblocks);
            if (!d->pending)
                return sender_fail(s, "out of memory");
            if (send_bitmap(s, d) < 0)
                return -1;
        }
    }
    if (sender_sync(s) < 0)
        return -1;
    s->st.t_stopcopy_done = xlmig_now_ns();
    return 0;
}

int xlmig_sender_handoff(struct xlmig_sender *s)
{
    uint8_t buf[XLMIG_HDR_LEN];

    if (sender_wait(s, &s->got_ready, "the receiver to be ready") < 0)
        return -1;
    /* The point of no return. */
    if (sender_queue_record(s, buf, xlmig_enc_empty(buf, XLMIG_REC_GO)) < 0 ||
        sender_flush(s) < 0)
        return -1;
    s->st.t_go = xlmig_now_ns();
    if (sender_wait(s, &s->got_report, "the receiver's report") < 0)
        return -1;
    if (s->report)
        return sender_fail(s, "the destination could not start the guest "
                           "(status %d)", s->report);
    return 0;
}

/* ---- teardown ---- */

static void release_backend(struct xlmig_sender *s)
{
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct xlmig_send_disk *d = &s->disks[i];
        if (d->quiesced && d->vbd->ops->unquiesce(d->vbd) == 0)
            d->quiesced = false;
        if (d->tracking && d->vbd->ops->track_stop(d->vbd) == 0)
            d->tracking = false;
    }
}

void xlmig_sender_abort(struct xlmig_sender *s, const char *why)
{
    struct xlmig_progress_ev ev = xlmig_progress_ev("error", NULL);

    xlmig_conn_send_error(&s->conn, EIO, "sender aborted: %s", why);
    release_backend(s);
    ev.message = why;
    sender_event(s, &ev);
}

static void stop_reply_thread(struct xlmig_sender *s)
{
    if (!s->reply_running)
        return;
    if (write(s->wake[1], "x", 1) < 0) {
        /* The pipe cannot be full: one byte, written once. */
    }
    pthread_join(s->reply_thread, NULL);
    s->reply_running = false;
}

void xlmig_sender_destroy(struct xlmig_sender *s)
{
    xlmig_sender_keepup_stop(s);
    pthread_mutex_lock(&s->lock);
    s->finished = true;
    pthread_mutex_unlock(&s->lock);
    stop_reply_thread(s);
    xlmig_sendq_free(s->q);
    s->q = NULL;
    release_backend(s);
    for (unsigned i = 0; i < s->ndisks; i++) {
        xlmig_image_close(&s->disks[i].img);
        xlmig_bitmap_free(s->disks[i].pending);
        xlmig_bitmap_free(s->disks[i].stale);
    }
    free(s->dq);
    xlmig_conn_destroy(&s->conn);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cv);
}
