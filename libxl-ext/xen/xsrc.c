/*
 * xlmig migrate --with-storage: xl migrate (Xen 4.17's protocol, libxl's
 * memory stream) with the guest's local disks moved alongside.  This
 * process owns libxl and xl's control channel; the disk engine (a child,
 * engine.h) runs the library's state machine and asks for what needs
 * them:
 *
 *   banner, header + config          as xl
 *   OFFER / ACCEPT                   storage negotiation (ctlmsg.h)
 *   data channel, SETUP              the engine negotiates, then PUSH
 *   SUSPEND   MEMORY, libxl_domain_suspend (keep-up runs meanwhile)
 *   HANDOFF   READY, rename, GO, REPORT (as xl)
 *   RESUME    rollback before GO (as xl)
 *   AFTER_GO  the source domain is destroyed; the engine serves
 *             post-copy alone, detached, until DONE
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxl_utils.h>

#include "ctlmsg.h"
#include "datachan.h"
#include "disks.h"
#include "engine.h"
#include "image.h"
#include "mrelay.h"
#include "transport.h"
#include "xconv_cap_libxl.h"
#include "xlproto.h"
#include "xlx.h"
#include "xsmem.h"

struct xsrc {
    const struct xsrc_opts *o;
    const struct xflow_observer *obs;
    const char *host;
    struct eng eng;
    struct xlx x;
    libxl_domain_config dc;
    uint32_t domid;
    char uuid[40], *name, *away;
    struct xdisk disks[XLMIG_MAX_DISKS];
    unsigned nd;
    struct xctl_msg offer, acc;
    char *rune;
    int send_fd, recv_fd;
    pid_t child, dchild;
    bool found;                 /* the domain exists here */
    bool renamed, suspended;
    /* the memory phase (xsmem.h): its status part, the cap's own ctx */
    struct xsmem mem;
    struct xst mst;
    struct xconv_libxl cx;
    bool mst_open, cx_open;
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = sig;
}

void xsrc_opts_init(struct xsrc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->ssh = "ssh";
    o->nice = 10;
    xlmig_source_opts_init(&o->so);
    xconv_opts_default(&o->ac);
}

int xsrc_fwd_add(struct xsrc_opts *o, const char *opt, const char *val,
                 struct xlmig_error *err)
{
    char q[4200];
    size_t n = strlen(o->fwd);

    if (val && !xlx_shell_quote(val, q, sizeof(q)))
        return xlmig_fail(err, E2BIG, "%s: value too long", opt);
    if ((size_t)snprintf(o->fwd + n, sizeof(o->fwd) - n, " %s%s%s", opt,
                         val ? "=" : "", val ? q : "") >=
        sizeof(o->fwd) - n)
        return xlmig_fail(err, E2BIG, "options too long");
    return 0;
}

int xsrc_check(const struct xsrc_opts *o, struct xlmig_error *err)
{
    struct xsel sel;

    memset(&sel, 0, sizeof(sel));
    if (o->storage && xdisk_parse_storage(&sel, o->storage, err) < 0)
        return -err->code;
    if (o->shared && xdisk_parse_shared(&sel, o->shared, err) < 0)
        return -err->code;
    return 0;
}

/* The remote command: xl's rune plus --with-storage and what the
 * destination decides with. */
static char *make_rune(struct xsrc *m, const char *extra)
{
    const struct xsrc_opts *o = m->o;
    char *r = NULL;
    int n;

    if (!o->ssh[0])
        n = asprintf(&r, "%s%s", m->host, extra);
    else
        n = asprintf(&r, "exec %s %s xl%s migrate-receive%s%s%s "
                     "--with-storage%s%s", o->ssh, m->host,
                     isatty(2) > 0 ? " -t" : "",
                     o->daemonize_off ? " -e" : "", o->debug ? " -d" : "",
                     o->pause ? " -p" : "", o->fwd, extra);
    return n < 0 ? NULL : r;
}

