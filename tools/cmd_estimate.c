/*
 * xlmig estimate: what `xlmig send` with the same options would do, asked
 * of an `xlmig receive` over the real data channel and measured on the
 * guests here, changing nothing on either host.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"

struct est_args {
    struct xlmig_source_opts o;
    char sockets[XLMIG_MAX_DISKS][4096];
    char images[XLMIG_MAX_DISKS][4096];
    char names[XLMIG_MAX_DISKS][XLMIG_MAX_NAME + 1];
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS];
    unsigned ndisks;
    double sample_s, memory_s;
    bool json, quiet;
    const char *dest;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig estimate [options] --vbd sim:SOCKET[,name=NAME] ... DEST\n"
"       xlmig estimate --offline [options] --image NAME=PATH ... DEST\n"
"  Measures the disks, the data channel to an `xlmig receive` at DEST and\n"
"  the guests' writes, and predicts the migration `xlmig send` with the\n"
"  same options would make; nothing is created or changed on either side.\n"
"  DEST: tcp:HOST:PORT | cmd:COMMAND | fd:R,W | -\n"
"  --sample-seconds S   watch the guests' writes this long (default 5)\n"
"  --memory-seconds S   the memory phase to assume (as for send)\n"
"  --offline            predict a cold migration of stopped guests\n"
"  --image NAME=PATH    (--offline) a stopped guest's disk image\n"
"  --bandwidth RATE     --max-downtime MS  --no-postcopy  --block-size N\n"
"  --workers N          --compress MODE    --max-passes N\n"
"                       as for xlmig send\n"
"  --json               the estimate as one JSON line on stdout\n"
"  --quiet              no progress on stderr\n");
}

static int parse(int argc, char **argv, struct est_args *a)
{
    static const struct option opts[] = {
        { "vbd", required_argument, NULL, 'v' },
        { "image", required_argument, NULL, 'I' },
        { "offline", no_argument, NULL, 'O' },
        { "sample-seconds", required_argument, NULL, 's' },
        { "memory-seconds", required_argument, NULL, 'M' },
        { "bandwidth", required_argument, NULL, 'b' },
        { "max-downtime", required_argument, NULL, 'd' },
        { "no-postcopy", no_argument, NULL, 'n' },
        { "block-size", required_argument, NULL, 'B' },
        { "workers", required_argument, NULL, 'w' },
        { "compress", required_argument, NULL, 'c' },
        { "max-passes", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    xlmig_source_opts_init(&a->o);
    a->sample_s = 5;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        unsigned i = a->ndisks;

        switch (c) {
        case 'v': case 'I': {
            const char *comma;

            if (i == XLMIG_MAX_DISKS)
                return cli_error("too many disks");
            if (c == 'I') {
                if (cli_image_arg(optarg, a->names[i], sizeof(a->names[i]),
                                  a->images[i], sizeof(a->images[i])))
                    return 1;
            } else if (strncmp(optarg, "sim:", 4)) {
                return cli_error("--vbd %s: only sim:SOCKET here", optarg);
            } else {
                comma = strstr(optarg, ",name=");
                snprintf(a->sockets[i], sizeof(a->sockets[i]), "%.*s",
                         comma ? (int)(comma - optarg - 4)
                               : (int)strlen(optarg + 4), optarg + 4);
                if (comma)
                    snprintf(a->names[i], sizeof(a->names[i]), "%s",
                             comma + 6);
                else
                    snprintf(a->names[i], sizeof(a->names[i]), "xvd%c",
                             'a' + (int)i);
            }
            a->ndisks++;
            break;
        }
        case 'O': a->o.offline = true; break;
        case 's': a->sample_s = atof(optarg); break;
        case 'M': a->memory_s = atof(optarg); break;
        case 'b':
            if (xlmig_parse_rate(optarg, &a->o.bandwidth_Bps))
                return cli_error("bad --bandwidth '%s'", optarg);
            break;
        case 'd': a->o.max_downtime_ms = atof(optarg); break;
        case 'n': a->o.postcopy = false; break;
        case 'B': a->o.block_size = (uint32_t)strtoul(optarg, NULL, 0); break;
        case 'w': a->o.workers = (unsigned)atoi(optarg); break;
        case 'p': a->o.max_passes = (unsigned)atoi(optarg); break;
        case 'c':
            if (!strcmp(optarg, "auto"))
                a->o.compress = XLMIG_COMPRESS_AUTO;
            else if (!strcmp(optarg, "always"))
                a->o.compress = XLMIG_COMPRESS_ALWAYS;
            else if (!strcmp(optarg, "never"))
                a->o.compress = XLMIG_COMPRESS_NEVER;
            else
                return cli_error("bad --compress '%s'", optarg);
            break;
        case 'j': a->json = true; break;
        case 'q': a->quiet = true; break;
        case 'h': return -1;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1 || !a->ndisks) {
        usage(stderr);
        return 2;
    }
    if (a->sample_s < 1 || a->sample_s > 600)
        return cli_error("--sample-seconds: 1 to 600");
    a->dest = argv[optind];
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
        fprintf(f, "  compressibility   zlib level 1: %.2f of the size, "
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
    cli_out_init(&out, false, a->quiet);
    if (xlmig_source_new(&a->o, &h, &s, &e) < 0)
        return cli_error("%s", e.msg);
    xlmig_source_set_observer(s, NULL, cli_on_log, &out);
    rc = xlmig_source_set_channel(s, rfd, wfd);
    for (unsigned i = 0; i < a->ndisks && !rc; i++)
        rc = xlmig_source_add_disk(s, a->names[i], a->vbds[i]);
    if (!rc && !a->quiet)
        fprintf(stderr, "xlmig: estimating: watching the guests for %.0f s\n",
                a->sample_s);
    eo.sample_s = a->sample_s;
    cli_sim_costs(&eo, a->memory_s, a->ndisks, a->o.offline);
    rc = rc ? rc : xlmig_source_estimate(s, &eo, &est);
    if (rc < 0) {
        cli_error("estimate failed: %s", xlmig_source_error(s));
        xlmig_source_free(s);
        return 1;
    }
    if (a->json) {
        char line[4096];

        xlmig_estimate_json(&est, line, sizeof(line));
        printf("%s\n", line);
        fflush(stdout);
    }
    if (!a->quiet || !a->json)
        print_human(&est, a->json ? stderr : stdout);
    xlmig_source_free(s);
    return 0;
}

int cmd_estimate(int argc, char **argv)
{
    struct est_args *a = calloc(1, sizeof(*a));
    struct xlmig_endpoint ep;
    struct xlmig_error e;
    int rfd, wfd, status;
    pid_t child;

    if (!a)
        return cli_error("out of memory");
    status = parse(argc, argv, a);
    if (status) {
        if (status < 0)
            usage(stdout);
        free(a);
        return status < 0 ? 0 : status;
    }
    status = 1;
    if (xlmig_endpoint_parse(a->dest, &ep, &e) < 0) {
        cli_error("%s", e.msg);
    } else if (ep.kind == XLMIG_EP_LISTEN) {
        cli_error("the estimate connects; tcp-listen is for receive");
    } else if (!open_disks(a)) {
        if (xlmig_endpoint_open(&ep, &rfd, &wfd, &child, 0, NULL, &e) < 0) {
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
