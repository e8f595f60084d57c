/*
 * xlmig migrate --with-storage DOMAIN HOST: option parsing; the flow is
 * xsrc_migrate() (libxl-ext/xen/xsrc.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"
#include "xflow.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig migrate [options] --with-storage <domain> <host>\n"
"xl's options:\n"
"  -C CONFIG          send this config instead of the running domain's\n"
"                     (JSON, or xl.cfg turned to JSON by `xl -N create`)\n"
"  -s SSHCOMMAND      default ssh; -s \"\": <host> is the whole command\n"
"  -e, -F             do not daemonize on the destination (passed on)\n"
"  -p                 leave the domain paused on the destination\n"
"  -D                 keep the same domid on the destination\n"
"  --debug            LIBXL_SUSPEND_DEBUG (and -d remotely)\n"
"storage:\n"
"  --storage=local|all|VDEV[,VDEV...]   which disks (default local)\n"
"  --shared=VDEV[,VDEV...]   disks the destination already reaches\n"
"  --target-dir=DIR   destination: images go to DIR/<file name>\n"
"  --map=VDEV=PATH    destination: this disk goes to PATH (repeatable)\n"
"  --allow-existing   destination: write into existing target files\n"
"  --data=ssh|tcp     data channel: second ssh session (default) or TCP\n"
"  --data-host=HOST   TCP: connect here (default: <host> without user@)\n"
"  --data-port=PORT   TCP: destination listens there (default any)\n"
"  --no-postcopy      send every block before the guest moves\n"
"  --bandwidth=RATE   limit the data channel (100M, 1000Mbit, ...)\n"
"  --max-downtime=MS  disk downtime budget (default 50)\n"
"  --max-passes=N     dirty passes at most (default 30)\n"
"  --keepup-share=PCT while the memory moves, the disks' keep-up uses at\n"
"                     most PCT%% of the link on average when post-copy can\n"
"                     take the rest (default 25; 100: no limit)\n"
"  --peer-timeout=S   a silent peer (no data, no heartbeat) is gone after\n"
"                     S s (30; --idle-timeout is the same)\n"
"  --stopcopy-timeout=S  the guest resumes here if the destination has not\n"
"                     confirmed stop-copy S s after suspend (30)\n"
"  --recover-timeout=S  a broken post-copy is retried this long (3600)\n"
"  --nice=N           both engines run at nice N (default 10: the guests'\n"
"                     I/O in dom0 goes first)\n"
"  --remove-source    delete source image files once post-copy is done\n"
"memory:\n"
"  --auto-converge[=START,STEP,MAX]  when a memory pass does not shrink\n"
"                     the dirty set (over half of the last pass dirtied\n"
"                     again), lower the guest's CPU cap: START%% of its CPU\n"
"                     taken away first, STEP%% more at each further step,\n"
"                     never more than MAX%% (default 50,20,90; 1..99, START\n"
"                     <= MAX).  credit/credit2 only.  The original cap is\n"
"                     back when the memory is sent, on every path (see\n"
"                     xlmig recover-cap).  Off by default\n"
"  --json             progress events as JSON lines on stdout (disks:\n"
"                     the engine's; memory: \"memory\", \"autoconverge\")\n"
"  --no-tracking      without the patched blkback (testing): re-send\n"
"                     whole disks while the guest is suspended\n"
"  -v, --quiet        more libxl messages / no progress line\n");
}

static const struct option lo[] = {
    { "debug", no_argument, NULL, 0x100 },
    { "live", no_argument, NULL, 0x101 },
    { "with-storage", no_argument, NULL, 0x102 },
    { "storage", required_argument, NULL, 0x103 },
    { "shared", required_argument, NULL, 0x104 },
    { "target-dir", required_argument, NULL, 0x105 },
    { "map", required_argument, NULL, 0x106 },
    { "allow-existing", no_argument, NULL, 0x107 },
    { "data", required_argument, NULL, 0x108 },
    { "data-host", required_argument, NULL, 0x109 },
    { "data-port", required_argument, NULL, 0x10a },
    { "no-postcopy", no_argument, NULL, 0x10b },
    { "bandwidth", required_argument, NULL, 0x10c },
    { "max-downtime", required_argument, NULL, 0x10d },
    { "max-passes", required_argument, NULL, 0x10e },
    { "idle-timeout", required_argument, NULL, 0x10f },
    { "remove-source", no_argument, NULL, 0x110 },
    { "no-tracking", no_argument, NULL, 0x111 },
    { "quiet", no_argument, NULL, 0x112 },
    { "nice", required_argument, NULL, 0x113 },
    { "peer-timeout", required_argument, NULL, 0x10f },
    { "stopcopy-timeout", required_argument, NULL, 0x114 },
    { "recover-timeout", required_argument, NULL, 0x115 },
    { "auto-converge", optional_argument, NULL, 0x116 },
    { "json", no_argument, NULL, 0x117 },
    { "keepup-share", required_argument, NULL, 0x118 },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

/* The options the destination decides with travel in its command line. */
static int forward(struct xsrc_opts *o, int c, struct xlmig_error *e)
{
    switch (c) {
    case 0x105: return xsrc_fwd_add(o, "--target-dir", optarg, e);
    case 0x106: return xsrc_fwd_add(o, "--map", optarg, e);
    case 0x107: return xsrc_fwd_add(o, "--allow-existing", NULL, e);
    case 0x10a: return xsrc_fwd_add(o, "--data-port", optarg, e);
    default:
        o->nice = atoi(optarg);
        return xsrc_fwd_add(o, "--nice", optarg, e);
    }
}

