/*
 * Cold migration with Xen: `xlmig migrate --offline [-C xl.cfg] DOMAIN
 * HOST` and its destination `xl migrate-receive --with-storage --offline`
 * (xcold.h has the channel).  The guest is stopped (a running one is
 * refused, or shut down first with --shutdown), so its disks do not change
 * and no engine process, tracking or memory stream is needed: this process
 * runs the library with opts.offline on the ssh session itself.  The
 * destination places the disks by its own policy (--target-dir, --map:
 * tpolicy.h), keeps a partial copy if the migration stops (run it again to
 * go on), writes the guest's xl.cfg with the disks at their new places
 * (config dir, default /etc/xen, never over an existing file) once every
 * block is there, and creates the guest only with --start.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxl_utils.h>

#include "disks.h"
#include "image.h"
#include "tpolicy.h"
#include "transport.h"
#include "xcold.h"
#include "xlproto.h"
#include "xlx.h"

#define SHUTDOWN_S 300          /* a guest asked to shut down */
#define CREATE_S 300            /* xl create of the moved guest */

/* ---- shared ---- */

/* The remote command: xl migrate-receive --with-storage <mode> and what
 * the destination decides with (with -s "", HOST is the whole command). */
static char *rune(const struct xsrc_opts *o, const char *host,
                  const char *mode)
{
    char *r = NULL;

    if (!o->ssh[0])
        return strdup(host);
    if (asprintf(&r, "exec %s %s xl migrate-receive --with-storage %s%s",
                 o->ssh, host, mode, o->fwd) < 0)
        return NULL;
    return r;
}

static int read_text(const char *path, char **text, size_t *len,
                     struct xlmig_error *err)
{
    FILE *f = fopen(path, "re");
    size_t cap = 0;
    ssize_t n;

    *text = NULL;
    if (!f)
        return xlmig_fail(err, errno, "%s: %s", path, strerror(errno));
    n = getdelim(text, &cap, '\0', f);
    fclose(f);
    if (n < 0 || (size_t)n > XCFG_MAX) {
        free(*text);
        *text = NULL;
        return xlmig_fail(err, EINVAL, "%s: empty, unreadable or over %u "
                          "bytes", path, XCFG_MAX);
    }
    *len = (size_t)n;
    return 0;
}

/* ---- the source ---- */

struct xcold {
    const struct xsrc_opts *o;
    const struct xflow_observer *obs;
    libxl_domain_config dc;
    char specs[XLMIG_MAX_DISKS][XCFG_SPEC_MAX];
    unsigned nspecs;
    char *text;
    size_t len;
    struct xdisk disks[XLMIG_MAX_DISKS];
    unsigned nd;
    struct xctl_msg offer, acc;
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS];
    const char *paths[XLMIG_MAX_DISKS];
    unsigned nvbds;
    int rfd, wfd;
    pid_t child;
};

