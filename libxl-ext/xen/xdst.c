/*
 * xlmig migrate-receive --with-storage: the destination of xlmig migrate,
 * speaking xl migrate-receive's protocol on xl's channel (stdin/stdout).
 * Chooses the disks' targets by its own policy (tpolicy.h), has the disk
 * engine (engine.h) create and fill them while the source pushes, creates
 * the domain from libxl's stream (paused, as xl) and tells the engine
 * which devices to gate, then answers the engine:
 *
 *   READY     READY on xl's channel, wait for GO
 *   START     rename, unpause, REPORT (as xl)
 *   ROLLBACK  destroy the domain before the engine deletes the targets
 *
 * With --data-channel SESSION it is the helper of the ssh data channel.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxl_utils.h>

#include "ctlmsg.h"
#include "datachan.h"
#include "engine.h"
#include "mrelay.h"
#include "tpolicy.h"
#include "transport.h"
#include "xlproto.h"
#include "xlx.h"

struct xdst {
    const struct xdst_opts *o;
    const struct xflow_observer *obs;
    struct xtpolicy pol;
    struct eng eng;
    struct xlx x;
    libxl_domain_config dc;
    char uuid[40], *json, *common;
    uint32_t flags, domid;
    struct xctl_msg offer, acc;
    struct xlmig_target_policy ep;
    char sock_path[4096];
    int lfd;
    bool created, started;
};

void xdst_opts_init(struct xdst_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->nice = 10;
    o->peer_timeout_ms = 30000;
    o->recover_timeout_s = 3600;
    o->rfd = 0;
    o->wfd = 1;
}

static int make_policy(const struct xdst_opts *o, struct xtpolicy *p,
                       struct xlmig_error *err)
{
    int rc;

    memset(p, 0, sizeof(*p));
    p->target_dir = o->target_dir;
    p->allow_existing = o->allow_existing;
    for (unsigned i = 0; i < o->nmaps; i++)
        if ((rc = xtp_add_map(p, o->maps[i], err)) < 0)
            return rc;
    return 0;
}

int xdst_check(const struct xdst_opts *o, struct xlmig_error *err)
{
    struct xtpolicy p;

    return make_policy(o, &p, err);
}

int xdst_data_helper(const char *session, const char *rundir,
                     struct xlmig_error *err)
{
    return dch_helper(rundir ? rundir : XFLOW_RUNDIR, session, err);
}

static const char *rundir(const struct xdst *m)
{
    return m->o->rundir ? m->o->rundir : XFLOW_RUNDIR;
}

/* The data channel the ACCEPT announces: listening, not yet connected. */
static int prepare_data(struct xdst *m, struct xlmig_error *err)
{
    char hex[33];
    int port = 0;

    if (xlmig_random_token(m->acc.token, err) < 0)
        return -err->code;
    if (m->offer.flags & XCTL_F_TCP) {
        int fd = xlmig_tcp_listen(NULL, m->o->data_port ? m->o->data_port
                                                        : "0", &port, err);
        m->acc.chan = XCTL_CHAN_TCP;
        m->acc.port = (uint16_t)port;
        return fd;
    }
    m->acc.chan = XCTL_CHAN_SSH;
    xctl_session_hex(m->acc.token, hex);
    return dch_session_listen(rundir(m), hex, m->sock_path,
                              sizeof(m->sock_path), err);
}

static void refuse(struct xdst *m, const struct xlmig_error *why)
{
    struct xctl_msg r;
    struct xlmig_error err;

    memset(&r, 0, sizeof(r));
    r.type = XCTL_REFUSE;
    r.code = (uint32_t)why->code;
    snprintf(r.reason, sizeof(r.reason), "%s", why->msg);
    xctl_send(m->o->wfd, &r, XLP_WAIT_ABORT_MS, &err);
}

/* Who the source is, for jobinfo: the TCP peer, else ssh's SSH_CLIENT. */
static void source_peer(int fd, char *out, size_t len)
{
    struct sockaddr_storage a;
    socklen_t al = sizeof(a);
    const char *ssh = getenv("SSH_CLIENT");
    char host[NI_MAXHOST];

    if (fd >= 0 && !getpeername(fd, (struct sockaddr *)&a, &al) &&
        !getnameinfo((struct sockaddr *)&a, al, host, sizeof(host), NULL, 0,
                     NI_NUMERICHOST))
        snprintf(out, len, "%s", host);
    else if (ssh && *ssh)
        snprintf(out, len, "%.*s", (int)strcspn(ssh, " "), ssh);
    else
        snprintf(out, len, "source");
}

