/*
 * `xlmig migrate --estimate DOMAIN HOST` (xl migrate --with-storage
 * --estimate) and its destination `xl migrate-receive --with-storage
 * --estimate`: the channel of xcold.h, the guest's configuration and the
 * storage negotiation so that the destination checks its targets by its
 * own policy, then the library's estimate session.  The running guest's
 * disks are watched through the patched blkback (tracking on for the
 * sample, off after); with --offline, a stopped guest's xl.cfg and images.
 * The memory phase is predicted from the domain's memory at the link's
 * rate.  Nothing is created or changed on either host.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxl_utils.h>

#include "disks.h"
#include "image.h"
#include "tpolicy.h"
#include "transport.h"
#include "xcold.h"
#include "xlproto.h"
#include "xlx.h"
#include "xvbd.h"

struct xest {
    const struct xsrc_opts *o;
    const struct xflow_observer *obs;
    struct xlx x;
    bool have_x;
    libxl_domain_config dc;
    uint32_t domid;
    uint64_t memory_bytes;
    char *text;                 /* what goes to the destination */
    uint32_t kind;
    char specs[XLMIG_MAX_DISKS][XCFG_SPEC_MAX];
    unsigned nspecs;
    struct xdisk disks[XLMIG_MAX_DISKS];
    unsigned nd;
    struct xctl_msg offer, acc;
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS];
    const char *names[XLMIG_MAX_DISKS];
    unsigned nvbds;
    int rfd, wfd;
    pid_t child;
};

/* A running guest: its configuration and memory from libxl. */
static int running_guest(struct xest *m, const char *domain,
                         struct xlmig_error *err)
{
    libxl_dominfo info;
    int rc;

    if ((rc = xlx_open(&m->x, m->o->verbose, m->obs, err)) < 0)
        return rc;
    m->have_x = true;
    if ((rc = xlx_find_domain(&m->x, domain, &m->domid, err)) < 0)
        return rc;
    if (libxl_retrieve_domain_configuration(m->x.ctx, m->domid, &m->dc,
                                            NULL))
        return xlmig_fail(err, EIO, "unable to retrieve domain "
                          "configuration");
    libxl_dominfo_init(&info);
    if (!libxl_domain_info(m->x.ctx, &info, m->domid))
        m->memory_bytes = (uint64_t)info.current_memkb * 1024;
    libxl_dominfo_dispose(&info);
    m->text = libxl_domain_config_to_json(m->x.ctx, &m->dc);
    m->kind = XCFG_JSON;
    return m->text ? 0 : xlmig_fail(err, ENOMEM, "out of memory");
}

/* A stopped guest: its xl.cfg (-C, else /etc/xen/DOMAIN.cfg). */
static int stopped_guest(struct xest *m, const char *domain,
                         struct xlmig_error *err)
{
    char path[4200];
    size_t cap = 0;
    ssize_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s", m->o->config ? m->o->config : "");
    if (!m->o->config)
        snprintf(path, sizeof(path), "/etc/xen/%s.cfg", domain);
    if (!(f = fopen(path, "re")))
        return xlmig_fail(err, errno, "%s: %s", path, strerror(errno));
    n = getdelim(&m->text, &cap, '\0', f);
    fclose(f);
    if (n <= 0 || (size_t)n > XCFG_MAX)
        return xlmig_fail(err, EINVAL, "%s: empty or too big", path);
    m->kind = XCFG_XL;
    return xcfg_parse(m->text, (size_t)n, &m->dc, m->specs, &m->nspecs, err);
}

static int open_disks(struct xest *m, struct xlmig_error *err)
{
    int nmig = xdisk_select_opts(&m->dc, m->o->storage, m->o->shared,
                                 m->disks, &m->nd, err);

    if (nmig < 0)
        return nmig;
    if (!nmig)
        return xlmig_fail(err, ENOENT, "no disk to migrate");
    m->offer.type = XCTL_OFFER;
    for (unsigned i = 0; i < m->nd; i++) {
        struct xdisk *x = &m->disks[i];
        struct xctl_disk *od;
        struct xlmig_vbd *v = NULL, *in;
        struct xlmig_image im;
        libxl_diskinfo di;
        int rc;

        if (x->action != XDISK_MIGRATE)
            continue;
        if ((rc = xlmig_image_open(&im, x->path, false, err)) < 0)
            return rc;
        od = &m->offer.disks[m->offer.ndisks++];
        snprintf(od->name, sizeof(od->name), "%s", x->vdev);
        od->kind = x->kind;
        od->size = im.size;
        xlmig_image_close(&im);
        if (m->o->so.offline || m->o->notrack) {
            /* Nothing to watch: a stopped guest, or no tracking. */
            rc = xlmig_vbd_image_open(x->path, &v, err);
        } else {
            libxl_diskinfo_init(&di);
            rc = libxl_device_disk_getinfo(m->x.ctx, m->domid,
                                           &m->dc.disks[x->index], &di)
                     ? xlmig_fail(err, ENODEV, "disk %s: no device "
                                  "information", x->vdev)
                     : xlmig_vbd_blkback_open(m->domid, (uint32_t)di.devid,
                                              &in, err);
            libxl_diskinfo_dispose(&di);
            if (rc == 0 && !(v = xvbd_wrap(in, x->path, err))) {
                in->ops->close(in);
                rc = -err->code;
            }
        }
        if (rc < 0)
            return rc;
        m->vbds[m->nvbds] = v;
        m->names[m->nvbds++] = x->vdev;
    }
    return 0;
}