/* The guest must not run: refused, or shut down (and gone) first. */
static int stop_guest(struct xcold *m, struct xlmig_error *err)
{
    const char *name = m->dc.c_info.name;
    struct xlx x;
    uint32_t domid;
    int rc;

    /* Not a Xen host at all (images prepared elsewhere, tests): nothing
     * can run here.  On a Xen host, libxl must answer. */
    if (access("/proc/xen", F_OK) < 0 && access("/dev/xen/privcmd", F_OK) < 0)
        return 0;
    if ((rc = xlx_open(&x, m->o->verbose, m->obs, err)) < 0)
        return rc;
    if (libxl_name_to_domid(x.ctx, name, &domid)) {
        xlx_close(&x);
        return 0;               /* not running */
    }
    if (!m->o->shutdown) {
        xlx_close(&x);
        return xlmig_fail(err, EBUSY, "domain %s is running (id %u): "
                          "--offline moves stopped guests; shut it down "
                          "first, or pass --shutdown", name, domid);
    }
    xlx_log(m->obs, XLMIG_LOG_INFO, "shutting domain %s (id %u) down",
            name, domid);
    if (libxl_domain_shutdown(x.ctx, domid, NULL)) {
        xlx_close(&x);
        return xlmig_fail(err, EIO, "domain %s did not take the shutdown "
                          "request (no PV drivers?)", name);
    }
    for (int waited = 0; waited < SHUTDOWN_S * 2; waited++) {
        struct timespec t = { 0, 500 * 1000 * 1000 };
        libxl_dominfo info;

        libxl_dominfo_init(&info);
        rc = libxl_domain_info(x.ctx, &info, domid);
        if (rc == ERROR_DOMAIN_NOTFOUND) {
            libxl_dominfo_dispose(&info);
            xlx_close(&x);
            xlx_log(m->obs, XLMIG_LOG_INFO, "domain %s is shut down", name);
            return 0;
        }
        /* Nobody reaps it (created by a migration): we do. */
        if (!rc && info.shutdown)
            libxl_domain_destroy(x.ctx, domid, NULL);
        libxl_dominfo_dispose(&info);
        nanosleep(&t, NULL);
    }
    xlx_close(&x);
    return xlmig_fail(err, ETIMEDOUT, "domain %s did not shut down within "
                      "%d s; it still runs", name, SHUTDOWN_S);
}

static int select_disks(struct xcold *m, struct xlmig_error *err)
{
    int nmig = xdisk_select_opts(&m->dc, m->o->storage, m->o->shared,
                                 m->disks, &m->nd, err);

    if (nmig < 0)
        return nmig;
    if (!nmig)
        return xlmig_fail(err, ENOENT, "no disk of %s to move",
                          m->dc.c_info.name);
    memset(&m->offer, 0, sizeof(m->offer));
    m->offer.type = XCTL_OFFER;
    for (unsigned i = 0; i < m->nd; i++) {
        struct xdisk *x = &m->disks[i];
        struct xctl_disk *od;
        struct xlmig_image im;
        int rc;

        xlx_log(m->obs, XLMIG_LOG_INFO, "%s %s: %s%s%s", x->vdev,
                x->action == XDISK_MIGRATE ? "moves" : "stays",
                x->path[0] ? x->path : "(empty)", x->why[0] ? " - " : "",
                x->why);
        if (x->action != XDISK_MIGRATE)
            continue;
        if ((rc = xlmig_image_open(&im, x->path, false, err)) < 0)
            return rc;
        od = &m->offer.disks[m->offer.ndisks++];
        snprintf(od->name, sizeof(od->name), "%s", x->vdev);
        od->kind = x->kind;
        od->size = im.size;
        xlmig_image_close(&im);
        if ((rc = xlmig_vbd_image_open(x->path, &m->vbds[m->nvbds],
                                       err)) < 0)
            return rc;
        m->paths[m->nvbds++] = x->kind == XCTL_KIND_FILE ? x->path : NULL;
    }
    return 0;
}

static int negotiate(struct xcold *m, const char *host,
                     struct xlmig_error *err)
{
    char *r = rune(m->o, host, "--offline");
    int rc;

    if (!r)
        return xlmig_fail(err, ENOMEM, "out of memory");
    m->child = xlmig_spawn(r, &m->rfd, &m->wfd, false, err);
    free(r);
    if (m->child < 0)
        return (int)m->child;
    if ((rc = xcfg_send(m->wfd, XCFG_XL, m->text, m->len, err)) < 0 ||
        (rc = xctl_send(m->wfd, &m->offer, XLP_WAIT_PEER_MS, err)) < 0 ||
        (rc = xctl_recv(m->rfd, &m->acc, XCTL_ACCEPT, XLP_WAIT_PEER_MS,
                        err)) < 0)
        return rc;
    for (uint32_t i = 0; i < m->acc.ndisks; i++)
        xlx_log(m->obs, XLMIG_LOG_INFO, "%s -> %s:%s", m->acc.disks[i].name,
                host, m->acc.disks[i].path);
    return 0;
}

