/*
 * xlmig send: migrate the disks of a simulated guest (and the guest) to an
 * `xlmig receive`.  The same engine phases as `xlmig migrate
 * --with-storage`, with the simulated VBD standing in for blkback and the
 * simulated guest's state standing in for libxl's memory stream.
 */
#include <getopt.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "sender.h"
#include "sim/sim_client.h"
#include "transport.h"

struct send_disk_arg {
    char socket[4096];
    char name[XLMIG_MAX_NAME + 1];
    struct xlmig_vbd *vbd;
    bool suspended;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig send [options] --vbd sim:SOCKET[,name=NAME] ... DEST\n"
"  DEST: tcp:HOST:PORT | cmd:COMMAND | fd:R,W | -\n"
"  --bandwidth RATE     limit the data channel (e.g. 100M bytes/s, 1000Mbit)\n"
"  --max-downtime MS    disk downtime budget (default 50)\n"
"  --no-postcopy        send every block before the hand-off\n"
"  --block-size N       tracking granularity in bytes (default 4096)\n"
"  --workers N          compression/read threads (default 2)\n"
"  --compress MODE      auto (default), always or never\n"
"  --max-passes N       dirty passes at most (default 30)\n"
"  --memory-seconds S   stand-in for a real guest's memory pre-copy: keep\n"
"                       the disk up to date for S seconds before suspending\n"
"  --keep-source        leave the source VBD running (suspended) after the\n"
"                       hand-off instead of shutting it down\n"
"  --nice N             run at this nice level (default 10: the guests and\n"
"                       their block backends come first; 0 to disable)\n"
"  --json               progress events and the report as JSON on stdout\n"
"  --quiet              no human progress on stderr\n");
}

static int parse_vbd(const char *spec, struct send_disk_arg *d, unsigned idx)
{
    const char *comma;
    size_t n;

    if (strncmp(spec, "sim:", 4))
        return cli_error("--vbd %s: only sim:SOCKET is supported here (real "
                         "guests: xlmig migrate --with-storage)", spec);
    spec += 4;
    comma = strchr(spec, ',');
    n = comma ? (size_t)(comma - spec) : strlen(spec);
    if (!n || n >= sizeof(d->socket))
        return cli_error("--vbd: bad socket path");
    memcpy(d->socket, spec, n);
    d->socket[n] = '\0';
    if (comma && !strncmp(comma + 1, "name=", 5))
        snprintf(d->name, sizeof(d->name), "%s", comma + 6);
    else if (comma)
        return cli_error("--vbd: unknown option '%s'", comma + 1);
    else
        snprintf(d->name, sizeof(d->name), "xvd%c", 'a' + (int)idx);
    return 0;
}

/* Before GO: the guest continues on the source, nothing is lost. */
static void rollback(struct xlmig_sender *s, struct send_disk_arg *disks,
                     unsigned n, const char *why)
{
    xlmig_sender_abort(s, why);
    for (unsigned i = 0; i < n; i++)
        if (disks[i].suspended && xlmig_sim_guest_resume(disks[i].vbd) == 0)
            disks[i].suspended = false;
    fprintf(stderr, "xlmig: migration failed, guest resumed on the source: "
            "%s\n", why);
}

/*
 * With Xen, libxl's memory pre-copy runs here (a minute under emulation)
 * while the disk engine keeps up with the guest's writes.  --memory-seconds
 * reproduces that interval for simulated guests.
 */
static int keep_up(struct xlmig_sender *s, double seconds)
{
    struct timespec t;

    if (seconds <= 0)
        return 0;
    if (xlmig_sender_keepup_start(s) < 0)
        return -1;
    t.tv_sec = (time_t)seconds;
    t.tv_nsec = (long)((seconds - (double)t.tv_sec) * 1e9);
    nanosleep(&t, NULL);
    return s->failed ? -1 : 0;
}

static int suspend_and_send_state(struct xlmig_sender *s,
                                  struct send_disk_arg *disks, unsigned n)
{
    void *blobs[XLMIG_MAX_DISKS] = { NULL }, *packed = NULL;
    size_t lens[XLMIG_MAX_DISKS] = { 0 }, plen;
    int rc = -1;

    /* The guest stops being served from here on: downtime starts. */
    s->st.t_suspended = xlmig_now_ns();
    for (unsigned i = 0; i < n; i++) {
        if (xlmig_sim_guest_suspend(disks[i].vbd, &blobs[i], &lens[i]) < 0) {
            snprintf(s->err, sizeof(s->err), "suspending the guest of %s: %s",
                     disks[i].name, disks[i].vbd->err);
            s->failed = true;
            goto out;
        }
        disks[i].suspended = true;
    }
    fprintf(stderr, "xlmig: [timing] suspend %.1f ms\n",
            (double)(xlmig_now_ns() - s->st.t_suspended) / 1e6);
    if (sim_pack_states(blobs, lens, n, &packed, &plen) < 0) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        s->failed = true;
        goto out;
    }
    rc = xlmig_sender_send_state(s, packed, plen);
out:
    for (unsigned i = 0; i < n; i++)
        free(blobs[i]);
    free(packed);
    return rc;
}

