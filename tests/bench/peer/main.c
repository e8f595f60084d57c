/*
 * xlmig-peer: the peer side of tests/bench/peer.sh, QEMU's block mirror
 * driven the way libvirt's `virsh migrate --copy-storage-all` drives it.
 *
 *   xlmig-peer run --qmp SOCK --node NODE --target HOST:PORT
 *                  --target-export NAME --mode background|write-blocking
 *                  --nbd SOCK --export NAME [--rate BYTES/s] [--qd N]
 *                  [--seed N] [--warmup S] [--timeout S] [--trace-qmp]
 *                  --model FILE
 *       Starts the guest (tagged writes through the source daemon's NBD
 *       export), waits --warmup, then (t0) blockdev-add of an NBD client
 *       node to the destination's export, blockdev-mirror sync=full, waits
 *       for BLOCK_JOB_READY (at most --timeout), stops the guest (the
 *       pause), waits for its writes in flight, block-job-cancel (after
 *       READY: completes with a consistent, flushed target), waits for
 *       the job's end.  Prints one line of key=value: total_s (t0 to the
 *       job's end), ready_s, downtime_ms (the guest's stop to the job's
 *       end), drain_ms and cancel_ms (its two parts), the guest's writes,
 *       MiB/s and latency percentiles between t0 and its stop.  Saves the
 *       guest's model for `verify`.  Exit 0; 2 if the job never got READY
 *       (then it is cancelled, result=noready); 1 on any error.
 *       --trace-qmp prints every QMP message (QEMU's event timestamps
 *       included) with the time it was read, to stderr.
 *   xlmig-peer baseline --nbd SOCK --export NAME --rate R --seconds S
 *       The same workload without a mirror: its write latency.
 *   xlmig-peer verify --image DST --pristine ORIG --model FILE
 *       Every block of DST must hold the newest acknowledged generation
 *       the guest wrote there, and every block it never wrote must equal
 *       ORIG's (the image as mkimage made it).  Exit 0 PASS, 1 FAIL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"
#include "qmp.h"
#include "tag.h"

#define MAX_EXPLAINED 10

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "xlmig-peer: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t size_arg(const char *opt, const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        die("%s: bad size '%s'", opt, s);
    switch (*end) {
    case 'k': case 'K': v *= 1024; end++; break;
    case 'm': case 'M': v *= 1048576; end++; break;
    case 'g': case 'G': v *= 1073741824; end++; break;
    case '\0': break;
    default: die("%s: bad size '%s'", opt, s);
    }
    if (*end)
        die("%s: bad size '%s'", opt, s);
    return (uint64_t)v;
}

static double num_arg(const char *opt, const char *s, double min, double max)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max)
        die("%s: '%s' is not a number in %g..%g", opt, s, min, max);
    return v;
}

/* Names that go into QMP JSON unquoted-safe: no quotes or escapes. */
static const char *name_arg(const char *opt, const char *s)
{
    if (!*s || strlen(s) > 60 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
                                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789._:-") != strlen(s))
        die("%s: '%s' must be 1-60 of [A-Za-z0-9._:-]", opt, s);
    return s;
}

/* ---- run --------------------------------------------------------------- */

struct run_args {
    const char *qmp, *node, *host, *port, *texport, *mode, *job, *model;
    struct guest_cfg gc;
    double warmup, timeout;
    bool trace;
};

static void cancel_unready(struct qmp *q, const struct run_args *a)
{
    static const char *const ends[] = { "BLOCK_JOB_CANCELLED",
                                        "BLOCK_JOB_COMPLETED", NULL };
    char cmd[256], err[256];
    struct qmp_event ev;
    uint64_t dl = qmp_now_ns() + 60000000000ULL;

    snprintf(cmd, sizeof(cmd), "{\"execute\":\"block-job-cancel\","
             "\"arguments\":{\"device\":\"%s\",\"force\":true}}", a->job);
    if (qmp_exec(q, cmd, dl, err, sizeof(err)) ||
        qmp_wait_event(q, ends, a->job, dl, &ev, err, sizeof(err)))
        fprintf(stderr, "xlmig-peer: cancelling the unready job: %s\n", err);
}

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "qmp", required_argument, NULL, 'q' },
        { "node", required_argument, NULL, 'n' },
        { "target", required_argument, NULL, 't' },
        { "target-export", required_argument, NULL, 'T' },
        { "mode", required_argument, NULL, 'm' },
        { "job", required_argument, NULL, 'j' },
        { "nbd", required_argument, NULL, 'N' },
        { "export", required_argument, NULL, 'e' },
        { "rate", required_argument, NULL, 'r' },
        { "qd", required_argument, NULL, 'd' },
        { "seed", required_argument, NULL, 's' },
        { "warmup", required_argument, NULL, 'w' },
        { "timeout", required_argument, NULL, 'o' },
        { "model", required_argument, NULL, 'M' },
        { "trace-qmp", no_argument, NULL, 'Q' },
        { 0 }
    };
    static const char *const ready_or_end[] = {
        "BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED",
        "BLOCK_JOB_ERROR", NULL };
    static const char *const ends[] = { "BLOCK_JOB_COMPLETED",
                                        "BLOCK_JOB_CANCELLED", NULL };
    struct run_args a = {
        .node = "src", .job = "mig", .mode = "background",
        .gc = { .export = "guest", .qd = 4, .seed = 1 },
        .warmup = 2, .timeout = 600,
    };
    char err[512], cmd[512], *target = NULL;
    struct qmp_event ev;
    struct guest_stats st;
    struct guest *g;
    struct qmp *q;
    uint64_t t0, t_ready, t_stop, t_drained, t_cancel, t_end, dl;
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'q': a.qmp = optarg; break;
        case 'n': a.node = name_arg("--node", optarg); break;
        case 't': target = optarg; break;
        case 'T': a.texport = name_arg("--target-export", optarg); break;
        case 'm': a.mode = optarg; break;
        case 'j': a.job = name_arg("--job", optarg); break;
        case 'N': a.gc.socket = optarg; break;
        case 'e': a.gc.export = optarg; break;
        case 'r': a.gc.rate = size_arg("--rate", optarg); break;
        case 'd': a.gc.qd = (uint32_t)num_arg("--qd", optarg, 1, 64); break;
        case 's': a.gc.seed = (uint64_t)num_arg("--seed", optarg, 0, 1e15);
            break;
        case 'w': a.warmup = num_arg("--warmup", optarg, 0, 3600); break;
        case 'o': a.timeout = num_arg("--timeout", optarg, 1, 86400); break;
        case 'M': a.model = optarg; break;
        case 'Q': a.trace = true; break;
        default: die("run: see the usage at the top of main.c");
        }
    }
    if (optind != argc || !a.qmp || !target || !a.texport || !a.gc.socket ||
        !a.model)
        die("run: --qmp, --target, --target-export, --nbd and --model are "
            "required");
    if (strcmp(a.mode, "background") && strcmp(a.mode, "write-blocking"))
        die("run: --mode background or write-blocking, not '%s'", a.mode);
    char *colon = strrchr(target, ':');
    if (!colon)
        die("run: --target HOST:PORT, not '%s'", target);
    *colon = '\0';
    a.host = name_arg("--target host", target);
    a.port = name_arg("--target port", colon + 1);

    dl = qmp_now_ns() + 30000000000ULL;
    q = qmp_open(a.qmp, dl, err, sizeof(err));
    if (!q)
        die("%s", err);
    qmp_set_trace(q, a.trace);
    g = guest_open(&a.gc, err, sizeof(err));
    if (!g)
        die("%s", err);
    if (guest_start(g, err, sizeof(err)))
        die("%s", err);
    usleep((useconds_t)(a.warmup * 1e6));

    /* As libvirt: an NBD client node to the destination, then the mirror. */
    t0 = qmp_now_ns();
    dl = t0 + (uint64_t)(a.timeout * 1e9);
    snprintf(cmd, sizeof(cmd), "{\"execute\":\"blockdev-add\",\"arguments\":"
             "{\"driver\":\"nbd\",\"node-name\":\"mig-target\",\"server\":"
             "{\"type\":\"inet\",\"host\":\"%s\",\"port\":\"%s\"},"
             "\"export\":\"%s\"}}", a.host, a.port, a.texport);
    if (qmp_exec(q, cmd, dl, err, sizeof(err)))
        die("blockdev-add: %s", err);
    snprintf(cmd, sizeof(cmd), "{\"execute\":\"blockdev-mirror\",\"arguments\":"
             "{\"job-id\":\"%s\",\"device\":\"%s\",\"target\":\"mig-target\","
             "\"sync\":\"full\",\"copy-mode\":\"%s\"}}", a.job, a.node,
             a.mode);
    if (qmp_exec(q, cmd, dl, err, sizeof(err)))
        die("blockdev-mirror: %s", err);
    if (qmp_wait_event(q, ready_or_end, a.job, dl, &ev, err, sizeof(err))) {
        /* No READY in time: the peer did not converge. */
        guest_stop(g, 60000, &t_stop, err, sizeof(err));
        cancel_unready(q, &a);
        guest_stats(g, t0, t_stop, &st);
        printf("result=noready timeout_s=%.0f writes=%" PRIu64 " guest_MiBps="
               "%.2f p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64
               "\n", a.timeout, st.writes, st.mib_s, st.p50_us, st.p99_us,
               st.max_us);
        qmp_close(q);
        guest_close(g);
        return 2;
    }
    if (strcmp(ev.name, "BLOCK_JOB_READY"))
        die("the mirror ended before READY: %s %s", ev.name, ev.error);
    t_ready = ev.t_ns;

    /* READY: the guest pauses, libvirt cancels (keeping the copy). */
    if (guest_stop(g, 60000, &t_stop, err, sizeof(err)))
        die("%s", err);
    t_drained = qmp_now_ns();
    dl = t_drained + 600000000000ULL;
    snprintf(cmd, sizeof(cmd), "{\"execute\":\"block-job-cancel\","
             "\"arguments\":{\"device\":\"%s\"}}", a.job);
    t_cancel = qmp_now_ns();
    if (qmp_exec(q, cmd, dl, err, sizeof(err)))
        die("block-job-cancel: %s", err);
    if (qmp_wait_event(q, ends, a.job, dl, &ev, err, sizeof(err)))
        die("waiting for the job's end: %s", err);
    t_end = ev.t_ns;
    if (ev.error[0])
        die("the mirror ended with an error: %s", ev.error);
    /*
     * Cancelled after READY, a mirror completes (BLOCK_JOB_COMPLETED) after
     * copying what is still dirty and flushing the target; a
     * BLOCK_JOB_CANCELLED here would mean the copy is not consistent.
     */
    if (strcmp(ev.name, "BLOCK_JOB_COMPLETED"))
        fprintf(stderr, "xlmig-peer: note: the job ended with %s\n", ev.name);
    if (qmp_exec(q, "{\"execute\":\"blockdev-del\",\"arguments\":"
                 "{\"node-name\":\"mig-target\"}}", dl, err, sizeof(err)))
        die("blockdev-del: %s", err);
    guest_stats(g, t0, t_stop, &st);
    if (guest_save_model(g, a.model, err, sizeof(err)))
        die("%s", err);
    printf("result=ready end=%s total_s=%.3f ready_s=%.3f downtime_ms=%.2f "
           "drain_ms=%.2f cancel_ms=%.2f writes=%" PRIu64 " guest_MiBps=%.2f "
           "p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64 "\n",
           ev.name, (double)(t_end - t0) / 1e9, (double)(t_ready - t0) / 1e9,
           (double)(t_end - t_stop) / 1e6, (double)(t_drained - t_stop) / 1e6,
           (double)(t_end - t_cancel) / 1e6, st.writes, st.mib_s, st.p50_us,
           st.p99_us, st.max_us);
    qmp_close(q);
    guest_close(g);
    return 0;
}

