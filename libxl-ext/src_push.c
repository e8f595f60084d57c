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
#define WIRE_SAMPLE_NS 200000000ull

/* Payload bytes the pipeline has handled: sent, sent as zeros, skipped. */
static uint64_t handled(struct xlmig_source *s)
{
    struct xlmig_sendq_stats qs;

    xlmig_sendq_get_stats(s->q, &qs);
    return qs.data_bytes + qs.zero_bytes + qs.skipped_bytes;
}

void src_fill_rates(struct xlmig_source *s, struct xlmig_event *ev)
{
    struct xlmig_sendq_stats qs;
    uint64_t now = xlmig_now_ns(), wire = src_wire_out(s);
    struct src_stats *st = &s->st;

    xlmig_sendq_get_stats(s->q, &qs);
    ev->sent_bytes = (int64_t)(qs.data_bytes + qs.zero_bytes +
                               qs.skipped_bytes);
    ev->wire_bytes = (int64_t)wire;
    if (qs.send_Bps > 0)                /* else: not known yet */
        ev->rate_Bps = qs.send_Bps;
    /* The wire's own rate, from its counter (after compression). */
    if (!st->tick_t_ns || wire < st->tick_wire) {
        st->tick_t_ns = now;
        st->tick_wire = wire;
    } else if (now - st->tick_t_ns >= WIRE_SAMPLE_NS) {
        double inst = (double)(wire - st->tick_wire) /
                      ((double)(now - st->tick_t_ns) * 1e-9);

        st->wire_Bps = st->wire_Bps > 0 ? (st->wire_Bps + inst) / 2 : inst;
        st->tick_t_ns = now;
        st->tick_wire = wire;
    }
    if (st->wire_Bps > 0)
        ev->wire_rate_Bps = st->wire_Bps;
}

double src_fixed_costs(const struct xlmig_source *s)
{
    /* Quiesce is one more command to each VBD, like the snapshot. */
    return (double)(2 * s->st.snapshot_ns + s->st.rtt_ns) * 1e-9;
}

/*
 * A progress event, twice a second: of the set of `total` bytes that
 * began when the pipeline had handled `base`, what is left.
 */
static void tick(struct xlmig_source *s, const char *phase, int pass,
                 uint64_t total, uint64_t base, uint64_t *last)
{
    struct xlmig_event ev = xlmig_event_make("progress", phase);
    uint64_t now = xlmig_now_ns(), done, left;

    if (now - *last < TICK_NS)
        return;
    *last = now;
    src_fill_rates(s, &ev);
    done = (uint64_t)ev.sent_bytes > base ? (uint64_t)ev.sent_bytes - base
                                          : 0;
    left = total > done ? total - done : 0;
    ev.pass = pass;
    ev.total_bytes = (int64_t)total;
    ev.remaining_bytes = (int64_t)left;
    ev.remaining_blocks = (int64_t)((left + s->o.block_size - 1) /
                                    s->o.block_size);
    ev.block_size = s->o.block_size;
    if (ev.rate_Bps > 0)
        ev.eta_s = xlmig_conv_eta(left, ev.rate_Bps);
    src_event(s, &ev);
}

/*
 * The end of a pass: what was queued drains to the destination.  That can
 * be most of a pass on a slow link: the progress goes on meanwhile.
 */
/*
 * Stop-copy asked keep-up to end (the guest is suspended): a keep-up pass
 * in progress yields at once.  What it has not queued stays pending for
 * stop-copy; what it has queued goes ahead of stop-copy's records, whose
 * SYNC then covers it.
 */
static bool keepup_yields(struct xlmig_source *s, bool keepup)
{
    return keepup && __atomic_load_n(&s->keepup_stop, __ATOMIC_ACQUIRE);
}

