/*
 * xlmig sim report|verify|stop SOCKET...: ask simulated guests how they
 * fared.  `verify` pauses the guest's workload, checks every block against
 * the model and lets the guest run on (with --stop it stays stopped, and
 * says so); the exit status says whether every guest passed.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sim/sim_client.h"

struct sim_args {
    struct cli_common c;
    bool stop;
};

static const struct cli_opt sim_opts[] = {
    { .name = "stop", .type = CLI_FLAG, .offset = offsetof(struct sim_args,
                                                           stop),
      .help = "verify: leave the guest stopped (it cannot be migrated "
      "then)" },
};

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig sim report|verify|stop [options] SOCKET...\n"
"  report   each guest's counters (reads checked, writes, latencies)\n"
"  verify   pause the guest, check every block of its image against its\n"
"           model, then let it run on (--stop: leave it stopped)\n"
"  stop     shut the simulated VBD down\n"
"Options:\n");
    cli_print_options(f, sets, nsets);
}

/* One guest; 0, or 1 when its check failed or it could not be asked. */
static int one(const char *what, const char *sock, bool stop)
{
    struct xlmig_sim_report rep;
    char text[4096];
    struct xlmig_error e;
    struct xlmig_vbd *v;
    int rc, status = 0;

    if (xlmig_vbd_sim_open(sock, &v, &e) < 0)
        return cli_error("%s: %s", sock, e.msg);
    memset(&rep, 0, sizeof(rep));
    if (!strcmp(what, "stop"))
        rc = xlmig_sim_shutdown(v);
    else if (!strcmp(what, "report"))
        rc = xlmig_sim_guest_report(v, &rep);
    else
        rc = xlmig_sim_guest_stop_and_verify(v, &rep);
    if (rc) {
        status = cli_error("%s: %s", sock, xlmig_vbd_error(v));
        xlmig_vbd_close(v);
        return status;
    }
    if (strcmp(what, "stop")) {
        xlmig_sim_report_format(&rep, text, sizeof(text));
        printf("%s:\n%s\n", sock, text);
        if (!xlmig_sim_report_ok(&rep))
            status = 1;
    }
    if (!strcmp(what, "verify")) {
        if (stop)
            printf("%s: the guest is left stopped (--stop): it no longer "
                   "writes, and cannot be migrated\n", sock);
        else if ((rc = xlmig_sim_guest_resume(v)) < 0)
            status = cli_error("%s: the guest was verified but does not "
                               "run on: %s", sock, xlmig_vbd_error(v));
        else
            printf("%s: the guest runs on\n", sock);
    }
    fflush(stdout);
    xlmig_vbd_close(v);
    return status;
}

int cmd_sim(int argc, char **argv)
{
    struct sim_args a;
    struct cli_optset sets[] = {
        { sim_opts, sizeof(sim_opts) / sizeof(sim_opts[0]), &a, 0 },
        { cli_help_opts, cli_help_nopts, &a.c, 0 },
    };
    const char *what;
    int first, status;

    memset(&a, 0, sizeof(a));
    first = cli_parse_command("sim", sets, 2, argc, argv, &a.c.help,
                              &a.c.version, usage, &status);
    if (first < 0)
        return status;
    what = first < argc ? argv[first] : "";
    if (strcmp(what, "report") && strcmp(what, "verify") &&
        strcmp(what, "stop")) {
        fprintf(stderr, "xlmig sim: %s: give report, verify or stop\n"
                "(xlmig sim --help)\n", *what ? what : "no action");
        return 2;
    }
    if (first + 1 >= argc) {
        fprintf(stderr, "xlmig sim %s: give the socket of at least one "
                "simulated VBD\n", what);
        return 2;
    }
    if (a.stop && strcmp(what, "verify")) {
        fprintf(stderr, "xlmig sim %s: --stop goes with verify\n", what);
        return 2;
    }
    status = 0;
    for (int i = first + 1; i < argc; i++)
        if (one(what, argv[i], a.stop))
            status = 1;
    return status;
}
