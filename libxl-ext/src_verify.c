/*
 * --verify on the source: the send pipeline puts a DIGEST of every run it
 * reads ahead of its DATA (sendq.c); the destination reads the blocks back
 * from its disk and names those that differ (MISMATCH).  They are sent
 * again: with the next dirty pass during PUSH and keep-up, and within the
 * stop-copy itself before GO (three rounds at most, else the migration
 * fails and the guest resumes here).  With post-copy the destination
 * fetches them again itself, behind its gate.  Its VERIFIED record, ahead
 * of DONE, gives the final count.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "src_internal.h"

#define SETTLE_ROUNDS 3

int src_verify_setup(struct xlmig_source *s)
{
    if (!s->o.verify)
        return 0;
    if (!(s->features & XLMIG_F_VERIFY))
        return src_fail(s, EPROTONOSUPPORT, "the destination cannot verify "
                        "what it writes (--verify): upgrade it or migrate "
                        "without --verify");
    s->vf.on = true;
    for (unsigned i = 0; i < s->ndisks; i++)
        if (!s->disks[i].bad &&
            !(s->disks[i].bad = xlmig_bitmap_new(s->disks[i].nblocks)))
            return src_fail(s, ENOMEM, "out of memory");
    return 0;
}

void src_verify_free(struct xlmig_source *s)
{
    for (unsigned i = 0; i < s->ndisks; i++) {
        xlmig_bitmap_free(s->disks[i].bad);
        s->disks[i].bad = NULL;
    }
}

/* Whether a space-separated list holds item. */
static bool listed(const char *list, const char *item)
{
    size_t n = strlen(item);

    for (const char *p = list; (p = strstr(p, item)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
            return true;
    return false;
}

int src_verify_mismatch(struct xlmig_source *s, const struct xlmig_rec *r)
{
    struct xlmig_extent_list l;
    struct xlmig_extent e0;
    struct xlmig_error err;
    struct src_disk *d;

    if (!s->vf.on)
        return src_chan_fail(s, EPROTO, "MISMATCH without --verify");
    if (xlmig_dec_extents(r, &l, &err) < 0)
        return src_chan_fail(s, EPROTO, "bad MISMATCH: %s", err.msg);
    if (l.disk >= s->ndisks)
        return src_chan_fail(s, EPROTO, "MISMATCH for unknown disk %u",
                             l.disk);
    d = &s->disks[l.disk];
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < l.n; i++) {
        struct xlmig_extent e;

        xlmig_extent_at(&l, i, &e);
        if (xlmig_check_extent(e.start, e.count, d->nblocks, &err) < 0) {
            pthread_mutex_unlock(&s->lock);
            return src_chan_fail(s, EPROTO, "MISMATCH for disk %s: %s",
                                 d->name, err.msg);
        }
        char item[96];

        xlmig_bitmap_set_range(d->bad, e.start, e.count);
        s->vf.mismatched_blocks += e.count;
        snprintf(item, sizeof(item), "%s:%" PRIu64 "+%" PRIu64, d->name,
                 e.start, e.count);
        if (s->vf.list_len < sizeof(s->vf.list) - sizeof(item) &&
            !listed(s->vf.list, item))
            xlmig_json_fmt(s->vf.list, sizeof(s->vf.list), &s->vf.list_len,
                           "%s%s", s->vf.list_len ? " " : "", item);
    }
    pthread_mutex_unlock(&s->lock);
    xlmig_extent_at(&l, 0, &e0);
    xlmig_logf(&s->em, XLMIG_LOG_WARN, "verify: the destination read back "
               "%u extent(s) of disk %s differently from what was sent "
               "(first at block %" PRIu64 ")%s", l.n, d->name, e0.start,
               s->st.t_go ? "" : ": sending them again");
    return 0;
}

int src_verify_result(struct xlmig_source *s, const struct xlmig_rec *r)
{
    struct xlmig_verified v;
    struct xlmig_error err;

    if (!s->vf.on)
        return src_chan_fail(s, EPROTO, "VERIFIED without --verify");
    if (xlmig_dec_verified(r, &v, &err) < 0)
        return src_chan_fail(s, EPROTO, "bad VERIFIED: %s", err.msg);
    pthread_mutex_lock(&s->lock);
    s->vf.res = v;
    s->vf.got_result = true;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Moves the blocks that read back wrong into the pending sets. */
static uint64_t take_bad(struct xlmig_source *s)
{
    uint64_t n = 0;

    if (!s->vf.on)
        return 0;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];

        uint64_t b = d->bad ? xlmig_bitmap_count(d->bad) : 0;

        if (!b)
            continue;
        n += b;
        xlmig_bitmap_merge(d->pending, d->bad);
        xlmig_bitmap_clear_all(d->bad);
    }
    s->vf.resent_blocks += n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void src_verify_requeue(struct xlmig_source *s)
{
    take_bad(s);
}

int src_verify_settle(struct xlmig_source *s)
{
    for (int round = 1;; round++) {
        uint64_t n = take_bad(s);
        int rc;

        if (!n)
            return 0;
        if (round > SETTLE_ROUNDS) {
            s->vf.gave_up = true;
            return src_fail(s, EIO, "verification failed: %" PRIu64
                            " block(s) still read back wrong on the "
                            "destination after %d re-sends (%s); the "
                            "migration stops before the hand-off",
                            n, SETTLE_ROUNDS, s->vf.list);
        }
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "verify: sending %" PRIu64
                   " block(s) again before the hand-off (round %d)", n,
                   round);
        for (unsigned i = 0; i < s->ndisks; i++) {
            struct src_disk *d = &s->disks[i];
            struct xlmig_extent e;
            uint64_t pos = 0;

            while (xlmig_bitmap_next_extent(d->pending, &pos, 0, &e))
                if ((rc = src_queue_extent(s, d, e.start, e.count,
                                           XLMIG_ORIGIN_STOPCOPY,
                                           false)) < 0)
                    return rc;
            xlmig_bitmap_clear_all(d->pending);
        }
        if ((rc = src_sync(s)) < 0)
            return rc;
    }
}

const char *src_verify_verdict(const struct xlmig_source *s)
{
    if (!s->o.verify)
        return NULL;
    if (s->vf.gave_up)
        return "failed";
    if (!s->vf.got_result)
        return "incomplete";
    if (!s->vf.res.mismatched && !s->vf.mismatched_blocks)
        return "passed";
    return s->vf.res.unresolved ? "failed" : "repaired";
}
