/*
 * Cold migration on the source (opts.offline): the guest is stopped, so
 * its images do not change; no tracking, no dirty pass, no suspend.
 *
 *   negotiate  HELLO(offline), OFFLINE(identity of the images), DISK /
 *              DISK_ACK; a resumed target's BITMAP records: what it has
 *   copy       the allocated blocks it does not have, once (zeros skipped
 *              when the target reads as zeros), compressed when it pays,
 *              each checked with --verify
 *   config     the suspend hook, if any, may send the guest's
 *              configuration (xlmig_source_send_state)
 *   final      PHASE(stop-copy), SYNC: flushed and checked; what read back
 *              wrong goes again
 *
 * then the hand-off and DONE as for a live migration without post-copy.
 * A cut anywhere before GO fails the run; the destination keeps what it
 * flushed, and the next run with the same (unchanged) images sends only
 * the rest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "src_internal.h"

#define TICK_NS 500000000ull

/* SHA-256 over what identifies the images as they are now. */
static int identity(struct xlmig_source *s, uint8_t *id)
{
    char text[XLMIG_MAX_DISKS * 256 + 64];
    size_t p = 0;

    xlmig_json_fmt(text, sizeof(text), &p, "xlmig-offline 1 bs %u n %u\n",
                   s->o.block_size, s->ndisks);
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        struct stat st;

        if (fstat(d->img.fd, &st) < 0)
            return src_fail(s, errno, "disk %s: %s", d->name,
                            strerror(errno));
        /* A block device's node says nothing of its content: its size and
         * device number only (documented). */
        xlmig_json_fmt(text, sizeof(text), &p,
                       "%s %" PRIu64 " %llu %llu %llu %lld.%09ld "
                       "%lld.%09ld\n", d->name, d->img.size,
                       (unsigned long long)st.st_dev,
                       (unsigned long long)st.st_ino,
                       (unsigned long long)st.st_rdev,
                       d->img.is_blk ? 0LL : (long long)st.st_mtim.tv_sec,
                       d->img.is_blk ? 0L : st.st_mtim.tv_nsec,
                       d->img.is_blk ? 0LL : (long long)st.st_ctim.tv_sec,
                       d->img.is_blk ? 0L : st.st_ctim.tv_nsec);
    }
    if (p >= sizeof(text) || xlmig_sha256(text, p, id) < 0)
        return src_fail(s, EIO, "cannot compute the images' identity");
    return 0;
}

int src_offline_hello(struct xlmig_source *s)
{
    uint8_t buf[XLMIG_HDR_LEN + XLMIG_SESSION_TOKEN_LEN];
    uint8_t id[XLMIG_DIGEST_LEN];
    int rc;

    if (!(s->features & XLMIG_F_OFFLINE))
        return src_fail(s, EPROTONOSUPPORT, "the destination does not take "
                        "cold migrations (--offline)");
    if ((rc = identity(s, id)) < 0)
        return rc;
    if (xlmig_conn_send(&s->conn, buf, xlmig_enc_token(buf, XLMIG_REC_OFFLINE,
                                                       id)) < 0)
        return src_fail(s, EIO, "sending OFFLINE: %s", s->conn.err.msg);
    return 0;
}

/* One resumed disk's BITMAP records, up to its BITMAP_END. */
static int read_one(struct xlmig_source *s, struct src_disk *d)
{
    struct xlmig_error err;
    uint64_t total = 0;

    if (!(d->have = xlmig_bitmap_new(d->nblocks)))
        return src_fail(s, ENOMEM, "out of memory");
    for (;;) {
        struct xlmig_extent_list l;
        struct xlmig_bitmap_end be;
        struct xlmig_rec r;
        int rc = src_recv_now(s, &r, "the blocks already there");

        if (rc < 0)
            return rc;
        if (r.type == XLMIG_REC_BITMAP_END) {
            if (xlmig_dec_bitmap_end(&r, &be, &err) < 0)
                return src_fail(s, EPROTO, "bad BITMAP_END: %s", err.msg);
            if (be.disk != d->id || be.total != total)
                return src_fail(s, EPROTO, "disk %s: the blocks already "
                                "there do not add up", d->name);
            return 0;
        }
        if (xlmig_dec_extents(&r, &l, &err) < 0 ||
            r.type != XLMIG_REC_BITMAP || l.disk != d->id)
            return src_fail(s, EPROTO, "disk %s: expected the BITMAP of the "
                            "blocks already there", d->name);
        for (uint32_t i = 0; i < l.n; i++) {
            struct xlmig_extent e;

            xlmig_extent_at(&l, i, &e);
            if (xlmig_check_extent(e.start, e.count, d->nblocks, &err) < 0)
                return src_fail(s, EPROTO, "disk %s: %s", d->name, err.msg);
            xlmig_bitmap_set_range(d->have, e.start, e.count);
            total += e.count;
        }
    }
}

