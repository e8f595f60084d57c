/*
 * The source's post-copy service: push every stale block once in the
 * background, serving the destination's demand requests first, until the
 * destination says DONE.  The queue is kept shallow so that a demand waits
 * behind at most a couple of small background extents.
 *
 * A broken channel (an error, the peer's silence past the peer timeout, a
 * corrupted record) does not end the service: it pauses and resumes on a
 * new channel (src_recover.c) from the destination's current stale set.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "src_internal.h"

#define BACKGROUND_BYTES (64u << 10)
#define PULL_DEPTH 2

struct pull {
    size_t head;                /* next demand in s->dq */
    unsigned disk;              /* background cursor */
    uint64_t cursor;
    uint64_t last_tick;
    uint64_t total;             /* stale when the phase (re)started */
    bool pushed_all;
};

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
    return src_queue_extent(s, d, dm->start, dm->count, XLMIG_ORIGIN_DEMAND,
                            false);
}

static bool next_background(struct xlmig_source *s, struct pull *p,
                            struct xlmig_extent *e)
{
    uint64_t max = BACKGROUND_BYTES / s->o.block_size;

    if (!max)
        max = 1;
    while (p->disk < s->ndisks) {
        struct src_disk *d = &s->disks[p->disk];
        if (d->stale && xlmig_bitmap_next_extent(d->stale, &p->cursor, max,
                                                 e)) {
            xlmig_bitmap_clear_range(d->stale, e->start, e->count);
            return true;
        }
        p->disk++;
        p->cursor = 0;
    }
    return false;
}

/* Nothing to send: wait (a second at most) for a demand, DONE or trouble.
 * The channel's liveness is the heartbeats' business (peer timeout). */
static void wait_for_work(struct xlmig_source *s, size_t head)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&s->lock);
    while (!s->failed && !s->broken && !s->got_done && head >= s->dq_len)
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->lock);
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

static bool trouble(struct xlmig_source *s)
{
    return s->failed || s->broken;
}

/* One step of the service: 1 when DONE came, 0 to go on, < 0 when the
 * service stops (s->broken: the channel, else a failure). */
static int step(struct xlmig_source *s, struct pull *p)
{
    uint8_t buf[XLMIG_HDR_LEN];
    struct src_demand dm;
    struct xlmig_extent e;
    bool done;

    if (trouble(s))
        return -1;
    if (s->st.postcopy)
        pull_tick(s, &p->last_tick, p->total);
    pthread_mutex_lock(&s->lock);
    done = s->got_done;
    pthread_mutex_unlock(&s->lock);
    if (done)
        return 1;
    if (pop_demand(s, &dm, &p->head))
        return serve_demand(s, &dm) < 0 ? -1 : 0;
    if (next_background(s, p, &e)) {
        s->st.background_blocks += e.count;
        return src_queue_extent(s, &s->disks[p->disk], e.start, e.count,
                                XLMIG_ORIGIN_BACKGROUND, false) < 0 ? -1 : 0;
    }
    if (!p->pushed_all) {
        p->pushed_all = true;
        if (src_queue_record(s, buf, xlmig_enc_empty(buf,
                                                     XLMIG_REC_PUSHED_ALL)) < 0)
            return -1;
        return src_flush(s) < 0 ? -1 : 0;
    }
    wait_for_work(s, p->head);
    return 0;
}

static uint64_t stale_total(struct xlmig_source *s)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < s->ndisks; i++)
        if (s->disks[i].stale)
            n += xlmig_bitmap_count(s->disks[i].stale);
    return n;
}

/* Starts (or restarts, after a recovery) the post-copy phase. */
static int begin(struct xlmig_source *s, struct pull *p)
{
    struct xlmig_event ev = xlmig_event_make("phase", "postcopy");
    uint64_t stale = stale_total(s);

    *p = (struct pull){ .pushed_all = !s->st.postcopy, .total = stale };
    if (!s->st.postcopy)
        return 0;
    ev.remaining_blocks = (int64_t)stale;
    ev.remaining_bytes = (int64_t)(stale * s->o.block_size);
    ev.total_blocks = (int64_t)stale;
    ev.total_bytes = (int64_t)(stale * s->o.block_size);
    ev.block_size = s->o.block_size;
    src_event(s, &ev);
    if (src_phase(s, XLMIG_PHASE_POSTCOPY, 0, stale) < 0)
        return -s->err.code;
    xlmig_sendq_set_depth(s->q, PULL_DEPTH);
    return 0;
}

/* DONE came: acknowledge it (the destination closes then: EOF is fine). */
static int finish(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("done", "done");
    uint8_t buf[XLMIG_HDR_LEN];

    src_go_confirmed(s);        /* DONE comes from a running guest */
    pthread_mutex_lock(&s->lock);
    s->finished = true;
    pthread_mutex_unlock(&s->lock);
    s->st.t_done = xlmig_now_ns();
    if (src_queue_record(s, buf, xlmig_enc_empty(buf,
                                                 XLMIG_REC_DONE_ACK)) < 0 ||
        src_flush(s) < 0) {
        /* The destination has every block and said so: a lost DONE_ACK
         * only costs it a reconnect attempt. */
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "DONE_ACK did not go out: %s",
                   s->err.msg);
        s->broken = false;
        pthread_mutex_lock(&s->lock);
        s->failed = false;
        pthread_mutex_unlock(&s->lock);
    }
    src_event(s, &ev);
    return 0;
}

int src_pull(struct xlmig_source *s)
{
    struct pull p;
    int rc;

    if ((rc = begin(s, &p)) < 0)
        return rc;
    for (;;) {
        rc = step(s, &p);
        if (rc > 0)
            return finish(s);
        if (rc == 0)
            continue;
        if (s->failed)
            return -s->err.code;
        /* The channel broke.  With nothing stale there (no post-copy, or
         * the destination's last heartbeat counted none) the destination
         * has every block: success, with a warning. */
        if (!s->go_unconfirmed &&
            (!s->st.postcopy || s->conn.peer_stale == 0)) {
            xlmig_logf(&s->em, XLMIG_LOG_WARN, "the data channel broke "
                       "after the hand-off (%s), but the destination had "
                       "every block", s->chan_err.msg);
            s->st.t_done = xlmig_now_ns();
            return 0;
        }
        /* Else pause, resume from the destination's stale set (or give
         * up after the recovery timeout). */
        if ((rc = src_recover(s)) < 0)
            return rc;
        if ((rc = begin(s, &p)) < 0)
            return rc;
    }
}
