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
#include <stddef.h>
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

#include "cli_opt.h"
#include "vbd.h"
#include "sim/sim_backend.h"
#include "sim/sim_client.h"
#include "sim/sim_guest.h"
#include "sim/sim_layout.h"
#include "sim/sim_server.h"
#include "sim/sim_util.h"

static const char usage_text[] =
"usage:\n"
"  xlmig-vbdsim mkimage PATH --size SIZE [--allocated SIZE] [options]\n"
"      A sparse raw image: ALLOCATED bytes of data (default: half the size),\n"
"      N% of it compressible text (default 50), the rest random; the rest\n"
"      of the image is holes.  Deterministic from the seed (default 1).\n"
"  xlmig-vbdsim serve --image PATH --socket PATH [--dest] [options]\n"
"      Serves the image like xen-blkback and runs the simulated guest on\n"
"      it: at once on a source, after `load` + `unpause` with --dest.\n"
"      A source first reads the image to learn what an earlier run wrote\n"
"      (--fresh skips that: the image is as mkimage left it).\n"
"  xlmig-vbdsim ctl SOCKET COMMAND [ARG]\n"
"      stats | report | verify | suspend FILE | resume | load FILE |\n"
"      unpause | shutdown.  `verify` exits 1 when the check fails.\n"
"  xlmig-vbdsim -h|--help, xlmig-vbdsim -V|--version\n"
"Sizes are binary (4k = 4096, 1M, 2G); `xlmig-vbdsim COMMAND --help` lists\n"
"a command's options with their ranges.\n";

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

/*
 * Parses a command's options with the shared strict parser: a bad value
 * names the option and its range, before anything is created; -h prints
 * the command's help, -V the version.  Returns the first operand.
 */
static int parse(const char *cmd, const char *synopsis, struct cli_optset *sets,
                 size_t nsets, int argc, char **argv, struct cli_common *c)
{
    char err[CLI_ERRLEN];
    int first = cli_parse(sets, nsets, argc, argv, err, sizeof(err));

    if (first < 0)
        die("%s: %s\n(xlmig-vbdsim %s --help lists the options)", cmd, err,
            cmd);
    if (c->help) {
        printf("usage: xlmig-vbdsim %s\nOptions:\n", synopsis);
        cli_print_options(stdout, sets, nsets);
        exit(0);
    }
    if (c->version) {
        printf("xlmig-vbdsim %s\n", PACKAGE_VERSION);
        exit(0);
    }
    return first;
}

/* ---- mkimage ----------------------------------------------------------- */

struct mk_args {
    struct cli_common c;
    uint64_t size, allocated, chunk, text_pct, seed;
    bool force;
};

#define OFF(f) offsetof(struct mk_args, f)
static const struct cli_opt mk_opts[] = {
    { .name = "size", .type = CLI_SIZE, .offset = OFF(size),
      .metavar = "SIZE", .help = "the image's size (required)",
      .min = 4096, .max = 1ull << 50 },
    { .name = "allocated", .type = CLI_SIZE, .offset = OFF(allocated),
      .metavar = "SIZE", .help = "bytes of data, whole chunks (default: "
      "half the size)", .min = 4096, .max = 1ull << 50 },
    { .name = "text-pct", .type = CLI_COUNT, .offset = OFF(text_pct),
      .metavar = "N", .help = "share of the data that is text (default "
      "50)", .min = 0, .max = 100 },
    { .name = "chunk", .type = CLI_SIZE, .offset = OFF(chunk),
      .metavar = "SIZE", .help = "unit of data and holes (default 1M)",
      .min = SIM_MIN_CHUNK, .max = SIM_MAX_CHUNK, .flags = CLI_POW2 },
    { .name = "seed", .type = CLI_COUNT, .offset = OFF(seed),
      .metavar = "N", .help = "names the disk (default 1)", .min = 0,
      .max = UINT64_MAX },
    { .name = "force", .type = CLI_FLAG, .offset = OFF(force),
      .help = "overwrite an existing file" },
};
#undef OFF

