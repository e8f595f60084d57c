/*
 * The source's post-copy service: push every stale block once in the
 * background, serving the destination's demand requests first, until the
 * destination says DONE.  The queue is kept shallow so that a demand waits
 * behind at most a couple of small background extents.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "src_internal.h"

#define BACKGROUND_BYTES (64u << 10)
#define PULL_DEPTH 2

static bool pop_demand(struct xlmig_source *s, struct src_demand *out,
                       size_t *head)
{
    bool got = false;

    pthread_mutex_lock(&s->lock);
    if (*head < s->dq_len) {
        *out = s->dq[(*head)++];
        got = true;
    } else {
        *head = s->dq_len = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return got;
}

static int serve_demand(struct xlmig_source *s, const struct src_demand *dm)
{
    struct src_disk *d = &s->disks[dm->disk];

    /* The background push need not send these again. */
    if (d->stale)
        xlmig_bitmap_clear_range(d->stale, dm->start, dm->count);
    s->st.demanded_blocks += dm->count;
    return src_queue_extent(s, d, dm->start, dm->count,
                               XLMIG_ORIGIN_DEMAND, false);
}

static bool next_background(struct xlmig_source *s, unsigned *disk,
                            uint64_t *cursor, struct xlmig_extent *e)
{
    uint64_t max = BACKGROUND_BYTES / s->o.block_size;

    if (!max)
        max = 1;
    while (*disk < s->ndisks) {
        struct src_disk *d = &s->disks[*disk];
        if (d->stale && xlmig_bitmap_next_extent(d->stale, cursor, max, e)) {
            xlmig_bitmap_clear_range(d->stale, e->start, e->count);
            return true;
        }
        (*disk)++;
        *cursor = 0;
    }
    return false;
}

/*
 * Nothing to send: wait for a demand or DONE.  The service never runs
 * forever: with no traffic in either direction for the idle timeout (the
 * destination neither asks nor finishes), it gives up.
 */
static int wait_for_work(struct xlmig_source *s, size_t head,
                         uint64_t *last_in, uint64_t *last_seen)
{
    struct timespec until;
    uint64_t now = xlmig_now_ns();

    if (s->conn.bytes_in != *last_seen) {
        *last_seen = s->conn.bytes_in;
        *last_in = now;
    } else if (s->o.idle_timeout_s > 0 &&
               now - *last_in > (uint64_t)s->o.idle_timeout_s * 1000000000ull) {
        return src_fail(s, ETIMEDOUT, "post-copy idle for %d s: the destination "
                           "neither asks for blocks nor reports completion",
                           s->o.idle_timeout_s);
    }

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&s->lock);
    while (!s->failed && !s->got_done && head >= s->dq_len)
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
    return s->failed ? -s->err.code : 0;
}

/* Post-copy progress for status readers (xlmig jobinfo), twice a second:
 * the stale blocks not sent yet. */
static void pull_tick(struct xlmig_source *s, uint64_t *last,
                      uint64_t total)
{
    struct xlmig_event ev = xlmig_event_make("progress", "postcopy");
    uint64_t now = xlmig_now_ns(), left = 0;

    if (now - *last < 500000000ull)
        return;
    *last = now;
    for (unsigned i = 0; i < s->ndisks; i++)
        if (s->disks[i].stale)
            left += xlmig_bitmap_count(s->disks[i].stale);
    src_fill_rates(s, &ev);
    ev.total_blocks = (int64_t)total;
    ev.total_bytes = (int64_t)(total * s->o.block_size);
    ev.block_size = s->o.block_size;
    ev.remaining_blocks = (int64_t)left;
    ev.remaining_bytes = (int64_t)(left * s->o.block_size);
    ev.demanded_blocks = (int64_t)s->st.demanded_blocks;
    ev.background_blocks = (int64_t)s->st.background_blocks;
    if (ev.rate_Bps > 0)
        ev.eta_s = xlmig_conv_eta(left * s->o.block_size, ev.rate_Bps);
    src_event(s, &ev);
}

int src_pull(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("phase", "postcopy");
    uint8_t buf[XLMIG_HDR_LEN];
    size_t head = 0;
    unsigned disk = 0;
    uint64_t cursor = 0, stale = 0, last_tick = 0;
    uint64_t last_in = xlmig_now_ns(), last_seen = 0;
    bool pushed_all = false;

    for (unsigned i = 0; i < s->ndisks; i++)
        if (s->disks[i].stale)
            stale += xlmig_bitmap_count(s->disks[i].stale);
    if (s->st.postcopy) {
        ev.remaining_blocks = (int64_t)stale;
        ev.remaining_bytes = (int64_t)(stale * s->o.block_size);
        ev.total_blocks = (int64_t)stale;
        ev.total_bytes = (int64_t)(stale * s->o.block_size);
        ev.block_size = s->o.block_size;
        src_event(s, &ev);
        if (src_phase(s, XLMIG_PHASE_POSTCOPY, 0, stale) < 0)
            return -s->err.code;
        xlmig_sendq_set_depth(s->q, PULL_DEPTH);
    } else {
        pushed_all = true;
    }

    for (;;) {
        struct src_demand dm;
        struct xlmig_extent e;

        if (s->failed)
            return -s->err.code;
        if (s->st.postcopy)
            pull_tick(s, &last_tick, stale);
        pthread_mutex_lock(&s->lock);
        bool done = s->got_done;
        pthread_mutex_unlock(&s->lock);
        if (done)
            break;
        if (pop_demand(s, &dm, &head)) {
            if (serve_demand(s, &dm) < 0)
                return -s->err.code;
            continue;
        }
        if (next_background(s, &disk, &cursor, &e)) {
            s->st.background_blocks += e.count;
            if (src_queue_extent(s, &s->disks[disk], e.start, e.count,
                                    XLMIG_ORIGIN_BACKGROUND, false) < 0)
                return -s->err.code;
            continue;
        }
        if (!pushed_all) {
            if (src_queue_record(s, buf,
                                    xlmig_enc_empty(buf,
                                                    XLMIG_REC_PUSHED_ALL)) < 0 ||
                src_flush(s) < 0)
                return -s->err.code;
            pushed_all = true;
            continue;
        }
        if (wait_for_work(s, head, &last_in, &last_seen) < 0)
            return -s->err.code;
    }

    /* The receiver closes after DONE_ACK: that EOF is expected. */
    pthread_mutex_lock(&s->lock);
    s->finished = true;
    pthread_mutex_unlock(&s->lock);
    if (src_queue_record(s, buf, xlmig_enc_empty(buf,
                                                    XLMIG_REC_DONE_ACK)) < 0 ||
        src_flush(s) < 0)
        return -s->err.code;
    s->st.t_done = xlmig_now_ns();
    ev = xlmig_event_make("done", "done");
    src_event(s, &ev);
    return 0;
}