/* Banner, header, OFFER -> targets chosen, data channel ready, ACCEPT. */
static int negotiate(struct xdst *m, struct xlmig_error *err)
{
    int rc;

    xlx_say(m->obs, "migration target: Ready to receive domain.");
    if ((rc = xlp_write_all(m->o->wfd, xlp_banner, xlp_banner_len,
                            XLP_WAIT_PEER_MS)) < 0)
        return xlmig_fail(err, -rc, "writing the banner: %s", strerror(-rc));
    if ((rc = xlp_read_header(m->o->rfd, &m->json, &m->flags,
                              XLP_WAIT_PEER_MS, err)) < 0)
        return rc;
    if (libxl_domain_config_from_json(m->x.ctx, &m->dc, m->json))
        return xlmig_fail(err, EINVAL, "bad config");
    xlx_uuid_string(&m->dc.c_info.uuid, m->uuid);
    /* Storage negotiation: our policy decides every target. */
    if ((rc = xctl_recv(m->o->rfd, &m->offer, XCTL_OFFER, XLP_WAIT_PEER_MS,
                        err)) < 0)
        return rc;
    memset(&m->acc, 0, sizeof(m->acc));
    m->acc.type = XCTL_ACCEPT;
    if ((rc = xtp_choose(&m->pol, &m->dc, &m->offer, true, &m->ep, &m->acc,
                         err)) < 0 ||
        (m->pol.target_dir && mkdir(m->pol.target_dir, 0700) < 0 &&
         errno != EEXIST &&
         (rc = xlmig_fail(err, errno, "%s: %s", m->pol.target_dir,
                          strerror(errno))) < 0) ||
        (m->lfd = prepare_data(m, err)) < 0) {
        refuse(m, err);
        return rc < 0 ? rc : -err->code;
    }
    for (unsigned i = 0; i < m->ep.nmap; i++) {
        struct eng_msg e;

        eng_msg_init(&e, ENG_MAP);
        snprintf(e.name, sizeof(e.name), "%s", m->ep.map[i].name);
        snprintf(e.path, sizeof(e.path), "%s", m->ep.map[i].path);
        if ((rc = eng_send(&m->eng, &e, NULL, 0, err)) < 0)
            return rc;
    }
    return xctl_send(m->o->wfd, &m->acc, XLP_WAIT_PEER_MS, err);
}

/* The data channel arrives; the engine takes it and negotiates. */
static int start_engine(struct xdst *m, struct xlmig_error *err)
{
    int fds[3] = { -1, -1, -1 }, nfds, rc;
    struct eng_msg s;

    if (m->acc.chan == XCTL_CHAN_TCP) {
        fds[0] = xlmig_tcp_accept(m->lfd, 120000, m->acc.token, err);
        nfds = fds[0] < 0 ? 0 : 1;
    } else {
        nfds = dch_session_accept(m->lfd, 120000, &fds[0], &fds[1], &fds[2],
                                  err) < 0 ? 0 : 3;
    }
    if (!nfds)
        return -err->code;
    /* The listener goes to the engine: a broken post-copy resumes
     * through it (the engine removes the session's socket at the end). */
    fds[nfds++] = m->lfd;
    eng_msg_init(&s, ENG_SETUP);
    s.so.peer_timeout_ms = m->o->peer_timeout_ms;
    s.so.recover_timeout_s = m->o->recover_timeout_s;
    if (m->acc.chan == XCTL_CHAN_TCP) {
        s.flags |= ENG_F_TCP;
        memcpy(s.data_token, m->acc.token, sizeof(s.data_token));
    } else {
        snprintf(s.sock_path, sizeof(s.sock_path), "%s", m->sock_path);
    }
    s.allow_existing = m->pol.allow_existing;
    s.nice = m->o->nice;
    snprintf(s.uuid, sizeof(s.uuid), "%s", m->uuid);
    snprintf(s.domname, sizeof(s.domname), "%s",
             m->dc.c_info.name ? m->dc.c_info.name : "");
    snprintf(s.rundir, sizeof(s.rundir), "%s", rundir(m));
    snprintf(s.logdir, sizeof(s.logdir), "%s",
             m->o->logdir ? m->o->logdir : XFLOW_LOGDIR);
    source_peer(m->acc.chan == XCTL_CHAN_TCP ? fds[0] : -1, s.text,
                sizeof(s.text));
    rc = eng_send(&m->eng, &s, fds, nfds, err);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    m->lfd = -1;
    if (rc == 0)
        m->sock_path[0] = '\0';        /* the engine's now */
    for (unsigned i = 0; i < m->ep.nmap && rc == 0; i++)
        xlx_log(m->obs, XLMIG_LOG_INFO, "disk %s -> %s", m->ep.map[i].name,
                m->ep.map[i].path);
    return rc;
}

