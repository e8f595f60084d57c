/*
 * The PUSH and stop-copy stream on the destination: DATA written to the
 * targets (writeback started early), the simulated guest's state, the
 * stale bitmap, and SYNC: flush before stop-copy, arm the gates in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dst_internal.h"

#define WRITEBACK_KICK (32u << 20)

/* Validates a DATA record against its disk; payload bytes into *len. */
int dst_check_data(struct xlmig_dest *r, const struct xlmig_data *d,
                    struct dst_disk **disk, uint64_t *off,
                    size_t *len)
{
    struct dst_disk *k;
    struct xlmig_error err;

    if (d->disk >= r->ndisks)
        return dst_fail(r, EPROTO, "DATA for unknown disk %u", d->disk);
    k = &r->disks[d->disk];
    if (xlmig_check_extent(d->first, d->count, k->nblocks, &err) < 0)
        return dst_fail(r, EPROTO, "DATA for disk %s: %s", k->name, err.msg);
    *off = d->first * k->block_size;
    if ((uint64_t)d->count * k->block_size > XLMIG_MAX_DATA)
        return dst_fail(r, EPROTO, "DATA for disk %s covers %u blocks, over the "
                         "%u-byte limit", k->name, d->count, XLMIG_MAX_DATA);
    *len = (size_t)d->count * k->block_size;
    if (*off + *len > k->size)
        *len = (size_t)(k->size - *off);
    if (d->encoding == XLMIG_ENC_RAW && d->payload_len != *len)
        return dst_fail(r, EPROTO, "DATA for disk %s: %u payload bytes for %zu "
                         "bytes of blocks", k->name, d->payload_len, *len);
    if ((d->encoding == XLMIG_ENC_ZLIB) && !(r->features & XLMIG_F_ZLIB))
        return dst_fail(r, EPROTO, "compressed DATA was not negotiated");
    *disk = k;
    return 0;
}

int dst_io_init(struct dst_io *io)
{
    memset(io, 0, sizeof(*io));
    io->inbuf = xlmig_alloc_io(XLMIG_MAX_DATA);
    return io->inbuf ? 0 : -1;
}

void dst_io_free(struct dst_io *io)
{
    xlmig_inflater_end(&io->inflater);
    free(io->inbuf);
    io->inbuf = NULL;
}

/* The payload as plain bytes (inflating into io->inbuf when compressed). */
int dst_payload(struct xlmig_dest *r, struct dst_io *io,
                const struct xlmig_data *d, size_t len, const uint8_t **out)
{
    struct xlmig_error err;

    if (d->encoding == XLMIG_ENC_RAW) {
        *out = d->payload;
        return 0;
    }
    if (xlmig_inflate(&io->inflater, d->payload, d->payload_len, io->inbuf,
                      len, &err) < 0)
        return dst_fail(r, EPROTO, "DATA for disk %s at block %llu: %s",
                         r->disks[d->disk].name,
                         (unsigned long long)d->first, err.msg);
    *out = io->inbuf;
    return 0;
}

/*
 * With several connections a block travels on its stripe's connection
 * only (wire.h): the order of its copies there is the order they were
 * sent, and the last one wins.  A record elsewhere would break that.
 */
static int check_stripe(struct xlmig_dest *r, unsigned conn,
                        const struct xlmig_data *d, const struct dst_disk *k)
{
    uint64_t stripe = xlmig_stripe_blocks(k->block_size);
    uint64_t last = d->first + d->count - 1;

    if (r->nconns <= 1)
        return 0;
    if (d->first / stripe != last / stripe ||
        xlmig_stripe_conn(d->first, k->block_size, r->nconns) != conn)
        return dst_fail(r, EPROTO, "DATA for disk %s, blocks %llu..%llu, "
                        "came on connection %u of %u: not its stripe's",
                        k->name, (unsigned long long)d->first,
                        (unsigned long long)last, conn + 1, r->nconns);
    return 0;
}

