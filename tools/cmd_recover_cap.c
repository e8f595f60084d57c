/*
 * xlmig recover-cap DOMAIN | --all: put back the CPU cap an auto-converging
 * migration lowered and could not restore because it died
 * (xcap_recover(), libxl-ext/xen/xcaprec.c).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "xflow.h"

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig recover-cap DOMAIN | --all\n"
"  Restores the CPU cap that `xlmig migrate --auto-converge` lowered and\n"
"  could not put back (the migrating process died), from its record in\n"
"  xenstore (/local/domain/0/xlmig/<uuid>/cap), and removes the record.\n"
"  DOMAIN: a name, domid or UUID.  A record whose migration still runs is\n"
"  left alone.  The next `xlmig migrate` of the domain does this first.\n");
}

int cmd_recover_cap(int argc, char **argv)
{
    static const struct option lo[] = {
        { "all", no_argument, NULL, 'a' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct xflow_observer obs;
    struct cli_out out;
    bool all = false;
    int c;

    while ((c = getopt_long(argc, argv, "ah", lo, NULL)) != -1) {
        if (c == 'a') {
            all = true;
        } else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (all == (argc - optind == 1) || argc - optind > 1) {
        usage(stderr);
        return 2;
    }
    cli_out_init(&out, false, false);
    obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
    return xcap_recover(all ? NULL : argv[optind], &obs);
}
