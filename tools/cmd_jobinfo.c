/*
 * xlmig jobinfo [--json] DOMAIN: the storage migration status of a domain
 * on this host, like `virsh domjobinfo`, read from xenstore
 * (/local/domain/0/xlmig/<uuid>/<role>/...) or, without xenstore, from
 * /run/xlmig/<uuid>.<role>.status.  DOMAIN is a name (the migration's
 * renames included), a domid or a UUID; the entry outlives the source
 * domain, so post-copy can be followed after it is gone.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenstore.h>

#include "cmd_migrate_common.h"
#include "progress.h"
#include "status.h"

struct job {
    char uuid[40], role[16];
    struct { char k[32]; char v[256]; } kv[XST_MAX_KEYS];
    unsigned n;
};

static const char *get(const struct job *j, const char *k)
{
    for (unsigned i = 0; i < j->n; i++)
        if (!strcmp(j->kv[i].k, k))
            return j->kv[i].v;
    return NULL;
}

static void add(struct job *j, const char *k, const char *v)
{
    if (j->n < XST_MAX_KEYS) {
        snprintf(j->kv[j->n].k, sizeof(j->kv[0].k), "%s", k);
        snprintf(j->kv[j->n].v, sizeof(j->kv[0].v), "%s", v);
        j->n++;
    }
}

static bool matches(const struct job *j, const char *dom)
{
    const char *name = get(j, "name"), *domid = get(j, "domid");
    size_t l = name ? strlen(name) : 0;

    if (!strcmp(j->uuid, dom) || (domid && !strcmp(domid, dom)))
        return true;
    /* g1, g1--incoming, g1--migratedaway all mean g1. */
    return name && (!strcmp(name, dom) ||
                    (!strncmp(dom, name, l) &&
                     (!strcmp(dom + l, "--incoming") ||
                      !strcmp(dom + l, "--migratedaway"))));
}

static unsigned from_xenstore(struct xs_handle *xs, const char *dom,
                              struct job *jobs, unsigned max)
{
    unsigned nu, n = 0;
    char **uuids = xs_directory(xs, XBT_NULL, XST_ROOT, &nu);
    static const char *const roles[] = { "source", "destination" };

    for (unsigned u = 0; uuids && u < nu; u++)
        for (int r = 0; r < 2 && n < max; r++) {
            char path[256];
            unsigned nk;
            char **keys;
            struct job *j = &jobs[n];

            snprintf(path, sizeof(path), "%s/%s/%s", XST_ROOT, uuids[u],
                     roles[r]);
            keys = xs_directory(xs, XBT_NULL, path, &nk);
            if (!keys)
                continue;
            memset(j, 0, sizeof(*j));
            snprintf(j->uuid, sizeof(j->uuid), "%s", uuids[u]);
            snprintf(j->role, sizeof(j->role), "%s", roles[r]);
            for (unsigned k = 0; k < nk; k++) {
                char kp[320];
                unsigned len;
                char *v;
                snprintf(kp, sizeof(kp), "%s/%s", path, keys[k]);
                v = xs_read(xs, XBT_NULL, kp, &len);
                if (v)
                    add(j, keys[k], v);
                free(v);
            }
            free(keys);
            if (matches(j, dom))
                n++;
        }
    free(uuids);
    return n;
}

static unsigned from_files(const char *dom, struct job *jobs, unsigned max)
{
    DIR *d = opendir(XST_RUNDIR);
    struct dirent *e;
    unsigned n = 0;

    while (d && (e = readdir(d)) && n < max) {
        char path[512], line[320], *dot;
        struct job *j = &jobs[n];
        size_t l = strlen(e->d_name);
        FILE *f;

        if (l < 8 || strcmp(e->d_name + l - 7, ".status"))
            continue;
        memset(j, 0, sizeof(*j));
        snprintf(j->uuid, sizeof(j->uuid), "%.*s",
                 (int)strcspn(e->d_name, "."), e->d_name);
        dot = strchr(e->d_name, '.');
        snprintf(j->role, sizeof(j->role), "%.*s", (int)(l - 7 - (size_t)(dot - e->d_name) - 1), dot + 1);
        snprintf(path, sizeof(path), "%s/%s", XST_RUNDIR, e->d_name);
        f = fopen(path, "r");
        while (f && fgets(line, sizeof(line), f)) {
            char *eq = strchr(line, '=');
            if (!eq)
                continue;
            *eq = '\0';
            eq[strcspn(eq + 1, "\n") + 1] = '\0';
            add(j, line, eq + 1);
        }
        if (f)
            fclose(f);
        if (matches(j, dom))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void show_human(const struct job *j)
{
    static const struct { const char *k, *label; } rows[] = {
        { "name", "Domain" }, { "state", "State" }, { "phase", "Phase" },
        { "pass", "Pass" }, { "remaining_bytes", "Remaining (bytes)" },
        { "remaining_blocks", "Remaining (blocks)" },
        { "sent_bytes", "Sent (bytes)" }, { "wire_bytes", "On the wire" },
        { "rate_Bps", "Rate (B/s)" }, { "eta_s", "ETA (s)" },
        { "expected_downtime_ms", "Expected downtime (ms)" },
        { "peer", "Peer" }, { "domid", "Domain id" }, { "pid", "Engine pid" },
        { "message", "Message" }, { "updated", "Updated (Unix time)" },
    };

    printf("Job:                     storage migration, %s side\n", j->role);
    printf("UUID:                    %s\n", j->uuid);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *v = get(j, rows[i].k);
        if (v)
            printf("%-24s %s\n", rows[i].label, v);
    }
}

static void show_json(const struct job *j, bool last)
{
    printf("  {\"uuid\":");
    xlmig_json_string(stdout, j->uuid);
    printf(",\"role\":");
    xlmig_json_string(stdout, j->role);
    for (unsigned i = 0; i < j->n; i++) {
        printf(",");
        xlmig_json_string(stdout, j->kv[i].k);
        printf(":");
        xlmig_json_string(stdout, j->kv[i].v);
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
    struct job *jobs = calloc(8, sizeof(*jobs));
    struct xs_handle *xs;
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
    xs = xs_open(XS_OPEN_READONLY);
    if (xs) {
        n = from_xenstore(xs, argv[optind], jobs, 8);
        xs_close(xs);
    }
    if (!n)
        n = from_files(argv[optind], jobs, 8);
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