/* The config to send, as JSON (xl's save_domain_core_begin). */
static char *config_json(struct xsrc *m, struct xlmig_error *err)
{
    const struct xsrc_opts *o = m->o;

    if (o->config) {
        char *text = NULL, *cmd = NULL, q[4200];
        size_t cap = 0;
        FILE *f;

        if (!xlx_shell_quote(o->config, q, sizeof(q))) {
            xlmig_fail(err, ENAMETOOLONG, "config path too long");
            return NULL;
        }
        /* xl's parser is not a library: let xl turn xl.cfg into JSON. */
        f = fopen(o->config, "r");
        if (f && fgetc(f) == '{') {
            rewind(f);
        } else {
            if (f)
                fclose(f);
            f = NULL;
            if (asprintf(&cmd, "\"${XLMIG_REAL_XL:-xl}\" -N create %s", q) >=
                0)
                f = popen(cmd, "r");
            free(cmd);
        }
        if (!f || getdelim(&text, &cap, '\0', f) < 0) {
            xlmig_fail(err, EIO, "cannot read config %s", o->config);
            free(text);
            if (f)
                fclose(f);
            return NULL;
        }
        fclose(f);
        if (libxl_domain_config_from_json(m->x.ctx, &m->dc, text)) {
            xlmig_fail(err, EINVAL, "%s: not a domain configuration",
                       o->config);
            free(text);
            return NULL;
        }
        free(text);
    } else if (libxl_retrieve_domain_configuration(m->x.ctx, m->domid,
                                                   &m->dc, NULL)) {
        xlmig_fail(err, EIO, "unable to retrieve domain configuration");
        return NULL;
    }
    if (o->preserve_domid)
        m->dc.c_info.domid = m->domid;
    return libxl_domain_config_to_json(m->x.ctx, &m->dc);
}

/* Which disks migrate; one ENG_DISK each to the engine, the OFFER. */
static int select_disks(struct xsrc *m, struct xlmig_error *err)
{
    int nmig;

    if (xsrc_check(m->o, err) < 0)
        return -err->code;
    nmig = xdisk_select_opts(&m->dc, m->o->storage, m->o->shared, m->disks,
                             &m->nd, err);
    if (nmig < 0)
        return nmig;
    if (!nmig)
        return xlmig_fail(err, ENOENT, "no disk of %s to migrate: use xl "
                          "migrate", m->name);
    memset(&m->offer, 0, sizeof(m->offer));
    m->offer.type = XCTL_OFFER;
    m->offer.flags = (m->o->so.postcopy ? XCTL_F_POSTCOPY : 0) |
                     (m->o->tcp ? XCTL_F_TCP : 0) |
                     (m->o->notrack ? XCTL_F_NOTRACK : 0);
    for (unsigned i = 0; i < m->nd; i++) {
        struct xdisk *x = &m->disks[i];
        struct xctl_disk *od;
        struct xlmig_image im = { .fd = -1 };
        libxl_diskinfo di;
        struct eng_msg e;
        int rc;

        xlx_log(m->obs, XLMIG_LOG_INFO, "%s %s: %s%s%s", x->vdev,
                x->action == XDISK_MIGRATE ? "migrates" : "stays",
                x->path[0] ? x->path : "(empty)", x->why[0] ? " - " : "",
                x->why);
        if (x->action != XDISK_MIGRATE)
            continue;
        libxl_diskinfo_init(&di);
        if (libxl_device_disk_getinfo(m->x.ctx, m->domid,
                                      &m->dc.disks[x->index], &di))
            return xlmig_fail(err, ENODEV, "disk %s: no device information",
                              x->vdev);
        eng_msg_init(&e, ENG_DISK);
        snprintf(e.name, sizeof(e.name), "%s", x->vdev);
        snprintf(e.path, sizeof(e.path), "%s", x->path);
        e.devid = (uint32_t)di.devid;
        e.kind = x->kind;
        libxl_diskinfo_dispose(&di);
        if ((rc = eng_send(&m->eng, &e, NULL, 0, err)) < 0)
            return rc;
        /* Sizes travel with the engine's DISK records too; the OFFER
         * lets the destination choose and check targets first. */
        if ((rc = xlmig_image_open(&im, x->path, false, err)) < 0)
            return rc;
        od = &m->offer.disks[m->offer.ndisks++];
        snprintf(od->name, sizeof(od->name), "%s", x->vdev);
        od->kind = x->kind;
        od->size = im.size;
        xlmig_image_close(&im);
    }
    return 0;
}