static int flush_ticking(struct xlmig_source *s, const char *phase,
                         bool keepup, int pass, uint64_t total, uint64_t base,
                         uint64_t *last)
{
    /* Keep-up looks often: the guest may be waiting for it. */
    struct timespec nap = { 0, (keepup ? 2 : 50) * 1000 * 1000 };

    while (xlmig_sendq_pending(s->q) > 0 && !s->failed &&
           !xlmig_sendq_error(s->q)) {
        if (keepup_yields(s, keepup))
            return s->failed ? -s->err.code : 0;
        nanosleep(&nap, NULL);
        tick(s, phase, pass, total, base, last);
    }
    return src_flush(s);
}

/*
 * A sync is a round trip too (plus the destination's flush): the least
 * round trip seen is the estimate's (one sample at HELLO can be inflated
 * by a busy host or a peer still starting).
 */
static int timed_sync(struct xlmig_source *s)
{
    uint64_t t0 = xlmig_now_ns();
    int rc = src_sync(s);
    uint64_t dt = xlmig_now_ns() - t0;

    if (!rc && (!s->st.rtt_ns || dt < s->st.rtt_ns))
        s->st.rtt_ns = dt;
    return rc;
}

/* What the full pass covers: the allocated data, or the whole disk when
 * the target may hold old data. */
static uint64_t full_pass_bytes(const struct xlmig_source *s)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < s->ndisks; i++)
        total += s->disks[i].dest_zeroed
                     ? s->disks[i].allocated
                     : s->disks[i].nblocks * s->o.block_size;
    return total;
}

#define FULL_SNAPSHOT_NS 1000000000ull

/*
 * What the full pass reads: the extents allocated when tracking started.
 * A block the guest allocates (writes) later is dirty, and goes with the
 * dirty set: reading it in the full pass too would send it twice (with a
 * guest writing into holes faster than the link, the pass chased its
 * writes to the end of the disk).
 */
static int snapshot_allocation(struct xlmig_source *s, struct src_disk *d)
{
    uint64_t bs = s->o.block_size, off = 0, start, end;

    d->alloc0 = xlmig_bitmap_new(d->nblocks);
    if (!d->alloc0)
        return src_fail(s, ENOMEM, "out of memory for a %llu-block bitmap",
                        (unsigned long long)d->nblocks);
    while (xlmig_image_next_data(&d->img, off, &start, &end)) {
        uint64_t first = start / bs, stop = (end + bs - 1) / bs;

        xlmig_bitmap_set_range(d->alloc0, first, stop - first);
        off = stop * bs;
    }
    return 0;
}

/*
 * Queues [first, first + count) but for the blocks already dirty: those
 * go with the dirty set anyway (sending them now would send them twice).
 */
static int queue_clean(struct xlmig_source *s, struct src_disk *d,
                       uint64_t first, uint64_t count, bool skip_zero)
{
    uint64_t pos = first, end = first + count;

    while (pos < end) {
        uint64_t next = xlmig_bitmap_next_set(d->pending, pos);
        struct xlmig_extent e;
        uint64_t p2;

        if (next > end)
            next = end;
        if (next > pos && src_queue_extent(s, d, pos, next - pos,
                                           XLMIG_ORIGIN_PUSH, skip_zero) < 0)
            return -1;
        if (next >= end)
            break;
        p2 = next;
        if (!xlmig_bitmap_next_extent(d->pending, &p2, end - next, &e))
            break;
        s->st.full_skipped_blocks += e.count;
        pos = e.start + e.count;
    }
    return 0;
}

/* The full pass's watch on the guest: what it dirtied, how fast. */
struct fwatch {
    uint64_t t0, t_snap;        /* the pass's start, the last snapshot */
    uint64_t dirty;             /* pending blocks then */
    bool can_handover;          /* post-copy is possible */
    struct xlmig_outrun o;
    bool outrun;                /* hand the rest over now */
};

/*
 * Now and then during the full pass: what the guest dirtied so far (those
 * blocks are skipped: they go with the dirty set), and whether it makes
 * data dirty faster than the link sends it (policy.h): then pre-copy only
 * loses ground, and the rest goes to post-copy at once.
 */
