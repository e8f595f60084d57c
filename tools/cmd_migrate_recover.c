/*
 * xlmig migrate-recover [options] DOMAIN: resume a paused post-copy of a
 * storage migration whose source engine died (xl spelling: `xl
 * migrate-recover --with-storage DOMAIN`).  The flow is xrec_recover()
 * (libxl-ext/xen/xrec.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "xflow.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig migrate-recover [--with-storage] [options] <domain>\n"
"  On the source host, after `xl migrate --with-storage`'s hand-off: if the\n"
"  engine serving the domain's post-copy is alive it reconnects by itself;\n"
"  if it died, serve the destination's missing blocks from here, from the\n"
"  saved session (/var/lib/xlmig/<uuid>.session).\n"
"  --data-host=HOST     TCP data channel: reach the destination there\n"
"  --data-port=PORT     TCP data channel: at this port\n"
"  --data-command=CMD   ssh data channel: this command instead\n"
"  --peer-timeout=S     a silent destination is gone after S s (30)\n"
"  --recover-timeout=S  keep trying this long (3600)\n");
}

int cmd_migrate_recover(int argc, char **argv)
{
    static const struct option lo[] = {
        { "with-storage", no_argument, NULL, 'w' },
        { "data-host", required_argument, NULL, 'H' },
        { "data-port", required_argument, NULL, 'P' },
        { "data-command", required_argument, NULL, 'C' },
        { "peer-timeout", required_argument, NULL, 'E' },
        { "recover-timeout", required_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct xrec_opts o;
    struct xflow_observer obs;
    struct cli_out out;
    int c;

    xrec_opts_init(&o);
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'w': break;
        case 'H': o.data_host = optarg; break;
        case 'P': o.data_port = atoi(optarg); break;
        case 'C': o.ssh = optarg; break;
        case 'E': o.so.peer_timeout_ms = atoi(optarg) * 1000; break;
        case 'R': o.so.recover_timeout_s = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 1) {
        usage(stderr);
        return 2;
    }
    cli_out_init(&out, false, false);
    obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
    return xrec_recover(argv[optind], &o, &obs);
}