/* While the disks stream: the source's MEMORY (0), its ABORT, or the
 * engine's end (the source hears of it on the data channel). */
static int wait_memory(struct xdst *m, struct xlmig_error *err)
{
    struct pollfd p[2] = { { .fd = m->o->rfd, .events = POLLIN },
                           { .fd = m->eng.sock, .events = POLLIN } };
    struct xctl_msg msg;

    while (poll(p, 2, -1) < 0)
        if (errno != EINTR)
            return xlmig_fail(err, errno, "poll: %s", strerror(errno));
    if (p[1].revents) {
        struct eng_msg e;

        if (eng_recv(&m->eng, &e, 1000, err) == 0)
            xlmig_fail(err, EIO, "disk engine: %s", e.text);
        return -err->code;
    }
    /* The source has started the memory stream: bounded like any peer. */
    return xctl_recv(m->o->rfd, &msg, XCTL_MEMORY, XLP_WAIT_PEER_MS, err);
}

static int disk_devids(struct xdst *m, struct eng_msg *a)
{
    for (uint32_t k = 0; k < m->offer.ndisks; k++)
        for (int i = 0; i < m->dc.num_disks; i++) {
            libxl_diskinfo di;

            if (strcmp(m->dc.disks[i].vdev, m->offer.disks[k].name))
                continue;
            libxl_diskinfo_init(&di);
            if (libxl_device_disk_getinfo(m->x.ctx, m->domid,
                                          &m->dc.disks[i], &di))
                return -ENODEV;
            a->devids[k] = (uint32_t)di.devid;
            libxl_diskinfo_dispose(&di);
        }
    a->ndevids = m->offer.ndisks;
    return 0;
}

/* Received under a temporary name, paused, as xl does; then the engine
 * learns which devices to gate. */
static int create_domain(struct xdst *m, struct xlmig_error *err)
{
    libxl_domain_restore_params params;
    struct eng_msg a;
    struct mrelay *relay;
    int rc, lock, fd;

    if (m->dc.c_info.name) {
        m->common = m->dc.c_info.name;
        if (asprintf(&m->dc.c_info.name, "%s--incoming", m->common) < 0) {
            m->dc.c_info.name = m->common;
            m->common = NULL;
            return xlmig_fail(err, ENOMEM, "out of memory");
        }
    }
    libxl_domain_restore_params_init(&params);
    params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
    params.stream_version = (m->flags & XLP_FLAG_STREAMV2) ? 2 : 1;
    /* Through the relay: a source that goes silent ends libxl's read
     * after XLP_WAIT_PEER_MS (longer than libxl's 60 s wait for a guest
     * to suspend, during which the stream is quiet). */
    if (mrelay_start(&relay, MRELAY_FROM_PEER, m->o->rfd, XLP_WAIT_PEER_MS,
                     &fd, err) < 0) {
        libxl_domain_restore_params_dispose(&params);
        return -err->code;
    }
    lock = xlx_lock();
    rc = libxl_domain_create_restore(m->x.ctx, &m->dc, &m->domid, fd,
                                     m->o->wfd, &params, NULL, NULL);
    xlx_unlock(lock);
    libxl_domain_restore_params_dispose(&params);
    if (mrelay_finish(relay, err) < 0) {
        if (!rc)
            m->created = true;  /* destroyed by the rollback */
        return -err->code;
    }
    if (rc)
        return xlmig_fail(err, EIO, "domain creation failed (code %d)", rc);
    m->created = true;
    eng_msg_init(&a, ENG_ATTACH);
    a.domid = m->domid;
    if (disk_devids(m, &a) < 0)
        return xlmig_fail(err, ENODEV, "no device information for the "
                          "disks");
    return eng_send(&m->eng, &a, NULL, 0, err);
}

/* ---- answering the engine ---- */

static void on_ready(struct xdst *m)
{
    struct xlmig_error err;

    xlx_say(m->obs, "migration target: Transfer complete, requesting "
            "permission to start domain.");
    if (xlp_write_all(m->o->wfd, xlp_ready, xlp_ready_len,
                      XLP_WAIT_PEER_MS) < 0) {
        eng_answer(&m->eng, ENG_FAIL, -EPIPE, "sending READY failed");
        return;
    }
    if (xlp_expect(m->o->rfd, xlp_go, xlp_go_len, "GO message",
                   XLP_WAIT_GO_MS, &err) < 0) {
        eng_answer(&m->eng, ENG_FAIL, -err.code, err.msg);
        return;
    }
    xlx_say(m->obs, "migration target: Got permission, starting domain.");
    eng_answer(&m->eng, ENG_OK, 0, NULL);
}

