/*
 * Destination side up to the hand-off: negotiation, target creation, the
 * PUSH and stop-copy stream, arming the gate.  Post-copy is recv_pull.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "receiver.h"
#include "receiver_int.h"

#define WRITEBACK_KICK (32u << 20)

int recv_fail(struct xlmig_receiver *r, const char *fmt, ...)
{
    va_list ap;

    if (!r->failed) {
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    return -1;
}

void recv_event(struct xlmig_receiver *r, const struct xlmig_progress_ev *ev)
{
    if (r->progress)
        xlmig_progress_emit(r->progress, ev);
}

int xlmig_receiver_init(struct xlmig_receiver *r,
                        const struct xlmig_target_policy *policy,
                        const struct xlmig_receiver_hooks *hooks,
                        struct xlmig_progress *progress, int rfd, int wfd)
{
    memset(r, 0, sizeof(*r));
    r->policy = *policy;
    if (hooks)
        r->hooks = *hooks;
    r->progress = progress;
    r->wake[0] = r->wake[1] = -1;
    r->st.t_start = xlmig_now_ns();
    pthread_mutex_init(&r->vbd_lock, NULL);
    r->inbuf = xlmig_alloc_io(XLMIG_MAX_DATA);
    if (!r->inbuf || xlmig_conn_init(&r->conn, rfd, wfd) < 0)
        return recv_fail(r, "out of memory");
    return 0;
}

void xlmig_receiver_attach_vbd(struct xlmig_receiver *r, unsigned i,
                               struct xlmig_vbd *vbd)
{
    if (i < r->ndisks)
        r->disks[i].vbd = vbd;
}

int recv_next(struct xlmig_receiver *r, struct xlmig_rec *rec,
                     const char *during)
{
    int rc = xlmig_conn_recv(&r->conn, rec);

    if (rc < 0)
        return recv_fail(r, "data channel during %s: %s", during,
                         r->conn.err);
    if (rc == 0)
        return recv_fail(r, "the sender closed the data channel during %s",
                         during);
    if (rec->type == XLMIG_REC_ERROR) {
        struct xlmig_error_rec e;
        char err[XLMIG_ERRLEN];
        if (xlmig_dec_error(rec, &e, err) < 0)
            return recv_fail(r, "sender failed; its ERROR is malformed: %s",
                             err);
        return recv_fail(r, "sender: %s", e.reason);
    }
    return 0;
}

/* ---- negotiation ---- */

static int add_disk(struct xlmig_receiver *r, const struct xlmig_disk *dr)
{
    struct xlmig_recv_disk *d;
    char err[XLMIG_ERRLEN];

    if (r->ndisks == XLMIG_RECV_MAX_DISKS)
        return recv_fail(r, "too many disks (at most %d)",
                         XLMIG_RECV_MAX_DISKS);
    if (dr->id != r->ndisks)
        return recv_fail(r, "disk ids must be 0, 1, ... in order; got %u",
                         dr->id);
    for (unsigned i = 0; i < r->ndisks; i++)
        if (!strcmp(r->disks[i].name, dr->name))
            return recv_fail(r, "disk %s announced twice", dr->name);
    d = &r->disks[r->ndisks];
    memset(d, 0, sizeof(*d));
    d->img.fd = -1;
    d->id = dr->id;
    snprintf(d->name, sizeof(d->name), "%s", dr->name);
    d->block_size = dr->block_size;
    d->size = dr->size;
    d->allocated = dr->allocated;
    d->nblocks = (dr->size + dr->block_size - 1) / dr->block_size;
    if (xlmig_target_resolve(&r->policy, d->name, d->path, sizeof(d->path),
                             err) < 0)
        return recv_fail(r, "%s", err);
    /* Count it before creating, so that a failure rolls back what exists. */
    r->ndisks++;
    if (xlmig_target_create(&r->policy, d->path, d->size, d->allocated,
                            &d->created, &d->zeroed, err) < 0)
        return recv_fail(r, "disk %s: %s", d->name, err);
    /* Only what we created (O_EXCL) is ever the janitor's to delete. */
    if (d->created && r->janitor &&
        xlmig_janitor_add_file(r->janitor, d->path) < 0)
        return recv_fail(r, "disk %s: cannot register %s for cleanup",
                         d->name, d->path);
    if (xlmig_image_open(&d->img, d->path, true, err) < 0)
        return recv_fail(r, "disk %s: %s", d->name, err);
    return 0;
}