static int cmd_mkimage(int argc, char **argv)
{
    struct mk_args a = { .chunk = SIM_DEFAULT_CHUNK, .text_pct = 50,
                         .seed = 1 };
    struct cli_optset sets[] = {
        { mk_opts, sizeof(mk_opts) / sizeof(mk_opts[0]), &a, 0 },
        { cli_help_opts, cli_help_nopts, &a.c, 0 },
    };
    struct sim_layout_params p;
    struct sim_layout l;
    struct xlmig_error err;
    int rc, first;

    first = parse("mkimage", "mkimage PATH --size SIZE [options]", sets, 2,
                  argc, argv, &a.c);
    if (first + 1 != argc)
        die("mkimage: give exactly one image path");
    if (!cli_seen(&sets[0], "size"))
        die("mkimage: --size is required");
    p = (struct sim_layout_params){
        .size = a.size, .chunk = (uint32_t)a.chunk,
        .text_pct = (uint32_t)a.text_pct, .seed = a.seed,
        .allocated = cli_seen(&sets[0], "allocated")
                         ? a.allocated : a.size / 2 / a.chunk * a.chunk,
    };
    rc = sim_layout_init(&l, &p, &err);
    if (rc)
        die("mkimage: %s", err.msg);
    rc = sim_layout_write_image(&l, argv[first], a.force, &err);
    sim_layout_free(&l);
    if (rc)
        die("mkimage: %s", err.msg);
    printf("%s: %" PRIu64 " bytes, %" PRIu64 " allocated (%" PRIu32
           "%% text), chunk %" PRIu32 ", seed %" PRIu64 "\n", argv[first],
           p.size, p.allocated, p.text_pct, p.chunk, p.seed);
    return 0;
}

/* ---- serve ------------------------------------------------------------- */

struct serve_args {
    struct cli_common c;
    struct sim_server_cfg cfg;
    struct sim_workload_cfg wl;
    char path[PATH_MAX];
    const char *image;
    int workload;
    uint64_t write_rate, read_pct, qd, io_size, hot_pct, hot_area_pct,
             seed, io_threads;
    bool paused, fresh, verbose;
};

static const char *const workloads[] = { "random", "seq", "hotspot", NULL };

#define OFF(f) offsetof(struct serve_args, f)
static const struct cli_opt serve_opts[] = {
    { .name = "image", .type = CLI_STRING, .offset = OFF(image),
      .metavar = "PATH", .help = "the raw image to serve (required)" },
    { .name = "socket", .type = CLI_STRING, .offset = OFF(cfg.socket_path),
      .metavar = "PATH", .help = "the control socket (required)" },
    { .name = "dest", .type = CLI_FLAG, .offset = OFF(cfg.dest),
      .help = "a destination: the guest comes with `load`" },
    { .name = "paused", .type = CLI_FLAG, .offset = OFF(paused),
      .help = "do not start the source's guest" },
    { .name = "fresh", .type = CLI_FLAG, .offset = OFF(fresh),
      .help = "the image is as mkimage left it (no scan)" },
    { .name = "workload", .type = CLI_CHOICE, .offset = OFF(workload),
      .metavar = "KIND", .choices = workloads,
      .help = "the guest's I/O pattern (default random)" },
    { .name = "write-rate", .type = CLI_SIZE, .offset = OFF(write_rate),
      .metavar = "SIZE", .help = "bytes written per second, binary (5M = "
      "5 MiB/s; default 5M; 0: as fast as possible)", .min = 1,
      .max = 1ull << 40, .flags = CLI_ZERO_OK },
    { .name = "read-pct", .type = CLI_COUNT, .offset = OFF(read_pct),
      .metavar = "N", .help = "share of reads (default 30)", .min = 0,
      .max = 95 },
    { .name = "qd", .type = CLI_COUNT, .offset = OFF(qd), .metavar = "N",
      .help = "requests in flight (default 4)", .min = 1, .max = 256 },
    { .name = "io-size", .type = CLI_SIZE, .offset = OFF(io_size),
      .metavar = "SIZE", .help = "bytes per request, 4k multiple (default "
      "4k)", .min = 4096, .max = 1u << 20 },
    { .name = "hot-pct", .type = CLI_COUNT, .offset = OFF(hot_pct),
      .metavar = "N", .help = "hotspot: share of requests (default 90)",
      .min = 1, .max = 100 },
    { .name = "hot-area-pct", .type = CLI_COUNT, .offset = OFF(hot_area_pct),
      .metavar = "N", .help = "hotspot: share of the disk (default 10)",
      .min = 1, .max = 100 },
    { .name = "seed", .type = CLI_COUNT, .offset = OFF(seed),
      .metavar = "N", .help = "the workload's random stream (default 1)",
      .min = 0, .max = UINT64_MAX },
    { .name = "io-threads", .type = CLI_COUNT, .offset = OFF(io_threads),
      .metavar = "N", .help = "backend I/O threads (default 4)", .min = 1,
      .max = 64 },
    { .name = "test-hooks", .type = CLI_FLAG, .offset = OFF(cfg.test_hooks),
      .help = "accept the test-only requests" },
    { .name = "verbose", .short_name = 'v', .type = CLI_FLAG,
      .offset = OFF(verbose), .help = "log every request" },
};
#undef OFF

