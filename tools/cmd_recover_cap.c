/*
 * xlmig recover-cap DOMAIN | --all: put back the CPU cap an auto-converging
 * migration lowered and could not restore because it died
 * (xcap_recover(), libxl-ext/xen/xcaprec.c).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "xflow.h"

struct cap_args {
    struct cli_common c;
    bool all;
};

static const struct cli_opt cap_opts[] = {
    { .name = "all", .short_name = 'a', .type = CLI_FLAG,
      .offset = offsetof(struct cap_args, all),
      .help = "every record on this host" },
};

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig recover-cap DOMAIN | --all\n"
"Restores the CPU cap that `xlmig migrate --auto-converge` lowered and\n"
"could not put back (the migrating process died), from its record in\n"
"xenstore (/local/domain/0/xlmig/<uuid>/cap), and removes the record.\n"
"DOMAIN: a name, domid or UUID.  A record whose migration still runs is\n"
"left alone.  The next `xlmig migrate` of the domain does this first.\n"
"Options:\n");
    cli_print_options(f, sets, nsets);
}

int cmd_recover_cap(int argc, char **argv)
{
    struct cap_args a;
    struct cli_optset sets[] = {
        { cap_opts, sizeof(cap_opts) / sizeof(cap_opts[0]), &a, 0 },
        { cli_help_opts, cli_help_nopts, &a.c, 0 },
    };
    struct xflow_observer obs;
    struct cli_out out;
    int first, status;

    memset(&a, 0, sizeof(a));
    first = cli_parse_command("recover-cap", sets, 2, argc, argv, &a.c.help,
                              &a.c.version, usage, &status);
    if (first < 0)
        return status;
    if (a.all == (argc - first == 1) || argc - first > 1) {
        fprintf(stderr, "xlmig recover-cap: give one DOMAIN or --all\n"
                "(xlmig recover-cap --help)\n");
        return 2;
    }
    cli_out_init(&out, false, false, "source", -1, -1);
    obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
    status = xcap_recover(a.all ? NULL : argv[first], &obs);
    cli_out_finish(&out);
    cli_out_destroy(&out);
    return status;
}
