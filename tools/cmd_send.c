/*
 * xlmig send: migrate the disks of simulated guests (and the guests) to an
 * `xlmig receive`.  The library runs the same state machine as for
 * `xlmig migrate --with-storage`; the hooks here stand in for libxl: the
 * simulated guest's state travels on the data channel as its memory would
 * in libxl's stream.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"

struct send_disk {
    char socket[4096];
    char name[XLMIG_MAX_NAME + 1];
    struct xlmig_vbd *vbd;
    bool suspended;
};

struct send_args {
    struct xlmig_source_opts o;
    struct send_disk disks[XLMIG_MAX_DISKS];
    unsigned ndisks;
    bool json, quiet, keep_source;
    int nice_level;
    double memory_s;
    const char *dest;
    const char *session_file;
    struct xlmig_endpoint ep;
    pid_t child;                /* cmd: endpoints, the current one */
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
"  --keepup-share PCT   while the memory moves, keep-up uses at most PCT%%\n"
"                       of the link on average when post-copy can take the\n"
"                       rest (default 25; 100: no limit)\n"
"  --keep-source        leave the source VBD running (suspended) after the\n"
"                       hand-off instead of shutting it down\n"
"  --nice N             run at this nice level (default 10: the guests and\n"
"                       their block backends come first; 0 to disable)\n"
"  --peer-timeout S     a silent receiver is gone after S s (30)\n"
"  --stopcopy-timeout S the guest resumes if the receiver has not confirmed\n"
"                       stop-copy S s after suspend (30)\n"
"  --recover-timeout S  a broken post-copy is retried this long (3600)\n"
"  --session-file FILE  after the hand-off, save what `xlmig recover` needs\n"
"                       to resume post-copy if this process dies\n"
"  --json               progress events and the report as JSON on stdout\n"
"  --quiet              no human progress on stderr\n");
}

static int parse_vbd(const char *spec, struct send_disk *d, unsigned idx)
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

static int parse_opt(struct send_args *a, int c)
{
    switch (c) {
    case 'v':
        if (a->ndisks == XLMIG_MAX_DISKS)
            return cli_error("too many --vbd");
        if (parse_vbd(optarg, &a->disks[a->ndisks], a->ndisks))
            return 1;
        a->ndisks++;
        return 0;
    case 'b':
        return xlmig_parse_rate(optarg, &a->o.bandwidth_Bps)
                   ? cli_error("bad --bandwidth '%s'", optarg) : 0;
    case 'd': a->o.max_downtime_ms = atof(optarg); return 0;
    case 'n': a->o.postcopy = false; return 0;
    case 'B': a->o.block_size = (uint32_t)strtoul(optarg, NULL, 0); return 0;
    case 'w': a->o.workers = (unsigned)atoi(optarg); return 0;
    case 'p': a->o.max_passes = (unsigned)atoi(optarg); return 0;
    case 'M': a->memory_s = atof(optarg); return 0;
    case 'k': return cli_parse_share(optarg, &a->o.keepup_share);
    case 'c':
        if (!strcmp(optarg, "auto"))
            a->o.compress = XLMIG_COMPRESS_AUTO;
        else if (!strcmp(optarg, "always"))
            a->o.compress = XLMIG_COMPRESS_ALWAYS;
        else if (!strcmp(optarg, "never"))
            a->o.compress = XLMIG_COMPRESS_NEVER;
        else
            return cli_error("bad --compress '%s'", optarg);
        return 0;
    case 'j': a->json = true; return 0;
    case 'N': a->nice_level = atoi(optarg); return 0;
    case 'K': a->keep_source = true; return 0;
    case 'q': a->quiet = true; return 0;
    case 'P': a->o.peer_timeout_ms = atoi(optarg) * 1000; return 0;
    case 'S': a->o.stopcopy_timeout_ms = atoi(optarg) * 1000; return 0;
    case 'R': a->o.recover_timeout_s = atoi(optarg); return 0;
    case 'F': a->session_file = optarg; return 0;
    default: return 2;
    }
}

