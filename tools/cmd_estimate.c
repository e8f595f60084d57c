/*
 * xlmig estimate: what `xlmig send` with the same options would do, asked
 * of an `xlmig receive` over the real data channel and measured on the
 * guests here, changing nothing on either host.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"

struct est_args {
    struct cli_common c;
    struct xlmig_source_opts o;
    char sockets[XLMIG_MAX_DISKS][4096];
    char images[XLMIG_MAX_DISKS][4096];
    char names[XLMIG_MAX_DISKS][XLMIG_MAX_NAME + 1];
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS];
    unsigned ndisks;
    double sample_ms, memory_ms;
    bool offline, no_postcopy;
    const char *dest;
};

static int add_disk(struct est_args *a, char *err, size_t errlen)
{
    for (unsigned i = 0; i < a->ndisks; i++)
        if (!strcmp(a->names[i], a->names[a->ndisks])) {
            snprintf(err, errlen, "two disks named %s", a->names[i]);
            return -1;
        }
    a->ndisks++;
    return 0;
}

/* --vbd sim:SOCKET[,name=NAME], --image NAME=PATH (repeatable). */
static int opt_vbd(void *base, const char *spec, char *err, size_t errlen)
{
    struct est_args *a = base;
    unsigned i = a->ndisks;

    if (i == XLMIG_MAX_DISKS) {
        snprintf(err, errlen, "--vbd: at most %d disks", XLMIG_MAX_DISKS);
        return -1;
    }
    if (cli_vbd_spec(spec, i, a->sockets[i], sizeof(a->sockets[i]),
                     a->names[i], sizeof(a->names[i]), err, errlen) < 0)
        return -1;
    return add_disk(a, err, errlen);
}

static int opt_image(void *base, const char *spec, char *err, size_t errlen)
{
    struct est_args *a = base;
    unsigned i = a->ndisks;

    if (i == XLMIG_MAX_DISKS) {
        snprintf(err, errlen, "--image: at most %d disks", XLMIG_MAX_DISKS);
        return -1;
    }
    if (cli_image_spec(spec, a->names[i], sizeof(a->names[i]), a->images[i],
                       sizeof(a->images[i]), err, errlen) < 0)
        return -1;
    return add_disk(a, err, errlen);
}

#define OFF(f) offsetof(struct est_args, f)
static const struct cli_opt est_opts[] = {
    { .name = "vbd", .type = CLI_CALL, .fn = opt_vbd,
      .metavar = "sim:SOCKET[,name=NAME]",
      .help = "a disk: a source xlmig-vbdsim serve (repeatable)" },
    { .name = "image", .type = CLI_CALL, .fn = opt_image,
      .metavar = "NAME=PATH", .help = "(--offline) a stopped guest's disk "
      "image (repeatable)" },
    { .name = "offline", .type = CLI_FLAG, .offset = OFF(offline),
      .help = "predict a cold migration of stopped guests" },
    { .name = "sample-seconds", .type = CLI_DURATION,
      .offset = OFF(sample_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 1000, .fmax = 600000,
      .help = "watch the guests' writes this long (default 5)" },
    { .name = "memory-seconds", .type = CLI_DURATION,
      .offset = OFF(memory_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 0, .fmax = 3600000,
      .help = "the memory phase to assume (as for send; default 0)" },
    { .name = "no-postcopy", .type = CLI_FLAG, .offset = OFF(no_postcopy),
      .help = "predict a migration that sends every block before the "
      "hand-off" },
};
#undef OFF

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig estimate [options] --vbd sim:SOCKET[,name=NAME] ... DEST\n"
"       xlmig estimate --offline [options] --image NAME=PATH ... DEST\n"
"  DEST: tcp:HOST:PORT | cmd:COMMAND | fd:R,W | -\n"
"Measures the disks, the data channel to an `xlmig receive` at DEST and the\n"
"guests' writes, and predicts the migration `xlmig send` with the same\n"
"options would make; nothing is created or changed on either side.  With\n"
"--json the estimate is one JSON line on stdout.\n"
"Options (rates decimal: 125M = 125 MB/s, 1000Mbit; sizes binary: 4k):\n");
    cli_print_options(f, sets, nsets);
}

