#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "status.h"
#include "xconv_cap.h"

int xconv_cap_for(const struct xconv_orig *o, unsigned throttle)
{
    long base = 100L * (o->vcpus ? o->vcpus : 1), cap;

    if (!throttle)
        return o->cap;
    if (throttle > 99)
        throttle = 99;
    if (o->cap > 0 && o->cap < base)
        base = o->cap;
    cap = (base * (100 - (long)throttle) + 50) / 100;
    return cap < 1 ? 1 : (int)cap;
}

static bool has_cap(const char *sched)
{
    return !strcmp(sched, "credit") || !strcmp(sched, "credit2");
}

static void record_dir(char *out, size_t len, const char *uuid)
{
    snprintf(out, len, "%s/%s/cap", XST_ROOT, uuid);
}

/* uuid as libxl prints it: 36 characters of [0-9a-f-]. */
static bool uuid_ok(const char *u)
{
    if (strlen(u) != 36)
        return false;
    for (; *u; u++)
        if (!((*u >= '0' && *u <= '9') || (*u >= 'a' && *u <= 'f') ||
              *u == '-'))
            return false;
    return true;
}

static int put1(struct xconv_cap *c, const char *k1, const char *v1,
                const char *k2, const char *v2)
{
    const char *keys[2] = { k1, k2 }, *vals[2] = { v1, v2 };

    return c->ops->put(c->h, c->dir, keys, vals, k2 ? 2 : 1);
}

int xconv_cap_prepare(struct xconv_cap *c, const struct xconv_cap_ops *ops,
                      void *h, uint32_t domid, const char *uuid,
                      const char *owner, struct xlmig_error *err)
{
    struct xconv_dom d;
    char path[192], v[64], s_domid[16], s_cap[16], s_weight[16], s_vcpus[16];
    char s_started[24];
    int rc;
    const char *keys[] = { "domid", "sched", "cap", "weight", "vcpus",
                           "owner", "started", "current", "throttle" };
    const char *vals[9];

    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->h = h;
    c->domid = domid;
    c->current = -1;
    if (!uuid_ok(uuid))
        return xlmig_fail(err, EINVAL, "auto-converge: bad domain UUID "
                          "'%s'", uuid);
    snprintf(c->uuid, sizeof(c->uuid), "%s", uuid);
    record_dir(c->dir, sizeof(c->dir), uuid);
    if ((rc = ops->get(h, domid, &d, err)) < 0)
        return rc;
    if (!d.exists || strcmp(d.uuid, uuid))
        return xlmig_fail(err, ENOENT, "auto-converge: no domain %u with "
                          "UUID %s", domid, uuid);
    if (!has_cap(d.sched))
        return xlmig_fail(err, EINVAL, "auto-converge needs the credit or "
                          "credit2 scheduler (a CPU cap); domain %u's "
                          "cpupool uses %s", domid, d.sched);
    snprintf(path, sizeof(path), "%s/sched", c->dir);
    if (ops->read(h, path, v, sizeof(v)) == 0)
        return xlmig_fail(err, EEXIST, "auto-converge: the CPU cap of "
                          "domain %u is still recorded by an earlier "
                          "migration (%s): recover it first", domid, c->dir);
    snprintf(c->orig.sched, sizeof(c->orig.sched), "%s", d.sched);
    c->orig.cap = d.cap;
    c->orig.weight = d.weight;
    c->orig.vcpus = d.vcpus ? d.vcpus : 1;
    snprintf(s_domid, sizeof(s_domid), "%u", domid);
    snprintf(s_cap, sizeof(s_cap), "%d", d.cap);
    snprintf(s_weight, sizeof(s_weight), "%d", d.weight);
    snprintf(s_vcpus, sizeof(s_vcpus), "%u", c->orig.vcpus);
    snprintf(s_started, sizeof(s_started), "%lld", (long long)time(NULL));
    vals[0] = s_domid;
    vals[1] = d.sched;
    vals[2] = s_cap;
    vals[3] = s_weight;
    vals[4] = s_vcpus;
    vals[5] = owner;
    vals[6] = s_started;
    vals[7] = s_cap;                    /* current: the original so far */
    vals[8] = "0";
    if (ops->put(h, c->dir, keys, vals, 9) < 0)
        return xlmig_fail(err, EIO, "auto-converge: cannot record the "
                          "original CPU cap in xenstore (%s)", c->dir);
    c->recorded = true;
    return 0;
}

int xconv_cap_throttle(struct xconv_cap *c, unsigned throttle, int *capp,
                       struct xlmig_error *err)
{
    char s_cap[16], s_thr[16];
    int cap, rc;

    if (!c->recorded)
        return xlmig_fail(err, EINVAL, "auto-converge: no record of the "
                          "original cap");
    cap = xconv_cap_for(&c->orig, throttle);
    snprintf(s_cap, sizeof(s_cap), "%d", cap);
    snprintf(s_thr, sizeof(s_thr), "%u", throttle);
    /* Written ahead: a crash after the set still finds our value. */
    if (put1(c, "pending", s_cap, NULL, NULL) < 0)
        return xlmig_fail(err, EIO, "auto-converge: cannot update %s",
                          c->dir);
    rc = c->ops->set_cap(c->h, c->domid, c->orig.sched, cap, err);
    if (rc < 0)
        return rc;
    c->current = cap;
    c->throttle = throttle;
    if (put1(c, "current", s_cap, "throttle", s_thr) < 0)
        return xlmig_fail(err, EIO, "auto-converge: cap %d set but %s not "
                          "updated", cap, c->dir);
    if (capp)
        *capp = cap;
    return 0;
}