/* xl's preamble and the storage negotiation. */
static int preamble(struct xsrc *m, const char *json, struct xlmig_error *err)
{
    int rc;

    m->rune = make_rune(m, "");
    if (!m->rune)
        return xlmig_fail(err, ENOMEM, "out of memory");
    m->child = xlmig_spawn(m->rune, &m->recv_fd, &m->send_fd, false, err);
    if (m->child < 0)
        return (int)m->child;
    rc = xlp_expect(m->recv_fd, xlp_banner, xlp_banner_len, "banner",
                    XLP_WAIT_PEER_MS, err);
    if (rc < 0)
        return xlmig_fail(err, -rc, "%s (command run was: %s )", err->msg,
                          m->rune);
    if ((rc = xlp_write_header(m->send_fd, json, XLP_WAIT_PEER_MS,
                               err)) < 0 ||
        (rc = xctl_send(m->send_fd, &m->offer, XLP_WAIT_PEER_MS,
                        err)) < 0 ||
        (rc = xctl_recv(m->recv_fd, &m->acc, XCTL_ACCEPT, XLP_WAIT_PEER_MS,
                         err)) < 0)
        return rc;
    for (uint32_t i = 0; i < m->acc.ndisks; i++)
        xlx_log(m->obs, XLMIG_LOG_INFO, "%s -> %s:%s", m->acc.disks[i].name,
                m->host, m->acc.disks[i].path);
    return 0;
}

/* The data channel the ACCEPT announced. */
static int open_data(struct xsrc *m, struct xlmig_error *err)
{
    if (m->acc.chan == XCTL_CHAN_TCP) {
        const char *at = strrchr(m->host, '@');
        char port[8];
        int fd;

        snprintf(port, sizeof(port), "%u", m->acc.port);
        fd = xlmig_tcp_connect(m->o->data_host ? m->o->data_host
                               : at ? at + 1 : m->host, port, err);
        if (fd >= 0 && xlmig_tcp_send_token(fd, m->acc.token, err) < 0) {
            close(fd);
            return -err->code;
        }
        return fd;
    } else {
        char hex[33], extra[64], *rune;
        int fd, same;

        xctl_session_hex(m->acc.token, hex);
        snprintf(extra, sizeof(extra), " --data-channel %s", hex);
        rune = make_rune(m, extra);
        if (!rune)
            return xlmig_fail(err, ENOMEM, "out of memory");
        m->dchild = xlmig_spawn(rune, &fd, &same, true, err);
        free(rune);
        return m->dchild < 0 ? (int)m->dchild : fd;
    }
}

/* How the engine opens the data channel again if it breaks after GO. */
static int data_again(struct xsrc *m, struct eng_msg *s,
                      struct xlmig_error *err)
{
    if (m->acc.chan == XCTL_CHAN_TCP) {
        const char *at = strrchr(m->host, '@');

        s->flags |= ENG_F_TCP;
        snprintf(s->data_host, sizeof(s->data_host), "%s",
                 m->o->data_host ? m->o->data_host : at ? at + 1 : m->host);
        s->data_port = m->acc.port;
        memcpy(s->data_token, m->acc.token, sizeof(s->data_token));
    } else {
        char hex[33], extra[64], *rune;

        xctl_session_hex(m->acc.token, hex);
        snprintf(extra, sizeof(extra), " --data-channel %s", hex);
        rune = make_rune(m, extra);
        if (!rune)
            return xlmig_fail(err, ENOMEM, "out of memory");
        if (strlen(rune) >= sizeof(s->data_rune)) {
            free(rune);
            return xlmig_fail(err, E2BIG, "the ssh command is too long");
        }
        strcpy(s->data_rune, rune);
        free(rune);
    }
    return 0;
}

/* For the engine's own prediction (issue 12). */
static uint64_t guest_memory(struct xsrc *m)
{
    libxl_dominfo info;
    uint64_t bytes = 0;

    libxl_dominfo_init(&info);
    if (!libxl_domain_info(m->x.ctx, &info, m->domid))
        bytes = (uint64_t)info.current_memkb * 1024;
    libxl_dominfo_dispose(&info);
    return bytes;
}

static int setup_engine(struct xsrc *m, int data, struct xlmig_error *err)
{
    struct eng_msg s;
    int rc;

    eng_msg_init(&s, ENG_SETUP);
    if ((rc = data_again(m, &s, err)) < 0)
        return rc;
    s.so = m->o->so;
    s.flags |= (m->o->notrack ? ENG_F_NOTRACK : 0) |
               (m->o->remove_source ? ENG_F_REMOVE_SOURCE : 0);
    s.domid = m->domid;
    s.nice = m->o->nice;
    s.memory_bytes = guest_memory(m);
    snprintf(s.uuid, sizeof(s.uuid), "%s", m->uuid);
    snprintf(s.domname, sizeof(s.domname), "%s", m->name);
    snprintf(s.text, sizeof(s.text), "%s", m->host);
    snprintf(s.rundir, sizeof(s.rundir), "%s",
             m->o->rundir ? m->o->rundir : XFLOW_RUNDIR);
    snprintf(s.logdir, sizeof(s.logdir), "%s",
             m->o->logdir ? m->o->logdir : XFLOW_LOGDIR);
    return eng_send(&m->eng, &s, &data, 1, err);
}

