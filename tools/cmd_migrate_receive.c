/*
 * xlmig migrate-receive --with-storage: option parsing; the flow is
 * xdst_receive() (libxl-ext/xen/xdst.c), on stdin/stdout as xl's.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "xflow.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig migrate-receive [-e] [-F] [-d] [-p] --with-storage [options]\n"
"       (run by xlmig migrate on the destination, on stdin/stdout)\n"
"  --target-dir=DIR     put images in DIR (file name of the source path)\n"
"  --map=VDEV=PATH      put disk VDEV at PATH (repeatable)\n"
"  --allow-existing     write into existing target files\n"
"  --data-port=PORT     TCP data channel: listen on PORT (default any)\n"
"  --nice=N             the engine runs at nice N (default 10)\n"
"  --peer-timeout=S     a silent source is gone after S s (30)\n"
"  --recover-timeout=S  a broken post-copy waits this long for the source\n"
"                       (3600); the guest runs meanwhile\n"
"  --data-channel=ID    (internal) hand this ssh session to migrate-receive\n"
"  --offline            the session is a cold migration (xlmig migrate\n"
"                       --offline): disks and the guest's xl.cfg\n"
"  --estimate           the session is an estimate: nothing is created\n"
"  --start              --offline: create the guest once it is here\n"
"  --config-dir=DIR     --offline: where its xl.cfg goes (/etc/xen)\n"
"Default target: the source's path, if clean; an image's directory must\n"
"exist, a block device must exist and be big enough.\n");
}

static const struct option lo[] = {
    { "with-storage", no_argument, NULL, 0x100 },
    { "target-dir", required_argument, NULL, 0x101 },
    { "map", required_argument, NULL, 0x102 },
    { "allow-existing", no_argument, NULL, 0x103 },
    { "data-port", required_argument, NULL, 0x104 },
    { "data-channel", required_argument, NULL, 0x105 },
    { "nice", required_argument, NULL, 0x106 },
    { "peer-timeout", required_argument, NULL, 0x107 },
    { "recover-timeout", required_argument, NULL, 0x108 },
    { "offline", no_argument, NULL, 0x109 },
    { "estimate", no_argument, NULL, 0x10a },
    { "start", no_argument, NULL, 0x10b },
    { "config-dir", required_argument, NULL, 0x10c },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

static int parse_opt(struct xdst_opts *o, int c, bool *storage,
                     const char **session)
{
    switch (c) {
    case 'F': case 'e': return 0;       /* xlmig never daemonizes */
    case 'd': o->debug = true; return 0;
    case 'p': o->pause = true; return 0;
    case 'v': o->verbose++; return 0;
    case 0x100: *storage = true; return 0;
    case 0x101: o->target_dir = optarg; return 0;
    case 0x102:
        if (o->nmaps == XLMIG_MAX_DISKS)
            return cli_error("too many --map");
        o->maps[o->nmaps++] = optarg;
        return 0;
    case 0x103: o->allow_existing = true; return 0;
    case 0x104: o->data_port = optarg; return 0;
    case 0x105: *session = optarg; return 0;
    case 0x106: o->nice = atoi(optarg); return 0;
    case 0x107: o->peer_timeout_ms = atoi(optarg) * 1000; return 0;
    case 0x108: o->recover_timeout_s = atoi(optarg); return 0;
    case 0x109: o->offline = true; return 0;
    case 0x10a: o->estimate = true; return 0;
    case 0x10b: o->start = true; return 0;
    case 0x10c: o->config_dir = optarg; return 0;
    default: usage(stderr); return 2;
    }
}

int cmd_migrate_receive(int argc, char **argv)
{
    struct xdst_opts o;
    struct xflow_observer obs;
    struct cli_out out;
    struct xlmig_error e;
    const char *session = NULL;
    bool storage = false;
    int c, rc = 0;

    xdst_opts_init(&o);
    while (!rc && (c = getopt_long(argc, argv, "Fedpvh", lo, NULL)) != -1)
        rc = c == 'h' ? (usage(stdout), -1)
                      : parse_opt(&o, c, &storage, &session);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (session) {
        if (xdst_data_helper(session, NULL, &e) < 0)
            return cli_error("%s", e.msg);
        return 0;
    }
    if (!storage || argc != optind) {
        usage(stderr);
        return 2;
    }
    if (xdst_check(&o, &e) < 0)
        return cli_error("%s", e.msg);
    cli_out_init(&out, false, false);
    obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
    if (o.estimate)
        return xdst_estimate(&o, &obs);
    if (o.offline)
        return xdst_offline(&o, &obs);
    return xdst_receive(&o, &obs);
}