/*
 * Large aligned writes go past the page cache (O_DIRECT): filling fresh
 * page-cache pages cost most of the receiving CPU (a copy and the pages'
 * first touch), and the data is not read here before the guest runs;
 * small ones do not (image.c).  From an aligned buffer: the channel lands
 * large raw payloads aligned (conn.c); others are copied first.
 */
int dst_write_payload(struct dst_io *io, struct xlmig_image *im,
                      const uint8_t *p, size_t len, uint64_t off,
                      struct xlmig_error *err)
{
    if (xlmig_image_direct(im, len, off) && (uintptr_t)p % XLMIG_IO_ALIGN) {
        memcpy(io->inbuf, p, len);
        p = io->inbuf;
    }
    return xlmig_image_write_bulk(im, p, len, off, err);
}

int dst_apply_data(struct xlmig_dest *r, struct dst_io *io, unsigned conn,
                   const struct xlmig_rec *rec)
{
    struct dst_disk *k;
    struct xlmig_data d;
    const uint8_t *p;
    struct xlmig_error err;
    uint64_t off;
    size_t len;

    if (xlmig_dec_data(rec, &d, &err) < 0)
        return dst_fail(r, EPROTO, "bad DATA record: %s", err.msg);
    if (d.origin != XLMIG_ORIGIN_PUSH && d.origin != XLMIG_ORIGIN_STOPCOPY)
        return dst_fail(r, EPROTO, "post-copy DATA before the hand-off");
    if (dst_check_data(r, &d, &k, &off, &len) < 0 ||
        check_stripe(r, conn, &d, k) < 0 ||
        dst_verify_before_write(r, &d) < 0)
        return -1;
    __atomic_fetch_add(&r->st.records, 1, __ATOMIC_RELAXED);
    if (d.encoding == XLMIG_ENC_ZERO) {
        if (xlmig_image_zero(&k->img, off, len, &err) < 0)
            return dst_fail(r, EIO, "disk %s: %s", k->name, err.msg);
        __atomic_fetch_add(&r->st.zero_bytes, len, __ATOMIC_RELAXED);
        dst_offline_written(r, k, d.first, d.count);
        return dst_verify_after_write(r, &d);
    }
    if (dst_payload(r, io, &d, len, &p) < 0)
        return -1;
    if (dst_write_payload(io, &k->img, p, len, off, &err) < 0)
        return dst_fail(r, EIO, "disk %s: %s", k->name, err.msg);
    if (dst_verify_after_write(r, &d) < 0)
        return -1;
    dst_offline_written(r, k, d.first, d.count);
    __atomic_fetch_add(&r->st.data_bytes, len, __ATOMIC_RELAXED);
    /* Start writeback early so that the flushes at SYNC are short. */
    if (__atomic_add_fetch(&k->unflushed, len, __ATOMIC_RELAXED) >=
            WRITEBACK_KICK && !k->img.is_blk &&
        __atomic_exchange_n(&k->unflushed, 0, __ATOMIC_RELAXED) >=
            WRITEBACK_KICK)
        sync_file_range(k->img.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return 0;
}

static int take_state(struct xlmig_dest *r, const struct xlmig_rec *rec)
{
    uint8_t *n;

    if (!(r->features & XLMIG_F_SIM_STATE))
        return dst_fail(r, EPROTO, "guest state was not negotiated");
    if (r->state_len + rec->len > XLMIG_MAX_STATE)
        return dst_fail(r, EPROTO, "guest state over %u bytes", XLMIG_MAX_STATE);
    n = realloc(r->state, r->state_len + rec->len + 1);
    if (!n)
        return dst_fail(r, EIO, "out of memory for the guest state");
    r->state = n;
    memcpy(r->state + r->state_len, rec->body, rec->len);
    r->state_len += rec->len;
    return 0;
}

static int end_state(struct xlmig_dest *r, const struct xlmig_rec *rec)
{
    struct xlmig_state_end e;
    struct xlmig_error err;
    uint32_t crc;
    int rc;

    if (xlmig_dec_state_end(rec, &e, &err) < 0)
        return dst_fail(r, EPROTO, "bad STATE_END: %s", err.msg);
    crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), r->state, (uInt)r->state_len);
    if (e.total != r->state_len || e.crc != crc)
        return dst_fail(r, EPROTO, "guest state damaged: %zu bytes with crc %08x, "
                         "sender says %llu bytes with crc %08x", r->state_len,
                         crc, (unsigned long long)e.total, e.crc);
    if (!r->h.guest_state)
        return dst_fail(r, EIO, "guest state arrived but nothing here takes it");
    rc = r->h.guest_state(r->h.opaque, r, r->state, r->state_len);
    free(r->state);
    r->state = NULL;
    r->state_len = 0;
    if (rc < 0)
        return dst_fail(r, -rc, "loading the guest state failed");
    return 0;
}

