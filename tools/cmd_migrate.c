/*
 * xlmig migrate --with-storage DOMAIN HOST: option parsing; the flow is
 * xsrc_migrate() (libxl-ext/xen/xsrc.c).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"
#include "xflow.h"

struct mig_args {
    struct cli_common c;
    struct xsrc_opts o;
    bool storage, live, daemonize_off, no_postcopy, start;
    const char *data;
    int data_choice;
    double sample_ms;           /* --estimate's watch */
};

static int opt_ssh(void *base, const char *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ((struct mig_args *)base)->o.ssh = arg;         /* "" is meaningful */
    return 0;
}

static int opt_verbose(void *base, const char *arg, char *err,
                       size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    ((struct mig_args *)base)->o.verbose++;
    return 0;
}

/* The options the destination decides with travel in its command line. */
static int forward(struct mig_args *a, const char *opt, const char *val,
                   char *err, size_t errlen)
{
    struct xlmig_error e;

    if (xsrc_fwd_add(&a->o, opt, val, &e) < 0) {
        snprintf(err, errlen, "%s: %s", opt, e.msg);
        return -1;
    }
    return 0;
}

static int opt_target_dir(void *base, const char *arg, char *err,
                          size_t errlen)
{
    if (!*arg) {
        snprintf(err, errlen, "--target-dir: empty value");
        return -1;
    }
    return forward(base, "--target-dir", arg, err, errlen);
}

static int opt_map(void *base, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');

    if (!eq || eq == arg || eq[1] != '/') {
        snprintf(err, errlen, "--map '%.80s': expected VDEV=/ABSOLUTE/PATH",
                 arg);
        return -1;
    }
    return forward(base, "--map", arg, err, errlen);
}

static int opt_allow_existing(void *base, const char *arg, char *err,
                              size_t errlen)
{
    (void)arg;
    return forward(base, "--allow-existing", NULL, err, errlen);
}

static int opt_data_port(void *base, const char *arg, char *err,
                         size_t errlen)
{
    uint16_t port;

    if (cli_parse_port("--data-port", arg, true, &port, err, errlen) < 0)
        return -1;
    return forward(base, "--data-port", arg, err, errlen);
}

static int opt_start(void *base, const char *arg, char *err, size_t errlen)
{
    (void)arg;
    ((struct mig_args *)base)->start = true;
    return forward(base, "--start", NULL, err, errlen);
}

static int opt_config_dir(void *base, const char *arg, char *err,
                          size_t errlen)
{
    if (*arg != '/') {
        snprintf(err, errlen, "--config-dir '%.80s': an absolute path", arg);
        return -1;
    }
    return forward(base, "--config-dir", arg, err, errlen);
}

/* --auto-converge[=START,STEP,MAX] (xconv_policy.h). */
static int opt_autoconv(void *base, const char *arg, char *err,
                        size_t errlen)
{
    struct mig_args *a = base;
    struct xlmig_error e;

    if (xconv_parse(arg, &a->o.ac, &e) < 0) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    a->o.autoconv = true;
    return 0;
}

static const char *const data_kinds[] = { "ssh", "tcp", NULL };

