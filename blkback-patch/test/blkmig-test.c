/*
 * In-dom0 test driver for the patched xen-blkback, through the engine's
 * own backend (libxl-ext/vbd_blkback.c).  One command per run; output is
 * "key=value" lines for the test script to parse.
 *
 *   blkmig-test DOMID DEVID stats
 *   blkmig-test DOMID DEVID track-start BLOCK_SIZE | track-stop
 *   blkmig-test DOMID DEVID snapshot [DEST]          collect, print extents
 *        (and copy the dirty blocks from the VBD's device into file DEST)
 *   blkmig-test DOMID DEVID quiesce-snapshot MS HOLD_MS [DEST]
 *        quiesce (timeout MS), snapshot, keep the quiesce HOLD_MS, resume
 *   blkmig-test DOMID DEVID quiesce-exit MS          quiesce, exit holding it
 *   blkmig-test DOMID DEVID gate-start BLOCK_SIZE START+COUNT...
 *   blkmig-test DOMID DEVID wanted TIMEOUT_MS        poll, pop, print
 *   blkmig-test DOMID DEVID install START COUNT TAG  claim, write, commit
 *   blkmig-test DOMID DEVID claim-exit START COUNT   claim, exit holding it
 *   blkmig-test DOMID DEVID gate-stop
 *
 * install writes, for every claimed block b, "TAG-b\n" padded with zeros
 * to the block size, with O_DIRECT to the VBD's physical device.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../libxl-ext/vbd.h"

static struct xlmig_vbd *v;

static void die(const char *what, int rc)
{
    fprintf(stderr, "blkmig-test: %s: %s (%d)\n", what, v ? v->err : "", rc);
    exit(1);
}

static void msleep(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* Seconds since boot, as /proc/uptime counts them. */
static double uptime(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_stats(void)
{
    struct xlmig_vbd_stats st;
    int rc = v->ops->stats(v, &st);

    if (rc)
        die("stats", rc);
    printf("block_size=%" PRIu32 "\nnr_blocks=%" PRIu64 "\ntracking=%d\n"
           "overflow=%d\ndirty=%" PRIu64 "\nmarked=%" PRIu64 "\ngate=%d\n"
           "stale=%" PRIu64 "\nclaimed=%" PRIu64 "\nwanted=%" PRIu64 "\n"
           "parked=%" PRIu64 "\ninstalled=%" PRIu64 "\noverwritten=%" PRIu64
           "\nsize=%" PRIu64 "\ndata_path=%s\n",
           st.block_size, st.nr_blocks, st.tracking, st.overflow, st.dirty,
           st.marked, st.gate, st.stale, st.claimed, st.wanted, st.parked,
           st.installed, st.overwritten, v->size, v->data_path);
}

/* Copies blocks [e.start, e.start + e.count) from the VBD to dest. */
static void copy_extent(const struct xlmig_extent *e, uint32_t bs,
                        const char *dest)
{
    int in = open(v->data_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    int out = open(dest, O_WRONLY | O_CLOEXEC);
    uint64_t b;
    char *buf;

    if (in < 0 || out < 0 || posix_memalign((void **)&buf, 4096, bs))
        die("copy open", -errno);
    for (b = e->start; b < e->start + e->count; b++) {
        off_t off = (off_t)(b * bs);

        if (pread(in, buf, bs, off) != (ssize_t)bs ||
            pwrite(out, buf, bs, off) != (ssize_t)bs)
            die("copy", -errno);
    }
    free(buf);
    close(in);
    close(out);
}

static void snapshot(const char *dest)
{
    struct xlmig_vbd_stats st;
    struct xlmig_bitmap *bm;
    struct xlmig_extent e;
    uint64_t count = 0, pos = 0;
    int rc;

    rc = v->ops->stats(v, &st);
    if (rc)
        die("stats", rc);
    bm = xlmig_bitmap_new(st.nr_blocks ? st.nr_blocks : 1);
    if (!bm)
        die("bitmap", -ENOMEM);
    rc = v->ops->snapshot(v, bm, &count);
    if (rc)
        die("snapshot", rc);
    printf("snapshot_blocks=%" PRIu64 "\n", count);
    while (xlmig_bitmap_next_extent(bm, &pos, UINT64_MAX, &e)) {
        printf("extent=%" PRIu64 "+%" PRIu64 "\n", e.start, e.count);
        if (dest)
            copy_extent(&e, st.block_size, dest);
    }
    xlmig_bitmap_free(bm);
}

static void install(uint64_t start, uint32_t count, const char *tag)
{
    unsigned long mask[XLMIG_CLAIM_WORDS];
    const unsigned int lbits = 8 * sizeof(unsigned long);
    struct xlmig_vbd_stats st;
    char *buf;
    int fd, rc, claimed, written = 0;
    uint32_t i;

    rc = v->ops->stats(v, &st);
    if (rc)
        die("stats", rc);
    if (posix_memalign((void **)&buf, 4096, st.block_size))
        die("memalign", -ENOMEM);
    fd = open(v->data_path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        die(v->data_path, -errno);
    claimed = v->ops->claim(v, start, count, mask);
    if (claimed < 0)
        die("claim", claimed);
    printf("claimed=%d\n", claimed);
    for (i = 0; i < count; i++) {
        uint64_t b = start + i;

        if (!(mask[i / lbits] >> (i % lbits) & 1))
            continue;
        memset(buf, 0, st.block_size);
        snprintf(buf, st.block_size, "%s-%" PRIu64 "\n", tag, b);
        if (pwrite(fd, buf, st.block_size, (off_t)(b * st.block_size)) !=
            (ssize_t)st.block_size) {
            rc = -errno;
            v->ops->unclaim(v, start, count);
            die("install write", rc);
        }
        printf("installed_block=%" PRIu64 "\n", b);
        written++;
    }
    if (fsync(fd))
        die("fsync", -errno);
    rc = v->ops->commit(v, start, count);
    if (rc)
        die("commit", rc);
    printf("written=%d\n", written);
    close(fd);
    free(buf);
}

int main(int argc, char **argv)
{
    char err[256];
    const char *cmd;
    int rc = 0;

    if (argc < 4) {
        fprintf(stderr, "usage: see the head of blkmig-test.c\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    v = xlmig_vbd_blkback_open(strtoul(argv[1], NULL, 0),
                               strtoul(argv[2], NULL, 0), err, sizeof(err));
    if (!v) {
        fprintf(stderr, "blkmig-test: %s\n", err);
        return 1;
    }
    cmd = argv[3];
    if (!strcmp(cmd, "stats")) {
        print_stats();
    } else if (!strcmp(cmd, "track-start") && argc == 5) {
        rc = v->ops->track_start(v, strtoul(argv[4], NULL, 0));
        if (rc)
            die("track-start", rc);
        printf("tracking=1\n");
        /* Keep tracking on after exit: close() would turn it off. */
        exit(0);
    } else if (!strcmp(cmd, "track-stop")) {
        rc = v->ops->track_stop(v);
        if (rc)
            die("track-stop", rc);
        printf("tracking=0\n");
    } else if (!strcmp(cmd, "snapshot") && argc <= 5) {
        snapshot(argc == 5 ? argv[4] : NULL);
    } else if (!strcmp(cmd, "quiesce-snapshot") && argc >= 6 && argc <= 7) {
        struct timespec t0, t1;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = v->ops->quiesce(v, atoi(argv[4]));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (rc)
            die("quiesce", rc);
        printf("quiesce_ms=%ld\nheld_at=%.2f\n", (t1.tv_sec - t0.tv_sec) *
               1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L, uptime());
        print_stats();
        snapshot(argc == 7 ? argv[6] : NULL);
        msleep(atol(argv[5]));
        printf("released_at=%.2f\n", uptime());
        rc = v->ops->unquiesce(v);
        if (rc)
            die("unquiesce", rc);
        printf("unquiesced=1\n");
    } else if (!strcmp(cmd, "quiesce-exit") && argc == 5) {
        rc = v->ops->quiesce(v, atoi(argv[4]));
        if (rc)
            die("quiesce", rc);
        printf("quiesced=1\n");
        _exit(0);       /* the kernel must release it */
    } else if (!strcmp(cmd, "gate-start") && argc >= 5) {
        int i;

        rc = v->ops->gate_start(v, strtoul(argv[4], NULL, 0));
        if (rc)
            die("gate-start", rc);
        for (i = 5; i < argc; i++) {
            struct xlmig_extent e;

            if (sscanf(argv[i], "%" SCNu64 "+%" SCNu64, &e.start,
                       &e.count) != 2)
                die("extent syntax", -EINVAL);
            rc = v->ops->gate_add_stale(v, &e, 1);
            if (rc)
                die("add-stale", rc);
        }
        print_stats();
    } else if (!strcmp(cmd, "wanted") && argc == 5) {
        struct pollfd p = { .fd = v->ops->wanted_fd(v), .events = POLLIN };
        struct xlmig_extent e[64];
        int n, i;

        rc = poll(&p, 1, atoi(argv[4]));
        printf("poll=%d revents=%#x\n", rc, rc > 0 ? p.revents : 0);
        n = v->ops->wanted_pop(v, e, 64);
        if (n < 0)
            die("wanted", n);
        for (i = 0; i < n; i++)
            printf("wanted=%" PRIu64 "+%" PRIu64 "\n", e[i].start,
                   e[i].count);
    } else if (!strcmp(cmd, "install") && argc == 7) {
        install(strtoull(argv[4], NULL, 0), strtoul(argv[5], NULL, 0),
                argv[6]);
    } else if (!strcmp(cmd, "claim-exit") && argc == 6) {
        unsigned long mask[XLMIG_CLAIM_WORDS];

        rc = v->ops->claim(v, strtoull(argv[4], NULL, 0),
                           strtoul(argv[5], NULL, 0), mask);
        if (rc < 0)
            die("claim", rc);
        printf("claimed=%d\n", rc);
        _exit(0);       /* the kernel must give the claim back */
    } else if (!strcmp(cmd, "gate-stop")) {
        rc = v->ops->gate_stop(v);
        if (rc)
            die("gate-stop", rc);
        printf("gate=0\n");
    } else {
        fprintf(stderr, "blkmig-test: bad command\n");
        rc = 2;
    }
    v->ops->close(v);
    return rc ? 1 : 0;
}