/* ---- answering the engine ---- */

static int on_suspend(struct xsrc *m)
{
    struct xctl_msg mem;
    struct xlmig_error err = { 0 };
    struct eng_msg a;
    struct mrelay *relay;
    int rc, fd;

    memset(&mem, 0, sizeof(mem));
    mem.type = XCTL_MEMORY;
    if (xctl_send(m->send_fd, &mem, XLP_WAIT_PEER_MS, &err) < 0 ||
        mrelay_start(&relay, MRELAY_TO_PEER, m->send_fd,
                     m->o->so.peer_timeout_ms, &fd, &err) < 0)
        return eng_answer(&m->eng, ENG_FAIL, -err.code, err.msg);
    xlx_watch_memory(&m->x, xsmem_stats_cb, &m->mem);
    /* Through the relay: a destination that stops reading fails libxl's
     * writes after the peer timeout instead of holding them (and, in the
     * last round, the suspended guest) for good. */
    rc = libxl_domain_suspend(m->x.ctx, m->domid, fd,
                              LIBXL_SUSPEND_LIVE |
                              (m->o->debug ? LIBXL_SUSPEND_DEBUG : 0), NULL);
    if (mrelay_finish(relay, &err) < 0 && !rc)
        rc = ERROR_FAIL;
    xlx_watch_memory(&m->x, NULL, NULL);
    /* The original CPU cap back now, whatever happened: no memory pass
     * follows, and a guest that resumes gets its own cap. */
    xsmem_end(&m->mem, m->x.mem, rc, NULL, 0);
    if (!rc) {
        m->suspended = true;
        return eng_answer(&m->eng, ENG_OK, 0, NULL);
    }
    xlx_say(m->obs, "migration sender: libxl_domain_suspend failed "
            "(rc=%d)", rc);
    eng_msg_init(&a, ENG_FAIL);
    a.result = -EIO;
    if (err.code)
        snprintf(a.text, sizeof(a.text), "%s", err.msg);
    else
        snprintf(a.text, sizeof(a.text), "libxl_domain_suspend failed "
                 "(rc=%d)", rc);
    /* As xl: a guest that did not suspend in time is not resumed. */
    if (rc != ERROR_GUEST_TIMEDOUT) {
        m->suspended = true;
        a.flags = ENG_F_SUSPENDED;
    } else {
        xlx_say(m->obs, "Migration failed, failed to suspend at sender.");
    }
    return eng_send(&m->eng, &a, NULL, 0, &err);
}

/* READY, rename, GO (the point of no return), REPORT: as xl.  Returns 3
 * when the outcome is unknown (we are done then), else 0. */
static int on_handoff(struct xsrc *m, const struct eng_msg *req)
{
    struct xlmig_error err;
    char rc_buf;

    xlx_log(m->obs, XLMIG_LOG_INFO, "disks stopped and copied (%llu blocks "
            "%s)", (unsigned long long)req->final_blocks,
            req->postcopy ? "left for post-copy" : "sent");
    /* Within what is left of the stop-copy hard limit (the engine says):
     * past it the guest resumes here. */
    if (xlp_expect(m->recv_fd, xlp_ready, xlp_ready_len, "ready message",
                   req->result > 0 ? req->result : XLP_WAIT_PEER_MS, &err) < 0)
        return eng_answer(&m->eng, ENG_FAIL, -err.code, err.msg), 0;
    xlx_say(m->obs, "migration sender: Target has acknowledged transfer.");
    if (asprintf(&m->away, "%s--migratedaway", m->name) < 0 ||
        libxl_domain_rename(m->x.ctx, m->domid, m->name, m->away))
        return eng_answer(&m->eng, ENG_FAIL, -EIO, "renaming the domain "
                          "failed"), 0;
    m->renamed = true;
    xlx_say(m->obs, "migration sender: Giving target permission to start.");
    if (xlp_write_all(m->send_fd, xlp_go, xlp_go_len,
                      XLP_WAIT_PEER_MS) < 0 ||
        xlp_expect(m->recv_fd, xlp_report, xlp_report_len,
                   "success/failure report message", XLP_WAIT_REPORT_MS,
                   &err) < 0 ||
        xlp_read_all(m->recv_fd, &rc_buf, 1, XLP_WAIT_REPORT_MS) < 0) {
        xlx_say(m->obs, " ** Migration failed during final handshake **\n"
                "Domain state is now undefined !\nPlease CHECK AT BOTH ENDS "
                "for running instances, before renaming and\n resuming at "
                "most one instance.  Two simultaneous instances of the "
                "domain\n would probably result in SEVERE DATA LOSS and it "
                "is now your\n responsibility to avoid that.  Sorry.");
        xlx_log(m->obs, XLMIG_LOG_ERROR, "the post-copy server keeps serving "
                "the destination in case it runs the guest (see xlmig "
                "jobinfo %s)", m->name);
        eng_answer(&m->eng, ENG_UNKNOWN, -EIO, "the hand-off's outcome is "
                   "unknown");
        return 3;
    }
    if (rc_buf) {
        xlx_say(m->obs, "migration sender: Target reports startup failure "
                "(status code %d).", rc_buf);
        /* The destination destroys its copy, then lets us resume. */
        if (xlp_expect(m->recv_fd, xlp_go, xlp_go_len,
                       "permission for sender to resume", XLP_WAIT_REPORT_MS,
                       &err) < 0) {
            eng_answer(&m->eng, ENG_UNKNOWN, -EIO, err.msg);
            return 3;
        }
        eng_answer(&m->eng, ENG_REFUSED, -EIO, "the destination could not "
                   "start the guest");
        xlx_say(m->obs, "Migration failed due to problems at target.");
        return 0;
    }
    xlx_say(m->obs, "migration sender: Target reports successful startup.");
    eng_answer(&m->eng, ENG_OK, 0, NULL);
    return 0;
}

