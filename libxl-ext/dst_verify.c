/*
 * --verify on the destination.  Every DATA record comes after a DIGEST of
 * its blocks as the source read them (SHA-256 per 64 KiB grain).
 *
 * PUSH and stop-copy: the blocks are written, then the verifier thread
 * pushes them to the disk (sync_file_range), reads them back past the page
 * cache (O_DIRECT; where that is refused, the cached pages are dropped
 * first) and compares.  A grain that differs goes to the source at once
 * (MISMATCH), which sends its blocks again.  A block is never rewritten
 * while its check is queued (the receiving thread waits), so a newer copy
 * cannot make an older digest fail, and only the latest copy's digest
 * decides.  Every SYNC waits for the checks of what came before it: the
 * source knows every mismatch before stop-copy completes, i.e. before GO.
 *
 * Post-copy: an install is checked in place between its write and its
 * commit, while the gate still holds the guest off those blocks; a grain
 * the guest wrote first is skipped (its data is the guest's, not a
 * mismatch).
 *
 * Test hook: XLMIG_TEST_CORRUPT_AFTER_WRITE=NAME:BLOCK[:always|:postcopy]
 * changes that block (BLOCK "any": the first block checked) on disk after
 * it is written and flushed and before it is read back (what a bad disk or
 * a lost write would do): once, every time, or once in a post-copy install.
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

bool dv_on(const struct xlmig_dest *d)
{
    return d->ver != NULL;
}

/* ---- reading back ---- */