/* Rename, unpause, REPORT.  If the guest cannot start, the engine rolls
 * back (ROLLBACK destroys the domain) and the source resumes. */
static void on_start(struct xdst *m)
{
    int rc = m->common ? libxl_domain_rename(m->x.ctx, m->domid,
                                             m->dc.c_info.name, m->common)
                       : 0;
    char rc_buf;

    if (!rc && !m->o->pause)
        rc = libxl_domain_unpause(m->x.ctx, m->domid, NULL);
    rc_buf = (char)-rc;
    if (xlp_write_all(m->o->wfd, xlp_report, xlp_report_len,
                      XLP_WAIT_PEER_MS) < 0 ||
        xlp_write_all(m->o->wfd, &rc_buf, 1, XLP_WAIT_PEER_MS) < 0) {
        /* The guest runs here either way; the source hears of it from
         * the disks' post-copy. */
        if (!rc)
            xlx_log(m->obs, XLMIG_LOG_WARN, "the report did not reach the "
                    "source");
    }
    if (rc) {
        xlx_say(m->obs, "migration target: Failure, destroying our copy.");
        eng_answer(&m->eng, ENG_FAIL, -EIO, "starting the domain failed");
        return;
    }
    m->started = true;
    xlx_say(m->obs, "migration target: Domain started successsfully.");
    eng_answer(&m->eng, ENG_OK, 0, NULL);
}

static void on_rollback(struct xdst *m)
{
    if (m->created && libxl_domain_destroy(m->x.ctx, m->domid, 0) == 0)
        m->created = false;
    eng_answer(&m->eng, ENG_OK, 0, NULL);
}

/* Answers the engine until the guest runs here (0) or it ended (1). */
static int serve(struct xdst *m, bool go_back)
{
    for (;;) {
        struct xlmig_error err;
        struct eng_msg req;

        if (eng_recv(&m->eng, &req, -1, &err) < 0) {
            xlx_log(m->obs, XLMIG_LOG_ERROR, "%s", err.msg);
            return 1;
        }
        switch (req.cmd) {
        case ENG_READY: on_ready(m); break;
        case ENG_START:
            on_start(m);
            if (m->started)
                return 0;
            go_back = true;
            break;
        case ENG_ROLLBACK: on_rollback(m); break;
        case ENG_END:
            if (req.result < 0)
                xlx_log(m->obs, XLMIG_LOG_ERROR, "%s", req.text);
            if (m->created)
                libxl_domain_destroy(m->x.ctx, m->domid, 0);
            if (go_back) {
                xlx_say(m->obs, "migration target: Cleanup OK, granting "
                        "sender permission to resume.");
                xlp_write_all(m->o->wfd, xlp_go, xlp_go_len,
                              XLP_WAIT_PEER_MS);
            }
            xlx_say(m->obs, "migration target: nothing kept here.");
            return 1;
        default:
            eng_answer(&m->eng, ENG_FAIL, -EPROTO, "unexpected request");
        }
    }
}

int xdst_receive(const struct xdst_opts *o, const struct xflow_observer *obs)
{
    struct xdst m = { .o = o, .obs = obs, .lfd = -1 };
    struct xlmig_error err;
    int status = 1, rc;

    if (make_policy(o, &m.pol, &err) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        return 2;
    }
    if (eng_spawn(&m.eng, ENG_DEST, obs, &err) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        return 1;
    }
    libxl_domain_config_init(&m.dc);
    if ((rc = xlx_open(&m.x, o->verbose, obs, &err)) < 0 ||
        (rc = negotiate(&m, &err)) < 0 || (rc = start_engine(&m, &err)) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        goto out;
    }
    if ((rc = wait_memory(&m, &err)) < 0 ||
        (rc = create_domain(&m, &err)) < 0) {
        struct eng_msg c;

        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        /* The engine rolls back: ROLLBACK (destroy), deletion, END. */
        eng_msg_init(&c, ENG_CANCEL);
        eng_send(&m.eng, &c, NULL, 0, &err);
    }
    status = serve(&m, false);
out:
    if (m.lfd >= 0)
        close(m.lfd);
    if (m.sock_path[0])
        unlink(m.sock_path);
    eng_close(&m.eng);
    free(m.json);
    if (m.common) {
        free(m.dc.c_info.name);
        m.dc.c_info.name = m.common;
    }
    libxl_domain_config_dispose(&m.dc);
    xlx_close(&m.x);
    return status;
}