/* 0, or an exit status (after --help: 0 with *done). */
static int parse(int argc, char **argv, struct est_args *a, bool *done)
{
    struct cli_optset sets[] = {
        { est_opts, sizeof(est_opts) / sizeof(est_opts[0]), a, 0 },
        { cli_common_opts, cli_common_nopts, &a->c, 0 },
        { cli_timeout_opts, cli_timeout_nopts, &a->c, 0 },
    };
    int first, status;

    cli_common_defaults(&a->c);
    a->sample_ms = 5000;
    *done = true;
    first = cli_parse_command("estimate", sets, 3, argc, argv, &a->c.help,
                              &a->c.version, usage, &status);
    if (first < 0)
        return status;
    if (!a->ndisks || first != argc - 1) {
        fprintf(stderr, "xlmig estimate: %s\n(xlmig estimate --help lists "
                "the options)\n", !a->ndisks ? "give at least one --vbd "
                "(or --image with --offline)"
                : first == argc ? "give the destination (e.g. "
                                  "tcp:HOST:PORT)"
                                : "give exactly one destination");
        return 2;
    }
    for (unsigned i = 0; i < a->ndisks && !a->offline; i++)
        if (a->images[i][0]) {
            fprintf(stderr, "xlmig estimate: --image is for --offline (a "
                    "running guest is given with --vbd)\n");
            return 2;
        }
    a->dest = argv[first];
    xlmig_source_opts_init(&a->o);
    cli_common_to_source(&a->c, &a->o);
    a->o.postcopy = !a->no_postcopy;
    a->o.offline = a->offline;
    *done = false;
    return 0;
}

static void print_human(const struct xlmig_estimate *e, FILE *f)
{
    fprintf(f, "xlmig estimate\n");
    fprintf(f, "  disks             %u: %.1f MiB, %.1f MiB allocated "
            "(%.1f%% of it zeros)\n", e->ndisks,
            (double)e->disk_bytes / 1048576.0,
            (double)e->allocated_bytes / 1048576.0, 100 * e->zero_fraction);
    if (e->compress_ratio > 0)
        fprintf(f, "  compressibility   deflate level 1: %.2f of the size, "
                "%.0f MB/s per worker\n", e->compress_ratio,
                e->compress_Bps / 1e6);
    fprintf(f, "  link              round trip %.2f ms, %.1f MB/s raw; "
            "the pipeline moves %.1f MB/s of disk\n", e->rtt_ms,
            e->link_Bps / 1e6, e->pipeline_Bps / 1e6);
    fprintf(f, "  guest writes      %.2f MB/s distinct (over 1 s), %.1f MiB "
            "distinct in %.1f s\n", e->dirty_Bps / 1e6,
            (double)e->working_set_bytes / 1048576.0, e->sample_s);
    fprintf(f, "  predicted total   %.2f s (PUSH %.2f s, %u dirty pass(es), "
            "stops: %s)\n", e->total_s, e->push_s, e->passes,
            e->stop_reason);
    if (e->downtime_ms >= 0)
        fprintf(f, "  disk downtime     %.1f ms; %llu block(s) at stop-copy, "
                "%s\n", e->downtime_ms,
                (unsigned long long)e->final_blocks,
                e->postcopy ? "handed over: post-copy" : "sent within it");
    if (e->postcopy)
        fprintf(f, "  post-copy         %llu block(s) in about %.2f s\n",
                (unsigned long long)e->postcopy_blocks, e->postcopy_s);
    fprintf(f, "  wire              %.1f MiB (%.3f x allocated)\n",
            (double)e->wire_bytes / 1048576.0,
            e->allocated_bytes ? (double)e->wire_bytes /
                                 (double)e->allocated_bytes : 0);
    fflush(f);
}

static int open_disks(struct est_args *a)
{
    struct xlmig_error e;

    for (unsigned i = 0; i < a->ndisks; i++) {
        int rc = a->images[i][0]
                     ? xlmig_vbd_image_open(a->images[i], &a->vbds[i], &e)
                     : xlmig_vbd_sim_open(a->sockets[i], &a->vbds[i], &e);

        if (rc < 0)
            return cli_error("%s: %s", a->images[i][0] ? a->images[i]
                                                       : a->sockets[i],
                             e.msg);
    }
    return 0;
}

/*
 * The simulated toolstack's costs the estimate cannot measure without
 * doing them, as measured here (tests/bench/estimate.sh; 2-core machine,
 * Debian 12): starting a destination VBD per disk (spawn, then its socket
 * polled every 20 ms), the destination guest loading its state inside the
 * downtime (below a millisecond: its state went ahead of stop-copy), the
 * hand-off (commit, READY, GO, unpause, REPORT, source VBD shut down, the
 * final flush before DONE).
 */