static int refresh_dirty(struct xlmig_source *s, struct fwatch *w)
{
    uint64_t now = xlmig_now_ns(), dirty;
    double dt = (double)(now - w->t_snap) * 1e-9;

    if (now - w->t_snap < FULL_SNAPSHOT_NS)
        return 0;
    if (src_snapshot_all(s) < 0)
        return -1;
    dirty = src_pending_blocks(s);
    if (w->can_handover &&
        xlmig_outrun_sample(&w->o, (double)(now - w->t0) * 1e-9,
                            (double)(dirty - w->dirty) *
                                (double)s->o.block_size / dt,
                            src_rate(s)))
        w->outrun = true;
    w->t_snap = now;
    w->dirty = dirty;
    return 0;
}

/* Out-written: every block the full pass has not reached yet joins the
 * dirty set (from `pos` on this disk, all of the later ones). */
static void hand_rest_over(struct xlmig_source *s, unsigned disk,
                           uint64_t pos)
{
    for (unsigned i = disk; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        struct xlmig_extent e;
        uint64_t p = i == disk ? pos : 0;

        if (!d->alloc0) {
            if (p < d->nblocks)
                xlmig_bitmap_set_range(d->pending, p, d->nblocks - p);
            continue;
        }
        while (xlmig_bitmap_next_extent(d->alloc0, &p, 0, &e))
            xlmig_bitmap_set_range(d->pending, e.start, e.count);
    }
}

static int full_pass(struct xlmig_source *s, uint64_t total)
{
    uint64_t last = 0, base = handled(s);
    uint64_t bs = s->o.block_size;
    uint64_t max = xlmig_sendq_max_blocks(s->o.block_size);
    struct fwatch w = { .t0 = xlmig_now_ns(),
                        .can_handover = s->o.postcopy &&
                                        (s->features & XLMIG_F_POSTCOPY) };

    w.t_snap = w.t0;
    xlmig_outrun_init(&w.o);
    if (src_phase(s, XLMIG_PHASE_FULL, 0, (total + bs - 1) / bs) < 0)
        return -s->err.code;
    for (unsigned i = 0; i < s->ndisks && !w.outrun; i++) {
        struct src_disk *d = &s->disks[i];
        struct xlmig_extent e;
        uint64_t pos = 0;

        if (!d->dest_zeroed) {
            /* The target may hold old data: every block goes, zeros as
             * zero records. */
            for (uint64_t b = 0; b < d->nblocks; b += max) {
                uint64_t n = d->nblocks - b < max ? d->nblocks - b : max;

                if (refresh_dirty(s, &w) < 0)
                    return -s->err.code;
                if (w.outrun) {
                    hand_rest_over(s, i, b);
                    break;
                }
                if (queue_clean(s, d, b, n, false) < 0)
                    return -s->err.code;
                tick(s, "push", 0, total, base, &last);
                src_predict(s, false);
            }
            continue;
        }
        for (;;) {
            uint64_t at = pos;

            if (!xlmig_bitmap_next_extent(d->alloc0, &pos, max, &e))
                break;
            if (refresh_dirty(s, &w) < 0)
                return -s->err.code;
            if (w.outrun) {
                hand_rest_over(s, i, at);
                break;
            }
            if (queue_clean(s, d, e.start, e.count, true) < 0)
                return -s->err.code;
            tick(s, "push", 0, total, base, &last);
            src_predict(s, false);
        }
    }
    for (unsigned i = 0; i < s->ndisks; i++) {
        xlmig_bitmap_free(s->disks[i].alloc0);
        s->disks[i].alloc0 = NULL;
    }
    if (s->st.full_skipped_blocks)
        xlmig_logf(&s->em, XLMIG_LOG_INFO, "full pass: %llu block(s) the "
                   "guest had written again left to the dirty set",
                   (unsigned long long)s->st.full_skipped_blocks);
    if (w.outrun) {
        s->st.verdict = XLMIG_CONV_OUTRUN;
        xlmig_logf(&s->em, XLMIG_LOG_INFO, "full pass stopped after %.1f s: "
                   "the guest dirties data faster than the link sends it; "
                   "%llu block(s) go to post-copy",
                   (double)(xlmig_now_ns() - w.t0) * 1e-9,
                   (unsigned long long)src_pending_blocks(s));
    }
    return flush_ticking(s, "push", false, 0, total, base, &last);
}

