/*
 * xlmig recover-cap [DOMAIN | --all]: the CPU cap that an auto-converging
 * migration lowered and could not put back (it died: xsmem.h) is restored
 * from its xenstore record (xconv_cap.h), and the record removed.  The next
 * `xlmig migrate` of the domain does the same first.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl_utils.h>
#include <xenstore.h>

#include "status.h"
#include "xconv_cap_libxl.h"
#include "xlx.h"
#include "xsmem.h"

/* The UUID of DOMAIN: a UUID as it is (the domain may be gone), or the
 * UUID of the domain with that name or number. */
static int domain_uuid(struct xlx *x, const char *domain, char uuid[40],
                       struct xlmig_error *err)
{
    libxl_uuid u;
    uint32_t domid;
    int rc;

    if (!libxl_uuid_from_string(&u, domain)) {
        xlx_uuid_string(&u, uuid);
        return 0;
    }
    if ((rc = xlx_find_domain(x, domain, &domid, err)) < 0)
        return rc;
    return xlx_domain_uuid(x, domid, domain, uuid, err);
}

/* One record; 0 or -errno (said through obs). */
static int recover_one(struct xsmem *m, const struct xflow_observer *obs,
                       const char *uuid, const char *what)
{
    struct xlmig_error err;
    int rc = xsmem_recover(m, uuid, what, &err);

    if (rc < 0)
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
    return rc;
}

static int recover_all(struct xsmem *m, struct xconv_libxl *cx,
                       const struct xflow_observer *obs)
{
    unsigned n = 0, found = 0;
    char **uuids = xs_directory(cx->xs, XBT_NULL, XST_ROOT, &n);
    int status = 0;

    for (unsigned i = 0; uuids && i < n; i++) {
        char path[256];
        unsigned len;
        char *v;

        snprintf(path, sizeof(path), "%s/%s/cap/sched", XST_ROOT, uuids[i]);
        v = xs_read(cx->xs, XBT_NULL, path, &len);
        if (!v)
            continue;
        free(v);
        found++;
        if (recover_one(m, obs, uuids[i], uuids[i]) < 0)
            status = 1;
    }
    free(uuids);
    if (!found)
        xlx_log(obs, XLMIG_LOG_INFO, "no CPU cap record left by a "
                "migration on this host");
    return status;
}

int xcap_recover(const char *domain, const struct xflow_observer *obs)
{
    struct xlmig_error err;
    struct xconv_libxl cx;
    struct xsmem m;
    struct xlx x;
    char uuid[40];
    int status = 1;

    if (xlx_open(&x, 0, obs, &err) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        return 1;
    }
    if (xconv_libxl_open(&cx, xlx_logger(&x), &err) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        xlx_close(&x);
        return 1;
    }
    xsmem_init(&m, obs, NULL, &xconv_libxl_ops, &cx);
    if (!domain) {
        status = recover_all(&m, &cx, obs);
    } else if (domain_uuid(&x, domain, uuid, &err) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
    } else {
        char path[256];
        unsigned len;
        char *v;
        bool have;

        snprintf(path, sizeof(path), "%s/%s/cap/sched", XST_ROOT, uuid);
        v = xs_read(cx.xs, XBT_NULL, path, &len);
        have = v != NULL;
        free(v);
        if (!have)
            xlx_log(obs, XLMIG_LOG_INFO, "%s: no CPU cap record left by a "
                    "migration", domain);
        status = have && recover_one(&m, obs, uuid, domain) < 0 ? 1 : 0;
    }
    xconv_libxl_close(&cx);
    xlx_close(&x);
    return status;
}