static void serve_args(int argc, char **argv, struct serve_args *a)
{
    struct cli_optset sets[] = {
        { serve_opts, sizeof(serve_opts) / sizeof(serve_opts[0]), a, 0 },
        { cli_help_opts, cli_help_nopts, &a->c, 0 },
    };
    struct xlmig_error err;
    int first;

    memset(a, 0, sizeof(*a));
    sim_workload_defaults(&a->wl);
    a->io_threads = 4;
    a->workload = (int)a->wl.kind;
    a->write_rate = a->wl.write_rate;
    a->read_pct = a->wl.read_pct;
    a->qd = a->wl.qd;
    a->io_size = a->wl.io_size;
    a->hot_pct = a->wl.hot_pct;
    a->hot_area_pct = a->wl.hot_area_pct;
    a->seed = a->wl.seed;
    first = parse("serve", "serve --image PATH --socket PATH [options]",
                  sets, 2, argc, argv, &a->c);
    if (first != argc)
        die("serve: unexpected argument '%s'", argv[first]);
    if (!a->image || !a->cfg.socket_path)
        die("serve: --image and --socket are required");
    if (!sim_workload_parse(workloads[a->workload], &a->wl.kind))
        die("serve: --workload: '%s' unknown", workloads[a->workload]);
    a->wl.write_rate = a->write_rate;
    a->wl.read_pct = (uint32_t)a->read_pct;
    a->wl.qd = (uint32_t)a->qd;
    a->wl.io_size = (uint32_t)a->io_size;
    a->wl.hot_pct = (uint32_t)a->hot_pct;
    a->wl.hot_area_pct = (uint32_t)a->hot_area_pct;
    a->wl.seed = a->seed;
    if (sim_workload_check(&a->wl, NULL, &err))
        die("serve: %s", err.msg);
    if (a->verbose)
        sim_verbose = 1;
    if (!realpath(a->image, a->path))
        die("serve: %s: %s", a->image, strerror(errno));
    a->cfg.image_path = a->path;
}

/* The source's guest: the image's layout, then the workload (unless
 * paused).  0, or -errno with err. */
static int start_guest(struct serve_args *a, struct sim_backend *b,
                       struct sim_guest *g, struct xlmig_error *err)
{
    struct sim_layout l;
    int rc = sim_layout_read_super(&l, sim_backend_fd(b), err);

    if (!rc) {
        rc = sim_guest_init(g, &l.p, &a->wl, !a->fresh, err);
        sim_layout_free(&l);
    }
    if (!rc && !a->paused)
        rc = sim_guest_unpause(g, err);
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
    struct xlmig_error err;
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