/* ---- baseline ---------------------------------------------------------- */

static int cmd_baseline(int argc, char **argv)
{
    static const struct option opts[] = {
        { "nbd", required_argument, NULL, 'N' },
        { "export", required_argument, NULL, 'e' },
        { "rate", required_argument, NULL, 'r' },
        { "qd", required_argument, NULL, 'd' },
        { "seconds", required_argument, NULL, 'S' },
        { 0 }
    };
    struct guest_cfg gc = { .export = "guest", .qd = 4, .seed = 1,
                            .rate = 5 << 20 };
    double secs = 10;
    struct guest_stats st;
    uint64_t t0, t_stop;
    struct guest *g;
    char err[512];
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'N': gc.socket = optarg; break;
        case 'e': gc.export = optarg; break;
        case 'r': gc.rate = size_arg("--rate", optarg); break;
        case 'd': gc.qd = (uint32_t)num_arg("--qd", optarg, 1, 64); break;
        case 'S': secs = num_arg("--seconds", optarg, 1, 3600); break;
        default: die("baseline: see the usage at the top of main.c");
        }
    }
    if (optind != argc || !gc.socket || !gc.rate)
        die("baseline: --nbd and a non-zero --rate are required");
    g = guest_open(&gc, err, sizeof(err));
    if (!g)
        die("%s", err);
    if (guest_start(g, err, sizeof(err)))
        die("%s", err);
    t0 = qmp_now_ns();
    usleep((useconds_t)(secs * 1e6));
    if (guest_stop(g, 60000, &t_stop, err, sizeof(err)))
        die("%s", err);
    guest_stats(g, t0, t_stop, &st);
    printf("writes=%" PRIu64 " guest_MiBps=%.2f p50_us=%" PRIu64 " p99_us=%"
           PRIu64 " max_us=%" PRIu64 "\n", st.writes, st.mib_s, st.p50_us,
           st.p99_us, st.max_us);
    guest_close(g);
    return 0;
}