/* 0, 1 (error printed), 2 (usage), or -1 for --help. */
static int parse_args(int argc, char **argv, struct send_args *a)
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
        { "keepup-share", required_argument, NULL, 'k' },
        { "json", no_argument, NULL, 'j' },
        { "nice", required_argument, NULL, 'N' },
        { "keep-source", no_argument, NULL, 'K' },
        { "quiet", no_argument, NULL, 'q' },
        { "peer-timeout", required_argument, NULL, 'P' },
        { "stopcopy-timeout", required_argument, NULL, 'S' },
        { "recover-timeout", required_argument, NULL, 'R' },
        { "session-file", required_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;

    memset(a, 0, sizeof(*a));
    xlmig_source_opts_init(&a->o);
    a->nice_level = 10;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return -1;
        if ((rc = parse_opt(a, c)) != 0) {
            if (rc == 2)
                usage(stderr);
            return rc;
        }
    }
    if (optind != argc - 1 || !a->ndisks) {
        usage(stderr);
        return 2;
    }
    a->dest = argv[optind];
    return 0;
}

/* ---- hooks: the simulated guests stand in for libxl's domain ---- */

/*
 * With Xen, libxl's memory pre-copy runs here (a minute under emulation)
 * while the disk engine keeps up with the guest's writes; --memory-seconds
 * reproduces that interval.  Then the guests stop and their state goes.
 */
static int hook_suspend(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;
    void *blobs[XLMIG_MAX_DISKS] = { NULL }, *packed = NULL;
    size_t lens[XLMIG_MAX_DISKS] = { 0 }, plen;
    struct timespec tick = { 0, 50 * 1000 * 1000 };
    int rc = 0;

    for (double t = 0; t < a->memory_s && !xlmig_source_failed(s); t += 0.05)
        nanosleep(&tick, NULL);
    if (xlmig_source_failed(s))
        return -ECANCELED;
    xlmig_source_mark_suspended(s);
    for (unsigned i = 0; i < a->ndisks && !rc; i++) {
        struct send_disk *d = &a->disks[i];

        rc = xlmig_sim_guest_suspend(d->vbd, &blobs[i], &lens[i]);
        if (rc < 0)
            rc = xlmig_source_set_error(s, -rc, "suspending the guest of "
                                        "%s: %s", d->name,
                                        xlmig_vbd_error(d->vbd));
        else
            d->suspended = true;
    }
    if (!rc && sim_pack_states(blobs, lens, a->ndisks, &packed, &plen) < 0)
        rc = xlmig_source_set_error(s, ENOMEM, "out of memory");
    if (!rc)
        rc = xlmig_source_send_state(s, packed, plen);
    for (unsigned i = 0; i < a->ndisks; i++)
        free(blobs[i]);
    free(packed);
    return rc;
}

/* Past this, the source guests are never resumed behind our back. */
static int hook_handoff(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;

    for (unsigned i = 0; i < a->ndisks; i++) {
        struct send_disk *d = &a->disks[i];
        int rc = xlmig_sim_guest_handoff(d->vbd);

        if (rc < 0)
            return xlmig_source_set_error(s, -rc, "committing the hand-off "
                                          "of %s: %s", d->name,
                                          xlmig_vbd_error(d->vbd));
    }
    return xlmig_source_handoff_default(s);
}

static int hook_resume(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;
    int rc = 0;

    (void)s;
    for (unsigned i = 0; i < a->ndisks; i++)
        if (a->disks[i].suspended) {
            if (xlmig_sim_guest_resume(a->disks[i].vbd) == 0)
                a->disks[i].suspended = false;
            else
                rc = -EIO;
        }
    return rc;
}

/* The destination runs the guest: the source copy is destroyed, as xl
 * destroys the source domain; its image stays for post-copy. */
static void hook_after_go(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;

    (void)s;
    for (unsigned i = 0; i < a->ndisks; i++) {
        if (!a->keep_source)
            xlmig_sim_shutdown(a->disks[i].vbd);
        a->disks[i].suspended = false;
    }
}

/* After GO: what `xlmig recover` needs if this process dies. */
static void hook_postcopy_start(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;

    if (a->session_file && cli_save_session(s, a->session_file, a->dest) < 0)
        fprintf(stderr, "xlmig: warning: cannot write %s: %s\n",
                a->session_file, strerror(errno));
}

/* Post-copy paused: the same destination again (its listener waits). */
static int hook_reconnect(void *opaque, struct xlmig_source *s, int *rfd,
                          int *wfd)
{
    struct send_args *a = opaque;

    (void)s;
    return cli_reconnect(&a->ep, &a->child, rfd, wfd);
}

