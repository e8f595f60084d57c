/*
 * What `xlmig jobinfo` shows: the storage migrations recorded on this host
 * by the engines (status.h), from xenstore
 * (/local/domain/0/xlmig/<uuid>/<role>/...) or, without xenstore, from the
 * run directory's <uuid>.<role>.status files (and the source's memory
 * part, <uuid>.source.status.memory).  The entry outlives the source
 * domain, so post-copy can be followed after it is gone.
 *
 * A CPU cap record that auto-converge left (xconv_cap.h:
 * .../<uuid>/cap/KEY) shows in the source's job as acrec_KEY, with
 * acrec_alive = yes | no (does its owner still run?).
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xenstore.h>

#include "status.h"
#include "xconv_cap.h"
#include "xflow.h"

static const char *get(const struct xjob *j, const char *k)
{
    for (unsigned i = 0; i < j->n; i++)
        if (!strcmp(j->kv[i].k, k))
            return j->kv[i].v;
    return NULL;
}

static void add(struct xjob *j, const char *k, const char *v)
{
    if (j->n < XJOB_MAX_KEYS) {
        snprintf(j->kv[j->n].k, sizeof(j->kv[0].k), "%s", k);
        snprintf(j->kv[j->n].v, sizeof(j->kv[0].v), "%s", v);
        j->n++;
    }
}

static bool matches(const struct xjob *j, const char *dom)
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

/* The keys under path, each as prefix + key; false if there is no path. */
static bool read_dir(struct xs_handle *xs, const char *path,
                     const char *prefix, struct xjob *j)
{
    unsigned nk;
    char **keys = xs_directory(xs, XBT_NULL, path, &nk);

    if (!keys)
        return false;
    for (unsigned k = 0; k < nk; k++) {
        char kp[320], name[64];
        unsigned len;
        char *v;

        snprintf(kp, sizeof(kp), "%s/%s", path, keys[k]);
        snprintf(name, sizeof(name), "%s%s", prefix, keys[k]);
        v = xs_read(xs, XBT_NULL, kp, &len);
        if (v)
            add(j, name, v);
        free(v);
    }
    free(keys);
    return true;
}

/* A left-over cap record: shown with the source's job. */
static void cap_record(struct xs_handle *xs, const char *uuid, struct xjob *j)
{
    char path[256];
    const char *owner;

    snprintf(path, sizeof(path), "%s/%s/cap", XST_ROOT, uuid);
    if (!read_dir(xs, path, "acrec_", j))
        return;
    owner = get(j, "acrec_owner");
    add(j, "acrec_alive", owner && xconv_owner_alive(owner) ? "yes" : "no");
    if (!get(j, "domid") && get(j, "acrec_domid")) {
        char domid[16];
        snprintf(domid, sizeof(domid), "%s", get(j, "acrec_domid"));
        add(j, "domid", domid);
    }
}

static unsigned from_xenstore(struct xs_handle *xs, const char *dom,
                              struct xjob *jobs, unsigned max)
{
    unsigned nu, n = 0;
    char **uuids = xs_directory(xs, XBT_NULL, XST_ROOT, &nu);
    static const char *const roles[] = { "source", "destination" };

    for (unsigned u = 0; uuids && u < nu; u++)
        for (int r = 0; r < 2 && n < max; r++) {
            char path[256];
            struct xjob *j = &jobs[n];
            bool found;

            snprintf(path, sizeof(path), "%s/%s/%s", XST_ROOT, uuids[u],
                     roles[r]);
            memset(j, 0, sizeof(*j));
            snprintf(j->uuid, sizeof(j->uuid), "%s", uuids[u]);
            snprintf(j->role, sizeof(j->role), "%s", roles[r]);
            found = read_dir(xs, path, "", j);
            if (r == 0) {
                unsigned before = j->n;
                cap_record(xs, uuids[u], j);
                found = found || j->n > before;
            }
            if (found && matches(j, dom))
                n++;
        }
    free(uuids);
    return n;
}

static unsigned from_files(const char *dom, const char *rundir,
                           struct xjob *jobs, unsigned max)
{
    DIR *d = opendir(rundir);
    struct dirent *e;
    unsigned n = 0;

    while (d && (e = readdir(d)) && n < max) {
        char path[512], line[320], *dot;
        struct xjob *j = &jobs[n];
        size_t l = strlen(e->d_name);
        FILE *f;

        if (l < 8 || strcmp(e->d_name + l - 7, ".status"))
            continue;
        memset(j, 0, sizeof(*j));
        snprintf(j->uuid, sizeof(j->uuid), "%.*s",
                 (int)strcspn(e->d_name, "."), e->d_name);
        dot = strchr(e->d_name, '.');
        snprintf(j->role, sizeof(j->role), "%.*s", (int)(l - 7 - (size_t)(dot - e->d_name) - 1), dot + 1);
        snprintf(path, sizeof(path), "%s/%s", rundir, e->d_name);
        for (int part = 0; part < 2; part++) {
            /* the job's status, then the source's memory part */
            if (part)
                strncat(path, ".memory", sizeof(path) - strlen(path) - 1);
            f = fopen(path, "r");
            while (f && fgets(line, sizeof(line), f)) {
                char *eq = strchr(line, '=');
                if (!eq)
                    continue;
                *eq = '\0';
                eq[strcspn(eq + 1, "\n") + 1] = '\0';
                if (!get(j, line))
                    add(j, line, eq + 1);
            }
            if (f)
                fclose(f);
        }
        if (matches(j, dom))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

const char *xjob_get(const struct xjob *j, const char *key)
{
    return get(j, key);
}

unsigned xjob_find(const char *domain, const char *rundir,
                   struct xjob *jobs, unsigned max)
{
    struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
    unsigned n = 0;

    if (xs) {
        n = from_xenstore(xs, domain, jobs, max);
        xs_close(xs);
    }
    if (!n)
        n = from_files(domain, rundir ? rundir : XFLOW_RUNDIR, jobs, max);
    return n;
}