static int take_bitmap(struct xlmig_dest *r, const struct xlmig_rec *rec)
{
    struct xlmig_extent_list l;
    struct dst_disk *k;
    struct xlmig_error err;

    if (!r->in_stopcopy)
        return dst_fail(r, EPROTO, "BITMAP before stop-copy");
    if (!(r->features & XLMIG_F_POSTCOPY))
        return dst_fail(r, EIO, "post-copy was not negotiated");
    if (xlmig_dec_extents(rec, &l, &err) < 0)
        return dst_fail(r, EPROTO, "bad BITMAP: %s", err.msg);
    if (l.disk >= r->ndisks)
        return dst_fail(r, EPROTO, "BITMAP for unknown disk %u", l.disk);
    k = &r->disks[l.disk];
    if (k->bitmap_ended)
        return dst_fail(r, EPROTO, "BITMAP for disk %s after its end", k->name);
    if (!k->stale && !(k->stale = xlmig_bitmap_new(k->nblocks)))
        return dst_fail(r, EIO, "out of memory");
    for (uint32_t i = 0; i < l.n; i++) {
        struct xlmig_extent e;
        xlmig_extent_at(&l, i, &e);
        if (xlmig_check_extent(e.start, e.count, k->nblocks, &err) < 0)
            return dst_fail(r, EPROTO, "BITMAP for disk %s: %s", k->name, err.msg);
        xlmig_bitmap_set_range(k->stale, e.start, e.count);
    }
    return 0;
}

static int end_bitmap(struct xlmig_dest *r, const struct xlmig_rec *rec)
{
    struct xlmig_bitmap_end e;
    struct dst_disk *k;
    struct xlmig_error err;
    uint64_t have;

    if (xlmig_dec_bitmap_end(rec, &e, &err) < 0)
        return dst_fail(r, EPROTO, "bad BITMAP_END: %s", err.msg);
    if (e.disk >= r->ndisks)
        return dst_fail(r, EPROTO, "BITMAP_END for unknown disk %u", e.disk);
    k = &r->disks[e.disk];
    have = k->stale ? xlmig_bitmap_count(k->stale) : 0;
    /* Overlapping or missing extents show up here. */
    if (have != e.total)
        return dst_fail(r, EPROTO, "stale bitmap for disk %s has %llu blocks, the "
                         "sender counted %llu", k->name,
                         (unsigned long long)have,
                         (unsigned long long)e.total);
    k->bitmap_ended = true;
    return 0;
}

/*
 * Flushes the targets (before stop-copy); after stop-copy, arms the gates.
 * With --verify, every check of what came before is done first: *again
 * says that blocks sent in stop-copy read back wrong and the source sends
 * them once more (without post-copy; with it, they become stale).
 */