#define SIM_SETUP_S 0.025
#define SIM_STATE_S 0.0
#define SIM_HANDOFF_S 0.025

void cli_sim_costs(struct xlmig_estimate_opts *eo, double memory_s,
                   unsigned ndisks, bool offline)
{
    eo->memory_s = memory_s;
    if (!offline) {
        eo->setup_s = SIM_SETUP_S * ndisks;
        eo->state_s = SIM_STATE_S * ndisks;
        eo->handoff_s = SIM_HANDOFF_S;
    }
}

void cli_sim_expect(struct xlmig_source *s, double memory_s, unsigned ndisks,
                    bool offline)
{
    struct xlmig_estimate_opts eo;

    xlmig_estimate_opts_init(&eo);
    cli_sim_costs(&eo, memory_s, ndisks, offline);
    xlmig_source_expect(s, &eo);
}

static int run(struct est_args *a, int rfd, int wfd)
{
    struct xlmig_source_hooks h = { .opaque = a };
    struct xlmig_estimate_opts eo;
    struct xlmig_estimate est;
    struct cli_out out;
    struct xlmig_source *s;
    struct xlmig_error e;
    int rc;

    xlmig_estimate_opts_init(&eo);
    if (xlmig_source_new(&a->o, &h, &s, &e) < 0)
        return cli_error("%s", e.msg);
    cli_out_init(&out, false, a->c.quiet, "source", -1, -1);
    xlmig_source_set_observer(s, NULL, cli_on_log, &out);
    rc = xlmig_source_set_channel(s, rfd, wfd);
    for (unsigned i = 0; i < a->ndisks && !rc; i++)
        rc = xlmig_source_add_disk(s, a->names[i], a->vbds[i]);
    if (!rc && !a->c.quiet)
        fprintf(stderr, "xlmig: estimating: watching the guests for %.0f s\n",
                a->sample_ms / 1000.0);
    eo.sample_s = a->sample_ms / 1000.0;
    cli_sim_costs(&eo, a->memory_ms / 1000.0, a->ndisks, a->o.offline);
    rc = rc ? rc : xlmig_source_estimate(s, &eo, &est);
    if (rc < 0) {
        cli_error("estimate failed: %s", xlmig_source_error(s));
        xlmig_source_free(s);
        cli_out_destroy(&out);
        return 1;
    }
    if (a->c.json) {
        char line[4096];

        xlmig_estimate_json(&est, line, sizeof(line));
        printf("%s\n", line);
        fflush(stdout);
    }
    if (!a->c.quiet || !a->c.json)
        print_human(&est, a->c.json ? stderr : stdout);
    xlmig_source_free(s);
    cli_out_destroy(&out);
    return 0;
}

int cmd_estimate(int argc, char **argv)
{
    struct est_args *a = calloc(1, sizeof(*a));
    struct xlmig_endpoint ep;
    struct xlmig_error e;
    char err[CLI_ERRLEN];
    int rfd, wfd, status;
    pid_t child;
    bool done;

    if (!a)
        return cli_error("out of memory");
    status = parse(argc, argv, a, &done);
    if (done) {
        free(a);
        return status;
    }
    status = 1;
    if (cli_check_endpoint_port(a->dest, err, sizeof(err)) < 0) {
        status = cli_error("%s", err) + 1;
    } else if (xlmig_endpoint_parse(a->dest, &ep, &e) < 0) {
        status = cli_error("%s", e.msg) + 1;
    } else if (ep.kind == XLMIG_EP_LISTEN) {
        status = cli_error("%s: the estimate connects; tcp-listen: is for "
                           "xlmig receive", a->dest) + 1;
    } else {
        cli_lower_priority(a->c.nice);
        if (open_disks(a)) {
            /* said why */
        } else if (xlmig_endpoint_open(&ep, &rfd, &wfd, &child, 0, NULL,
                                       &e) < 0) {
            cli_error("%s", e.msg);
        } else {
            status = run(a, rfd, wfd);
            if (rfd > 2)
                close(rfd);
            if (wfd > 2 && wfd != rfd)
                close(wfd);
            if (child > 0)
                waitpid(child, NULL, 0);
        }
    }
    for (unsigned i = 0; i < a->ndisks; i++)
        xlmig_vbd_close(a->vbds[i]);
    free(a);
    return status;
}