/* ---- the command ---- */

static int open_vbds(struct send_args *a)
{
    struct xlmig_error e;

    for (unsigned i = 0; i < a->ndisks; i++)
        if (xlmig_vbd_sim_open(a->disks[i].socket, &a->disks[i].vbd, &e) < 0)
            return cli_error("%s: %s", a->disks[i].socket, e.msg);
    return 0;
}

/* What happened, in one line, for whoever watches the terminal. */
static int verdict(struct xlmig_source *s, int rc)
{
    if (rc == 0)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "xlmig: migration %s, guest resumed on the source: "
                "%s\n", cli_signal_seen() ? "cancelled" : "failed",
                xlmig_source_error(s));
        return 1;
    }
    if (rc == XLMIG_RESULT_POSTCOPY_FAILED)
        fprintf(stderr, "xlmig: POST-COPY FAILED: %s\nxlmig: the guest runs "
                "on the destination; %llu block(s) it has not received exist "
                "only in the source image: keep it.\n",
                xlmig_source_error(s),
                (unsigned long long)xlmig_source_stale_blocks(s));
    else
        fprintf(stderr, "xlmig: failed during the hand-off: %s\nxlmig: the "
                "destination may be running the guest; check both sides "
                "before resuming either.\n", xlmig_source_error(s));
    return 3;
}

static int run(struct send_args *a, int rfd, int wfd)
{
    struct cli_out out;
    struct xlmig_source_hooks h = {
        .opaque = a, .suspend = hook_suspend, .handoff = hook_handoff,
        .resume = hook_resume, .after_go = hook_after_go,
        .postcopy_start = hook_postcopy_start, .reconnect = hook_reconnect,
    };
    struct xlmig_source_report rep;
    struct xlmig_source *s;
    struct xlmig_error e;
    int rc;

    cli_out_init(&out, a->json, a->quiet);
    if (xlmig_source_new(&a->o, &h, &s, &e) < 0)
        return cli_error("%s", e.msg);
    xlmig_source_set_observer(s, cli_on_event, cli_on_log, &out);
    rc = xlmig_source_set_channel(s, rfd, wfd);
    for (unsigned i = 0; i < a->ndisks && !rc; i++)
        rc = xlmig_source_add_disk(s, a->disks[i].name, a->disks[i].vbd);
    cli_signals_source(s);
    rc = rc ? rc : xlmig_source_run(s);
    rc = verdict(s, rc);
    if (rc == 0 && a->session_file)
        unlink(a->session_file);
    if (a->json) {
        char line[4096];
        xlmig_source_report_json(s, line, sizeof(line));
        printf("%s\n", line);
        fflush(stdout);
    } else {
        xlmig_source_get_report(s, &rep);
        cli_print_source_report(stderr, &rep);
    }
    cli_signals_source(NULL);
    xlmig_source_free(s);
    return rc;
}

int cmd_send(int argc, char **argv)
{
    struct send_args *a = calloc(1, sizeof(*a));
    struct xlmig_endpoint *ep;
    struct xlmig_error e;
    int rfd, wfd, status;
    pid_t child;

    if (!a)
        return cli_error("out of memory");
    status = parse_args(argc, argv, a);
    if (status) {
        if (status < 0)
            usage(stdout);
        free(a);
        return status < 0 ? 0 : status;
    }
    status = 1;
    ep = &a->ep;
    if (xlmig_endpoint_parse(a->dest, ep, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (ep->kind == XLMIG_EP_LISTEN) {
        cli_error("the sender connects; tcp-listen is for receive");
        goto out;
    }
    cli_lower_priority(a->nice_level);
    if (open_vbds(a))
        goto out;
    if (xlmig_endpoint_open(ep, &rfd, &wfd, &child, 0, NULL, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    status = run(a, rfd, wfd);
    if (rfd > 2)
        close(rfd);
    if (wfd > 2 && wfd != rfd)
        close(wfd);
    if (child > 0)
        waitpid(child, NULL, 0);
out:
    for (unsigned i = 0; i < a->ndisks; i++)
        xlmig_vbd_close(a->disks[i].vbd);
    free(a);
    return status;
}