static int do_sync(struct xlmig_dest *r, const struct xlmig_rec *rec,
                   bool *again)
{
    uint8_t buf[XLMIG_HDR_LEN + 8];
    struct xlmig_error err;
    uint64_t seq;
    bool unresolved;

    *again = false;
    if (xlmig_dec_u64(rec, &seq, &err) < 0)
        return dst_fail(r, EPROTO, "bad SYNC: %s", err.msg);
    /* Everything before it on every connection is written. */
    if (dst_barrier(r, seq) < 0)
        return -1;
    /* ... and checked (--verify). */
    if (dst_verify_drain(r, &unresolved) < 0)
        return -1;
    if (unresolved && r->in_stopcopy) {
        /* A stale bitmap came: post-copy fetches them again. */
        if (r->ndisks && r->disks[0].bitmap_ended) {
            if (dst_verify_unresolved_to_stale(r) < 0)
                return -1;
        } else {
            *again = true;
        }
    }
    /* The final SYNC: once acknowledged, the source may close the extra
     * connections at any moment -- their end is no failure from now. */
    if (r->in_stopcopy && !*again)
        __atomic_store_n(&r->xfinal, true, __ATOMIC_RELEASE);
    /*
     * Inside the downtime, written is enough: the destination's VBD reads
     * the same page cache, and until DONE (which we send only after a
     * flush) the source keeps every block in its own image.
     */
    for (unsigned i = 0; i < r->ndisks && !r->in_stopcopy; i++)
        if (xlmig_image_sync(&r->disks[i].img, &err) < 0)
            return dst_fail(r, EIO, "disk %s: %s", r->disks[i].name, err.msg);
    if (r->in_stopcopy && !*again && dst_arm_gates(r) < 0)
        return -1;
    /* Cold: what is flushed (and checked) now is held for a next attempt. */
    if (dst_offline_checkpoint(r, true) < 0)
        return -1;
    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_u64(buf, XLMIG_REC_SYNC_ACK,
                                                     seq)) < 0)
        return dst_fail(r, EIO, "sending SYNC_ACK: %s", r->conn.err.msg);
    /* The final SYNC: from the hand-off on, one connection. */
    if (r->in_stopcopy && !*again)
        dst_close_extras(r);
    return 0;
}

/*
 * Progress as the destination sees it: of the set the source announced
 * for the phase (the pass), the bytes received so far; the payload and
 * wire rates measured here.  (Zero blocks the source skips never arrive:
 * a push may end short of its total.)
 */
struct dst_ticker {
    const char *phase;
    int pass;
    uint64_t total, base;       /* bytes of the set; received at its start */
    uint64_t t_tick, t_sample;  /* ns */
    uint64_t got_sample, wire_sample;
    double rate, wire_rate;
};

#define DST_TICK_NS 500000000ull

static uint64_t received(const struct xlmig_dest *r)
{
    return __atomic_load_n(&r->st.data_bytes, __ATOMIC_RELAXED) +
           __atomic_load_n(&r->st.zero_bytes, __ATOMIC_RELAXED);
}

static void ticker_phase(struct xlmig_dest *r, struct dst_ticker *t,
                         const struct xlmig_phase *ph)
{
    struct xlmig_event ev;
    uint32_t bs = r->ndisks ? r->disks[0].block_size : 0;

    t->phase = ph->phase == XLMIG_PHASE_FULL ? "push"
               : ph->phase == XLMIG_PHASE_DIRTY ? "dirty" : "stopcopy";
    t->pass = (int)ph->pass;            /* 0 outside the dirty passes */
    t->total = ph->remaining * bs;
    t->base = received(r);
    t->t_tick = xlmig_now_ns();
    ev = xlmig_event_make("phase", t->phase);
    ev.pass = t->pass;
    ev.remaining_blocks = (int64_t)ph->remaining;
    ev.total_blocks = (int64_t)ph->remaining;
    if (bs) {
        ev.block_size = bs;
        ev.total_bytes = (int64_t)t->total;
        ev.remaining_bytes = (int64_t)t->total;
    }
    ev.sent_bytes = (int64_t)received(r);
    ev.wire_bytes = (int64_t)dst_wire_in(r);
    dst_event(r, &ev);
}