/*
 * Sends the pending blocks, at most max (0: all); what is not sent stays
 * pending (for the next pass or stop-copy).
 */
int src_dirty_pass(struct xlmig_source *s, uint64_t remaining_blocks,
                   bool keepup, uint64_t max)
{
    const char *phase = keepup ? "keepup" : "dirty";
    int pass = (int)(keepup ? s->st.keepup_passes : s->st.passes);
    uint64_t total, last = 0, base = handled(s), sent = 0;

    if (max && remaining_blocks > max)
        remaining_blocks = max;
    total = remaining_blocks * s->o.block_size;
    /* On the wire the passes are numbered in order, keep-up's included. */
    if (src_phase(s, XLMIG_PHASE_DIRTY,
                  s->st.passes + s->st.keepup_passes, remaining_blocks) < 0)
        return -s->err.code;
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        struct xlmig_extent e;
        uint64_t pos = 0;

        while ((!max || sent < max) && !keepup_yields(s, keepup) &&
               xlmig_bitmap_next_extent(d->pending, &pos,
                                        max ? max - sent : 0, &e)) {
            if (src_queue_extent(s, d, e.start, e.count,
                                    XLMIG_ORIGIN_PUSH, false) < 0)
                return -s->err.code;
            /* A partial or yielding pass leaves the rest pending. */
            if (max || keepup)
                xlmig_bitmap_clear_range(d->pending, e.start, e.count);
            sent += e.count;
            tick(s, phase, pass, total, base, &last);
        }
        if (!max && !keepup)
            xlmig_bitmap_clear_all(d->pending);
    }
    s->st.resent_blocks += sent;
    return flush_ticking(s, phase, keepup, pass, total, base, &last);
}

/* A dirty pass starts (pass = its number), or the verdict ends them. */
static void pass_event(struct xlmig_source *s, const char *phase, int pass,
                       uint64_t blocks, double rate, const char *verdict)
{
    struct xlmig_event ev = xlmig_event_make("pass", phase);
    uint64_t bytes = blocks * s->o.block_size;

    ev.pass = pass;
    ev.remaining_blocks = (int64_t)blocks;
    ev.remaining_bytes = (int64_t)bytes;
    ev.total_bytes = (int64_t)bytes;
    ev.total_blocks = (int64_t)blocks;
    ev.block_size = s->o.block_size;
    if (rate > 0) {
        ev.rate_Bps = rate;
        ev.eta_s = xlmig_conv_eta(bytes, rate);
    }
    ev.expected_downtime_ms = xlmig_conv_expected(&s->conv, bytes, rate) *
                              1000.0;
    ev.max_passes = (int)s->o.max_passes;
    ev.downtime_budget_ms = s->o.max_downtime_ms;
    ev.message = verdict;
    src_event(s, &ev);
}


