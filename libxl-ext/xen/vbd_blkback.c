/*
 * The VBD backend for the patched xen-blkback (blkback-patch/).
 *
 *   tracking   the "migrate-track" key of the VBD's backend node holds the
 *              block size (removed: off); blkback answers in
 *              "migrate-tracking-error" then "migrate-tracking"
 *   the rest   ioctls on /dev/xen/blkback-migrate, bound to (domid, devid)
 *   data_path  the VBD's physical device, /dev/<name of physical-device>
 *              (a loop device for file: disks); installs are written there
 *              with O_DIRECT between claim and commit
 *
 * A handle that turned tracking on turns it off when closed; the kernel
 * gives back the handle's quiesce, claims and unread dirty blocks when its
 * file is closed (or its process dies).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "err.h"
#include "vbd.h"
#include "../../blkback-patch/src/uapi/xen/blkback_migrate.h"

#define BB_DEVICE "/dev/xen/blkback-migrate"
#define BB_OPEN_WAIT_MS 10000   /* for hotplug and blkback to attach the VBD */
#define BB_TRACK_WAIT_MS 10000  /* for blkback to apply migrate-track */
#define BB_BATCH 256            /* extents per ioctl */

struct bb {
    int fd;
    struct xs_handle *xs;
    char be[256];               /* backend node */
    uint32_t tracking_bs;       /* block size this handle turned on, or 0 */
};

static int fail(struct xlmig_vbd *v, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct xlmig_vbd *v, int err, const char *fmt, ...)
{
    char msg[XLMIG_ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (err)
        return xlmig_fail(&v->err, err, "%s: %s", msg, strerror(err));
    return xlmig_fail(&v->err, EIO, "%s", msg);
}

static struct bb *bb(struct xlmig_vbd *v)
{
    return v->priv;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads <dir>/<key>; NULL if absent.  The caller frees. */
static char *xs_get(struct xs_handle *xs, const char *dir, const char *key)
{
    char path[512];
    unsigned int len;

    snprintf(path, sizeof(path), "%s/%s", dir, key);
    return xs_read(xs, XBT_NULL, path, &len);
}

/* <dir>/<key> as a number; dflt if absent or not a number. */
static long long xs_get_num(struct xs_handle *xs, const char *dir,
                            const char *key, long long dflt)
{
    char *s = xs_get(xs, dir, key), *end;
    long long val = dflt;

    if (s) {
        errno = 0;
        val = strtoll(s, &end, 0);
        if (errno || end == s)
            val = dflt;
        free(s);
    }
    return val;
}

static int ioctl_retry(int fd, unsigned long cmd, void *arg)
{
    int rc;

    do
        rc = ioctl(fd, cmd, arg);
    while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : rc;
}

/*
 * Waits until blkback reports tracking at want (0: off).  It writes the
 * error of each request before the state, so a failure shows as an error
 * with the state still different; a stale error from an earlier request
 * is overwritten when ours is applied, hence the grace period.
 */
static int wait_tracking(struct xlmig_vbd *v, uint32_t want)
{
    struct bb *b = bb(v);
    long deadline = now_ms() + BB_TRACK_WAIT_MS, failed_at = 0;
    long long state, err;

    for (;;) {
        err = xs_get_num(b->xs, b->be, "migrate-tracking-error", 0);
        state = xs_get_num(b->xs, b->be, "migrate-tracking", 0);
        if (state == (long long)want && !err)
            return 0;
        if (err < 0 && !failed_at)
            failed_at = now_ms();
        if (failed_at && now_ms() - failed_at > 500)
            return fail(v, (int)-err, "blkback refused migrate-track=%" PRIu32
                        " on %s", want, b->be);
        if (now_ms() > deadline)
            return fail(v, ETIMEDOUT, "blkback did not apply migrate-track=%"
                        PRIu32 " on %s (is the patched xen-blkback loaded?)",
                        want, b->be);
        sleep_ms(10);
    }
}

static int bb_track_start(struct xlmig_vbd *v, uint32_t block_size)
{
    struct bb *b = bb(v);
    char path[512], val[16];
    int rc;

    snprintf(path, sizeof(path), "%s/migrate-tracking-error", b->be);
    xs_rm(b->xs, XBT_NULL, path);
    snprintf(path, sizeof(path), "%s/migrate-track", b->be);
    snprintf(val, sizeof(val), "%" PRIu32, block_size);
    if (!xs_write(b->xs, XBT_NULL, path, val, strlen(val)))
        return fail(v, errno, "writing %s", path);
    rc = wait_tracking(v, block_size);
    if (!rc)
        b->tracking_bs = block_size;
    return rc;
}

static int bb_track_stop(struct xlmig_vbd *v)
{
    struct bb *b = bb(v);
    char path[512];

    snprintf(path, sizeof(path), "%s/migrate-track", b->be);
    if (!xs_rm(b->xs, XBT_NULL, path) && errno != ENOENT)
        return fail(v, errno, "removing %s", path);
    b->tracking_bs = 0;
    return wait_tracking(v, 0);
}

static int bb_snapshot(struct xlmig_vbd *v, struct xlmig_bitmap *out,
                       uint64_t *count)
{
    struct blkback_mig_extent buf[BB_BATCH];
    struct blkback_mig_extents x;
    uint64_t total, got = 0;
    unsigned int i;
    int rc;

    rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_COLLECT, &total);
    if (rc < 0)
        return fail(v, -rc, "collecting the dirty blocks");
    for (;;) {
        x.buf = (uintptr_t)buf;
        x.count = BB_BATCH;
        x.pad = 0;
        rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_READ_DIRTY, &x);
        if (rc < 0)
            return fail(v, -rc, "reading the dirty blocks");
        for (i = 0; i < x.count; i++) {
            xlmig_bitmap_set_range(out, buf[i].start, buf[i].count);
            got += buf[i].count;
        }
        if (!x.count)
            break;
    }
    if (got != total)
        return fail(v, EIO, "collected %" PRIu64 " dirty blocks, read %"
                    PRIu64, total, got);
    *count = got;
    return 0;
}

