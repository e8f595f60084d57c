/*
 * PUSH: switch tracking on, copy every allocated block once, then send the
 * blocks the guest dirtied meanwhile, pass after pass, until the
 * convergence policy says stop.  What is dirty then stays in the pending
 * bitmaps for stop-and-copy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "src_internal.h"

#define TICK_NS 500000000ull

static void tick(struct xlmig_source *s, const char *phase, int pass,
                 uint64_t remaining, uint64_t *last)
{
    struct xlmig_event ev = xlmig_event_make("progress", phase);
    struct xlmig_sendq_stats qs;
    uint64_t now = xlmig_now_ns();

    if (now - *last < TICK_NS)
        return;
    *last = now;
    xlmig_sendq_get_stats(s->q, &qs);
    ev.pass = pass;
    ev.remaining_bytes = (int64_t)remaining;
    ev.sent_bytes = (int64_t)(qs.data_bytes + qs.zero_bytes +
                              qs.skipped_bytes);
    ev.wire_bytes = (int64_t)s->conn.bytes_out;
    ev.rate_Bps = qs.send_Bps;
    ev.eta_s = xlmig_conv_eta(remaining, qs.send_Bps);
    src_event(s, &ev);
}

static int full_pass(struct xlmig_source *s)
{
    uint64_t total = s->st.allocated_bytes, last = 0;
    uint64_t bs = s->o.block_size;

    if (src_phase(s, XLMIG_PHASE_FULL, 0, (total + bs - 1) / bs) < 0)
        return -s->err.code;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        uint64_t off = 0, start, end;

        if (!d->dest_zeroed) {
            /* The target may hold old data: every block goes, zeros as
             * zero records. */
            if (src_queue_extent(s, d, 0, d->nblocks, XLMIG_ORIGIN_PUSH,
                                    false) < 0)
                return -s->err.code;
            continue;
        }
        while (xlmig_image_next_data(&d->img, off, &start, &end)) {
            uint64_t first = start / bs, stop = (end + bs - 1) / bs;
            uint64_t max = xlmig_sendq_max_blocks(s->o.block_size);

            for (uint64_t b = first; b < stop; b += max) {
                uint64_t n = stop - b < max ? stop - b : max;
                struct xlmig_sendq_stats qs;

                if (src_queue_extent(s, d, b, n, XLMIG_ORIGIN_PUSH,
                                        true) < 0)
                    return -s->err.code;
                xlmig_sendq_get_stats(s->q, &qs);
                uint64_t done = qs.data_bytes + qs.skipped_bytes;
                tick(s, "push", 0, total > done ? total - done : 0, &last);
            }
            off = stop * bs;
        }
    }
    return src_flush(s);
}

int src_dirty_pass_max(struct xlmig_source *s, uint64_t remaining_blocks,
                       uint64_t max)
{
    uint64_t last = 0, sent = 0;

    if (max && remaining_blocks > max)
        remaining_blocks = max;
    if (src_phase(s, XLMIG_PHASE_DIRTY, s->st.passes,
                     remaining_blocks) < 0)
        return -s->err.code;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        struct xlmig_extent e;
        uint64_t pos = 0;

        while ((!max || sent < max) &&
               xlmig_bitmap_next_extent(d->pending, &pos,
                                        max ? max - sent : 0, &e)) {
            if (src_queue_extent(s, d, e.start, e.count,
                                    XLMIG_ORIGIN_PUSH, false) < 0)
                return -s->err.code;
            /* A partial pass leaves the rest pending (stop-copy's). */
            if (max)
                xlmig_bitmap_clear_range(d->pending, e.start, e.count);
            sent += e.count;
            tick(s, "dirty", (int)s->st.passes,
                 (remaining_blocks > sent ? remaining_blocks - sent : 0) *
                 s->o.block_size, &last);
        }
        if (!max)
            xlmig_bitmap_clear_all(d->pending);
    }
    s->st.resent_blocks += sent;
    return src_flush(s);
}

int src_dirty_pass(struct xlmig_source *s, uint64_t remaining_blocks)
{
    return src_dirty_pass_max(s, remaining_blocks, 0);
}

int src_push(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("phase", "push");

    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        if (d->vbd->ops->track_start(d->vbd, s->o.block_size) < 0)
            return src_fail(s, EIO, "disk %s: cannot start write tracking: %s",
                            d->name, d->vbd->err.msg);
        d->tracking = true;
    }
    ev.remaining_bytes = (int64_t)s->st.allocated_bytes;
    src_event(s, &ev);
    /*
     * Have the destination flush the bulk now, while the guest still runs
     * here: the flush inside the downtime then covers only the blocks of
     * the dirty passes (whose writeback the receiver starts as it goes).
     */
    if (full_pass(s) < 0 || src_sync(s) < 0)
        return -s->err.code;

    xlmig_conv_init(&s->conv, s->o.max_downtime_ms / 1000.0,
                    s->o.max_passes);
    /* The first dirty set accumulated since tracking started. */
    uint64_t since = s->st.t_start;
    for (;;) {
        uint64_t blocks, bytes, now;
        double rate;
        enum xlmig_conv_verdict v;

        if (src_snapshot_all(s) < 0)
            return -s->err.code;
        now = xlmig_now_ns();
        blocks = src_pending_blocks(s);
        bytes = blocks * s->o.block_size;
        rate = src_rate(s);
        v = xlmig_conv_next(&s->conv, bytes, rate,
                            (double)(now - since) * 1e-9);
        since = now;

        ev = xlmig_event_make("pass", "dirty");
        ev.pass = (int)s->st.passes + 1;
        ev.remaining_blocks = (int64_t)blocks;
        ev.remaining_bytes = (int64_t)bytes;
        ev.rate_Bps = rate;
        ev.eta_s = xlmig_conv_eta(bytes, rate);
        ev.expected_downtime_ms = ev.eta_s * 1000.0;
        ev.message = v == XLMIG_CONV_CONTINUE ? NULL : xlmig_conv_name(v);
        src_event(s, &ev);

        if (v != XLMIG_CONV_CONTINUE) {
            s->st.verdict = v;
            break;
        }
        s->st.passes++;
        if (src_dirty_pass(s, blocks) < 0)
            return -s->err.code;
    }
    s->st.t_push_done = xlmig_now_ns();
    return 0;
}

