/*
 * xconv_cap's operations on a real host: libxl for the domain and its
 * scheduling parameters, xenstore for the record, /proc for the owner.
 * Needs Xen: checked in the nested test bed, not in unit tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <xenstore.h>

#include "err.h"
#include "xconv_cap_libxl.h"

static int get(void *h, uint32_t domid, struct xconv_dom *d,
               struct xlmig_error *err)
{
    struct xconv_libxl *x = h;
    libxl_dominfo info;
    libxl_cpupoolinfo pool;
    libxl_domain_sched_params sp;
    const char *name;
    int rc;

    memset(d, 0, sizeof(*d));
    libxl_dominfo_init(&info);
    rc = libxl_domain_info(x->ctx, &info, domid);
    if (rc == ERROR_DOMAIN_NOTFOUND) {
        libxl_dominfo_dispose(&info);
        return 0;                       /* d->exists = false */
    }
    if (rc) {
        libxl_dominfo_dispose(&info);
        return xlmig_fail(err, EIO, "domain %u: libxl_domain_info failed "
                          "(%d)", domid, rc);
    }
    d->exists = true;
    snprintf(d->uuid, sizeof(d->uuid), LIBXL_UUID_FMT,
             LIBXL_UUID_BYTES(info.uuid));
    d->vcpus = info.vcpu_online ? info.vcpu_online : 1;

    /* The scheduler of the domain's cpupool. */
    libxl_cpupoolinfo_init(&pool);
    rc = libxl_cpupool_info(x->ctx, &pool, info.cpupool);
    libxl_dominfo_dispose(&info);
    if (rc) {
        libxl_cpupoolinfo_dispose(&pool);
        return xlmig_fail(err, EIO, "domain %u: no information on its "
                          "cpupool (%d)", domid, rc);
    }
    name = libxl_scheduler_to_string(pool.sched);
    snprintf(d->sched, sizeof(d->sched), "%s", name ? name : "unknown");
    libxl_cpupoolinfo_dispose(&pool);

    libxl_domain_sched_params_init(&sp);
    if (!strcmp(d->sched, "credit") || !strcmp(d->sched, "credit2")) {
        rc = libxl_domain_sched_params_get(x->ctx, domid, &sp);
        if (rc) {
            libxl_domain_sched_params_dispose(&sp);
            return xlmig_fail(err, EIO, "domain %u: cannot read its "
                              "scheduling parameters (%d)", domid, rc);
        }
        d->cap = sp.cap;
        d->weight = sp.weight;
    }
    libxl_domain_sched_params_dispose(&sp);
    return 0;
}

static int set_cap(void *h, uint32_t domid, const char *sched, int cap,
                   struct xlmig_error *err)
{
    struct xconv_libxl *x = h;
    libxl_domain_sched_params sp;
    libxl_scheduler s;
    int rc;

    if (libxl_scheduler_from_string(sched, &s))
        return xlmig_fail(err, EINVAL, "unknown scheduler %s", sched);
    libxl_domain_sched_params_init(&sp);    /* weight etc.: unchanged */
    sp.sched = s;
    sp.cap = cap;
    rc = libxl_domain_sched_params_set(x->ctx, domid, &sp);
    libxl_domain_sched_params_dispose(&sp);
    if (rc)
        return xlmig_fail(err, EIO, "domain %u: cannot set its CPU cap to "
                          "%d (%d)", domid, cap, rc);
    return 0;
}

static int put(void *h, const char *dir, const char *const *keys,
               const char *const *vals, unsigned n)
{
    struct xconv_libxl *x = h;

    for (int tries = 0; tries < 5; tries++) {
        xs_transaction_t t = xs_transaction_start(x->xs);
        bool ok = t != XBT_NULL;

        for (unsigned i = 0; ok && i < n; i++) {
            char path[256];
            snprintf(path, sizeof(path), "%s/%s", dir, keys[i]);
            ok = xs_write(x->xs, t, path, vals[i], strlen(vals[i]));
        }
        if (t == XBT_NULL)
            return -1;
        if (!ok) {
            xs_transaction_end(x->xs, t, true);
            return -1;
        }
        if (xs_transaction_end(x->xs, t, false))
            return 0;
        if (errno != EAGAIN)
            return -1;
    }
    return -1;
}

static int read_key(void *h, const char *path, char *val, size_t len)
{
    struct xconv_libxl *x = h;
    unsigned n;
    char *v = xs_read(x->xs, XBT_NULL, path, &n);

    if (!v)
        return -1;
    snprintf(val, len, "%.*s", (int)n, v);
    free(v);
    return 0;
}

static int rm(void *h, const char *dir)
{
    struct xconv_libxl *x = h;

    return xs_rm(x->xs, XBT_NULL, dir) || errno == ENOENT ? 0 : -1;
}

static bool alive(void *h, const char *owner)
{
    (void)h;
    return xconv_owner_alive(owner);
}

static const libxl_childproc_hooks hooks = {
    .chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

const struct xconv_cap_ops xconv_libxl_ops = {
    .get = get, .set_cap = set_cap, .put = put, .read = read_key, .rm = rm,
    .owner_alive = alive,
};

int xconv_libxl_open(struct xconv_libxl *x, xentoollog_logger *lg,
                     struct xlmig_error *err)
{
    memset(x, 0, sizeof(*x));
    if (libxl_ctx_alloc(&x->ctx, LIBXL_VERSION, 0, lg))
        return xlmig_fail(err, EIO, "cannot initialise libxl");
    /* It forks nothing; whatever it may reap must be its own. */
    libxl_childproc_setmode(x->ctx, &hooks, NULL);
    x->xs = xs_open(0);
    if (!x->xs) {
        libxl_ctx_free(x->ctx);
        x->ctx = NULL;
        return xlmig_fail(err, EIO, "cannot open xenstore");
    }
    return 0;
}

void xconv_libxl_close(struct xconv_libxl *x)
{
    if (x->xs)
        xs_close(x->xs);
    if (x->ctx)
        libxl_ctx_free(x->ctx);
    memset(x, 0, sizeof(*x));
}