static int negotiate(struct xest *m, const char *host,
                     struct xlmig_error *err)
{
    char *r = NULL;
    int rc;

    if (!m->o->ssh[0])
        r = strdup(host);
    else if (asprintf(&r, "exec %s %s xl migrate-receive --with-storage "
                      "--estimate%s", m->o->ssh, host, m->o->fwd) < 0)
        r = NULL;
    if (!r)
        return xlmig_fail(err, ENOMEM, "out of memory");
    m->child = xlmig_spawn(r, &m->rfd, &m->wfd, false, err);
    free(r);
    if (m->child < 0)
        return (int)m->child;
    if ((rc = xcfg_send(m->wfd, m->kind, m->text, strlen(m->text),
                        err)) < 0 ||
        (rc = xctl_send(m->wfd, &m->offer, XLP_WAIT_PEER_MS, err)) < 0 ||
        (rc = xctl_recv(m->rfd, &m->acc, XCTL_ACCEPT, XLP_WAIT_PEER_MS,
                        err)) < 0)
        return rc;
    return 0;
}

static void show(struct xest *m, const struct xlmig_estimate *e)
{
    char line[4096];

    xlx_log(m->obs, XLMIG_LOG_INFO, "estimate: %u disk(s), %.1f MiB "
            "allocated; round trip %.2f ms, link %.1f MB/s, pipeline %.1f "
            "MB/s; the guest dirties %.2f MB/s (%.1f MiB distinct in "
            "%.1f s); memory %.0f MiB", e->ndisks,
            (double)e->allocated_bytes / 1048576.0, e->rtt_ms,
            e->link_Bps / 1e6, e->pipeline_Bps / 1e6, e->dirty_Bps / 1e6,
            (double)e->working_set_bytes / 1048576.0, e->sample_s,
            (double)m->memory_bytes / 1048576.0);
    xlx_log(m->obs, XLMIG_LOG_INFO, "predicted: total %.1f s (PUSH %.1f s, "
            "%u dirty pass(es), %s; memory %.1f s), disk downtime %.1f ms, "
            "%llu final block(s) %s, %.1f MiB on the wire", e->total_s,
            e->push_s, e->passes, e->stop_reason, e->memory_s,
            e->downtime_ms, (unsigned long long)e->final_blocks,
            e->postcopy ? "left for post-copy" : "sent within the downtime",
            (double)e->wire_bytes / 1048576.0);
    xlmig_estimate_json(e, line, sizeof(line));
    if (m->o->json) {
        printf("%s\n", line);
        fflush(stdout);
    } else {
        xlx_log(m->obs, XLMIG_LOG_INFO, "%s", line);
    }
}

int xsrc_estimate(const struct xsrc_opts *o, const char *domain,
                  const char *host, const struct xflow_observer *obs)
{
    struct xest m = { .o = o, .obs = obs, .rfd = -1, .wfd = -1,
                      .child = -1 };
    struct xlmig_source_hooks h = { .opaque = &m };
    struct xlmig_estimate_opts eo;
    struct xlmig_source *s = NULL;
    struct xlmig_estimate e;
    struct xlmig_error err;
    int rc;

    libxl_domain_config_init(&m.dc);
    xlmig_estimate_opts_init(&eo);
    if (o->sample_s > 0)
        eo.sample_s = o->sample_s;
    rc = o->so.offline ? stopped_guest(&m, domain, &err)
                       : running_guest(&m, domain, &err);
    if (!rc && !(rc = open_disks(&m, &err)) &&
        !(rc = negotiate(&m, host, &err)) &&
        !(rc = xlmig_source_new(&o->so, &h, &s, &err))) {
        xlmig_source_set_observer(s, NULL, obs->log, obs->opaque);
        rc = xlmig_source_set_channel(s, m.rfd, m.wfd);
        for (unsigned i = 0; i < m.nvbds && !rc; i++)
            rc = xlmig_source_add_disk(s, m.names[i], m.vbds[i]);
        eo.memory_bytes = m.memory_bytes;
        if (!rc)
            xlx_log(obs, XLMIG_LOG_INFO, "estimating: watching the guest for "
                    "%.0f s", eo.sample_s);
        rc = rc ? rc : xlmig_source_estimate(s, &eo, &e);
        if (rc < 0)
            xlmig_fail(&err, -rc, "%s", xlmig_source_error(s));
        else
            show(&m, &e);
    }
    if (rc < 0)
        xlx_log(obs, XLMIG_LOG_ERROR, "estimate failed: %s", err.msg);
    xlmig_source_free(s);
    for (unsigned i = 0; i < m.nvbds; i++)
        xlmig_vbd_close(m.vbds[i]);
    if (m.wfd >= 0 && m.wfd != m.rfd)
        close(m.wfd);
    if (m.rfd >= 0)
        close(m.rfd);
    if (m.child > 0)
        waitpid(m.child, NULL, 0);
    free(m.text);
    libxl_domain_config_dispose(&m.dc);
    if (m.have_x)
        xlx_close(&m.x);
    return rc < 0 ? 1 : 0;
}