static int bb_quiesce(struct xlmig_vbd *v, int timeout_ms)
{
    struct blkback_mig_quiesce q = { .timeout_ms = timeout_ms > 0 ?
                                     (uint32_t)timeout_ms : 0 };
    int rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_QUIESCE, &q);

    return rc < 0 ? fail(v, -rc, "quiescing the VBD (%d ms)", timeout_ms) : 0;
}

static int bb_unquiesce(struct xlmig_vbd *v)
{
    int rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_UNQUIESCE, NULL);

    return rc < 0 ? fail(v, -rc, "unquiescing the VBD") : 0;
}

static int bb_gate_start(struct xlmig_vbd *v, uint32_t block_size)
{
    struct blkback_mig_gate g = { .block_size = block_size };
    int rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_GATE_START, &g);

    if (rc == -EBUSY)
        return fail(v, EBUSY, "starting the gate: the frontend is connected"
                    " (or tracking runs with another block size)");
    return rc < 0 ? fail(v, -rc, "starting the gate") : 0;
}

static int bb_gate_add_stale(struct xlmig_vbd *v,
                             const struct xlmig_extent *e, size_t n)
{
    struct blkback_mig_extent buf[BB_BATCH];
    struct blkback_mig_extents x;
    size_t done = 0, i;
    int rc;

    while (done < n) {
        for (i = 0; i < BB_BATCH && done + i < n; i++) {
            buf[i].start = e[done + i].start;
            buf[i].count = e[done + i].count;
        }
        x.buf = (uintptr_t)buf;
        x.count = (uint32_t)i;
        x.pad = 0;
        rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_ADD_STALE, &x);
        if (rc < 0)
            return fail(v, -rc, "loading stale extents");
        done += i;
    }
    return 0;
}

static int bb_wanted_fd(struct xlmig_vbd *v)
{
    return bb(v)->fd;
}