    lfd = sim_server_listen(a.cfg.socket_path, &err);
    if (lfd < 0)
        die("serve: %s", err.msg);
    rc = sim_backend_open(&b, a.path, (unsigned)a.io_threads, &err);
    if (rc) {
        close(lfd);
        unlink(a.cfg.socket_path);
        die("serve: %s", err.msg);
    }
    if (sim_guest_new(&g, b, a.cfg.test_hooks))
        die("serve: out of memory");
    if (!a.cfg.dest && (rc = start_guest(&a, b, g, &err))) {
        close(lfd);
        unlink(a.cfg.socket_path);
        sim_backend_close(b);
        sim_guest_free(g);
        die("serve: %s: %s", a.path, err.msg);
    }
    rc = sim_server_run(&a.cfg, lfd, b, g, &err);
    if (rc) {
        sim_backend_shutdown(b);
        sim_guest_halt(g);
    }
    sim_backend_close(b);
    final_report(g);
    sim_guest_free(g);
    if (rc)
        die("serve: %s", err.msg);
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

static int ctl_stats(struct xlmig_vbd *v)
{
    struct xlmig_vbd_stats st;
    int rc = v->ops->stats(v, &st);

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
    return rc;
}

/* report, or verify (*code 1 when the guest's check fails). */
static int ctl_report(struct xlmig_vbd *v, bool verify, int *code)
{
    struct xlmig_sim_report r;
    char text[2048];
    int rc = verify ? xlmig_sim_guest_stop_and_verify(v, &r)
                    : xlmig_sim_guest_report(v, &r);

    if (!rc) {
        xlmig_sim_report_format(&r, text, sizeof(text));
        fputs(text, stdout);
        if (verify && !xlmig_sim_report_ok(&r))
            *code = 1;
    }
    return rc;
}

static int ctl_suspend(struct xlmig_vbd *v, const char *file)
{
    void *blob;
    size_t len;
    int rc = xlmig_sim_guest_suspend(v, &blob, &len);

    if (!rc) {
        /* A deliberate suspend: it must outlast this connection. */
        rc = xlmig_sim_guest_handoff(v);
        write_file(file, blob, len);
        free(blob);
        printf("guest suspended: %zu bytes of state in %s\n", len, file);
    }
    return rc;
}

static int ctl_load(struct xlmig_vbd *v, const char *file)
{
    size_t len;
    void *blob = read_file(file, &len);
    int rc = xlmig_sim_guest_load(v, blob, len);

    free(blob);
    return rc;
}

static const char *const ctl_cmds[] = { "stats", "report", "verify",
    "suspend", "load", "resume", "unpause", "shutdown", NULL };

/* One command (of ctl_cmds) on an open VBD. */
static int ctl_do(struct xlmig_vbd *v, const char *cmd, const char *arg,
                  int *code)
{
    if (!strcmp(cmd, "stats"))
        return ctl_stats(v);
    if (!strcmp(cmd, "report") || !strcmp(cmd, "verify"))
        return ctl_report(v, !strcmp(cmd, "verify"), code);
    if (!strcmp(cmd, "suspend"))
        return ctl_suspend(v, arg);
    if (!strcmp(cmd, "load"))
        return ctl_load(v, arg);
    if (!strcmp(cmd, "resume"))
        return xlmig_sim_guest_resume(v);
    if (!strcmp(cmd, "unpause"))
        return xlmig_sim_guest_unpause(v);
    return xlmig_sim_shutdown(v);
}

static int cmd_ctl(int argc, char **argv)
{
    struct cli_common c;
    struct cli_optset sets[] = {
        { cli_help_opts, cli_help_nopts, &c, 0 },
    };
    const char *sock, *cmd, *arg;
    struct xlmig_vbd *v;
    struct xlmig_error e;
    int rc, code = 0, first;

    memset(&c, 0, sizeof(c));
    first = parse("ctl", "ctl SOCKET stats|report|verify|suspend FILE|"
                  "resume|load FILE|unpause|shutdown", sets, 1, argc, argv,
                  &c);
    argc -= first - 1;
    argv += first - 1;
    if (argc < 3 || argc > 4)
        die("ctl: give SOCKET COMMAND [ARG] (xlmig-vbdsim ctl --help)");
    sock = argv[1];
    cmd = argv[2];
    arg = argc == 4 ? argv[3] : NULL;
    for (int i = 0;; i++) {
        if (!ctl_cmds[i])
            die("ctl: unknown command '%s'", cmd);
        if (!strcmp(cmd, ctl_cmds[i]))
            break;
    }
    if ((!strcmp(cmd, "suspend") || !strcmp(cmd, "load")) != !!arg)
        die("ctl %s: %s", cmd, arg ? "takes no argument"
                                   : "needs a file argument");
    if (xlmig_vbd_sim_open(sock, &v, &e) < 0)
        die("%s", e.msg);
    rc = ctl_do(v, cmd, arg, &code);
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
    if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
        printf("xlmig-vbdsim %s\n", PACKAGE_VERSION);
        return 0;
    }
    die("unknown command '%s' (mkimage, serve or ctl)", argv[1]);
}
