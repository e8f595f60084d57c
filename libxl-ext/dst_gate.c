/*
 * The post-copy gates on the destination: armed at stop-copy with the
 * stale bitmap (guest accesses to stale blocks wait in the backend), and
 * fetched blocks installed through claim / write / commit, so that data
 * from the source never lands on a block the guest has written here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dst_internal.h"

#define GATE_CHUNK 1024

int dst_arm_gates(struct xlmig_dest *r)
{
    struct xlmig_extent *e = malloc(GATE_CHUNK * sizeof(*e));

    if (!e)
        return dst_fail(r, EIO, "out of memory");
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct dst_disk *d = &r->disks[i];
        uint64_t pos = 0;
        size_t n = 0;
        bool more = true;

        if (!d->stale || !xlmig_bitmap_count(d->stale))
            continue;
        if (!d->bitmap_ended) {
            free(e);
            return dst_fail(r, EPROTO, "stale bitmap for disk %s never ended",
                             d->name);
        }
        if (!d->vbd) {
            free(e);
            return dst_fail(r, EIO, "disk %s has stale blocks but no block "
                             "backend to gate them", d->name);
        }
        d->remaining = xlmig_bitmap_new(d->nblocks);
        d->want = xlmig_bitmap_new(d->nblocks);
        if (!d->remaining || !d->want) {
            free(e);
            return dst_fail(r, EIO, "out of memory");
        }
        xlmig_bitmap_merge(d->remaining, d->stale);
        pthread_mutex_lock(&r->vbd_lock);
        int rc = d->vbd->ops->gate_start(d->vbd, d->block_size);
        while (!rc && more) {
            more = xlmig_bitmap_next_extent(d->stale, &pos, 0, &e[n]);
            if (more)
                n++;
            if (n && (n == GATE_CHUNK || !more)) {
                rc = d->vbd->ops->gate_add_stale(d->vbd, e, n);
                n = 0;
            }
        }
        pthread_mutex_unlock(&r->vbd_lock);
        if (rc) {
            free(e);
            return dst_fail(r, EIO, "disk %s: arming the gate failed: %s",
                             d->name, d->vbd->err.msg);
        }
        d->gate_on = true;
        r->st.stale_blocks += xlmig_bitmap_count(d->stale);
    }
    free(e);
    return 0;
}

static int install(struct xlmig_dest *r, const struct xlmig_data *d)
{
    unsigned long mask[XLMIG_CLAIM_WORDS];
    struct dst_disk *k;
    const uint8_t *p = NULL;
    struct xlmig_error err;
    uint64_t off;
    size_t len;

    if (dst_check_data(r, d, &k, &off, &len) < 0)
        return -1;
    if (!k->gate_on)
        return 0;               /* nothing stale on this disk */
    if (d->encoding != XLMIG_ENC_ZERO && dst_payload(r, &r->io, d, len, &p) < 0)
        return -1;
    for (uint32_t done = 0; done < d->count;) {
        uint32_t n = d->count - done;
        uint64_t first = d->first + done;
        int claimed;

        if (n > XLMIG_CLAIM_MAX)
            n = XLMIG_CLAIM_MAX;
        pthread_mutex_lock(&r->vbd_lock);
        claimed = k->vbd->ops->claim(k->vbd, first, n, mask);
        pthread_mutex_unlock(&r->vbd_lock);
        if (claimed < 0)
            return dst_fail(r, EIO, "disk %s: claim failed: %s", k->name,
                             k->vbd->err.msg);
        /* Write each run of claimed blocks, then commit the range. */
        for (uint32_t i = 0; i < n && claimed;) {
            uint32_t j;
            if (!(mask[i / (8 * sizeof(long))] >> (i % (8 * sizeof(long))) & 1)) {
                i++;
                continue;
            }
            for (j = i; j < n && (mask[j / (8 * sizeof(long))] >>
                                  (j % (8 * sizeof(long))) & 1); j++)
                ;
            uint64_t boff = (uint64_t)(done + i) * k->block_size;
            uint64_t blen = (uint64_t)(j - i) * k->block_size;
            if (boff + blen > len)
                blen = len - boff;
            int rc = p ? xlmig_image_write(&k->img, p + boff, blen,
                                           off + boff, &err)
                       : xlmig_image_zero(&k->img, off + boff, blen, &err);
            if (rc < 0) {
                pthread_mutex_lock(&r->vbd_lock);
                k->vbd->ops->unclaim(k->vbd, first, n);
                pthread_mutex_unlock(&r->vbd_lock);
                return dst_fail(r, EIO, "disk %s: installing fetched blocks: %s",
                                 k->name, err.msg);
            }
            i = j;
        }
        /* --verify: read back before the guest may see it. */
        int vrc = claimed ? dst_verify_install(r, k, d, p, len, done, n,
                                               mask) : 0;
        if (vrc < 0) {
            pthread_mutex_lock(&r->vbd_lock);
            k->vbd->ops->unclaim(k->vbd, first, n);
            pthread_mutex_unlock(&r->vbd_lock);
            return -1;
        }
        if (vrc > 0) {
            /* Still wrong after a rewrite: stays stale, asked for again. */
            struct xlmig_extent again = { first, n };

            pthread_mutex_lock(&r->vbd_lock);
            k->vbd->ops->unclaim(k->vbd, first, n);
            pthread_mutex_unlock(&r->vbd_lock);
            if (dst_send_pull_req(r, d->disk, &again, 1) < 0)
                return dst_fail(r, EIO, "asking again for blocks that "
                                "failed their check: %s", r->conn.err.msg);
            done += n;
            continue;
        }
        pthread_mutex_lock(&r->vbd_lock);
        int rc = claimed ? k->vbd->ops->commit(k->vbd, first, n) : 0;
        pthread_mutex_unlock(&r->vbd_lock);
        if (rc < 0)
            return dst_fail(r, EIO, "disk %s: commit failed: %s", k->name,
                             k->vbd->err.msg);
        /* Every block of the range is current now: installed here, or
         * written by the guest first (the claim left those out). */
        pthread_mutex_lock(&r->want_lock);
        xlmig_bitmap_clear_range(k->remaining, first, n);
        xlmig_bitmap_clear_range(k->want, first, n);
        pthread_mutex_unlock(&r->want_lock);
        __atomic_fetch_add(&r->st.installed, (uint64_t)claimed,
                           __ATOMIC_RELAXED);
        r->st.refused += n - (uint32_t)claimed;
        done += n;
    }
    return 0;
}

int dst_install(struct xlmig_dest *r, const struct xlmig_data *d)
{
    int rc;

    if (dst_verify_paired(r, d) < 0)
        rc = dst_fail(r, EPROTO, "post-copy DATA for disk %u at block %llu "
                      "does not follow its DIGEST", d->disk,
                      (unsigned long long)d->first);
    else
        rc = install(r, d);
    dst_verify_forget(r);
    return rc;
}

uint64_t dst_gate_stale(struct xlmig_dest *r, uint64_t *over)
{
    uint64_t total = 0;

    *over = 0;
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct dst_disk *d = &r->disks[i];
        struct xlmig_vbd_stats vs;

        if (!d->gate_on)
            continue;
        pthread_mutex_lock(&r->vbd_lock);
        int rc = d->vbd->ops->stats(d->vbd, &vs);
        pthread_mutex_unlock(&r->vbd_lock);
        if (rc < 0)
            return UINT64_MAX;
        total += vs.stale;
        *over += vs.overwritten;
    }
    return total;
}

uint64_t xlmig_dest_stale_blocks(const struct xlmig_dest *d)
{
    uint64_t over;

    if (!d->got_go)
        return 0;
    return dst_gate_stale((struct xlmig_dest *)d, &over);
}
