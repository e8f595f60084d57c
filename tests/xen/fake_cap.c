/* The fake host of fake_cap.h (cmocka checks what libxl would refuse). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "fake_cap.h"

struct xconv_dom *fake_cap_find(struct host *h, uint32_t domid)
{
    for (unsigned i = 0; i < h->ndom; i++)
        if (h->domid[i] == domid && h->dom[i].exists)
            return &h->dom[i];
    return NULL;
}

void fake_cap_add_dom(struct host *h, uint32_t domid, const char *uuid,
                    const char *sched, int cap, unsigned vcpus)
{
    struct xconv_dom *d = &h->dom[h->ndom];

    h->domid[h->ndom++] = domid;
    memset(d, 0, sizeof(*d));
    d->exists = true;
    snprintf(d->uuid, sizeof(d->uuid), "%s", uuid);
    snprintf(d->sched, sizeof(d->sched), "%s", sched);
    d->cap = cap;
    d->weight = 256;
    d->vcpus = vcpus;
}

static void logf_(struct host *h, const char *s)
{
    strncat(h->log, s, sizeof(h->log) - strlen(h->log) - 1);
}

static int f_get(void *hh, uint32_t domid, struct xconv_dom *d,
                 struct xlmig_error *err)
{
    struct host *h = hh;
    struct xconv_dom *x = fake_cap_find(h, domid);

    if (h->fail_get)
        return xlmig_fail(err, EIO, "get failed");
    memset(d, 0, sizeof(*d));
    if (x)
        *d = *x;
    return 0;
}

static int f_set(void *hh, uint32_t domid, const char *sched, int cap,
                 struct xlmig_error *err)
{
    struct host *h = hh;
    struct xconv_dom *x = fake_cap_find(h, domid);
    char b[32];

    if (h->fail_set || !x)
        return xlmig_fail(err, x ? EIO : ENOENT, "set failed");
    /* as libxl: 0 .. 100 * vCPUs, the domain's own scheduler */
    assert_string_equal(sched, x->sched);
    assert_true(cap >= 0 && cap <= (int)(100 * x->vcpus));
    x->cap = cap;
    h->nset++;
    snprintf(b, sizeof(b), "set:%d ", cap);
    logf_(h, b);
    return 0;
}

int fake_cap_kv_find(struct host *h, const char *path)
{
    for (unsigned i = 0; i < h->nkv; i++)
        if (!strcmp(h->kv[i].k, path))
            return (int)i;
    return -1;
}

static int f_put(void *hh, const char *dir, const char *const *keys,
                 const char *const *vals, unsigned n)
{
    struct host *h = hh;

    if (h->fail_put)
        return -1;                      /* all or none: none */
    for (unsigned i = 0; i < n; i++) {
        char path[192];
        int j;

        snprintf(path, sizeof(path), "%s/%s", dir, keys[i]);
        j = fake_cap_kv_find(h, path);
        if (j < 0) {
            j = (int)h->nkv++;
            snprintf(h->kv[j].k, sizeof(h->kv[j].k), "%s", path);
        }
        snprintf(h->kv[j].v, sizeof(h->kv[j].v), "%s", vals[i]);
    }
    h->nput++;
    logf_(h, "put ");
    return 0;
}

static int f_read(void *hh, const char *path, char *val, size_t len)
{
    struct host *h = hh;
    int j = fake_cap_kv_find(h, path);

    if (j < 0)
        return -1;
    snprintf(val, len, "%s", h->kv[j].v);
    return 0;
}

static int f_rm(void *hh, const char *dir)
{
    struct host *h = hh;
    size_t l = strlen(dir);

    for (unsigned i = 0; i < h->nkv;) {
        if (!strncmp(h->kv[i].k, dir, l) && h->kv[i].k[l] == '/')
            h->kv[i] = h->kv[--h->nkv];
        else
            i++;
    }
    return 0;
}

static bool f_alive(void *hh, const char *owner)
{
    (void)owner;
    return ((struct host *)hh)->alive;
}

const struct xconv_cap_ops fake_cap_ops = {
    .get = f_get, .set_cap = f_set, .put = f_put, .read = f_read,
    .rm = f_rm, .owner_alive = f_alive,
};

