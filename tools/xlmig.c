/*
 * xlmig: storage live migration for Xen.
 *
 *   xlmig migrate [xl options] --with-storage DOMAIN HOST
 *   xlmig migrate-receive [xl options] --with-storage
 *   xlmig jobinfo [--json] DOMAIN
 *   xlmig recover-cap DOMAIN | --all
 *   xlmig send / receive     the disk engine with simulated guests
 *   xlmig sim report|verify|stop SOCKET...
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct subcommand {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
};

static const struct subcommand commands[] = {
#ifdef HAVE_XEN
    { "migrate", cmd_migrate_sender,
      "xl migrate --with-storage: a guest and its local disks" },
    { "migrate-receive", cmd_migrate_receive,
      "the destination of `xlmig migrate` (run over ssh)" },
    { "jobinfo", cmd_jobinfo, "a domain's storage migration status" },
    { "migrate-recover", cmd_migrate_recover,
      "resume a paused post-copy whose source engine died" },
    { "recover-cap", cmd_recover_cap,
      "restore a CPU cap auto-converge left (its migration died)" },
#endif
#ifndef XLMIG_NO_SIM    /* the Xen-only build while the simulator is away */
    { "send", cmd_send, "migrate simulated guests' disks to a receiver" },
    { "receive", cmd_receive, "the destination of `xlmig send`" },
    { "recover", cmd_recover,
      "resume a paused post-copy from a saved session" },
    { "estimate", cmd_estimate,
      "predict a migration to a receiver, changing nothing" },
    { "sim", cmd_sim, "report on / verify simulated guests" },
#endif
};

static void usage(FILE *f)
{
    fprintf(f, "usage: xlmig COMMAND [options]\n"
            "       xlmig -h|--help|help, xlmig -V|--version\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`xlmig COMMAND --help` for a command's options; "
            "man xlmig.\n");
}

int main(int argc, char **argv)
{
    /* A peer that went away is an error the commands report. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        cli_print_version();
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "xlmig: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