int xlmig_receiver_negotiate(struct xlmig_receiver *r)
{
    uint8_t buf[XLMIG_HDR_LEN + 128];
    struct xlmig_hello h = { 1, XLMIG_VERSION, 0, XLMIG_ROLE_RECEIVER }, peer;
    struct xlmig_rec rec;
    char err[XLMIG_ERRLEN];
    struct xlmig_progress_ev ev = xlmig_progress_ev("phase", "negotiate");

    recv_event(r, &ev);
    if (recv_next(r, &rec, "negotiation") < 0)
        return -1;
    if (xlmig_dec_hello(&rec, &peer, err) < 0)
        return recv_fail(r, "bad HELLO from sender: %s", err);
    if (peer.role != XLMIG_ROLE_SENDER)
        return recv_fail(r, "the peer is not a sender");
    if (peer.version_min > XLMIG_VERSION)
        return recv_fail(r, "sender speaks protocol versions %u..%u, we speak "
                         "1..%u", peer.version_min, peer.version_max,
                         XLMIG_VERSION);
    r->features = peer.features & XLMIG_F_ALL;
    h.features = r->features;
    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_hello(buf, &h)) < 0)
        return recv_fail(r, "sending HELLO: %s", r->conn.err);

    /* n DISK records, then the targets exist, then n acks. */
    for (unsigned i = 0, n = 1; i < n; i++) {
        struct xlmig_disk dr;

        if (recv_next(r, &rec, "negotiation") < 0)
            return -1;
        if (xlmig_dec_disk(&rec, &dr, err) < 0)
            return recv_fail(r, "bad DISK record: %s", err);
        if (i == 0)
            n = dr.count;
        if (dr.count != n || dr.id != i || n > XLMIG_RECV_MAX_DISKS)
            return recv_fail(r, "DISK %u of %u does not follow disk %u of "
                             "%u (at most %d disks)", dr.id, dr.count, i, n,
                             XLMIG_RECV_MAX_DISKS);
        if (add_disk(r, &dr) < 0)
            return -1;
    }
    if (r->hooks.targets_ready && r->hooks.targets_ready(r->hooks.opaque, r))
        return recv_fail(r, "%s", r->err[0] ? r->err
                                             : "preparing the targets failed");
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct xlmig_disk_ack a = { .id = i,
                                    .flags = r->disks[i].zeroed
                                                 ? XLMIG_ACK_ZEROED : 0 };
        if (xlmig_conn_send(&r->conn, buf, xlmig_enc_disk_ack(buf, &a)) < 0)
            return recv_fail(r, "sending DISK_ACK: %s", r->conn.err);
    }
    return 0;
}

/* ---- PUSH and stop-copy ---- */

/* Validates a DATA record against its disk; payload bytes into *len. */
int recv_check_data(struct xlmig_receiver *r, const struct xlmig_data *d,
                    struct xlmig_recv_disk **disk, uint64_t *off,
                    size_t *len)
{
    struct xlmig_recv_disk *k;
    char err[XLMIG_ERRLEN];

    if (d->disk >= r->ndisks)
        return recv_fail(r, "DATA for unknown disk %u", d->disk);
    k = &r->disks[d->disk];
    if (xlmig_check_extent(d->first, d->count, k->nblocks, err) < 0)
        return recv_fail(r, "DATA for disk %s: %s", k->name, err);
    *off = d->first * k->block_size;
    if ((uint64_t)d->count * k->block_size > XLMIG_MAX_DATA)
        return recv_fail(r, "DATA for disk %s covers %u blocks, over the "
                         "%u-byte limit", k->name, d->count, XLMIG_MAX_DATA);
    *len = (size_t)d->count * k->block_size;
    if (*off + *len > k->size)
        *len = (size_t)(k->size - *off);
    if (d->encoding == XLMIG_ENC_RAW && d->payload_len != *len)
        return recv_fail(r, "DATA for disk %s: %u payload bytes for %zu "
                         "bytes of blocks", k->name, d->payload_len, *len);
    if ((d->encoding == XLMIG_ENC_ZLIB) && !(r->features & XLMIG_F_ZLIB))
        return recv_fail(r, "compressed DATA was not negotiated");
    *disk = k;
    return 0;
}