int cmd_send(int argc, char **argv)
{
    static const struct option opts[] = {
        { "vbd", required_argument, NULL, 'v' },
        { "bandwidth", required_argument, NULL, 'b' },
        { "max-downtime", required_argument, NULL, 'd' },
        { "no-postcopy", no_argument, NULL, 'n' },
        { "block-size", required_argument, NULL, 'B' },
        { "workers", required_argument, NULL, 'w' },
        { "compress", required_argument, NULL, 'c' },
        { "max-passes", required_argument, NULL, 'p' },
        { "memory-seconds", required_argument, NULL, 'M' },
        { "json", no_argument, NULL, 'j' },
        { "nice", required_argument, NULL, 'N' },
        { "keep-source", no_argument, NULL, 'K' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct send_disk_arg disks[XLMIG_MAX_DISKS];
    struct xlmig_sender_opts o;
    struct xlmig_progress prog;
    struct xlmig_endpoint ep;
    struct xlmig_sender s;
    char err[XLMIG_ERRLEN];
    bool json = false, quiet = false, keep_source = false;
    int nice_level = 10;
    double memory_s = 0;
    unsigned ndisks = 0;
    int c, rfd, wfd, status = 1;
    pid_t child;

    xlmig_sender_opts_default(&o);
    memset(disks, 0, sizeof(disks));
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            if (ndisks == XLMIG_MAX_DISKS)
                return cli_error("too many --vbd");
            if (parse_vbd(optarg, &disks[ndisks], ndisks))
                return 1;
            ndisks++;
            break;
        case 'b':
            if (xlmig_parse_rate(optarg, &o.bandwidth_Bps))
                return cli_error("bad --bandwidth '%s'", optarg);
            break;
        case 'd':
            o.max_downtime_ms = atof(optarg);
            break;
        case 'n':
            o.postcopy = false;
            break;
        case 'B':
            o.block_size = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'w':
            o.workers = (unsigned)atoi(optarg);
            break;
        case 'p':
            o.max_passes = (unsigned)atoi(optarg);
            break;
        case 'M':
            memory_s = atof(optarg);
            break;
        case 'c':
            if (!strcmp(optarg, "auto"))
                o.compress = XLMIG_COMPRESS_AUTO;
            else if (!strcmp(optarg, "always"))
                o.compress = XLMIG_COMPRESS_ALWAYS;
            else if (!strcmp(optarg, "never"))
                o.compress = XLMIG_COMPRESS_NEVER;
            else
                return cli_error("bad --compress '%s'", optarg);
            break;
        case 'j':
            json = true;
            break;
        case 'N':
            nice_level = atoi(optarg);
            break;
        case 'K':
            keep_source = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || !ndisks) {
        usage(stderr);
        return 2;
    }
    if (xlmig_endpoint_parse(argv[optind], &ep, err) < 0)
        return cli_error("%s", err);
    if (ep.kind == XLMIG_EP_LISTEN)
        return cli_error("the sender connects; tcp-listen is for receive");

    cli_lower_priority(nice_level);
    for (unsigned i = 0; i < ndisks; i++) {
        disks[i].vbd = xlmig_vbd_sim_open(disks[i].socket, err, sizeof(err));
        if (!disks[i].vbd)
            return cli_error("%s: %s", disks[i].socket, err);
    }
    xlmig_progress_init(&prog, "source", quiet ? NULL : stderr,
                        json ? stdout : NULL);
    o.progress = &prog;
    if (xlmig_endpoint_open(&ep, &rfd, &wfd, &child, 0, NULL, err) < 0) {
        cli_error("%s", err);
        goto close_vbds;
    }

    if (xlmig_sender_init(&s, &o, rfd, wfd) < 0)
        goto failed;
    for (unsigned i = 0; i < ndisks; i++)
        if (xlmig_sender_add_disk(&s, disks[i].name, disks[i].vbd) < 0)
            goto failed;
    if (xlmig_sender_negotiate(&s) < 0 || xlmig_sender_push(&s) < 0 ||
        keep_up(&s, memory_s) < 0 ||
        suspend_and_send_state(&s, disks, ndisks) < 0 ||
        xlmig_sender_stopcopy(&s) < 0)
        goto failed;
    /* Past this, the source guest is never resumed behind our back. */
    for (unsigned i = 0; i < ndisks; i++)
        if (xlmig_sim_guest_handoff(disks[i].vbd) < 0) {
            snprintf(s.err, sizeof(s.err), "committing the hand-off of %s: "
                     "%s", disks[i].name, disks[i].vbd->err);
            s.failed = true;
            goto failed;
        }
    if (xlmig_sender_handoff(&s) < 0)
        goto failed;
    /* The destination runs the guest: the source copy is destroyed, as xl
     * destroys the source domain; its image stays for post-copy. */
    for (unsigned i = 0; i < ndisks; i++) {
        if (!keep_source)
            xlmig_sim_shutdown(disks[i].vbd);
        disks[i].suspended = false;
    }
    /* GO was sent and the destination runs the guest. */
    if (xlmig_sender_pull(&s) < 0) {
        fprintf(stderr, "xlmig: POST-COPY FAILED: %s\nxlmig: the guest runs "
                "on the destination; blocks it has not received exist only "
                "in the source image: keep it.\n", s.err);
        status = 3;
    } else {
        status = 0;
    }
    xlmig_sender_report(&s, json ? stdout : stderr, json);
    goto done;

failed:
    if (s.st.t_go) {
        fprintf(stderr, "xlmig: failed after GO: %s\nxlmig: the destination "
                "may be running the guest; check both sides before resuming "
                "either.\n", s.err);
        status = 3;
    } else {
        rollback(&s, disks, ndisks, s.err);
    }
    xlmig_sender_report(&s, json ? stdout : stderr, json);
done:
    xlmig_sender_destroy(&s);
    if (rfd > 2)
        close(rfd);
    if (wfd > 2 && wfd != rfd)
        close(wfd);
    if (child > 0)
        waitpid(child, NULL, 0);
close_vbds:
    for (unsigned i = 0; i < ndisks; i++)
        xlmig_vbd_close(disks[i].vbd);
    return status;
}