static int on_resume(struct xsrc *m)
{
    xlx_say(m->obs, "migration sender: Trying to resume at our end.");
    if (m->renamed &&
        libxl_domain_rename(m->x.ctx, m->domid, m->away, m->name) == 0)
        m->renamed = false;
    if (libxl_domain_resume(m->x.ctx, m->domid, 1, 0))
        return eng_answer(&m->eng, ENG_FAIL, -EIO, "libxl_domain_resume "
                          "failed");
    m->suspended = false;
    xlx_say(m->obs, "migration sender: Resumed OK.");
    return eng_answer(&m->eng, ENG_OK, 0, NULL);
}

/*
 * Answers the engine until it lets us go: 0 after GO, 1 after a rollback
 * (or if it died), 3 if the hand-off's outcome is unknown.
 */
static int serve(struct xsrc *m)
{
    for (;;) {
        struct xlmig_error err;
        struct eng_msg req;
        int rc = eng_recv(&m->eng, &req, 500, &err);

        if (rc == -ETIMEDOUT || rc == -EINTR) {
            if (interrupted) {
                struct eng_msg c;

                eng_msg_init(&c, ENG_CANCEL);
                eng_send(&m->eng, &c, NULL, 0, &err);
                xlx_log(m->obs, XLMIG_LOG_WARN, "interrupted: rolling back "
                        "(the guest stays here)");
                interrupted = 0;
            }
            continue;
        }
        if (rc < 0) {
            xlx_log(m->obs, XLMIG_LOG_ERROR, "%s", err.msg);
            return 1;
        }
        switch (req.cmd) {
        case ENG_SUSPEND: on_suspend(m); break;
        case ENG_HANDOFF:
            if (on_handoff(m, &req) == 3)
                return 3;
            break;
        case ENG_RESUME: on_resume(m); break;
        case ENG_AFTER_GO:
            libxl_domain_destroy(m->x.ctx, m->domid, 0);
            eng_answer(&m->eng, ENG_OK, 0, NULL);
            xlx_say(m->obs, "Migration successful.");
            return 0;
        case ENG_END:
            if (req.result == XLMIG_RESULT_UNKNOWN)
                return 3;
            xlx_log(m->obs, XLMIG_LOG_ERROR, "%s", req.text);
            xlx_say(m->obs, m->suspended
                    ? "Migration failed; the guest is suspended here: "
                      "resume it with xl unpause after checking the other "
                      "side."
                    : "Migration failed; the guest kept running here.");
            return req.result == 0 ? 0 : 1;
        default:
            eng_answer(&m->eng, ENG_FAIL, -EPROTO, "unexpected request");
        }
    }
}

/*
 * Before the configuration is read: a CPU cap that an earlier migration of
 * this domain lowered and did not restore (it died) is put back, so that
 * the configuration sent carries the original (xsmem.h).
 */