/* The payload as plain bytes (inflating into r->inbuf when compressed). */
int recv_payload(struct xlmig_receiver *r, const struct xlmig_data *d,
                 size_t len, const uint8_t **out)
{
    char err[XLMIG_ERRLEN];

    if (d->encoding == XLMIG_ENC_RAW) {
        *out = d->payload;
        return 0;
    }
    if (xlmig_inflate(&r->inflater, d->payload, d->payload_len, r->inbuf, len,
                      err) < 0)
        return recv_fail(r, "DATA for disk %s at block %llu: %s",
                         r->disks[d->disk].name,
                         (unsigned long long)d->first, err);
    *out = r->inbuf;
    return 0;
}

static int apply_data(struct xlmig_receiver *r, const struct xlmig_rec *rec)
{
    struct xlmig_recv_disk *k;
    struct xlmig_data d;
    const uint8_t *p;
    char err[XLMIG_ERRLEN];
    uint64_t off;
    size_t len;

    if (xlmig_dec_data(rec, &d, err) < 0)
        return recv_fail(r, "bad DATA record: %s", err);
    if (d.origin != XLMIG_ORIGIN_PUSH && d.origin != XLMIG_ORIGIN_STOPCOPY)
        return recv_fail(r, "post-copy DATA before the hand-off");
    if (recv_check_data(r, &d, &k, &off, &len) < 0)
        return -1;
    r->st.records++;
    if (d.encoding == XLMIG_ENC_ZERO) {
        if (xlmig_image_zero(&k->img, off, len, err) < 0)
            return recv_fail(r, "disk %s: %s", k->name, err);
        r->st.zero_bytes += len;
        return 0;
    }
    if (recv_payload(r, &d, len, &p) < 0)
        return -1;
    if (xlmig_image_write(&k->img, p, len, off, err) < 0)
        return recv_fail(r, "disk %s: %s", k->name, err);
    r->st.data_bytes += len;
    /* Start writeback early so that the flushes at SYNC are short. */
    k->unflushed += len;
    if (k->unflushed >= WRITEBACK_KICK && !k->img.is_blk) {
        sync_file_range(k->img.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        k->unflushed = 0;
    }
    return 0;
}

static int take_state(struct xlmig_receiver *r, const struct xlmig_rec *rec)
{
    uint8_t *n;

    if (!(r->features & XLMIG_F_SIM_STATE))
        return recv_fail(r, "guest state was not negotiated");
    if (r->state_len + rec->len > XLMIG_MAX_STATE)
        return recv_fail(r, "guest state over %u bytes", XLMIG_MAX_STATE);
    n = realloc(r->state, r->state_len + rec->len + 1);
    if (!n)
        return recv_fail(r, "out of memory for the guest state");
    r->state = n;
    memcpy(r->state + r->state_len, rec->body, rec->len);
    r->state_len += rec->len;
    return 0;
}

static int end_state(struct xlmig_receiver *r, const struct xlmig_rec *rec)
{
    struct xlmig_state_end e;
    char err[XLMIG_ERRLEN];
    uint32_t crc;
    int rc;

    if (xlmig_dec_state_end(rec, &e, err) < 0)
        return recv_fail(r, "bad STATE_END: %s", err);
    crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), r->state, (uInt)r->state_len);
    if (e.total != r->state_len || e.crc != crc)
        return recv_fail(r, "guest state damaged: %zu bytes with crc %08x, "
                         "sender says %llu bytes with crc %08x", r->state_len,
                         crc, (unsigned long long)e.total, e.crc);
    if (!r->hooks.guest_state)
        return recv_fail(r, "guest state arrived but nothing here takes it");
    rc = r->hooks.guest_state(r->hooks.opaque, r, r->state, r->state_len);
    free(r->state);
    r->state = NULL;
    r->state_len = 0;
    if (rc)
        return recv_fail(r, "%s", r->err[0] ? r->err
                                             : "loading the guest state failed");
    return 0;
}