static int bb_wanted_pop(struct xlmig_vbd *v, struct xlmig_extent *out,
                         size_t max)
{
    struct blkback_mig_extent buf[BB_BATCH];
    struct blkback_mig_extents x;
    unsigned int i;
    int rc;

    x.buf = (uintptr_t)buf;
    x.count = max < BB_BATCH ? (uint32_t)max : BB_BATCH;
    x.pad = 0;
    rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_WANTED, &x);
    if (rc < 0)
        return fail(v, -rc, "taking wanted blocks");
    for (i = 0; i < x.count; i++) {
        out[i].start = buf[i].start;
        out[i].count = buf[i].count;
    }
    return (int)x.count;
}

static int bb_claim(struct xlmig_vbd *v, uint64_t start, uint32_t count,
                    unsigned long *mask)
{
    const unsigned int lbits = 8 * sizeof(unsigned long);
    uint64_t words[BLKBACK_MIG_MAX_CLAIM / 64];
    struct blkback_mig_claim c;
    uint32_t i;
    int rc;

    if (!count || count > BLKBACK_MIG_MAX_CLAIM)
        return fail(v, EINVAL, "claim of %" PRIu32 " blocks", count);
    memset(words, 0, sizeof(words));
    c.start = start;
    c.count = count;
    c.claimed = 0;
    c.mask = (uintptr_t)words;
    rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_CLAIM, &c);
    if (rc < 0)
        return fail(v, -rc, "claiming blocks %" PRIu64 "+%" PRIu32, start,
                    count);
    memset(mask, 0, (count + lbits - 1) / lbits * sizeof(unsigned long));
    for (i = 0; i < count; i++)
        if (words[i / 64] >> (i % 64) & 1)
            mask[i / lbits] |= 1UL << (i % lbits);
    return (int)c.claimed;
}

static int bb_end_claim(struct xlmig_vbd *v, uint64_t start, uint32_t count,
                        unsigned long cmd, const char *what)
{
    struct blkback_mig_range r = { .start = start, .count = count };
    int rc = ioctl_retry(bb(v)->fd, cmd, &r);

    return rc < 0 ? fail(v, -rc, "%s blocks %" PRIu64 "+%" PRIu32, what,
                         start, count) : 0;
}

static int bb_commit(struct xlmig_vbd *v, uint64_t start, uint32_t count)
{
    return bb_end_claim(v, start, count, BLKBACK_MIG_IOC_COMMIT,
                        "committing");
}

static int bb_unclaim(struct xlmig_vbd *v, uint64_t start, uint32_t count)
{
    return bb_end_claim(v, start, count, BLKBACK_MIG_IOC_UNCLAIM,
                        "unclaiming");
}

static int bb_gate_stop(struct xlmig_vbd *v)
{
    int rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_GATE_STOP, NULL);

    return rc < 0 ? fail(v, -rc, "stopping the gate") : 0;
}

static int bb_stats(struct xlmig_vbd *v, struct xlmig_vbd_stats *st)
{
    struct blkback_mig_stats k;
    int rc = ioctl_retry(bb(v)->fd, BLKBACK_MIG_IOC_STATS, &k);

    if (rc < 0)
        return fail(v, -rc, "reading the VBD's migration state");
    xlmig_vbd_stats_from_mig(st, &k);
    return 0;
}

static void bb_close(struct xlmig_vbd *v)
{
    struct bb *b = bb(v);

    if (b) {
        if (b->tracking_bs && b->xs)
            bb_track_stop(v);
        if (b->fd >= 0)
            close(b->fd);
        if (b->xs)
            xs_close(b->xs);
        free(b);
    }
    free(v->data_path);
    free(v);
}

static const struct xlmig_vbd_ops bb_ops = {
    .name = "blkback",
    .track_start = bb_track_start,
    .track_stop = bb_track_stop,
    .snapshot = bb_snapshot,
    .quiesce = bb_quiesce,
    .unquiesce = bb_unquiesce,
    .gate_start = bb_gate_start,
    .gate_add_stale = bb_gate_add_stale,
    .wanted_fd = bb_wanted_fd,
    .wanted_pop = bb_wanted_pop,
    .claim = bb_claim,
    .commit = bb_commit,
    .unclaim = bb_unclaim,
    .gate_stop = bb_gate_stop,
    .stats = bb_stats,
    .close = bb_close,
};