static void ticker_data(struct xlmig_dest *r, struct dst_ticker *t)
{
    uint64_t now = xlmig_now_ns(), got = received(r);
    uint64_t wire = dst_wire_in(r), done, left;
    struct xlmig_event ev;

    if (!t->phase)
        return;
    if (!t->t_sample) {
        t->t_sample = now;
        t->got_sample = got;
        t->wire_sample = wire;
    } else if (now - t->t_sample >= DST_TICK_NS / 2) {
        double dt = (double)(now - t->t_sample) * 1e-9;
        double inst = (double)(got - t->got_sample) / dt;
        double winst = (double)(wire - t->wire_sample) / dt;

        t->rate = t->rate > 0 ? (t->rate + inst) / 2 : inst;
        t->wire_rate = t->wire_rate > 0 ? (t->wire_rate + winst) / 2 : winst;
        t->t_sample = now;
        t->got_sample = got;
        t->wire_sample = wire;
    }
    if (now - t->t_tick < DST_TICK_NS)
        return;
    t->t_tick = now;
    done = got - t->base;
    left = t->total > done ? t->total - done : 0;
    ev = xlmig_event_make("progress", t->phase);
    ev.pass = t->pass;
    ev.total_bytes = (int64_t)t->total;
    ev.remaining_bytes = (int64_t)left;
    ev.sent_bytes = (int64_t)got;
    ev.wire_bytes = (int64_t)wire;
    if (t->rate > 0) {
        ev.rate_Bps = t->rate;
        ev.eta_s = (double)left / t->rate;
    }
    if (t->wire_rate > 0)
        ev.wire_rate_Bps = t->wire_rate;
    dst_event(r, &ev);
}

int dst_receive(struct xlmig_dest *r)
{
    struct xlmig_rec rec;
    struct xlmig_phase ph;
    struct xlmig_error err;
    bool again;
    struct dst_ticker tk = { .phase = NULL };

    for (;;) {
        /* An extra connection's thread may have failed. */
        if (__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE))
            return -1;
        if (dst_next(r, &rec, r->in_stopcopy ? "stop-copy" : "PUSH") < 0)
            return -1;
        switch (rec.type) {
        case XLMIG_REC_PHASE:
            if (xlmig_dec_phase(&rec, &ph, &err) < 0)
                return dst_fail(r, EPROTO, "bad PHASE: %s", err.msg);
            if (ph.phase == XLMIG_PHASE_POSTCOPY)
                return dst_fail(r, EPROTO, "post-copy announced before the "
                                 "hand-off");
            if (ph.phase == XLMIG_PHASE_STOPCOPY)
                r->in_stopcopy = true;
            else if (r->in_stopcopy)
                return dst_fail(r, EPROTO, "PUSH phase after stop-copy");
            ticker_phase(r, &tk, &ph);
            break;
        case XLMIG_REC_DATA:
            if (dst_apply_data(r, &r->io, 0, &rec) < 0 ||
                dst_offline_checkpoint(r, false) < 0)
                return -1;
            ticker_data(r, &tk);
            break;
        case XLMIG_REC_DIGEST:
            if (dst_verify_digest(r, &rec) < 0)
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
            if (do_sync(r, &rec, &again) < 0)
                return -1;
            if (r->in_stopcopy && !again) {
                struct xlmig_event ev = xlmig_event_make("phase",
                                                         "handoff");
                r->st.t_sync = xlmig_now_ns();
                dst_event(r, &ev);      /* READY / GO next */
                return 0;
            }
            break;
        default:
            return dst_fail(r, EPROTO, "protocol error: unexpected %s record during "
                             "%s", xlmig_rec_name(rec.type),
                             r->in_stopcopy ? "stop-copy" : "PUSH");
        }
    }
}