/* ---- keep-up: dirty passes while something else moves the memory ---- */

#define KEEPUP_IDLE_NS 100000000ull

/*
 * The average rate keep-up may use while the memory moves over the same
 * network: a share of the link rate PUSH measured (frozen here: during
 * keep-up the estimate would only see our share of a contended link).
 * Only when post-copy can take what does not fit: without it every block
 * must move before GO, and keep-up is what keeps that set small.
 */
static double keepup_limit(struct xlmig_source *s)
{
    struct xlmig_sendq_stats qs;
    double link;

    if (!s->o.postcopy || s->o.keepup_share <= 0 || s->o.keepup_share >= 1)
        return 0;
    xlmig_sendq_get_stats(s->q, &qs);
    link = qs.link_Bps > 0 ? qs.link_Bps : src_rate(s);
    return link > 0 ? link * s->o.keepup_share : 0;
}

/*
 * Keep-up resends only what it must: it lets the dirty set grow to half
 * the downtime budget before sending it (a block rewritten ten times is
 * sent once), and sends nothing at all when the guest dirties faster than
 * the link drains (the policy said "stalled": passes would only burn the
 * link that the memory stream needs; post-copy takes that set).  With a
 * limit, a pass sends only what keeps the average since keep-up began
 * under it (plus a burst of half a second), and leaves the rest pending.
 */
static void *keepup_main(void *arg)
{
    struct xlmig_source *s = arg;
    bool hopeless = s->st.verdict == XLMIG_CONV_STALLED ||
                    s->st.verdict == XLMIG_CONV_MAX_PASSES;
    double limit = s->st.keepup_limit_Bps;
    uint64_t t0 = xlmig_now_ns();

    for (;;) {
        uint64_t blocks;
        double rate, budget_s = s->o.max_downtime_ms / 2000.0;

        pthread_mutex_lock(&s->lock);
        bool stop = s->keepup_stop || s->failed;
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        if (src_snapshot_all(s) < 0)
            break;
        blocks = src_pending_blocks(s);
        rate = src_rate(s);
        if (blocks && !hopeless &&
            (rate <= 0 ||
             xlmig_conv_eta(blocks * s->o.block_size, rate) > budget_s)) {
            double since = (double)(xlmig_now_ns() - t0) * 1e-9;
            uint64_t out0 = s->conn.bytes_out, max = 0;

            if (limit > 0) {
                /* What the average leaves, plus a burst of 0.5 s. */
                double room = limit * (since + 0.5) -
                              (double)s->st.keepup_wire_bytes;

                max = room > 0 ? (uint64_t)room / s->o.block_size : 0;
                if (max < blocks)
                    s->st.keepup_deferred++;
            }
            if (limit <= 0 || max > 0) {
                s->st.passes++;
                s->st.keepup_passes++;
                if (src_dirty_pass_max(s, blocks, max) < 0)
                    break;
                s->st.keepup_wire_bytes += s->conn.bytes_out - out0;
            }
        }
        /* Let a few writes accumulate rather than spinning on each. */
        struct timespec t = { 0, (long)KEEPUP_IDLE_NS };
        nanosleep(&t, NULL);
    }
    return NULL;
}

int src_keepup_start(struct xlmig_source *s)
{
    s->keepup_stop = false;
    s->st.keepup_limit_Bps = keepup_limit(s);
    if (s->st.keepup_limit_Bps > 0)
        xlmig_logf(&s->em, XLMIG_LOG_INFO, "keep-up: at most %.1f MB/s on "
                   "average while the memory moves (%.0f%% of the link; "
                   "post-copy takes the rest)", s->st.keepup_limit_Bps / 1e6,
                   s->o.keepup_share * 100);
    if (pthread_create(&s->keepup_thread, NULL, keepup_main, s))
        return src_fail(s, EAGAIN, "cannot start the keep-up thread");
    s->keepup_running = true;
    return 0;
}

int src_keepup_stop(struct xlmig_source *s)
{
    if (!s->keepup_running)
        return s->failed ? -s->err.code : 0;
    pthread_mutex_lock(&s->lock);
    s->keepup_stop = true;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->keepup_thread, NULL);
    s->keepup_running = false;
    return s->failed ? -s->err.code : 0;
}