/* ---- verify ------------------------------------------------------------ */

static int open_ro(const char *path, uint64_t *size)
{
    struct stat s;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &s))
        die("%s: %s", path, strerror(errno));
    *size = (uint64_t)s.st_size;
    return fd;
}

static void read_full(int fd, void *buf, size_t len, uint64_t off,
                      const char *path)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done,
                          (off_t)(off + done));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("%s: read at %" PRIu64 ": %s", path, off + done,
                n ? strerror(errno) : "end of file");
        done += (size_t)n;
    }
}

static int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        { "image", required_argument, NULL, 'i' },
        { "pristine", required_argument, NULL, 'p' },
        { "model", required_argument, NULL, 'M' },
        { 0 }
    };
    const char *image = NULL, *pristine = NULL, *model = NULL;
    const size_t chunk = 1 << 20, per = chunk / PEER_BLOCK;
    struct peer_model_header h;
    uint64_t isize, psize, written = 0, bad = 0;
    unsigned char *ib, *pb, want[PEER_BLOCK];
    uint32_t *gen;
    FILE *mf;
    int ifd, pfd, c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': image = optarg; break;
        case 'p': pristine = optarg; break;
        case 'M': model = optarg; break;
        default: die("verify: see the usage at the top of main.c");
        }
    }
    if (optind != argc || !image || !pristine || !model)
        die("verify: --image, --pristine and --model are required");
    mf = fopen(model, "rb");
    if (!mf || fread(&h, sizeof(h), 1, mf) != 1 ||
        memcmp(h.magic, PEER_MODEL_MAGIC, sizeof(h.magic)))
        die("%s: not a model file", model);
    gen = malloc(h.nblocks * sizeof(*gen));
    if (!gen || fread(gen, sizeof(*gen), h.nblocks, mf) != h.nblocks)
        die("%s: truncated model", model);
    fclose(mf);
    ifd = open_ro(image, &isize);
    pfd = open_ro(pristine, &psize);
    if (isize != h.nblocks * PEER_BLOCK || psize != isize)
        die("sizes differ: image %" PRIu64 ", original %" PRIu64 ", model %"
            PRIu64 " blocks", isize, psize, h.nblocks);
    ib = malloc(chunk);
    pb = malloc(chunk);
    if (!ib || !pb)
        die("out of memory");
    for (uint64_t b0 = 0; b0 < h.nblocks; b0 += per) {
        size_t nb = h.nblocks - b0 < per ? (size_t)(h.nblocks - b0) : per;

        read_full(ifd, ib, nb * PEER_BLOCK, b0 * PEER_BLOCK, image);
        read_full(pfd, pb, nb * PEER_BLOCK, b0 * PEER_BLOCK, pristine);
        for (size_t i = 0; i < nb; i++) {
            const unsigned char *got = ib + i * PEER_BLOCK;
            const unsigned char *exp = pb + i * PEER_BLOCK;
            uint64_t b = b0 + i;
            char why[256];

            if (gen[b]) {
                written++;
                peer_tag_fill(want, h.seed, b, gen[b]);
                exp = want;
            }
            if (!memcmp(got, exp, PEER_BLOCK))
                continue;
            if (bad++ >= MAX_EXPLAINED)
                continue;
            if (gen[b])
                peer_tag_explain(got, h.seed, b, gen[b], why, sizeof(why));
            else
                snprintf(why, sizeof(why), "block %" PRIu64 ": never written "
                         "by the guest but differs from the original image",
                         b);
            printf("verify: %s\n", why);
        }
    }
    printf("verify: %" PRIu64 " blocks, %" PRIu64 " written by the guest, %"
           PRIu64 " wrong: %s\n", h.nblocks, written, bad,
           bad ? "FAIL" : "PASS");
    free(ib);
    free(pb);
    free(gen);
    close(ifd);
    close(pfd);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: xlmig-peer run|baseline|verify ... (see main.c)");
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "baseline"))
        return cmd_baseline(argc - 1, argv + 1);
    if (!strcmp(argv[1], "verify"))
        return cmd_verify(argc - 1, argv + 1);
    die("unknown command '%s' (run, baseline, verify)", argv[1]);
}