#define OFF(f) offsetof(struct mig_args, f)
static const struct cli_opt mig_opts[] = {
    { .name = "config", .short_name = 'C', .type = CLI_STRING,
      .offset = OFF(o.config), .metavar = "CONFIG",
      .help = "send this config instead of the running domain's (JSON, "
      "or xl.cfg via `xl -N create`)" },
    { .name = "ssh", .short_name = 's', .type = CLI_CALL, .fn = opt_ssh,
      .metavar = "SSHCOMMAND", .help = "default ssh; -s \"\": HOST is the "
      "whole command" },
    { .name = "no-daemonize", .short_name = 'e', .type = CLI_FLAG,
      .offset = OFF(daemonize_off), .help = "do not daemonize on the "
      "destination (-F too; passed on)" },
    { .name = "foreground", .short_name = 'F', .type = CLI_FLAG,
      .offset = OFF(daemonize_off), .help = "as -e" },
    { .name = "paused", .short_name = 'p', .type = CLI_FLAG,
      .offset = OFF(o.pause), .help = "leave the domain paused on the "
      "destination" },
    { .name = "preserve-domid", .short_name = 'D', .type = CLI_FLAG,
      .offset = OFF(o.preserve_domid), .help = "keep the same domid on the "
      "destination" },
    { .name = "verbose", .short_name = 'v', .type = CLI_CALL,
      .fn = opt_verbose, .help = "more libxl messages (repeatable)" },
    { .name = "debug", .type = CLI_FLAG, .offset = OFF(o.debug),
      .help = "LIBXL_SUSPEND_DEBUG (and -d remotely)" },
    { .name = "live", .type = CLI_FLAG, .offset = OFF(live),
      .help = "accepted and ignored, as by xl" },
    { .name = "with-storage", .type = CLI_FLAG, .offset = OFF(storage),
      .help = "required: move the local disks too" },
    { .name = "storage", .type = CLI_STRING, .offset = OFF(o.storage),
      .metavar = "local|all|VDEV,...", .help = "which disks (default "
      "local)" },
    { .name = "shared", .type = CLI_STRING, .offset = OFF(o.shared),
      .metavar = "VDEV,...", .help = "disks the destination already "
      "reaches" },
    { .name = "target-dir", .type = CLI_CALL, .fn = opt_target_dir,
      .metavar = "DIR", .help = "destination: images go to DIR/<file "
      "name>" },
    { .name = "map", .type = CLI_CALL, .fn = opt_map,
      .metavar = "VDEV=PATH", .help = "destination: this disk goes to "
      "PATH (repeatable)" },
    { .name = "allow-existing", .type = CLI_CALL, .fn = opt_allow_existing,
      .help = "destination: write into existing target files" },
    { .name = "data", .type = CLI_CHOICE, .offset = OFF(data_choice),
      .metavar = "ssh|tcp", .choices = data_kinds,
      .help = "data channel: a second ssh session (default) or TCP" },
    { .name = "data-host", .type = CLI_STRING, .offset = OFF(o.data_host),
      .metavar = "HOST", .help = "TCP: connect here (default: HOST without "
      "user@)" },
    { .name = "data-port", .type = CLI_CALL, .fn = opt_data_port,
      .metavar = "PORT", .help = "TCP: the destination listens there "
      "(default 0: any) [0..65535]" },
    { .name = "no-postcopy", .type = CLI_FLAG, .offset = OFF(no_postcopy),
      .help = "send every block before the guest moves" },
    { .name = "remove-source", .type = CLI_FLAG, .offset = OFF(o.remove_source),
      .help = "delete source image files once post-copy is done" },
    { .name = "auto-converge", .type = CLI_CALL, .fn = opt_autoconv,
      .flags = CLI_OPTARG, .metavar = "START,STEP,MAX",
      .help = "when a memory pass does not shrink the dirty set, lower "
      "the guest's CPU cap: START% of its CPU taken first, STEP% more at "
      "each further step, at most MAX% (default 50,20,90; credit/credit2; "
      "the cap is put back on every path, see recover-cap)" },
    { .name = "no-tracking", .type = CLI_FLAG, .offset = OFF(o.notrack),
      .help = "stock blkback (testing): whole disks again while the guest "
      "is suspended" },
    { .name = "verify", .type = CLI_FLAG, .offset = OFF(o.so.verify),
      .help = "check every extent end to end (SHA-256 as read here against "
      "what the destination reads back from disk); --remove-source is "
      "refused after any mismatch (one data connection)" },
    { .name = "estimate", .type = CLI_FLAG, .offset = OFF(o.estimate),
      .help = "only measure and predict (disks, link, the guest's writes, "
      "memory): nothing changes on either host" },
    { .name = "sample-seconds", .type = CLI_DURATION,
      .offset = OFF(sample_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 1000, .fmax = 600000, .help = "--estimate: watch the guest's "
      "writes for S (default 5)" },
    { .name = "offline", .type = CLI_FLAG, .offset = OFF(o.so.offline),
      .help = "cold migration: move a stopped guest, its disks and its "
      "xl.cfg (-C, default /etc/xen/DOMAIN.cfg); run again after a cut to "
      "go on from what the destination has (one data connection)" },
    { .name = "shutdown", .type = CLI_FLAG, .offset = OFF(o.shutdown),
      .help = "--offline: shut a running guest down first (else it is "
      "refused)" },
    { .name = "start", .type = CLI_CALL, .fn = opt_start,
      .help = "--offline: create the guest on the destination" },
    { .name = "config-dir", .type = CLI_CALL, .fn = opt_config_dir,
      .metavar = "DIR", .help = "--offline: destination: where its xl.cfg "
      "goes (default /etc/xen; never over an existing file)" },
};
#undef OFF

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig migrate [options] --with-storage DOMAIN HOST\n"
"Migrates DOMAIN and its local disks to HOST, as xl migrate does\n"
"(ssh HOST xl migrate-receive --with-storage ...).  --estimate only\n"
"measures and predicts; --offline moves a stopped guest.\n"
"Options (rates decimal: 125M = 125 MB/s, 1000Mbit; sizes binary: 4k):\n");
    cli_print_options(f, sets, nsets);
}