int xconv_cap_restore(struct xconv_cap *c, struct xlmig_error *err)
{
    struct xconv_dom d;
    int rc;

    if (!c->recorded)
        return 0;
    if ((rc = c->ops->get(c->h, c->domid, &d, err)) < 0)
        return rc;
    if (d.exists && !strcmp(d.uuid, c->uuid) && d.cap != c->orig.cap &&
        (rc = c->ops->set_cap(c->h, c->domid, c->orig.sched, c->orig.cap,
                              err)) < 0)
        return rc;                      /* the record stays */
    c->current = -1;
    c->throttle = 0;
    if (c->ops->rm(c->h, c->dir) < 0)
        return xlmig_fail(err, EIO, "auto-converge: original cap restored, "
                          "but %s could not be removed", c->dir);
    c->recorded = false;
    return 0;
}

static int read_int(const struct xconv_cap_ops *ops, void *h,
                    const char *dir, const char *key, long lo, long hi,
                    long *out)
{
    char path[192], v[32], *end;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, key);
    if (ops->read(h, path, v, sizeof(v)) < 0)
        return -1;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

int xconv_cap_recover(const struct xconv_cap_ops *ops, void *h,
                      const char *uuid, struct xconv_recovery *r,
                      struct xlmig_error *err)
{
    char dir[128], path[192];
    long domid, cap, weight, vcpus, cur = -1, pend = -1;
    struct xconv_dom d;
    int rc;

    memset(r, 0, sizeof(*r));
    r->found_cap = -1;
    if (!uuid_ok(uuid))
        return xlmig_fail(err, EINVAL, "bad domain UUID '%s'", uuid);
    record_dir(dir, sizeof(dir), uuid);
    snprintf(path, sizeof(path), "%s/sched", dir);
    if (ops->read(h, path, r->orig.sched, sizeof(r->orig.sched)) < 0) {
        r->what = XCONV_NONE;
        return 0;
    }
    snprintf(path, sizeof(path), "%s/owner", dir);
    if (ops->read(h, path, r->owner, sizeof(r->owner)) < 0)
        r->owner[0] = '\0';
    if (read_int(ops, h, dir, "domid", 0, 0x7fef, &domid) < 0 ||
        read_int(ops, h, dir, "cap", 0, 100000, &cap) < 0 ||
        read_int(ops, h, dir, "vcpus", 1, 100000, &vcpus) < 0 ||
        !has_cap(r->orig.sched))
        return xlmig_fail(err, EIO, "%s: unreadable record of the original "
                          "CPU cap", dir);
    if (read_int(ops, h, dir, "weight", -1, 65535, &weight) < 0)
        weight = -1;
    read_int(ops, h, dir, "current", 0, 100000, &cur);
    read_int(ops, h, dir, "pending", 0, 100000, &pend);
    r->domid = (uint32_t)domid;
    r->orig.cap = (int)cap;
    r->orig.weight = (int)weight;
    r->orig.vcpus = (unsigned)vcpus;
    if (r->owner[0] && ops->owner_alive(h, r->owner)) {
        r->what = XCONV_BUSY;
        return 0;
    }
    if ((rc = ops->get(h, r->domid, &d, err)) < 0)
        return rc;
    if (!d.exists || strcmp(d.uuid, uuid)) {
        r->what = XCONV_GONE;           /* a reused domid is not ours */
    } else {
        r->found_cap = d.cap;
        if (d.cap == cap) {
            r->what = XCONV_ALREADY;
        } else if (d.cap == cur || d.cap == pend) {
            rc = ops->set_cap(h, r->domid, r->orig.sched, (int)cap, err);
            if (rc < 0)
                return rc;              /* the record stays */
            r->what = XCONV_RESTORED;
        } else {
            r->what = XCONV_CHANGED;
        }
    }
    if (ops->rm(h, dir) < 0)
        return xlmig_fail(err, EIO, "%s could not be removed", dir);
    return 0;
}

const char *xconv_found_name(enum xconv_found f)
{
    switch (f) {
    case XCONV_NONE: return "none";
    case XCONV_BUSY: return "busy";
    case XCONV_RESTORED: return "restored";
    case XCONV_ALREADY: return "already";
    case XCONV_GONE: return "gone";
    case XCONV_CHANGED: return "changed";
    }
    return "?";
}

/* Field 22 of /proc/<pid>/stat, after the last ')' of the name. */
int xconv_owner_of(long pid, char *out, size_t len)
{
    char path[64], buf[1024], *p;
    unsigned long long start = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return -1;                      /* a zombie has ended */
    /* fields 3.. follow, each after a space */
    for (int field = 3; field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    if (sscanf(p + 1, "%llu", &start) != 1)
        return -1;
    snprintf(out, len, "%ld:%llu", pid, start);
    return 0;
}

int xconv_owner_self(char *out, size_t len)
{
    return xconv_owner_of((long)getpid(), out, len);
}

bool xconv_owner_alive(const char *owner)
{
    char now[64], *end;
    long pid;

    errno = 0;
    pid = strtol(owner, &end, 10);
    if (errno || end == owner || *end != ':' || pid <= 0)
        return false;
    if (xconv_owner_of(pid, now, sizeof(now)) < 0)
        return false;
    return !strcmp(now, owner);
}