static int copy(struct xcold *m, struct xlmig_error *err)
{
    struct xlmig_source_hooks h = { .opaque = m };
    struct xlmig_source_opts so = m->o->so;
    struct xlmig_source_report rep;
    struct xlmig_source *s;
    char line[4096];
    int rc;

    so.offline = true;
    so.postcopy = false;
    if ((rc = xlmig_source_new(&so, &h, &s, err)) < 0)
        return rc;
    xlmig_source_set_observer(s, m->obs->event, m->obs->log, m->obs->opaque);
    rc = xlmig_source_set_channel(s, m->rfd, m->wfd);
    for (unsigned i = 0, k = 0; i < m->nd && !rc; i++)
        if (m->disks[i].action == XDISK_MIGRATE)
            rc = xlmig_source_add_disk(s, m->disks[i].vdev, m->vbds[k++]);
    rc = rc ? rc : xlmig_source_run(s);
    xlmig_source_get_report(s, &rep);
    xlmig_source_report_json(s, line, sizeof(line));
    xlx_log(m->obs, XLMIG_LOG_INFO, "%s", line);
    if (rc) {
        xlmig_fail(err, EIO, "%s", xlmig_source_error(s));
        xlmig_source_free(s);
        return rc == XLMIG_RESULT_UNKNOWN ? 3 : 1;
    }
    xlx_log(m->obs, XLMIG_LOG_INFO, "%.1f MiB moved in %.1f s (%llu "
            "block(s) were there from an earlier attempt)%s%s",
            (double)rep.allocated_bytes / 1048576.0, rep.total_s,
            (unsigned long long)rep.resumed_blocks,
            rep.verify_result ? "; verification " : "",
            rep.verify_result ? rep.verify_result : "");
    rc = 0;
    if (m->o->remove_source) {
        if (rep.verify_result && strcmp(rep.verify_result, "passed")) {
            xlx_log(m->obs, XLMIG_LOG_WARN, "--remove-source refused: "
                    "verification %s (%s); the source images are kept",
                    rep.verify_result, rep.verify_mismatches);
            rc = 4;
        } else {
            for (unsigned i = 0; i < m->nvbds; i++)
                if (m->paths[i] && unlink(m->paths[i]) == 0)
                    xlx_log(m->obs, XLMIG_LOG_INFO, "removed %s",
                            m->paths[i]);
        }
    }
    xlmig_source_free(s);
    return rc;
}

int xsrc_offline(const struct xsrc_opts *o, const char *domain,
                 const char *host, const struct xflow_observer *obs)
{
    struct xcold m = { .o = o, .obs = obs, .rfd = -1, .wfd = -1,
                       .child = -1 };
    char defpath[4200];
    const char *path = o->config;
    struct xlmig_error err;
    int rc;

    libxl_domain_config_init(&m.dc);
    if (!path) {
        snprintf(defpath, sizeof(defpath), "/etc/xen/%s.cfg", domain);
        path = defpath;
    }
    if ((rc = read_text(path, &m.text, &m.len, &err)) < 0 ||
        (rc = xcfg_parse(m.text, m.len, &m.dc, m.specs, &m.nspecs,
                         &err)) < 0 ||
        (rc = stop_guest(&m, &err)) < 0 ||
        (rc = select_disks(&m, &err)) < 0 ||
        (rc = negotiate(&m, host, &err)) < 0)
        rc = 1;
    else
        rc = copy(&m, &err);
    if (rc && rc != 4) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        xlx_say(obs, "Migration failed; the guest's disks here are "
                "untouched%s.", m.acc.ndisks ? " (run it again to go on "
                "from what the destination has)" : "");
    } else {
        xlx_say(obs, "Migration successful: %s is on %s.", m.dc.c_info.name,
                host);
    }
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
    return rc;
}

/* ---- the destination ---- */