int src_offline_read_have(struct xlmig_source *s)
{
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        int rc;

        if (!d->resumed)
            continue;
        if ((rc = read_one(s, d)) < 0)
            return rc;
        s->st.resumed_blocks += xlmig_bitmap_count(d->have);
        xlmig_logf(&s->em, XLMIG_LOG_INFO, "disk %s: the destination has "
                   "%" PRIu64 " block(s) from an earlier attempt", d->name,
                   xlmig_bitmap_count(d->have));
    }
    return 0;
}

/* pending = what to send: the allocated blocks (every block when the
 * target does not read as zeros) it does not have. */
static uint64_t plan(struct xlmig_source *s, struct src_disk *d)
{
    uint64_t bs = s->o.block_size, off = 0, start, end;
    struct xlmig_extent e;
    uint64_t pos = 0;

    if (!d->dest_zeroed) {
        xlmig_bitmap_set_range(d->pending, 0, d->nblocks);
    } else {
        while (xlmig_image_next_data(&d->img, off, &start, &end)) {
            xlmig_bitmap_set_range(d->pending, start / bs,
                                   (end + bs - 1) / bs - start / bs);
            off = (end + bs - 1) / bs * bs;
        }
    }
    while (d->have && xlmig_bitmap_next_extent(d->have, &pos, 0, &e))
        xlmig_bitmap_clear_range(d->pending, e.start, e.count);
    return xlmig_bitmap_count(d->pending);
}

static void tick(struct xlmig_source *s, uint64_t remaining, uint64_t *last)
{
    struct xlmig_event ev = xlmig_event_make("progress", "push");
    struct xlmig_sendq_stats qs;
    uint64_t now = xlmig_now_ns();

    if (now - *last < TICK_NS)
        return;
    *last = now;
    xlmig_sendq_get_stats(s->q, &qs);
    ev.remaining_bytes = (int64_t)remaining;
    ev.sent_bytes = (int64_t)(qs.data_bytes + qs.zero_bytes +
                              qs.skipped_bytes);
    ev.wire_bytes = (int64_t)s->conn.bytes_out;
    ev.rate_Bps = qs.send_Bps;
    ev.eta_s = xlmig_conv_eta(remaining, qs.send_Bps);
    src_event(s, &ev);
}

static int copy(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("phase", "push");
    uint64_t blocks = 0, last = 0, bs = s->o.block_size, queued = 0;
    uint64_t max = xlmig_sendq_max_blocks(s->o.block_size);

    for (unsigned i = 0; i < s->ndisks; i++)
        blocks += plan(s, &s->disks[i]);
    ev.remaining_bytes = (int64_t)(blocks * bs);
    ev.message = s->st.resumed_blocks ? "resuming an interrupted copy" : NULL;
    src_event(s, &ev);
    if (src_phase(s, XLMIG_PHASE_FULL, 0, blocks) < 0)
        return -s->err.code;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        struct xlmig_extent e;
        uint64_t pos = 0;

        while (xlmig_bitmap_next_extent(d->pending, &pos, max, &e)) {
            if (src_queue_extent(s, d, e.start, e.count, XLMIG_ORIGIN_PUSH,
                                 d->dest_zeroed) < 0)
                return -s->err.code;
            queued += e.count;
            tick(s, (blocks - queued) * bs, &last);
        }
        xlmig_bitmap_clear_all(d->pending);
    }
    return src_flush(s);
}

int src_offline_before_go(struct xlmig_source *s)
{
    struct xlmig_event ev;
    int rc;

    if ((rc = src_negotiate(s)) < 0)
        return rc;
    /* Flushed (and checked) on the destination: its partial copy now
     * holds all of it. */
    if ((rc = copy(s)) < 0 || (rc = src_sync(s)) < 0)
        return rc;
    s->st.t_push_done = xlmig_now_ns();
    /* The guest's configuration, if the caller sends one. */
    if (s->h.suspend && (rc = s->h.suspend(s->h.opaque, s)) < 0)
        return s->failed ? -s->err.code
                         : src_fail(s, -rc, "sending the guest's "
                                    "configuration failed");
    if (s->failed)
        return -s->err.code;
    ev = xlmig_event_make("stopcopy", "stopcopy");
    ev.remaining_blocks = 0;
    ev.message = "the disks are copied";
    src_event(s, &ev);
    s->st.t_stopcopy_start = xlmig_now_ns();
    if ((rc = src_phase(s, XLMIG_PHASE_STOPCOPY, 0, 0)) < 0 ||
        (rc = src_sync(s)) < 0 || (rc = src_verify_settle(s)) < 0)
        return rc;
    s->st.t_stopcopy_done = xlmig_now_ns();
    return 0;
}