/* /dev/<DEVNAME> of block device maj:min, from sysfs; NULL if unknown. */
static char *devnode(unsigned int maj, unsigned int min, uint64_t *bytes)
{
    char path[128], line[256], *node = NULL;
    unsigned long long sectors;
    struct stat st;
    FILE *f;

    snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", maj, min);
    f = fopen(path, "re");
    if (!f)
        return NULL;
    while (!node && fgets(line, sizeof(line), f))
        if (!strncmp(line, "DEVNAME=", 8)) {
            line[strcspn(line, "\n")] = 0;
            if (asprintf(&node, "/dev/%s", line + 8) < 0)
                node = NULL;
        }
    fclose(f);
    if (node && (stat(node, &st) || !S_ISBLK(st.st_mode) ||
                 major(st.st_rdev) != maj || minor(st.st_rdev) != min)) {
        free(node);
        return NULL;
    }
    snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/size", maj, min);
    f = fopen(path, "re");
    if (!f || fscanf(f, "%llu", &sectors) != 1) {
        if (f)
            fclose(f);
        free(node);
        return NULL;
    }
    fclose(f);
    *bytes = (uint64_t)sectors * 512;
    return node;
}

int xlmig_vbd_blkback_open(uint32_t domid, uint32_t devid,
                           struct xlmig_vbd **out, struct xlmig_error *err)
{
    struct blkback_mig_bind bind = { .domid = domid, .devid = devid };
    struct xlmig_vbd *v = calloc(1, sizeof(*v));
    struct bb *b = calloc(1, sizeof(*b));
    unsigned int maj, min;
    char fe[128], *s;
    long deadline;
    int rc;

    *out = NULL;
    if (!v || !b) {
        free(v);
        free(b);
        return xlmig_fail(err, ENOMEM, "out of memory");
    }
    v->ops = &bb_ops;
    v->priv = b;
    b->fd = -1;
    deadline = now_ms() + BB_OPEN_WAIT_MS;

    b->xs = xs_open(0);
    if (!b->xs) {
        fail(v, errno, "opening xenstore");
        goto out;
    }
    snprintf(fe, sizeof(fe), "/local/domain/%" PRIu32 "/device/vbd/%" PRIu32,
             domid, devid);
    s = xs_get(b->xs, fe, "backend");
    if (s) {
        snprintf(b->be, sizeof(b->be), "%s", s);
        free(s);
    } else {
        snprintf(b->be, sizeof(b->be),
                 "/local/domain/0/backend/vbd/%" PRIu32 "/%" PRIu32, domid,
                 devid);
    }

    /* The hotplug script writes physical-device; then blkback attaches. */
    for (;;) {
        s = xs_get(b->xs, b->be, "physical-device");
        if (s && sscanf(s, "%x:%x", &maj, &min) == 2) {
            free(s);
            break;
        }
        free(s);
        if (now_ms() > deadline) {
            fail(v, ENOENT, "no physical-device in %s", b->be);
            goto out;
        }
        sleep_ms(20);
    }
    v->data_path = devnode(maj, min, &v->size);
    if (!v->data_path) {
        fail(v, ENODEV, "no device node for %x:%x (%s)", maj, min, b->be);
        goto out;
    }

    b->fd = open(BB_DEVICE, O_RDWR | O_CLOEXEC);
    if (b->fd < 0) {
        fail(v, errno, "opening %s (is the patched xen-blkback loaded?)",
             BB_DEVICE);
        goto out;
    }
    while ((rc = ioctl_retry(b->fd, BLKBACK_MIG_IOC_BIND, &bind)) == -ENOENT &&
           now_ms() < deadline)
        sleep_ms(20);
    if (rc < 0) {
        fail(v, -rc, "binding to VBD %" PRIu32 "/%" PRIu32, domid, devid);
        goto out;
    }
    *out = v;
    return 0;

out:
    xlmig_fail_from(err, &v->err, NULL);
    bb_close(v);
    return -err->code;
}