static void hook_corrupt(struct dst_verifier *v, struct dst_disk *k,
                         uint64_t first, uint64_t count, bool postcopy)
{
    static const char junk[8] = "XLMIGBAD";
    uint64_t block = v->hook_block == UINT64_MAX ? first : v->hook_block;
    int fd;

    if (v->hook_disk != (int)k->id || block < first ||
        block >= first + count || (v->hook_postcopy && !postcopy))
        return;
    if (!v->hook_always)
        v->hook_disk = -1;      /* once */
    fd = open(k->path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (pwrite(fd, junk, sizeof(junk), (off_t)(block * k->block_size)) < 0 ||
        fsync(fd) < 0) {
        /* the test then sees no mismatch and fails */
    }
    close(fd);
}

/*
 * Reads [off, off + len) of k as stored: flushed first, then past the
 * page cache.  0 or -1 (err).
 */
int dv_read_back(struct dst_verifier *v, struct dst_disk *k, uint64_t off,
                 size_t len, uint8_t *buf, bool postcopy,
                 struct xlmig_error *err)
{
    int fd = v->rfd[k->id];
    ssize_t n;

    if (!k->img.is_blk &&
        sync_file_range(k->img.fd, (off_t)off, (off_t)len,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                        SYNC_FILE_RANGE_WAIT_AFTER) < 0)
        return xlmig_fail(err, errno, "disk %s: flushing for the check: %s",
                          k->name, strerror(errno));
    hook_corrupt(v, k, off / k->block_size,
                 (len + k->block_size - 1) / k->block_size, postcopy);
    if (k->img.is_blk)
        fd = k->img.fd;         /* O_DIRECT already */
    if (fd >= 0) {
        n = pread(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINVAL && !k->img.is_blk) {
            /* The file system refuses this alignment: drop the cache. */
            close(v->rfd[k->id]);
            v->rfd[k->id] = fd = -1;
        } else if (n != (ssize_t)len) {
            return xlmig_fail(err, n < 0 ? errno : EIO, "disk %s: reading "
                              "back %zu bytes at %" PRIu64 ": %s", k->name,
                              len, off, n < 0 ? strerror(errno)
                                              : "short read");
        } else {
            return 0;
        }
    }
    posix_fadvise(k->img.fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
    n = pread(k->img.fd, buf, len, (off_t)off);
    if (n != (ssize_t)len)
        return xlmig_fail(err, n < 0 ? errno : EIO, "disk %s: reading back "
                          "%zu bytes at %" PRIu64 ": %s", k->name, len, off,
                          n < 0 ? strerror(errno) : "short read");
    return 0;
}

/* Grain g of a run of len bytes at block first: does it match dig? */
static bool grain_ok(const uint8_t *buf, size_t len, uint32_t bs,
                     uint32_t grain, uint32_t g, const uint8_t *dig)
{
    uint8_t got[XLMIG_DIGEST_LEN];
    size_t off, n;

    xlmig_digest_grain_range(len, bs, grain, g, &off, &n);
    if (xlmig_sha256(buf + off, n, got) < 0)
        return false;
    return !memcmp(got, dig + (size_t)g * XLMIG_DIGEST_LEN,
                   XLMIG_DIGEST_LEN);
}

/* Lock held: a mismatch is counted, listed and remembered. */
void dv_note_bad(struct dst_verifier *v, uint32_t disk, uint64_t first,
                 uint64_t count)
{
    v->v.mismatched += count;
    for (unsigned i = 0; i < v->nlist; i++)
        if (v->list[i].disk == disk && v->list[i].first == first &&
            v->list[i].count == count)
            goto listed;
    if (v->nlist < LIST_MAX) {
        v->list[v->nlist].disk = disk;
        v->list[v->nlist].first = first;
        v->list[v->nlist].count = count;
        v->nlist++;
    }
listed:
    if (v->bad[disk])
        xlmig_bitmap_set_range(v->bad[disk], first, count);
}

void dv_send_mismatch(struct xlmig_dest *d, uint32_t disk,
                      const struct xlmig_extent *e, uint32_t n)
{
    uint8_t buf[XLMIG_HDR_LEN + 8 + XLMIG_MAX_DIGESTS * XLMIG_EXTENT_LEN];

    if (n && d->have_channel)
        xlmig_conn_send(&d->conn, buf, xlmig_enc_extents(buf,
                                                         XLMIG_REC_MISMATCH,
                                                         disk, e, n));
}

/* One queued check (verifier thread, lock not held). */
static int check(struct xlmig_dest *d, struct dst_verifier *v,
                 const struct vjob *j)
{
    struct dst_disk *k = &d->disks[j->disk];
    struct xlmig_extent bad[XLMIG_MAX_DIGESTS];
    struct xlmig_error err;
    uint64_t off = j->first * k->block_size;
    size_t len = (size_t)j->count * k->block_size;
    uint32_t nbad = 0, ok = 0;

    if (off + len > k->size)
        len = (size_t)(k->size - off);
    if (dv_read_back(v, k, off, len, v->buf, false, &err) < 0) {
        pthread_mutex_lock(&v->lock);
        if (!v->failed) {
            v->failed = true;
            v->err = err;
        }
        pthread_mutex_unlock(&v->lock);
        return -1;
    }
    uint8_t good[XLMIG_MAX_DIGESTS];

    for (uint32_t g = 0; g < j->n; g++) {
        good[g] = grain_ok(v->buf, len, k->block_size, j->grain, g, j->dig);
        if (good[g]) {
            ok++;
            continue;
        }
        bad[nbad].start = j->first + (uint64_t)g * j->grain;
        bad[nbad].count = j->count - g * j->grain < j->grain
                              ? j->count - g * j->grain : j->grain;
        nbad++;
    }
    pthread_mutex_lock(&v->lock);
    v->v.checked += j->n;
    v->v.bytes += len;
    /* Blocks that failed before and now match are resolved. */
    for (uint32_t g = 0; g < j->n && ok; g++)
        if (good[g])
            xlmig_bitmap_clear_range(v->bad[j->disk],
                                     j->first + (uint64_t)g * j->grain,
                                     j->count - g * j->grain < j->grain
                                         ? j->count - g * j->grain
                                         : j->grain);
    for (uint32_t i = 0; i < nbad; i++)
        dv_note_bad(v, j->disk, bad[i].start, bad[i].count);
    pthread_mutex_unlock(&v->lock);
    if (nbad) {
        xlmig_logf(&d->em, XLMIG_LOG_WARN, "verify: disk %s: %u grain(s) "
                   "at block %" PRIu64 " read back differently from what "
                   "the source sent: asking for them again", k->name, nbad,
                   bad[0].start);
        dv_send_mismatch(d, j->disk, bad, nbad);
    }
    return 0;
}

static void *verifier_main(void *arg)
{
    struct xlmig_dest *d = arg;
    struct dst_verifier *v = d->ver;

    pthread_mutex_lock(&v->lock);
    for (;;) {
        struct vjob *j;

        while (!v->stop && !v->head)
            pthread_cond_wait(&v->cv_work, &v->lock);
        if (v->stop)
            break;
        j = v->head;
        v->head = j->next;
        if (!v->head)
            v->tail = NULL;
        v->cur = j;
        pthread_mutex_unlock(&v->lock);
        int rc = v->failed ? -1 : check(d, v, j);
        pthread_mutex_lock(&v->lock);
        (void)rc;
        v->cur = NULL;
        v->queued_bytes -= (uint64_t)j->count * d->disks[j->disk].block_size;
        xlmig_bitmap_clear_range(v->busy[j->disk], j->first, j->count);
        v->finished++;
        free(j);
        pthread_cond_broadcast(&v->cv_done);
    }
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

/* ---- life cycle ---- */

static void parse_hook(struct xlmig_dest *d, struct dst_verifier *v)
{
    const char *h = getenv("XLMIG_TEST_CORRUPT_AFTER_WRITE");
    const char *colon = h ? strchr(h, ':') : NULL;

    v->hook_disk = -1;
    if (!colon)
        return;
    v->hook_always = strstr(colon, ":always") != NULL;
    v->hook_postcopy = strstr(colon, ":postcopy") != NULL;
    for (unsigned i = 0; i < d->ndisks; i++)
        if (strlen(d->disks[i].name) == (size_t)(colon - h) &&
            !strncmp(d->disks[i].name, h, (size_t)(colon - h))) {
            v->hook_disk = (int)i;
            v->hook_block = strncmp(colon + 1, "any", 3)
                                ? strtoull(colon + 1, NULL, 10) : UINT64_MAX;
            xlmig_logf(&d->em, XLMIG_LOG_WARN, "test hook: %s of disk %s "
                       "will be damaged after it is written (%s)",
                       colon + 1, d->disks[i].name,
                       v->hook_always ? "every time"
                       : v->hook_postcopy ? "once, after the hand-off"
                                          : "once");
        }
}

int dst_verify_start(struct xlmig_dest *d)
{
    struct dst_verifier *v;

    if (!(d->features & XLMIG_F_VERIFY) || d->ver)
        return 0;
    v = calloc(1, sizeof(*v));
    if (!v || !(v->buf = xlmig_alloc_io(XLMIG_MAX_DATA))) {
        free(v);
        return dst_fail(d, ENOMEM, "out of memory for verification");
    }
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cv_work, NULL);
    pthread_cond_init(&v->cv_done, NULL);
    d->ver = v;
    for (unsigned i = 0; i < XLMIG_MAX_DISKS; i++)
        v->rfd[i] = -1;
    for (unsigned i = 0; i < d->ndisks; i++) {
        struct dst_disk *k = &d->disks[i];

        v->busy[i] = xlmig_bitmap_new(k->nblocks);
        v->bad[i] = xlmig_bitmap_new(k->nblocks);
        if (!v->busy[i] || !v->bad[i])
            return dst_fail(d, ENOMEM, "out of memory for verification");
        if (!k->img.is_blk)
            v->rfd[i] = open(k->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    }
    parse_hook(d, v);
    if (pthread_create(&v->thr, NULL, verifier_main, d))
        return dst_fail(d, EAGAIN, "cannot start the verifier");
    v->running = true;
    return 0;
}

void dv_stop_thread(struct dst_verifier *v)
{
    if (!v->running)
        return;
    pthread_mutex_lock(&v->lock);
    v->stop = true;
    pthread_cond_broadcast(&v->cv_work);
    pthread_mutex_unlock(&v->lock);
    pthread_join(v->thr, NULL);
    v->running = false;
}

void dst_verify_end_push(struct xlmig_dest *d)
{
    if (d->ver)
        dv_stop_thread(d->ver);
}

void dst_verify_stop(struct xlmig_dest *d)
{
    struct dst_verifier *v = d->ver;

    if (!v)
        return;
    dv_stop_thread(v);
    while (v->head) {
        struct vjob *j = v->head;
        v->head = j->next;
        free(j);
    }
    free(v->next_dig);
    for (unsigned i = 0; i < XLMIG_MAX_DISKS; i++) {
        xlmig_bitmap_free(v->busy[i]);
        xlmig_bitmap_free(v->bad[i]);
        if (v->rfd[i] >= 0)
            close(v->rfd[i]);
    }
    free(v->buf);
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->cv_work);
    pthread_cond_destroy(&v->cv_done);
    free(v);
    d->ver = NULL;
}