/* ---- the destination ---- */

int xdst_estimate(const struct xdst_opts *o, const struct xflow_observer *obs)
{
    struct xlmig_dest_opts dopts;
    struct xlmig_dest *d = NULL;
    struct xctl_msg offer, acc;
    struct xlmig_target_policy ep;
    libxl_domain_config dc;
    char specs[XLMIG_MAX_DISKS][XCFG_SPEC_MAX], *text = NULL;
    struct xtpolicy pol;
    struct xlmig_error err;
    struct xlx x;
    bool have_x = false;
    unsigned nspecs;
    uint32_t kind;
    size_t len;
    int rc = 0;

    libxl_domain_config_init(&dc);
    memset(&pol, 0, sizeof(pol));
    memset(&acc, 0, sizeof(acc));
    pol.target_dir = o->target_dir;
    pol.allow_existing = o->allow_existing;
    for (unsigned i = 0; i < o->nmaps && !rc; i++)
        rc = xtp_add_map(&pol, o->maps[i], &err);
    if (rc || (rc = xcfg_recv(o->rfd, &kind, &text, &len, XLP_WAIT_PEER_MS,
                              &err)) < 0)
        goto fail;
    if (kind == XCFG_JSON) {
        if ((rc = xlx_open(&x, o->verbose, obs, &err)) < 0)
            goto fail;
        have_x = true;
        if (libxl_domain_config_from_json(x.ctx, &dc, text)) {
            rc = xlmig_fail(&err, EINVAL, "bad config");
            goto refuse;
        }
    } else if ((rc = xcfg_parse(text, len, &dc, specs, &nspecs, &err)) < 0) {
        goto refuse;
    }
    if ((rc = xctl_recv(o->rfd, &offer, XCTL_OFFER, XLP_WAIT_PEER_MS,
                        &err)) < 0)
        goto fail;
    acc.type = XCTL_ACCEPT;
    acc.chan = XCTL_CHAN_SSH;           /* this very session */
    /* The same choice as a migration's, checked against this host. */
    if ((rc = xtp_choose(&pol, &dc, &offer, true, &ep, &acc, &err)) < 0)
        goto refuse;
    if ((rc = xctl_send(o->wfd, &acc, XLP_WAIT_PEER_MS, &err)) < 0)
        goto fail;
    xlmig_dest_opts_init(&dopts);
    dopts.allow_existing = pol.allow_existing;
    dopts.target_dir = pol.target_dir;
    if ((rc = xlmig_dest_new(&dopts, NULL, &d, &err)) < 0)
        goto fail;
    xlmig_dest_set_observer(d, obs->event, obs->log, obs->opaque);
    for (unsigned i = 0; i < ep.nmap && !rc; i++)
        rc = xlmig_dest_map(d, ep.map[i].name, ep.map[i].path);
    rc = rc ? rc : xlmig_dest_set_channel(d, o->rfd, o->wfd);
    rc = rc ? rc : xlmig_dest_run(d);
    if (rc)
        xlmig_fail(&err, EIO, "%s", xlmig_dest_error(d));
    goto out;
refuse:
    {
        struct xctl_msg r;
        struct xlmig_error e2;

        memset(&r, 0, sizeof(r));
        r.type = XCTL_REFUSE;
        r.code = (uint32_t)err.code;
        snprintf(r.reason, sizeof(r.reason), "%s", err.msg);
        xctl_send(o->wfd, &r, XLP_WAIT_ABORT_MS, &e2);
    }
fail:
out:
    if (rc)
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
    xlmig_dest_free(d);
    free(text);
    libxl_domain_config_dispose(&dc);
    if (have_x)
        xlx_close(&x);
    return rc ? 1 : 0;
}
