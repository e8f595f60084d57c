/*
 * --verify on the destination, the receiving thread's side (dst_verify.c
 * has the design): DIGEST records kept for their DATA, the wait before a
 * block is rewritten, the queueing of checks, the drain at each SYNC; the
 * in-place checks of post-copy installs; the final counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "dst_internal.h"
#include "dst_verify_int.h"

/* ---- the receiving thread's side ---- */

int dst_verify_digest(struct xlmig_dest *d, const struct xlmig_rec *rec)
{
    struct dst_verifier *v = d->ver;
    struct xlmig_digest dg;
    struct xlmig_error err;
    struct vjob *j;

    if (!v)
        return dst_fail(d, EPROTO, "DIGEST without verification negotiated");
    if (xlmig_dec_digest(rec, &dg, &err) < 0)
        return dst_fail(d, EPROTO, "bad DIGEST: %s", err.msg);
    if (dg.disk >= d->ndisks)
        return dst_fail(d, EPROTO, "DIGEST for unknown disk %u", dg.disk);
    if (xlmig_check_extent(dg.first, dg.count, d->disks[dg.disk].nblocks,
                           &err) < 0)
        return dst_fail(d, EPROTO, "DIGEST for disk %s: %s",
                        d->disks[dg.disk].name, err.msg);
    j = malloc(sizeof(*j) + (size_t)dg.n * XLMIG_DIGEST_LEN);
    if (!j)
        return dst_fail(d, ENOMEM, "out of memory");
    *j = (struct vjob){ .disk = dg.disk, .count = dg.count,
                        .grain = dg.grain, .n = dg.n, .first = dg.first };
    memcpy(j->dig, dg.d, (size_t)dg.n * XLMIG_DIGEST_LEN);
    free(v->next_dig);
    v->next_dig = j;
    return 0;
}

/* The DIGEST that must have come just before this DATA. */
static struct vjob *take_digest(struct xlmig_dest *d,
                                const struct xlmig_data *data)
{
    struct dst_verifier *v = d->ver;
    struct vjob *j = v->next_dig;

    v->next_dig = NULL;
    if (!j || j->disk != data->disk || j->first != data->first ||
        j->count != data->count) {
        free(j);
        dst_fail(d, EPROTO, "DATA for disk %u at block %" PRIu64 " does not "
                 "follow its DIGEST", data->disk, data->first);
        return NULL;
    }
    return j;
}

static bool busy(struct dst_verifier *v, uint32_t disk, uint64_t first,
                 uint64_t count)
{
    return xlmig_bitmap_next_set(v->busy[disk], first) < first + count;
}

/* Waits (lock held) until cond() is false, failing after STALL_S without
 * any check finishing. */
static int wait_progress(struct xlmig_dest *d, struct dst_verifier *v,
                         bool (*cond)(struct xlmig_dest *, const void *),
                         const void *arg)
{
    uint64_t seen = v->finished;
    int idle = 0;

    while (cond(d, arg) && !v->failed && !d->failed && !d->cancelled) {
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&v->cv_done, &v->lock, &until);
        if (v->finished != seen) {
            seen = v->finished;
            idle = 0;
        } else if (++idle >= STALL_S) {
            pthread_mutex_unlock(&v->lock);
            dst_fail(d, ETIMEDOUT, "verification: no read-back finished "
                     "in %d s", STALL_S);
            pthread_mutex_lock(&v->lock);
            return -1;
        }
    }
    if (v->failed) {
        pthread_mutex_unlock(&v->lock);
        dst_fail(d, v->err.code, "verification: %s", v->err.msg);
        pthread_mutex_lock(&v->lock);
        return -1;
    }
    return d->failed || d->cancelled ? -1 : 0;
}

static bool range_busy(struct xlmig_dest *d, const void *arg)
{
    const struct xlmig_data *data = arg;

    return busy(d->ver, data->disk, data->first, data->count);
}

static bool queue_full(struct xlmig_dest *d, const void *arg)
{
    (void)arg;
    return d->ver->queued_bytes >= QUEUE_BYTES;
}

static bool queue_busy(struct xlmig_dest *d, const void *arg)
{
    (void)arg;
    return d->ver->head || d->ver->cur;
}

