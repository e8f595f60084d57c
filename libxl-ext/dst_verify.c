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
#include "dst_verify.h"

#define QUEUE_BYTES (128u << 20)        /* written, not yet checked */
#define STALL_S 300                     /* no check finished this long */
#define LIST_MAX 16                     /* mismatches named in the report */
#define POSTCOPY_MISMATCH_MAX 64        /* a disk that keeps failing */

struct vjob {
    struct vjob *next;
    uint32_t disk, count, grain, n;
    uint64_t first;
    uint8_t dig[];
};

struct dst_verifier {
    pthread_t thr;
    bool running, stop;
    pthread_mutex_t lock;
    pthread_cond_t cv_work, cv_done;
    struct vjob *head, *tail, *cur;
    uint64_t queued_bytes;
    uint64_t finished;          /* checks done, for stall detection */
    struct xlmig_bitmap *busy[XLMIG_MAX_DISKS];  /* queued or being read */
    struct xlmig_bitmap *bad[XLMIG_MAX_DISKS];   /* failed, not rewritten */
    int rfd[XLMIG_MAX_DISKS];   /* O_DIRECT readers, -1: none */
    uint8_t *buf;
    struct vjob *next_dig;      /* the DIGEST before the next DATA */
    struct xlmig_verified v;
    struct { uint32_t disk; uint64_t first, count; } list[LIST_MAX];
    unsigned nlist;
    char text[LIST_MAX * 96];
    uint64_t postcopy_bad;
    bool failed;
    struct xlmig_error err;
    /* test hook */
    int hook_disk;
    uint64_t hook_block;        /* UINT64_MAX: any */
    bool hook_always, hook_postcopy;
};

static bool on(const struct xlmig_dest *d)
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
static int read_back(struct dst_verifier *v, struct dst_disk *k, uint64_t off,
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
static void note_bad(struct dst_verifier *v, uint32_t disk, uint64_t first,
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

static void send_mismatch(struct xlmig_dest *d, uint32_t disk,
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
    if (read_back(v, k, off, len, v->buf, false, &err) < 0) {
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
        note_bad(v, j->disk, bad[i].start, bad[i].count);
    pthread_mutex_unlock(&v->lock);
    if (nbad) {
        xlmig_logf(&d->em, XLMIG_LOG_WARN, "verify: disk %s: %u grain(s) "
                   "at block %" PRIu64 " read back differently from what "
                   "the source sent: asking for them again", k->name, nbad,
                   bad[0].start);
        send_mismatch(d, j->disk, bad, nbad);
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

static void stop_thread(struct dst_verifier *v)
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
        stop_thread(d->ver);
}

void dst_verify_stop(struct xlmig_dest *d)
{
    struct dst_verifier *v = d->ver;

    if (!v)
        return;
    stop_thread(v);
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

    if (!on(d))
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

    if (!on(d))
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
    if (!on(d))
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

    if (!on(d))
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

    if (!on(d))
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

    if (!on(d))
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
            if (read_back(v, k, data->first * k->block_size + off, gl,
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
                note_bad(v, data->disk, data->first + gfirst,
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
    send_mismatch(d, data->disk, seen, nseen);
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

    if (!on(d))
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
