/*
 * xlmig migrate-recover [options] DOMAIN: resume a paused post-copy of a
 * storage migration whose source engine died (xl spelling: `xl
 * migrate-recover --with-storage DOMAIN`).  The flow is xrec_recover()
 * (libxl-ext/xen/xrec.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xflow.h"

struct mrec_args {
    struct cli_common c;
    struct xrec_opts o;
    bool storage;
    uint16_t port;
};

#define OFF(f) offsetof(struct mrec_args, f)
static const struct cli_opt mrec_opts[] = {
    { .name = "with-storage", .type = CLI_FLAG, .offset = OFF(storage),
      .help = "accepted (the xl spelling)" },
    { .name = "data-host", .type = CLI_STRING, .offset = OFF(o.data_host),
      .metavar = "HOST", .help = "TCP data channel: reach the destination "
      "there (default: the saved one)" },
    { .name = "data-port", .type = CLI_PORT, .offset = OFF(port),
      .metavar = "PORT", .help = "TCP data channel: at this port (default: "
      "the saved one)" },
    { .name = "data-command", .type = CLI_STRING, .offset = OFF(o.ssh),
      .metavar = "COMMAND", .help = "ssh data channel: run this instead of "
      "the saved command" },
};
#undef OFF

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig migrate-recover [--with-storage] [options] DOMAIN\n"
"On the source host, after `xl migrate --with-storage`'s hand-off: if the\n"
"engine serving the domain's post-copy is alive it reconnects by itself;\n"
"if it died, serve the destination's missing blocks from here, from the\n"
"saved session (/var/lib/xlmig/<uuid>.session).\n"
"Options:\n");
    cli_print_options(f, sets, nsets);
}

int cmd_migrate_recover(int argc, char **argv)
{
    struct mrec_args a;
    struct cli_optset sets[] = {
        { mrec_opts, sizeof(mrec_opts) / sizeof(mrec_opts[0]), &a, 0 },
        { cli_timeout_opts, cli_timeout_nopts, &a.c, 0 },
        { cli_help_opts, cli_help_nopts, &a.c, 0 },
    };
    struct xflow_observer obs;
    struct cli_out out;
    int first, status;

    memset(&a, 0, sizeof(a));
    xrec_opts_init(&a.o);
    cli_common_defaults(&a.c);
    first = cli_parse_command("migrate-recover", sets, 3, argc, argv,
                              &a.c.help, &a.c.version, usage, &status);
    if (first < 0)
        return status;
    if (argc - first != 1) {
        fprintf(stderr, "xlmig migrate-recover: give the domain\n(xlmig "
                "migrate-recover --help lists the options)\n");
        return 2;
    }
    a.o.data_port = a.port;
    a.o.so.peer_timeout_ms = (int)a.c.peer_timeout_ms;
    a.o.so.recover_timeout_s = (int)(a.c.recover_timeout_ms / 1000);
    cli_out_init(&out, false, false, "source", -1, -1);
    obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
    status = xrec_recover(argv[first], &a.o, &obs);
    cli_out_finish(&out);
    cli_out_destroy(&out);
    return status;
}