static int parse_opt(struct xsrc_opts *o, int c, bool *quiet, bool *storage,
                     bool *json)
{
    struct xlmig_error e;
    char msg[200];

    switch (c) {
    case 'C': o->config = optarg; return 0;
    case 's': o->ssh = optarg; return 0;
    case 'F': case 'e': o->daemonize_off = true; return 0;
    case 'p': o->pause = true; return 0;
    case 'D': o->preserve_domid = true; return 0;
    case 'v': o->verbose++; return 0;
    case 0x100: o->debug = true; return 0;
    case 0x101: return 0;       /* ignored, as by xl */
    case 0x102: *storage = true; return 0;
    case 0x103: o->storage = optarg; return 0;
    case 0x104: o->shared = optarg; return 0;
    case 0x105: case 0x106: case 0x107: case 0x10a: case 0x113:
        return forward(o, c, &e) < 0 ? cli_error("%s", e.msg) : 0;
    case 0x108:
        if (strcmp(optarg, "ssh") && strcmp(optarg, "tcp"))
            return cli_error("--data=ssh or --data=tcp");
        o->tcp = !strcmp(optarg, "tcp");
        return 0;
    case 0x109: o->data_host = optarg; return 0;
    case 0x10b: o->so.postcopy = false; return 0;
    case 0x10c:
        return xlmig_parse_rate(optarg, &o->so.bandwidth_Bps)
                   ? cli_error("bad --bandwidth '%s'", optarg) : 0;
    case 0x10d: o->so.max_downtime_ms = atof(optarg); return 0;
    case 0x10e: o->so.max_passes = (unsigned)atoi(optarg); return 0;
    case 0x10f: o->so.peer_timeout_ms = atoi(optarg) * 1000; return 0;
    case 0x114: o->so.stopcopy_timeout_ms = atoi(optarg) * 1000; return 0;
    case 0x115: o->so.recover_timeout_s = atoi(optarg); return 0;
    case 0x110: o->remove_source = true; return 0;
    case 0x111: o->notrack = true; return 0;
    case 0x112: *quiet = true; return 0;
    case 0x116:
        if (xconv_parse(optarg, &o->ac, msg, sizeof(msg)) < 0)
            return cli_error("%s", msg);
        o->autoconv = true;
        return 0;
    case 0x117: *json = true; return 0;
    case 0x118: return cli_parse_share(optarg, &o->so.keepup_share);
    default: usage(stderr); return 2;
    }
}

int cmd_migrate_sender(int argc, char **argv)
{
    struct xsrc_opts *o = calloc(1, sizeof(*o));
    struct xflow_observer obs;
    struct cli_out out;
    struct xlmig_error e;
    bool quiet = false, storage = false, json = false;
    int c, rc = 0;

    if (!o)
        return cli_error("out of memory");
    xsrc_opts_init(o);
    while (!rc && (c = getopt_long(argc, argv, "FC:s:epDvh", lo, NULL)) != -1)
        rc = c == 'h' ? (usage(stdout), -1) : parse_opt(o, c, &quiet,
                                                        &storage, &json);
    if (!rc && !storage)
        rc = cli_error("migrate needs --with-storage (without it, use xl "
                       "migrate)");
    if (!rc && argc - optind != 2) {
        usage(stderr);
        rc = 2;
    }
    if (!rc && o->notrack)
        o->so.postcopy = false;         /* no gate without tracking either */
    if (!rc && o->so.peer_timeout_ms < 1000)
        rc = cli_error("--peer-timeout: at least 1 s");
    if (!rc && xsrc_check(o, &e) < 0)
        rc = cli_error("%s", e.msg);
    if (!rc) {
        cli_out_init(&out, json, quiet);
        /* The disk engine (a child) reports too, and its stdout is not
         * ours: the JSON lines go to a copy of it, which the engine keeps
         * until it is done (post-copy included). */
        if (json && !(out.jf = fdopen(dup(1), "w")))
            rc = cli_error("--json: cannot duplicate stdout");
        obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
        rc = rc ? rc : xsrc_migrate(o, argv[optind], argv[optind + 1],
                                    &obs);
        if (out.jf)
            fclose(out.jf);
    }
    free(o);
    return rc < 0 ? 0 : rc;
}
