/*
 * xlmig-vbdsim: the simulated VBD (a userspace xen-blkback running the
 * real tracking/gate core, plus a simulated guest that checks every read)
 * and the tools around it.
 *
 *   xlmig-vbdsim mkimage PATH --size SIZE [--allocated SIZE] ...
 *   xlmig-vbdsim serve --image PATH --socket PATH [--dest] ...
 *   xlmig-vbdsim ctl SOCKET COMMAND [ARG]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vbd.h"
#include "sim/sim_backend.h"
#include "sim/sim_client.h"
#include "sim/sim_guest.h"
#include "sim/sim_layout.h"
#include "sim/sim_server.h"
#include "sim/sim_util.h"

static const char usage_text[] =
"usage:\n"
"  xlmig-vbdsim mkimage PATH --size SIZE [--allocated SIZE] [--text-pct N]\n"
"               [--chunk SIZE] [--seed N] [--force]\n"
"      A sparse raw image: ALLOCATED bytes of data (default: half the size),\n"
"      N% of it compressible text (default 50), the rest random; the rest\n"
"      of the image is holes.  Deterministic from the seed (default 1).\n"
"  xlmig-vbdsim serve --image PATH --socket PATH [--dest] [--paused]\n"
"               [--fresh] [--workload random|seq|hotspot]\n"
"               [--write-rate RATE] [--read-pct N] [--qd N]\n"
"               [--io-size SIZE] [--hot-pct N] [--hot-area-pct N]\n"
"               [--seed N] [--io-threads N] [--test-hooks] [-v]\n"
"      Serves the image like xen-blkback and runs the simulated guest on\n"
"      it: at once on a source, after `load` + `unpause` with --dest.\n"
"      A source first reads the image to learn what an earlier run wrote\n"
"      (--fresh skips that: the image is as mkimage left it).\n"
"      Defaults: random 4K, --write-rate 5M (bytes/s of writes, 0 = as\n"
"      fast as possible), --read-pct 30, --qd 4, --io-threads 4.\n"
"  xlmig-vbdsim ctl SOCKET COMMAND [ARG]\n"
"      stats | report | verify | suspend FILE | resume | load FILE |\n"
"      unpause | shutdown.  `verify` exits 1 when the check fails.\n";

static void usage(int code)
{
    fputs(usage_text, code ? stderr : stdout);
    exit(code);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                      noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("xlmig-vbdsim: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static uint64_t size_arg(const char *opt, const char *s)
{
    uint64_t v;

    if (!sim_parse_size(s, &v))
        die("%s: bad size '%s' (e.g. 4096, 64K, 2G)", opt, s);
    return v;
}

static uint64_t uint_arg(const char *opt, const char *s, uint64_t min,
                         uint64_t max)
{
    uint64_t v;

    if (!sim_parse_uint(s, min, max, &v))
        die("%s: '%s' is not a number in %" PRIu64 "..%" PRIu64, opt, s, min,
            max);
    return v;
}

/* ---- mkimage ----------------------------------------------------------- */

static int cmd_mkimage(int argc, char **argv)
{
    static const struct option opts[] = {
        { "size", required_argument, NULL, 's' },
        { "allocated", required_argument, NULL, 'a' },
        { "text-pct", required_argument, NULL, 't' },
        { "chunk", required_argument, NULL, 'c' },
        { "seed", required_argument, NULL, 'S' },
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    struct sim_layout_params p = {
        .chunk = SIM_DEFAULT_CHUNK, .text_pct = 50, .seed = 1,
    };
    bool have_alloc = false, force = false;
    struct sim_layout l;
    char err[256];
    int c, rc;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': p.size = size_arg("--size", optarg); break;
        case 'a':
            p.allocated = size_arg("--allocated", optarg);
            have_alloc = true;
            break;
        case 't': p.text_pct = (uint32_t)uint_arg("--text-pct", optarg, 0,
                                                  100); break;
        case 'c': p.chunk = (uint32_t)size_arg("--chunk", optarg); break;
        case 'S': p.seed = uint_arg("--seed", optarg, 0, UINT64_MAX); break;
        case 'f': force = true; break;
        case 'h': usage(0);
        /* fall through */
        default: usage(2);
        }
    }
    if (optind + 1 != argc)
        die("mkimage: give exactly one image path");
    if (!p.size)
        die("mkimage: --size is required");
    if (!have_alloc)
        p.allocated = p.size / 2 / p.chunk * p.chunk;
    rc = sim_layout_init(&l, &p, err, sizeof(err));
    if (rc)
        die("mkimage: %s", err);
    rc = sim_layout_write_image(&l, argv[optind], force, err, sizeof(err));
    sim_layout_free(&l);
    if (rc)
        die("mkimage: %s", err);
    printf("%s: %" PRIu64 " bytes, %" PRIu64 " allocated (%" PRIu32
           "%% text), chunk %" PRIu32 ", seed %" PRIu64 "\n", argv[optind],
           p.size, p.allocated, p.text_pct, p.chunk, p.seed);
    return 0;
}

/* ---- serve ------------------------------------------------------------- */