static int mem_recover(struct xsrc *m, const char *domain,
                       struct xlmig_error *err)
{
    struct xlmig_error e = { 0 };
    char uuid[40];
    int rc;

    if ((rc = xlx_domain_uuid(&m->x, m->domid, domain, uuid, err)) < 0)
        return rc;
    if (xconv_libxl_open(&m->cx, xlx_logger(&m->x), &e) < 0) {
        xsmem_init(&m->mem, m->obs, NULL, NULL, NULL);
        if (m->o->autoconv)
            return xlmig_fail_from(err, &e, "auto-converge");
        xlx_log(m->obs, XLMIG_LOG_WARN, "cannot look for a CPU cap left by "
                "an earlier migration: %s", e.msg);
        return 0;
    }
    m->cx_open = true;
    xsmem_init(&m->mem, m->obs, &m->mst, &xconv_libxl_ops, &m->cx);
    return xsmem_recover(&m->mem, uuid, domain, err);
}

/* The memory figures' status; with auto-converge, the original cap
 * recorded (and the scheduler checked) before anything is connected. */
static int mem_prepare(struct xsrc *m, struct xlmig_error *err)
{
    xst_open_part(&m->mst, m->o->rundir ? m->o->rundir : XFLOW_RUNDIR,
                  m->uuid, "source", "memory", true);
    m->mst_open = true;
    if (!m->o->autoconv)
        return 0;
    return xsmem_prepare(&m->mem, &m->o->ac, m->domid, m->uuid, err);
}

/* Everything before the engine runs; 0 or -errno with err. */
static int setup(struct xsrc *m, const char *domain, struct xlmig_error *err)
{
    char *json;
    int rc, data;

    if ((rc = xlx_open(&m->x, m->o->verbose, m->obs, err)) < 0 ||
        (rc = xlx_find_domain(&m->x, domain, &m->domid, err)) < 0 ||
        (rc = mem_recover(m, domain, err)) < 0)
        return rc;
    m->found = true;
    json = config_json(m, err);
    if (!json)
        return -err->code;
    m->name = m->dc.c_info.name;
    xlx_uuid_string(&m->dc.c_info.uuid, m->uuid);
    rc = select_disks(m, err);
    rc = rc ? rc : mem_prepare(m, err);
    rc = rc ? rc : preamble(m, json, err);
    free(json);
    if (rc < 0)
        return rc;
    data = open_data(m, err);
    if (data < 0 || (rc = setup_engine(m, data, err)) < 0) {
        /* Nothing was created there yet: the receiver hears ABORT. */
        struct xctl_msg ab;
        struct xlmig_error e2;

        memset(&ab, 0, sizeof(ab));
        ab.type = XCTL_ABORT;
        ab.code = EIO;
        snprintf(ab.reason, sizeof(ab.reason), "%s", err->msg);
        xctl_send(m->send_fd, &ab, XLP_WAIT_ABORT_MS, &e2);
        if (data >= 0)
            close(data);
        return data < 0 ? data : rc;
    }
    close(data);
    return 0;
}

int xsrc_migrate(const struct xsrc_opts *o, const char *domain,
                 const char *host, const struct xflow_observer *obs)
{
    struct xsrc m = { .o = o, .obs = obs, .host = host, .send_fd = -1,
                      .recv_fd = -1, .child = -1, .dchild = -1 };
    struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
    struct xlmig_error err;
    int status = 1;

    /* The engine first: before libxl and before any thread. */
    if (eng_spawn(&m.eng, ENG_SOURCE, obs, &err) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        return 1;
    }
    libxl_domain_config_init(&m.dc);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (setup(&m, domain, &err) < 0) {
        xlx_log(obs, XLMIG_LOG_ERROR, "%s", err.msg);
        /* (Only about a guest that exists here.) */
        if (m.found)
            xlx_say(obs, "Migration failed; the guest kept running here.");
    } else {
        status = serve(&m);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    eng_close(&m.eng);
    if (m.send_fd >= 0)
        close(m.send_fd);
    if (m.recv_fd >= 0)
        close(m.recv_fd);
    if (m.child > 0)
        waitpid(m.child, NULL, WNOHANG);
    free(m.rune);
    free(m.away);
    libxl_domain_config_dispose(&m.dc);
    /* The original cap back on every path (a no-op if it is already). */
    xsmem_close(&m.mem);
    if (m.mst_open)
        xst_close(&m.mst);
    if (m.cx_open)
        xconv_libxl_close(&m.cx);
    xlx_close(&m.x);
    return status;
}
