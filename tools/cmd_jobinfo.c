/*
 * xlmig jobinfo [--json] DOMAIN: the storage migration status of a domain
 * on this host, like `virsh domjobinfo` (xjob_find(): xenstore, or the
 * run directory's status files).  DOMAIN is a name (the migration's
 * renames included), a domid or a UUID.  The lines: cli_jobinfo.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_jobinfo.h"
#include "progress.h"
#include "xflow.h"

static const char *job_get(const void *job, const char *key)
{
    return xjob_get(job, key);
}

static void show_human(const struct xjob *j)
{
    cli_jobinfo_print(stdout, j->uuid, j->role, job_get, j);
}

static void show_json(const struct xjob *j, bool last)
{
    char buf[2048];
    size_t p = 0;

    xlmig_json_str(buf, sizeof(buf), &p, j->uuid);
    printf("  {\"uuid\":%s", buf);
    p = 0;
    xlmig_json_str(buf, sizeof(buf), &p, j->role);
    printf(",\"role\":%s", buf);
    for (unsigned i = 0; i < j->n; i++) {
        char v[1200];
        size_t q = 0;

        p = 0;
        xlmig_json_str(buf, sizeof(buf), &p, j->kv[i].k);
        xlmig_json_str(v, sizeof(v), &q, j->kv[i].v);
        printf(",%s:%s", buf, v);
    }
    printf("}%s\n", last ? "" : ",");
}

struct job_args {
    struct cli_common c;
    bool json;
};

static const struct cli_opt job_opts[] = {
    { .name = "json", .short_name = 'j', .type = CLI_FLAG,
      .offset = offsetof(struct job_args, json),
      .help = "a JSON array, one object per role found on this host" },
};

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f, "usage: xlmig jobinfo [--json] DOMAIN\n"
            "The storage migration status of DOMAIN (name, domid or UUID) "
            "on this host.\nOptions:\n");
    cli_print_options(f, sets, nsets);
}

int cmd_jobinfo(int argc, char **argv)
{
    struct job_args a;
    struct cli_optset sets[] = {
        { job_opts, sizeof(job_opts) / sizeof(job_opts[0]), &a, 0 },
        { cli_help_opts, cli_help_nopts, &a.c, 0 },
    };
    struct xjob *jobs;
    unsigned n = 0;
    int first, status;

    memset(&a, 0, sizeof(a));
    first = cli_parse_command("jobinfo", sets, 2, argc, argv, &a.c.help,
                              &a.c.version, usage, &status);
    if (first < 0)
        return status;
    if (argc - first != 1) {
        fprintf(stderr, "xlmig jobinfo: give one DOMAIN\n(xlmig jobinfo "
                "--help)\n");
        return 2;
    }
    jobs = calloc(8, sizeof(*jobs));
    if (!jobs)
        return cli_error("out of memory");
    n = xjob_find(argv[first], NULL, jobs, 8);
    if (a.json) {
        printf("[\n");
        for (unsigned i = 0; i < n; i++)
            show_json(&jobs[i], i + 1 == n);
        printf("]\n");
    } else if (!n) {
        printf("Job: none (no storage migration of %s recorded on this "
               "host)\n", argv[first]);
    } else {
        for (unsigned i = 0; i < n; i++) {
            if (i)
                printf("\n");
            show_human(&jobs[i]);
        }
    }
    free(jobs);
    return 0;
}