int dst_verify_before_write(struct xlmig_dest *d,
                            const struct xlmig_data *data)
{
    struct dst_verifier *v = d->ver;
    int rc;

    if (!dv_on(d))
        return 0;
    if (!v->next_dig || v->next_dig->disk != data->disk ||
        v->next_dig->first != data->first ||
        v->next_dig->count != data->count) {
        free(take_digest(d, data));
        return -1;
    }
    pthread_mutex_lock(&v->lock);
    rc = wait_progress(d, v, range_busy, data);
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int dst_verify_after_write(struct xlmig_dest *d, const struct xlmig_data *data)
{
    struct dst_verifier *v = d->ver;
    struct vjob *j;
    int rc;

    if (!dv_on(d))
        return 0;
    if (!(j = take_digest(d, data)))
        return -1;
    pthread_mutex_lock(&v->lock);
    rc = wait_progress(d, v, queue_full, NULL);
    if (rc) {
        pthread_mutex_unlock(&v->lock);
        free(j);
        return -1;
    }
    j->next = NULL;
    if (v->tail)
        v->tail->next = j;
    else
        v->head = j;
    v->tail = j;
    v->queued_bytes += (uint64_t)j->count * d->disks[j->disk].block_size;
    xlmig_bitmap_set_range(v->busy[j->disk], j->first, j->count);
    pthread_cond_broadcast(&v->cv_work);
    pthread_mutex_unlock(&v->lock);
    return 0;
}

int dst_verify_drain(struct xlmig_dest *d, bool *unresolved)
{
    struct dst_verifier *v = d->ver;
    int rc;

    *unresolved = false;
    if (!dv_on(d))
        return 0;
    pthread_mutex_lock(&v->lock);
    rc = wait_progress(d, v, queue_busy, NULL);
    for (unsigned i = 0; i < d->ndisks && !rc; i++)
        if (xlmig_bitmap_count(v->bad[i]))
            *unresolved = true;
    pthread_mutex_unlock(&v->lock);
    return rc;
}

int dst_verify_unresolved_to_stale(struct xlmig_dest *d)
{
    struct dst_verifier *v = d->ver;

    if (!dv_on(d))
        return 0;
    for (unsigned i = 0; i < d->ndisks; i++) {
        struct dst_disk *k = &d->disks[i];
        uint64_t n = xlmig_bitmap_count(v->bad[i]);

        if (!n)
            continue;
        if (!k->stale && !(k->stale = xlmig_bitmap_new(k->nblocks)))
            return dst_fail(d, ENOMEM, "out of memory");
        /* They stay "bad" until an install matches (or the guest
         * overwrites them). */
        xlmig_bitmap_merge(k->stale, v->bad[i]);
        k->bitmap_ended = true;
        xlmig_logf(&d->em, XLMIG_LOG_WARN, "verify: disk %s: %" PRIu64
                   " block(s) that read back wrong are fetched again after "
                   "the hand-off", k->name, n);
    }
    return 0;
}

bool dst_verify_is_bad(const struct xlmig_dest *d, unsigned disk,
                       uint64_t block)
{
    struct dst_verifier *v = d->ver;
    bool bad;

    if (!v)
        return false;
    pthread_mutex_lock(&v->lock);
    bad = xlmig_bitmap_test(v->bad[disk], block) ||
          xlmig_bitmap_test(v->busy[disk], block);
    pthread_mutex_unlock(&v->lock);
    return bad;
}

/* ---- post-copy installs ---- */

static bool claimed_all(const unsigned long *mask, uint32_t from, uint32_t to)
{
    const unsigned bits = 8 * sizeof(unsigned long);

    for (uint32_t i = from; i < to; i++)
        if (!(mask[i / bits] >> (i % bits) & 1))
            return false;
    return true;
}

void dst_verify_forget(struct xlmig_dest *d)
{
    if (d->ver) {
        free(d->ver->next_dig);
        d->ver->next_dig = NULL;
    }
}

int dst_verify_paired(struct xlmig_dest *d, const struct xlmig_data *data)
{
    struct vjob *j = d->ver ? d->ver->next_dig : NULL;

    if (!dv_on(d))
        return 0;
    if (!j || j->disk != data->disk || j->first != data->first ||
        j->count != data->count)
        return -1;
    return 0;
}

int dst_verify_install(struct xlmig_dest *d, struct dst_disk *k,
                       const struct xlmig_data *data, const uint8_t *payload,
                       size_t len, uint32_t done, uint32_t n,
                       const unsigned long *mask)
{
    struct dst_verifier *v = d->ver;
    struct vjob *j = v ? v->next_dig : NULL;
    struct xlmig_extent seen[XLMIG_MAX_DIGESTS];
    uint32_t nbad = 0, nseen = 0;
    int rc = 0;

    if (!dv_on(d))
        return 0;
    if (!j || j->disk != data->disk || j->first != data->first ||
        j->count != data->count) {
        dst_fail(d, EPROTO, "post-copy DATA for disk %s at block %" PRIu64
                 " does not follow its DIGEST", k->name, data->first);
        return -1;
    }
    /* Blocks the guest wrote first are the guest's: not wrong any more. */
    pthread_mutex_lock(&v->lock);
    for (uint32_t i = 0; i < n; i++)
        if (!claimed_all(mask, i, i + 1))
            xlmig_bitmap_clear_range(v->bad[data->disk],
                                     data->first + done + i, 1);
    pthread_mutex_unlock(&v->lock);
    /* The grains within [done, done + n) of the record. */
    for (uint32_t g = done / j->grain; g < j->n; g++) {
        uint32_t gfirst = g * j->grain;
        uint32_t gend = gfirst + j->grain < j->count ? gfirst + j->grain
                                                     : j->count;
        size_t off, gl;
        struct xlmig_error err;
        bool ok;

        if (gfirst >= done + n)
            break;
        if (gfirst < done || gend > done + n) {
            /* split across claims: the caller's claims are aligned to
             * XLMIG_CLAIM_MAX, a multiple of every grain; cannot happen */
            pthread_mutex_lock(&v->lock);
            v->v.skipped++;
            pthread_mutex_unlock(&v->lock);
            continue;
        }
        if (!claimed_all(mask, gfirst - done, gend - done)) {
            /* The guest wrote part of it first: nothing to compare. */
            pthread_mutex_lock(&v->lock);
            v->v.skipped++;
            pthread_mutex_unlock(&v->lock);
            continue;
        }
        xlmig_digest_grain_range(len, k->block_size, j->grain, g, &off, &gl);
        for (int attempt = 0; attempt < 2; attempt++) {
            if (dv_read_back(v, k, data->first * k->block_size + off, gl,
                          v->buf, true, &err) < 0) {
                dst_fail(d, err.code, "verification: %s", err.msg);
                return -1;
            }
            uint8_t got[XLMIG_DIGEST_LEN];
            ok = xlmig_sha256(v->buf, gl, got) == 0 &&
                 !memcmp(got, j->dig + (size_t)g * XLMIG_DIGEST_LEN,
                         XLMIG_DIGEST_LEN);
            pthread_mutex_lock(&v->lock);
            v->v.checked++;
            v->v.bytes += gl;
            if (!ok)
                dv_note_bad(v, data->disk, data->first + gfirst,
                         gend - gfirst);
            else
                xlmig_bitmap_clear_range(v->bad[data->disk],
                                         data->first + gfirst,
                                         gend - gfirst);
            pthread_mutex_unlock(&v->lock);
            if (ok)
                break;
            if (attempt == 0) {
                seen[nseen].start = data->first + gfirst;
                seen[nseen].count = gend - gfirst;
                nseen++;
            }
            /* Once more from what we received (still in memory). */
            rc = payload ? xlmig_image_write(&k->img, payload + off, gl,
                                             data->first * k->block_size +
                                             off, &err)
                         : xlmig_image_zero(&k->img, data->first *
                                            k->block_size + off, gl, &err);
            if (rc < 0) {
                dst_fail(d, EIO, "disk %s: rewriting after a failed check: "
                         "%s", k->name, err.msg);
                return -1;
            }
        }
        if (!ok)
            nbad++;
    }
    /* The source hears of every mismatch (for its report). */
    dv_send_mismatch(d, data->disk, seen, nseen);
    /* Still wrong after the rewrite: the grain is asked for again (the
     * caller leaves it stale). */
    if (nbad) {
        pthread_mutex_lock(&v->lock);
        v->postcopy_bad += nbad;
        bool too_many = v->postcopy_bad > POSTCOPY_MISMATCH_MAX;
        pthread_mutex_unlock(&v->lock);
        if (too_many) {
            dst_fail(d, EIO, "verification: disk %s keeps reading back "
                     "differently from what was written (%" PRIu64 " times "
                     "after the hand-off)", k->name, v->postcopy_bad);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* ---- results ---- */

int dst_verify_send_result(struct xlmig_dest *d)
{
    uint8_t buf[XLMIG_HDR_LEN + 40];
    struct xlmig_verified res;

    if (!dv_on(d))
        return 0;
    dst_verify_counts(d, &res);
    return xlmig_conn_send(&d->conn, buf, xlmig_enc_verified(buf, &res));
}

void dst_verify_counts(const struct xlmig_dest *d, struct xlmig_verified *out)
{
    struct dst_verifier *v = d->ver;

    memset(out, 0, sizeof(*out));
    if (!v)
        return;
    pthread_mutex_lock(&v->lock);
    *out = v->v;
    out->unresolved = 0;
    for (unsigned i = 0; i < d->ndisks; i++)
        out->unresolved += xlmig_bitmap_count(v->bad[i]);
    pthread_mutex_unlock(&v->lock);
}

const char *dst_verify_list(const struct xlmig_dest *d)
{
    struct dst_verifier *v = d->ver;
    size_t p = 0;

    if (!v)
        return "";
    pthread_mutex_lock(&v->lock);
    v->text[0] = '\0';
    for (unsigned i = 0; i < v->nlist; i++)
        xlmig_json_fmt(v->text, sizeof(v->text), &p, "%s%s:%" PRIu64 "+%"
                       PRIu64, i ? " " : "", d->disks[v->list[i].disk].name,
                       v->list[i].first, v->list[i].count);
    pthread_mutex_unlock(&v->lock);
    return v->text;
}