struct serve_args {
    struct sim_server_cfg cfg;
    struct sim_workload_cfg wl;
    char path[PATH_MAX];
    unsigned io_threads;
    bool paused, fresh;
};

static void serve_opt(struct serve_args *a, int c, const char **image)
{
    switch (c) {
    case 'i': *image = optarg; break;
    case 'k': a->cfg.socket_path = optarg; break;
    case 'd': a->cfg.dest = true; break;
    case 'p': a->paused = true; break;
    case 'F': a->fresh = true; break;
    case 'w':
        if (!sim_workload_parse(optarg, &a->wl.kind))
            die("--workload: '%s' is not random, seq or hotspot", optarg);
        break;
    case 'r': a->wl.write_rate = size_arg("--write-rate", optarg); break;
    case 'R': a->wl.read_pct = (uint32_t)uint_arg("--read-pct", optarg, 0,
                                                  95); break;
    case 'q': a->wl.qd = (uint32_t)uint_arg("--qd", optarg, 1, 256); break;
    case 'z': a->wl.io_size = (uint32_t)size_arg("--io-size", optarg); break;
    case 'H': a->wl.hot_pct = (uint32_t)uint_arg("--hot-pct", optarg, 1,
                                                 100); break;
    case 'A': a->wl.hot_area_pct = (uint32_t)uint_arg("--hot-area-pct",
                                                      optarg, 1, 100); break;
    case 'S': a->wl.seed = uint_arg("--seed", optarg, 0, UINT64_MAX); break;
    case 'T': a->io_threads = (unsigned)uint_arg("--io-threads", optarg, 1,
                                                 64); break;
    case 'X': a->cfg.test_hooks = true; break;
    case 'v': sim_verbose = 1; break;
    case 'h': usage(0);
    /* fall through */
    default: usage(2);
    }
}

static void serve_args(int argc, char **argv, struct serve_args *a)
{
    static const struct option opts[] = {
        { "image", required_argument, NULL, 'i' },
        { "socket", required_argument, NULL, 'k' },
        { "dest", no_argument, NULL, 'd' },
        { "paused", no_argument, NULL, 'p' },
        { "fresh", no_argument, NULL, 'F' },
        { "workload", required_argument, NULL, 'w' },
        { "write-rate", required_argument, NULL, 'r' },
        { "read-pct", required_argument, NULL, 'R' },
        { "qd", required_argument, NULL, 'q' },
        { "io-size", required_argument, NULL, 'z' },
        { "hot-pct", required_argument, NULL, 'H' },
        { "hot-area-pct", required_argument, NULL, 'A' },
        { "seed", required_argument, NULL, 'S' },
        { "io-threads", required_argument, NULL, 'T' },
        { "test-hooks", no_argument, NULL, 'X' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { 0 }
    };
    const char *image = NULL;
    int c;

    memset(a, 0, sizeof(*a));
    a->io_threads = 4;
    sim_workload_defaults(&a->wl);
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1)
        serve_opt(a, c, &image);
    if (optind != argc)
        die("serve: unexpected argument '%s'", argv[optind]);
    if (!image || !a->cfg.socket_path)
        die("serve: --image and --socket are required");
    if (!realpath(image, a->path))
        die("serve: %s: %s", image, strerror(errno));
    a->cfg.image_path = a->path;
}

/* The source's guest: the image's layout, then the workload (unless
 * paused).  0, or -errno with err. */
static int start_guest(struct serve_args *a, struct sim_backend *b,
                       struct sim_guest *g, char *err, size_t errlen)
{
    struct sim_layout l;
    int rc = sim_layout_read_super(&l, sim_backend_fd(b), err, errlen);

    if (!rc) {
        rc = sim_guest_init(g, &l.p, &a->wl, !a->fresh, err, errlen);
        sim_layout_free(&l);
    }
    if (!rc && !a->paused)
        rc = sim_guest_unpause(g, err, errlen);
    if (!rc)
        sim_log("guest: %s workload, %" PRIu64 " bytes/s of writes, %"
                PRIu32 "%% reads, QD %" PRIu32 ", %" PRIu32
                "-byte requests%s", sim_workload_name(a->wl.kind),
                a->wl.write_rate, a->wl.read_pct, a->wl.qd, a->wl.io_size,
                a->paused ? " (paused)" : "");
    return rc;
}

static void final_report(struct sim_guest *g)
{
    struct xlmig_sim_report r;
    char text[2048];

    sim_guest_report(g, &r);
    if (r.state != XLMIG_SIM_GUEST_EMPTY) {
        xlmig_sim_report_format(&r, text, sizeof(text));
        fprintf(stderr, "%s", text);
    }
}