/* The destination's side of these goes with its command line. */
static int forward_common(struct mig_args *a, struct cli_optset *sets)
{
    const struct { struct cli_optset *set; const char *name;
                   double v; bool ms; } fw[] = {
        { &sets[1], "nice", a->c.nice, false },
        { &sets[2], "peer-timeout", a->c.peer_timeout_ms, true },
        { &sets[2], "recover-timeout", a->c.recover_timeout_ms, true },
    };

    for (size_t i = 0; i < sizeof(fw) / sizeof(fw[0]); i++) {
        char opt[32], v[32], err[CLI_ERRLEN];

        if (!cli_seen(fw[i].set, fw[i].name))
            continue;
        snprintf(opt, sizeof(opt), "--%s", fw[i].name);
        snprintf(v, sizeof(v), fw[i].ms ? "%.0fms" : "%.0f", fw[i].v);
        if (forward(a, opt, v, err, sizeof(err)) < 0) {
            fprintf(stderr, "xlmig migrate: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* The common options into the flow's: -1 (said) when they do not fit. */
static int apply_common(struct mig_args *a)
{
    struct xlmig_error e;

    a->o.nice = a->c.nice;
    a->o.daemonize_off = a->daemonize_off;
    a->o.tcp = a->data_choice == 1;
    cli_common_to_source(&a->c, &a->o.so);
    if (a->o.so.connections > 1 && !a->o.tcp) {
        fprintf(stderr, "xlmig migrate: --connections %u needs --data=tcp "
                "(the ssh data channel is one connection)\n",
                a->o.so.connections);
        return -1;
    }
    /* No gate without tracking either. */
    a->o.so.postcopy = !a->no_postcopy && !a->o.notrack;
    if (xsrc_check(&a->o, &e) < 0) {
        fprintf(stderr, "xlmig migrate: %s\n", e.msg);
        return -1;
    }
    return 0;
}

/* Issue 12's modes: what goes with them.  -1 (said) when it does not. */
static int check_modes(struct mig_args *a, struct cli_optset *sets)
{
    const char *bad = NULL;

    a->o.json = a->c.json;
    if (a->sample_ms > 0)
        a->o.sample_s = a->sample_ms / 1000.0;
    if ((a->o.shutdown || a->o.remove_source) && a->o.estimate)
        bad = "--estimate changes nothing: no --shutdown or --remove-source";
    else if (a->o.shutdown && !a->o.so.offline)
        bad = "--shutdown is for --offline";
    else if (a->start && !a->o.so.offline)
        bad = "--start is for --offline";
    else if (cli_seen(&sets[0], "config-dir") && !a->o.so.offline)
        bad = "--config-dir is for --offline";
    else if (a->o.autoconv && a->o.so.offline)
        bad = "--auto-converge is for a running guest (--offline moves a "
              "stopped one)";
    if (bad) {
        fprintf(stderr, "xlmig migrate: %s\n", bad);
        return -1;
    }
    return 0;
}

static int run(struct mig_args *a, const char *domain, const char *host)
{
    struct xflow_observer obs;
    struct cli_out out;
    int status;

    cli_out_init(&out, a->c.json, a->c.quiet, "source",
                 a->o.so.max_downtime_ms, (int)a->o.so.max_passes);
    /* The disk engine (a child) reports too, and its stdout is not ours:
     * the JSON lines go to a copy of it, which the engine keeps until it
     * is done (post-copy included). */
    if (a->c.json && !(out.jf = fdopen(dup(1), "w"))) {
        fprintf(stderr, "xlmig migrate: --json: cannot duplicate stdout\n");
        cli_out_destroy(&out);
        return 1;
    }
    obs = (struct xflow_observer){ cli_on_event, cli_on_xl_log, &out };
    if (a->o.estimate)
        status = xsrc_estimate(&a->o, domain, host, &obs);
    else if (a->o.so.offline)
        status = xsrc_offline(&a->o, domain, host, &obs);
    else
        status = xsrc_migrate(&a->o, domain, host, &obs);
    if (out.jf)
        fclose(out.jf);
    cli_out_finish(&out);
    cli_out_destroy(&out);
    return status;
}

int cmd_migrate_sender(int argc, char **argv)
{
    struct mig_args *a = calloc(1, sizeof(*a));
    struct cli_optset sets[3];
    int first, status;

    if (!a)
        return cli_error("out of memory");
    xsrc_opts_init(&a->o);
    cli_common_defaults(&a->c);
    sets[0] = (struct cli_optset){ mig_opts, sizeof(mig_opts) /
                                   sizeof(mig_opts[0]), a, 0 };
    sets[1] = (struct cli_optset){ cli_common_opts, cli_common_nopts, &a->c,
                                   0 };
    sets[2] = (struct cli_optset){ cli_timeout_opts, cli_timeout_nopts,
                                   &a->c, 0 };
    first = cli_parse_command("migrate", sets, 3, argc, argv, &a->c.help,
                              &a->c.version, usage, &status);
    if (first < 0)
        goto out;
    status = 2;
    if (!a->storage) {
        fprintf(stderr, "xlmig migrate: needs --with-storage (without it, "
                "use xl migrate)\n");
        goto out;
    }
    if (argc - first != 2) {
        fprintf(stderr, "xlmig migrate: give DOMAIN and HOST\n(xlmig "
                "migrate --help lists the options)\n");
        goto out;
    }
    if (forward_common(a, sets) < 0 || apply_common(a) < 0)
        goto out;
    if (forward_common(a, sets) < 0 || apply_common(a) < 0 ||
        check_modes(a, sets) < 0)
        goto out;
    status = run(a, argv[first], argv[first + 1]);
out:
    free(a);
    return status;
}
