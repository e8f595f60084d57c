/*
 * xlmig jobinfo [--json] DOMAIN: the storage migration status of a domain
 * on this host, like `virsh domjobinfo` (xjob_find(): xenstore, or the
 * run directory's status files).  DOMAIN is a name (the migration's
 * renames included), a domid or a UUID.  The lines: cli_jobinfo.c.
 */
#include <getopt.h>
#include <stdbool.h>
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

int cmd_jobinfo(int argc, char **argv)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct xjob *jobs = calloc(8, sizeof(*jobs));
    bool json = false;
    unsigned n = 0;
    int c;

    while ((c = getopt_long(argc, argv, "jh", lo, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: xlmig jobinfo [--json] DOMAIN\n");
            free(jobs);
            return c == 'h' ? 0 : 2;
        }
    }
    if (argc - optind != 1 || !jobs) {
        fprintf(stderr, "usage: xlmig jobinfo [--json] DOMAIN\n");
        free(jobs);
        return 2;
    }
    n = xjob_find(argv[optind], NULL, jobs, 8);
    if (json) {
        printf("[\n");
        for (unsigned i = 0; i < n; i++)
            show_json(&jobs[i], i + 1 == n);
        printf("]\n");
    } else if (!n) {
        printf("Job: none (no storage migration of %s recorded on this "
               "host)\n", argv[optind]);
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