int src_push(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("phase", "push");
    uint64_t total;

    s->st.t_push_start = xlmig_now_ns();
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        if (d->vbd->ops->track_start(d->vbd, s->o.block_size) < 0)
            return src_fail(s, EIO, "disk %s: cannot start write tracking: %s",
                            d->name, d->vbd->err.msg);
        d->tracking = true;
        /* After tracking is on: a block is in this set or dirty. */
        if (d->dest_zeroed && snapshot_allocation(s, d) < 0)
            return -s->err.code;
    }
    total = full_pass_bytes(s);
    ev.total_bytes = (int64_t)total;
    ev.remaining_bytes = (int64_t)total;
    ev.remaining_blocks = (int64_t)((total + s->o.block_size - 1) /
                                    s->o.block_size);
    ev.block_size = s->o.block_size;
    src_event(s, &ev);
    /*
     * Have the destination flush the bulk now, while the guest still runs
     * here: the flush inside the downtime then covers only the blocks of
     * the dirty passes (whose writeback the receiver starts as it goes).
     */
    if (full_pass(s, total) < 0 || timed_sync(s) < 0)
        return -s->err.code;
    src_predict(s, true);

    xlmig_conv_init(&s->conv, s->o.max_downtime_ms / 1000.0,
                    s->o.max_passes);
    /* The first dirty set accumulated since tracking started. */
    uint64_t since = s->st.t_start;
    for (;;) {
        /* Out-written in the full pass: no dirty pass can win either. */
        if (s->st.verdict == XLMIG_CONV_OUTRUN) {
            uint64_t t = xlmig_now_ns();

            if (src_snapshot_all(s) < 0)
                return -s->err.code;
            s->st.snapshot_ns = xlmig_now_ns() - t;
            s->conv.fixed_s = src_fixed_costs(s);
            pass_event(s, "dirty", 0, src_pending_blocks(s), src_rate(s),
                       xlmig_conv_name(XLMIG_CONV_OUTRUN));
            break;
        }
        uint64_t blocks, now;
        double rate;
        enum xlmig_conv_verdict v;

        now = xlmig_now_ns();
        if (src_snapshot_all(s) < 0)
            return -s->err.code;
        /* Stop-copy takes the same snapshot: a measured cost. */
        s->st.snapshot_ns = xlmig_now_ns() - now;
        s->conv.fixed_s = src_fixed_costs(s);
        blocks = src_pending_blocks(s);
        rate = src_rate(s);
        v = xlmig_conv_next(&s->conv, blocks * s->o.block_size, rate,
                            (double)(now - since) * 1e-9);
        since = now;

        if (v != XLMIG_CONV_CONTINUE) {
            /* The verdict: pass = the dirty passes sent, as reported. */
            pass_event(s, "dirty", (int)s->st.passes, blocks, rate,
                       xlmig_conv_name(v));
            s->st.verdict = v;
            break;
        }
        s->st.passes++;
        pass_event(s, "dirty", (int)s->st.passes, blocks, rate, NULL);
        if (src_dirty_pass(s, blocks, false, 0) < 0)
            return -s->err.code;
    }
    /*
     * What the dirty passes queued may still wait in the socket buffers
     * and the destination's writeback: let it drain now, while the guest
     * runs, not inside the downtime (where it cost more than the final
     * set: 170 ms against a 10 ms estimate on a loaded host).
     */
    if (s->st.passes && timed_sync(s) < 0)
        return -s->err.code;
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
 * Lets a few writes accumulate rather than spinning on each, but returns
 * as soon as the keep-up is told to stop: the guest is suspended by then,
 * and every millisecond spent here is downtime.
 */
static void keepup_idle(struct xlmig_source *s)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)KEEPUP_IDLE_NS;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->keepup_stop && !s->failed)
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
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
                    s->st.verdict == XLMIG_CONV_MAX_PASSES ||
                    s->st.verdict == XLMIG_CONV_OUTRUN;
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
            uint64_t out0 = src_wire_out(s), max = 0;

            if (limit > 0) {
                /* What the average leaves, plus a burst of 0.5 s. */
                double room = limit * (since + 0.5) -
                              (double)s->st.keepup_wire_bytes;

                max = room > 0 ? (uint64_t)room / s->o.block_size : 0;
                if (max < blocks)
                    s->st.keepup_deferred++;
            }
            if (limit <= 0 || max > 0) {
                s->st.keepup_passes++;
                pass_event(s, "keepup", (int)s->st.keepup_passes,
                           max && max < blocks ? max : blocks, rate, NULL);
                if (src_dirty_pass(s, blocks, true, max) < 0)
                    break;
                s->st.keepup_wire_bytes += src_wire_out(s) - out0;
            }
        }
        keepup_idle(s);
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
    __atomic_store_n(&s->keepup_stop, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->keepup_thread, NULL);
    s->keepup_running = false;
    return s->failed ? -s->err.code : 0;
}