struct xcoldd {
    const struct xdst_opts *o;
    const struct xflow_observer *obs;
    libxl_domain_config dc;
    char specs[XLMIG_MAX_DISKS][XCFG_SPEC_MAX];
    unsigned nspecs;
    char *text;
    size_t len;
    struct xctl_msg offer, acc;
    struct xlmig_target_policy ep;
    char cfg_path[4200];
    bool cfg_written;
};

static void refuse(const struct xcoldd *m, const struct xlmig_error *why)
{
    struct xctl_msg r;
    struct xlmig_error e;

    memset(&r, 0, sizeof(r));
    r.type = XCTL_REFUSE;
    r.code = (uint32_t)why->code;
    snprintf(r.reason, sizeof(r.reason), "%s", why->msg);
    xctl_send(m->o->wfd, &r, XLP_WAIT_ABORT_MS, &e);
}

/* Writes the rewritten xl.cfg, never over an existing file. */
static int write_cfg(struct xcoldd *m, struct xlmig_error *err)
{
    char tmp[4300], *text = xcfg_rewrite(m->text, &m->dc, m->specs,
                                         m->nspecs, &m->acc, err);
    size_t n;
    int fd;

    if (!text)
        return -err->code;
    n = strlen(text);
    snprintf(tmp, sizeof(tmp), "%s.xlmig-tmp", m->cfg_path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || xlp_write_all(fd, text, n, -1) < 0 || fsync(fd) < 0) {
        xlmig_fail(err, errno, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        free(text);
        return -err->code;
    }
    close(fd);
    free(text);
    /* link() fails rather than replace what is there. */
    if (link(tmp, m->cfg_path) < 0) {
        xlmig_fail(err, errno, "%s: %s", m->cfg_path, strerror(errno));
        unlink(tmp);
        return -err->code;
    }
    unlink(tmp);
    m->cfg_written = true;
    xlx_log(m->obs, XLMIG_LOG_INFO, "wrote %s", m->cfg_path);
    return 0;
}

/* xl create of the moved guest, bounded. */
static int create_guest(struct xcoldd *m, struct xlmig_error *err)
{
    const char *xl = getenv("XLMIG_REAL_XL");
    pid_t pid;
    int status;

    if (!xl || !*xl)
        xl = "xl";
    pid = fork();
    if (pid < 0)
        return xlmig_fail(err, errno, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Our stdin and stdout are the data channel: not xl's (its daemon
         * would hold them open). */
        int nul = open("/dev/null", O_RDONLY);

        if (nul >= 0)
            dup2(nul, 0);
        dup2(2, 1);
        if (m->o->pause)
            execlp(xl, xl, "create", "-p", m->cfg_path, (char *)NULL);
        else
            execlp(xl, xl, "create", m->cfg_path, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < CREATE_S * 10; waited++) {
        struct timespec t = { 0, 100 * 1000 * 1000 };
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return WIFEXITED(status) && !WEXITSTATUS(status)
                       ? 0
                       : xlmig_fail(err, EIO, "xl create %s failed (status "
                                    "%d)", m->cfg_path,
                                    WIFEXITED(status) ? WEXITSTATUS(status)
                                                      : -1);
        nanosleep(&t, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return xlmig_fail(err, ETIMEDOUT, "xl create %s did not finish within "
                      "%d s", m->cfg_path, CREATE_S);
}

/* Every block is here: the configuration, and the guest if asked. */
static int h_start(void *opaque, struct xlmig_dest *d)
{
    struct xcoldd *m = opaque;
    struct xlmig_error err;
    int rc;

    if ((rc = write_cfg(m, &err)) < 0)
        return xlmig_dest_set_error(d, -rc, "%s", err.msg);
    if (!m->o->start)
        return 0;
    if ((rc = create_guest(m, &err)) < 0) {
        unlink(m->cfg_path);
        m->cfg_written = false;
        return xlmig_dest_set_error(d, -rc, "%s", err.msg);
    }
    xlx_say(m->obs, "migration target: domain %s created from %s",
            m->dc.c_info.name, m->cfg_path);
    return 0;
}

static int dnegotiate(struct xcoldd *m, struct xtpolicy *pol,
                      struct xlmig_error *err)
{
    uint32_t kind;
    struct stat st;
    int rc;

    if ((rc = xcfg_recv(m->o->rfd, &kind, &m->text, &m->len,
                        XLP_WAIT_PEER_MS, err)) < 0)
        return rc;
    if (kind != XCFG_XL)
        return xlmig_fail(err, EPROTO, "a cold migration needs an xl.cfg");
    if ((rc = xcfg_parse(m->text, m->len, &m->dc, m->specs, &m->nspecs,
                         err)) < 0 ||
        (rc = xctl_recv(m->o->rfd, &m->offer, XCTL_OFFER, XLP_WAIT_PEER_MS,
                        err)) < 0)
        return rc;
    snprintf(m->cfg_path, sizeof(m->cfg_path), "%s/%s.cfg",
             m->o->config_dir ? m->o->config_dir : "/etc/xen",
             m->dc.c_info.name);
    memset(&m->acc, 0, sizeof(m->acc));
    m->acc.type = XCTL_ACCEPT;
    m->acc.chan = XCTL_CHAN_SSH;        /* this very session */
    /* The targets' existence is the engine's to judge: a partial copy of
     * an earlier attempt is ours to resume. */
    if ((rc = xtp_choose(pol, &m->dc, &m->offer, false, &m->ep, &m->acc,
                         err)) < 0)
        goto refused;
    if (stat(m->cfg_path, &st) == 0) {
        rc = xlmig_fail(err, EEXIST, "%s exists: a guest of that name is "
                        "configured here already", m->cfg_path);
        goto refused;
    }
    if (pol->target_dir && mkdir(pol->target_dir, 0700) < 0 &&
        errno != EEXIST) {
        rc = xlmig_fail(err, errno, "%s: %s", pol->target_dir,
                        strerror(errno));
        goto refused;
    }
    return xctl_send(m->o->wfd, &m->acc, XLP_WAIT_PEER_MS, err);
refused:
    refuse(m, err);
    return rc;
}

int xdst_offline(const struct xdst_opts *o, const struct xflow_observer *obs)
{
    struct xcoldd m = { .o = o, .obs = obs };
    struct xlmig_dest_hooks h = { .opaque = &m, .start_guest = h_start };
    struct xlmig_dest_opts dopts;
    struct xlmig_dest *d = NULL;
    struct xtpolicy pol;
    struct xlmig_error err;
    char line[4096];
    int rc;

    libxl_domain_config_init(&m.dc);
    memset(&pol, 0, sizeof(pol));
    pol.target_dir = o->target_dir;
    pol.allow_existing = o->allow_existing;
    rc = 0;
    for (unsigned i = 0; i < o->nmaps && !rc; i++)
        rc = xtp_add_map(&pol, o->maps[i], &err);
    if (rc || (rc = dnegotiate(&m, &pol, &err)) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        goto out;
    }
    xlmig_dest_opts_init(&dopts);
    dopts.allow_existing = pol.allow_existing;
    dopts.peer_timeout_ms = o->peer_timeout_ms;
    if ((rc = xlmig_dest_new(&dopts, &h, &d, &err)) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        goto out;
    }
    xlmig_dest_set_observer(d, obs->event, obs->log, obs->opaque);
    for (unsigned i = 0; i < m.ep.nmap && !rc; i++)
        rc = xlmig_dest_map(d, m.ep.map[i].name, m.ep.map[i].path);
    rc = rc ? rc : xlmig_dest_set_channel(d, o->rfd, o->wfd);
    rc = rc ? rc : xlmig_dest_run(d);
    xlmig_dest_report_json(d, line, sizeof(line));
    xlx_log(obs, XLMIG_LOG_INFO, "%s", line);
    if (rc)
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", xlmig_dest_error(d));
out:
    xlmig_dest_free(d);
    free(m.text);
    libxl_domain_config_dispose(&m.dc);
    return rc == 0 ? 0 : rc < 0 ? 1 : 3;
}