static int cmd_serve(int argc, char **argv)
{
    struct serve_args a;
    struct sim_backend *b;
    struct sim_guest *g;
    char err[256];
    sigset_t sigs;
    int rc, lfd;

    serve_args(argc, argv, &a);
    /* Before any thread exists: signals are taken by the server's
     * signalfd, and a vanished client must not kill us. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    lfd = sim_server_listen(a.cfg.socket_path, err, sizeof(err));
    if (lfd < 0)
        die("serve: %s", err);
    rc = sim_backend_open(&b, a.path, a.io_threads, err, sizeof(err));
    if (rc) {
        close(lfd);
        unlink(a.cfg.socket_path);
        die("serve: %s", err);
    }
    if (sim_guest_new(&g, b, a.cfg.test_hooks))
        die("serve: out of memory");
    if (!a.cfg.dest && (rc = start_guest(&a, b, g, err, sizeof(err)))) {
        close(lfd);
        unlink(a.cfg.socket_path);
        sim_backend_close(b);
        sim_guest_free(g);
        die("serve: %s: %s", a.path, err);
    }
    rc = sim_server_run(&a.cfg, lfd, b, g, err, sizeof(err));
    if (rc) {
        sim_backend_shutdown(b);
        sim_guest_halt(g);
    }
    sim_backend_close(b);
    final_report(g);
    sim_guest_free(g);
    if (rc)
        die("serve: %s", err);
    return 0;
}

/* ---- ctl --------------------------------------------------------------- */

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;

    if (!f)
        die("%s: %s", path, strerror(errno));
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (!buf)
                die("out of memory");
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got);
    if (ferror(f))
        die("%s: read error", path);
    fclose(f);
    *len = n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        die("%s: %s", path, strerror(errno));
    if (fwrite(data, 1, len, f) != len || fclose(f))
        die("%s: write error", path);
}

static int cmd_ctl(int argc, char **argv)
{
    const char *sock, *cmd, *arg;
    struct xlmig_sim_report r;
    struct xlmig_vbd *v;
    struct xlmig_error e;
    char text[2048];
    int rc = 0, code = 0;

    if (argc < 3 || argc > 4)
        usage(2);
    sock = argv[1];
    cmd = argv[2];
    arg = argc == 4 ? argv[3] : NULL;
    if ((!strcmp(cmd, "suspend") || !strcmp(cmd, "load")) != !!arg)
        die("ctl %s: %s", cmd, arg ? "takes no argument"
                                   : "needs a file argument");
    if (xlmig_vbd_sim_open(sock, &v, &e) < 0)
        die("%s", e.msg);
    if (!strcmp(cmd, "stats")) {
        struct xlmig_vbd_stats st;

        rc = v->ops->stats(v, &st);
        if (!rc)
            printf("image %s (%" PRIu64 " bytes)\nblock_size %" PRIu32
                   " nr_blocks %" PRIu64 "\ntracking %d overflow %d dirty %"
                   PRIu64 " marked %" PRIu64 "\ngate %d stale %" PRIu64
                   " claimed %" PRIu64 " wanted %" PRIu64 " parked %" PRIu64
                   " installed %" PRIu64 " overwritten %" PRIu64 "\n",
                   v->data_path, v->size, st.block_size, st.nr_blocks,
                   st.tracking, st.overflow, st.dirty, st.marked, st.gate,
                   st.stale, st.claimed, st.wanted, st.parked, st.installed,
                   st.overwritten);
    } else if (!strcmp(cmd, "report") || !strcmp(cmd, "verify")) {
        rc = !strcmp(cmd, "report") ? xlmig_sim_guest_report(v, &r)
                                    : xlmig_sim_guest_stop_and_verify(v, &r);
        if (!rc) {
            xlmig_sim_report_format(&r, text, sizeof(text));
            fputs(text, stdout);
            if (!strcmp(cmd, "verify") && !xlmig_sim_report_ok(&r))
                code = 1;
        }
    } else if (!strcmp(cmd, "suspend")) {
        void *blob;
        size_t len;

        rc = xlmig_sim_guest_suspend(v, &blob, &len);
        if (!rc) {
            /* A deliberate suspend: it must outlast this connection. */
            rc = xlmig_sim_guest_handoff(v);
            write_file(arg, blob, len);
            free(blob);
            printf("guest suspended: %zu bytes of state in %s\n", len, arg);
        }
    } else if (!strcmp(cmd, "load")) {
        size_t len;
        void *blob = read_file(arg, &len);

        rc = xlmig_sim_guest_load(v, blob, len);
        free(blob);
    } else if (!strcmp(cmd, "resume")) {
        rc = xlmig_sim_guest_resume(v);
    } else if (!strcmp(cmd, "unpause")) {
        rc = xlmig_sim_guest_unpause(v);
    } else if (!strcmp(cmd, "shutdown")) {
        rc = xlmig_sim_shutdown(v);
    } else {
        v->ops->close(v);
        die("ctl: unknown command '%s'", cmd);
    }
    if (rc) {
        fprintf(stderr, "xlmig-vbdsim: ctl %s: %s\n", cmd, v->err.msg);
        code = 2;
    }
    v->ops->close(v);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage(2);
    if (!strcmp(argv[1], "mkimage"))
        return cmd_mkimage(argc - 1, argv + 1);
    if (!strcmp(argv[1], "serve"))
        return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "ctl"))
        return cmd_ctl(argc - 1, argv + 1);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
        usage(0);
    die("unknown command '%s' (mkimage, serve or ctl)", argv[1]);
}