static int take_bitmap(struct xlmig_receiver *r, const struct xlmig_rec *rec)
{
    struct xlmig_extent_list l;
    struct xlmig_recv_disk *k;
    char err[XLMIG_ERRLEN];

    if (!r->in_stopcopy)
        return recv_fail(r, "BITMAP before stop-copy");
    if (!(r->features & XLMIG_F_POSTCOPY))
        return recv_fail(r, "post-copy was not negotiated");
    if (xlmig_dec_extents(rec, &l, err) < 0)
        return recv_fail(r, "bad BITMAP: %s", err);
    if (l.disk >= r->ndisks)
        return recv_fail(r, "BITMAP for unknown disk %u", l.disk);
    k = &r->disks[l.disk];
    if (k->bitmap_ended)
        return recv_fail(r, "BITMAP for disk %s after its end", k->name);
    if (!k->stale && !(k->stale = xlmig_bitmap_new(k->nblocks)))
        return recv_fail(r, "out of memory");
    for (uint32_t i = 0; i < l.n; i++) {
        struct xlmig_extent e;
        xlmig_extent_at(&l, i, &e);
        if (xlmig_check_extent(e.start, e.count, k->nblocks, err) < 0)
            return recv_fail(r, "BITMAP for disk %s: %s", k->name, err);
        xlmig_bitmap_set_range(k->stale, e.start, e.count);
    }
    return 0;
}

static int end_bitmap(struct xlmig_receiver *r, const struct xlmig_rec *rec)
{
    struct xlmig_bitmap_end e;
    struct xlmig_recv_disk *k;
    char err[XLMIG_ERRLEN];
    uint64_t have;

    if (xlmig_dec_bitmap_end(rec, &e, err) < 0)
        return recv_fail(r, "bad BITMAP_END: %s", err);
    if (e.disk >= r->ndisks)
        return recv_fail(r, "BITMAP_END for unknown disk %u", e.disk);
    k = &r->disks[e.disk];
    have = k->stale ? xlmig_bitmap_count(k->stale) : 0;
    /* Overlapping or missing extents show up here. */
    if (have != e.total)
        return recv_fail(r, "stale bitmap for disk %s has %llu blocks, the "
                         "sender counted %llu", k->name,
                         (unsigned long long)have,
                         (unsigned long long)e.total);
    k->bitmap_ended = true;
    return 0;
}

/* Flushes the targets (before stop-copy); after stop-copy, arms the gates. */
static int do_sync(struct xlmig_receiver *r, const struct xlmig_rec *rec)
{
    uint8_t buf[XLMIG_HDR_LEN + 8];
    char err[XLMIG_ERRLEN];
    uint64_t seq;

    if (xlmig_dec_u64(rec, &seq, err) < 0)
        return recv_fail(r, "bad SYNC: %s", err);
    /*
     * Inside the downtime, written is enough: the destination's VBD reads
     * the same page cache, and until DONE (which we send only after a
     * flush) the source keeps every block in its own image.
     */
    for (unsigned i = 0; i < r->ndisks && !r->in_stopcopy; i++)
        if (xlmig_image_sync(&r->disks[i].img, err) < 0)
            return recv_fail(r, "disk %s: %s", r->disks[i].name, err);
    if (r->in_stopcopy && recv_arm_gates(r) < 0)
        return -1;
    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_u64(buf, XLMIG_REC_SYNC_ACK,
                                                     seq)) < 0)
        return recv_fail(r, "sending SYNC_ACK: %s", r->conn.err);
    return 0;
}

