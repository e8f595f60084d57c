/*
 * xlmig migrate-receive --with-storage: option parsing; the flow is
 * xdst_receive() (libxl-ext/xen/xdst.c), on stdin/stdout as xl's, or
 * xdst_offline() (xcold.c) / xdst_estimate() (xest.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xflow.h"

struct mr_args {
    struct cli_common c;
    struct xdst_opts o;
    bool storage, ignored;
    const char *session;
};

static int opt_map(void *base, const char *arg, char *err, size_t errlen)
{
    struct mr_args *a = base;

    if (a->o.nmaps == XLMIG_MAX_DISKS) {
        snprintf(err, errlen, "--map: at most %d", XLMIG_MAX_DISKS);
        return -1;
    }
    if (!strchr(arg, '=') || arg[0] == '=') {
        snprintf(err, errlen, "--map '%.80s': expected VDEV=PATH", arg);
        return -1;
    }
    a->o.maps[a->o.nmaps++] = arg;
    return 0;
}

static int opt_port(void *base, const char *arg, char *err, size_t errlen)
{
    uint16_t port;

    if (cli_parse_port("--data-port", arg, true, &port, err, errlen) < 0)
        return -1;
    ((struct mr_args *)base)->o.data_port = arg;
    return 0;
}

static int opt_verbose(void *base, const char *arg, char *err,
                       size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    ((struct mr_args *)base)->o.verbose++;
    return 0;
}

#define OFF(f) offsetof(struct mr_args, f)
static const struct cli_opt mr_opts[] = {
    { .name = "no-daemonize", .short_name = 'e', .type = CLI_FLAG,
      .offset = OFF(ignored), .help = "accepted (xlmig never daemonizes)" },
    { .name = "foreground", .short_name = 'F', .type = CLI_FLAG,
      .offset = OFF(ignored), .help = "as -e" },
    { .name = "debug", .short_name = 'd', .type = CLI_FLAG,
      .offset = OFF(o.debug), .help = "debug, as xl" },
    { .name = "paused", .short_name = 'p', .type = CLI_FLAG,
      .offset = OFF(o.pause), .help = "leave the domain paused" },
    { .name = "verbose", .short_name = 'v', .type = CLI_CALL,
      .fn = opt_verbose, .help = "more libxl messages" },
    { .name = "with-storage", .type = CLI_FLAG, .offset = OFF(storage),
      .help = "required" },
    { .name = "target-dir", .type = CLI_STRING, .offset = OFF(o.target_dir),
      .metavar = "DIR", .help = "put images in DIR (file name of the source "
      "path)" },
    { .name = "map", .type = CLI_CALL, .fn = opt_map, .metavar = "VDEV=PATH",
      .help = "put disk VDEV at PATH (repeatable)" },
    { .name = "allow-existing", .type = CLI_FLAG,
      .offset = OFF(o.allow_existing),
      .help = "write into existing target files" },
    { .name = "data-port", .type = CLI_CALL, .fn = opt_port,
      .metavar = "PORT", .help = "TCP data channel: listen on PORT "
      "(default 0: any) [0..65535]" },
    { .name = "data-channel", .type = CLI_STRING, .offset = OFF(session),
      .metavar = "ID", .help = "(internal) hand this ssh session to "
      "migrate-receive" },
    { .name = "nice", .type = CLI_NICE, .offset = OFF(c.nice),
      .metavar = "N", .help = "the engine runs at nice N (default 10)" },
    { .name = "quiet", .short_name = 'q', .type = CLI_FLAG,
      .offset = OFF(c.quiet), .help = "no progress on stderr" },
    { .name = "offline", .type = CLI_FLAG, .offset = OFF(o.offline),
      .help = "the session is a cold migration (xlmig migrate --offline): "
      "disks and the guest's xl.cfg" },
    { .name = "estimate", .type = CLI_FLAG, .offset = OFF(o.estimate),
      .help = "the session is an estimate: nothing is created" },
    { .name = "start", .type = CLI_FLAG, .offset = OFF(o.start),
      .help = "--offline: create the guest once it is here" },
    { .name = "config-dir", .type = CLI_STRING, .offset = OFF(o.config_dir),
      .metavar = "DIR", .help = "--offline: where its xl.cfg goes "
      "(default /etc/xen)" },
};
#undef OFF

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig migrate-receive [-e] [-F] [-d] [-p] --with-storage [options]\n"
"       (run by xlmig migrate on the destination, on stdin/stdout)\n"
"Default target: the source's path, if clean; an image's directory must\n"
"exist, a block device must exist and be big enough.\n"
"Options:\n");
    cli_print_options(f, sets, nsets);
}

int cmd_migrate_receive(int argc, char **argv)
{
    struct mr_args a;
    struct cli_optset sets[] = {
        { mr_opts, sizeof(mr_opts) / sizeof(mr_opts[0]), &a, 0 },
        /* No --json: stdout is xl's channel. */
        { cli_help_opts, cli_help_nopts, &a.c, 0 },
        { cli_timeout_opts, cli_timeout_nopts, &a.c, 0 },
    };
    struct xflow_observer obs;
    struct cli_out out;
    struct xlmig_error e;
    int first, status;

    memset(&a, 0, sizeof(a));
    xdst_opts_init(&a.o);
    cli_common_defaults(&a.c);
    first = cli_parse_command("migrate-receive", sets, 3, argc, argv,
                              &a.c.help, &a.c.version, usage, &status);
    if (first < 0)
        return status;
    if (a.session) {
        if (xdst_data_helper(a.session, NULL, &e) < 0)
            return cli_error("%s", e.msg);
        return 0;
    }
    if (!a.storage || argc != first) {
        fprintf(stderr, "xlmig migrate-receive: %s\n",
                !a.storage ? "needs --with-storage"
                           : "takes no operand");
        return 2;
    }
    a.o.nice = a.c.nice;
    a.o.peer_timeout_ms = (int)a.c.peer_timeout_ms;
    a.o.recover_timeout_s = (int)(a.c.recover_timeout_ms / 1000);
    if (xdst_check(&a.o, &e) < 0)
        return cli_error("%s", e.msg);
    cli_out_init(&out, false, a.c.quiet, "destination", -1, -1);
    obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
    if (a.o.estimate)
        status = xdst_estimate(&a.o, &obs);
    else if (a.o.offline)
        status = xdst_offline(&a.o, &obs);
    else
        status = xdst_receive(&a.o, &obs);
    cli_out_finish(&out);
    cli_out_destroy(&out);
    return status;
}