int xlmig_receiver_receive(struct xlmig_receiver *r)
{
    struct xlmig_rec rec;
    struct xlmig_phase ph;
    char err[XLMIG_ERRLEN];

    for (;;) {
        if (recv_next(r, &rec, r->in_stopcopy ? "stop-copy" : "PUSH") < 0)
            return -1;
        switch (rec.type) {
        case XLMIG_REC_PHASE: {
            struct xlmig_progress_ev ev;
            if (xlmig_dec_phase(&rec, &ph, err) < 0)
                return recv_fail(r, "bad PHASE: %s", err);
            if (ph.phase == XLMIG_PHASE_POSTCOPY)
                return recv_fail(r, "post-copy announced before the "
                                 "hand-off");
            if (ph.phase == XLMIG_PHASE_STOPCOPY)
                r->in_stopcopy = true;
            else if (r->in_stopcopy)
                return recv_fail(r, "PUSH phase after stop-copy");
            ev = xlmig_progress_ev("phase",
                                   ph.phase == XLMIG_PHASE_FULL ? "push"
                                   : ph.phase == XLMIG_PHASE_DIRTY ? "dirty"
                                                                   : "stopcopy");
            ev.pass = (int)ph.pass;
            ev.remaining_blocks = (int64_t)ph.remaining;
            recv_event(r, &ev);
            break;
        }
        case XLMIG_REC_DATA:
            if (apply_data(r, &rec) < 0)
                return -1;
            break;
        case XLMIG_REC_STATE:
            if (take_state(r, &rec) < 0)
                return -1;
            break;
        case XLMIG_REC_STATE_END:
            if (end_state(r, &rec) < 0)
                return -1;
            break;
        case XLMIG_REC_BITMAP:
            if (take_bitmap(r, &rec) < 0)
                return -1;
            break;
        case XLMIG_REC_BITMAP_END:
            if (end_bitmap(r, &rec) < 0)
                return -1;
            break;
        case XLMIG_REC_SYNC:
            if (do_sync(r, &rec) < 0)
                return -1;
            if (r->in_stopcopy) {
                r->st.t_sync = xlmig_now_ns();
                return 0;
            }
            break;
        default:
            return recv_fail(r, "protocol error: unexpected %s record during "
                             "%s", xlmig_rec_name(rec.type),
                             r->in_stopcopy ? "stop-copy" : "PUSH");
        }
    }
}

int xlmig_receiver_handoff(struct xlmig_receiver *r)
{
    uint8_t buf[XLMIG_HDR_LEN + 8];
    struct xlmig_rec rec;
    char err[XLMIG_ERRLEN];
    int rc;

    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_empty(buf,
                                                       XLMIG_REC_READY)) < 0)
        return recv_fail(r, "sending READY: %s", r->conn.err);
    if (recv_next(r, &rec, "the hand-off") < 0)
        return -1;
    if (rec.type != XLMIG_REC_GO || xlmig_dec_empty(&rec, err) < 0)
        return recv_fail(r, "protocol error: expected GO, got %s",
                         xlmig_rec_name(rec.type));
    r->got_go = true;
    r->st.t_go = xlmig_now_ns();
    rc = r->hooks.start_guest ? r->hooks.start_guest(r->hooks.opaque, r) : 0;
    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_report(buf, rc)) < 0)
        return recv_fail(r, "sending REPORT: %s", r->conn.err);
    if (rc)
        return recv_fail(r, "%s", r->err[0] ? r->err
                                             : "starting the guest failed");
    return 0;
}

void xlmig_receiver_abort(struct xlmig_receiver *r, const char *why)
{
    struct xlmig_progress_ev ev = xlmig_progress_ev("error", NULL);

    xlmig_conn_send_error(&r->conn, EIO, "receiver aborted: %s", why);
    xlmig_conn_linger(&r->conn, 2000);
    if (!r->got_go) {
        /* Before GO the source still has everything: remove our copy. */
        for (unsigned i = 0; i < r->ndisks; i++) {
            struct xlmig_recv_disk *d = &r->disks[i];
            xlmig_image_close(&d->img);
            if (d->created && unlink(d->path) == 0)
                d->created = false;
        }
    }
    ev.message = why;
    recv_event(r, &ev);
}

void xlmig_receiver_destroy(struct xlmig_receiver *r)
{
    recv_stop_watcher(r);
    for (unsigned i = 0; i < r->ndisks; i++) {
        xlmig_image_close(&r->disks[i].img);
        xlmig_bitmap_free(r->disks[i].stale);
        xlmig_bitmap_free(r->disks[i].remaining);
    }
    xlmig_inflater_end(&r->inflater);
    free(r->inbuf);
    free(r->state);
    xlmig_conn_destroy(&r->conn);
    pthread_mutex_destroy(&r->vbd_lock);
}
