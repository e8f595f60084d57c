/*
 * The disk-engine process (engine.h): the parent's side of its protocol,
 * and the child, which runs the library's state machine with hooks that
 * ask the parent to do what needs libxl.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "datachan.h"
#include "engine.h"
#include "status.h"
#include "transport.h"
#include "xsess.h"
#include "xvbd.h"

void eng_msg_init(struct eng_msg *m, uint32_t cmd)
{
    memset(m, 0, sizeof(*m));
    m->cmd = cmd;
}

/* ---- the parent's side ---- */

int eng_send(struct eng *e, const struct eng_msg *m, const int *fds,
             int nfds, struct xlmig_error *err)
{
    if (dch_send_fds(e->sock, m, sizeof(*m), fds, nfds) < 0)
        return xlmig_fail(err, EPIPE, "the disk engine is gone: %s",
                          strerror(errno));
    return 0;
}

int eng_recv(struct eng *e, struct eng_msg *m, int timeout_ms,
             struct xlmig_error *err)
{
    struct pollfd p = { .fd = e->sock, .events = POLLIN };
    int nfds = 0, rc;
    ssize_t n;

    rc = poll(&p, 1, timeout_ms);
    if (rc < 0)
        return xlmig_fail(err, errno, "poll: %s", strerror(errno));
    if (rc == 0)
        return xlmig_fail(err, ETIMEDOUT, "the disk engine did not answer "
                          "within %d s", timeout_ms / 1000);
    n = dch_recv_fds(e->sock, m, sizeof(*m), NULL, &nfds);
    if (n != (ssize_t)sizeof(*m))
        return xlmig_fail(err, ECONNRESET, "the disk engine died (see its "
                          "messages above)");
    m->text[sizeof(m->text) - 1] = '\0';
    return 0;
}

int eng_answer(struct eng *e, uint32_t cmd, int32_t result, const char *text)
{
    struct eng_msg m;

    eng_msg_init(&m, cmd);
    m.result = result;
    snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
    return dch_send_fds(e->sock, &m, sizeof(m), NULL, 0);
}

void eng_close(struct eng *e)
{
    if (e->sock >= 0)
        close(e->sock);
    e->sock = -1;
}

/* ---- the child: shared ---- */

struct ectx {
    int sock;
    enum eng_role role;
    struct xflow_observer obs;
    struct xst st;
    struct eng_msg disks[XLMIG_MAX_DISKS];     /* ENG_DISK / ENG_MAP */
    unsigned ndisks;
    struct eng_msg setup;
    struct xlmig_source *src;
    struct xlmig_dest *dst;
    struct xlmig_vbd *lazy[XLMIG_MAX_DISKS];    /* destination */
    int listen_fd;              /* destination: recovery connections */
    int holds[16];              /* ssh helpers' sockets, kept until exit */
    unsigned nholds;
    int session_fd;             /* source: the saved session, flock'd */
    char session_path[600];

    /* The control thread reads the parent; hooks wait here for answers. */
    pthread_t ctl;
    bool ctl_running;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool have_answer, parent_gone, attached, past_go;
    struct eng_msg answer, attach;
};

/* Events go to xenstore and to the front's observer. */
static void on_event(void *opaque, const struct xlmig_event *ev)
{
    struct ectx *c = opaque;

    xst_progress_hook(&c->st, ev);
    if (c->obs.event)
        c->obs.event(c->obs.opaque, ev);
}

static void on_log(void *opaque, enum xlmig_log_level level, const char *msg)
{
    struct ectx *c = opaque;

    if (c->obs.log)
        c->obs.log(c->obs.opaque, level, msg);
}

static void logf_(struct ectx *c, enum xlmig_log_level level,
                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void logf_(struct ectx *c, enum xlmig_log_level level,
                  const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    on_log(c, level, msg);
}

static void cancel_run(struct ectx *c)
{
    if (c->src)
        xlmig_source_cancel(c->src);
    if (c->dst)
        xlmig_dest_cancel(c->dst);
}

static void *ctl_main(void *arg)
{
    struct ectx *c = arg;
    struct eng_msg m;
    int nfds;

    for (;;) {
        ssize_t n;

        nfds = 0;
        n = dch_recv_fds(c->sock, &m, sizeof(m), NULL, &nfds);
        pthread_mutex_lock(&c->lock);
        if (n != (ssize_t)sizeof(m)) {
            /* The parent is gone: before GO, that is an abort. */
            c->parent_gone = true;
            pthread_cond_broadcast(&c->cv);
            bool go = c->past_go;
            pthread_mutex_unlock(&c->lock);
            if (!go)
                cancel_run(c);
            return NULL;
        }
        m.text[sizeof(m.text) - 1] = '\0';
        if (m.cmd == ENG_ATTACH && m.ndevids <= XLMIG_MAX_DISKS) {
            c->attach = m;
            c->attached = true;
            /* jobinfo: the domain the guest will run as here */
            xst_set(&c->st, "domid", "%u", m.domid);
            xst_flush(&c->st);
        } else if (m.cmd == ENG_CANCEL) {
            pthread_mutex_unlock(&c->lock);
            cancel_run(c);
            continue;
        } else if (m.cmd >= ENG_OK) {
            c->answer = m;
            c->have_answer = true;
        }
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->lock);
    }
}

/*
 * Asks the parent and waits (bounded) for its answer.  Returns the
 * answer's command (ENG_OK, ENG_FAIL, ...) with *a filled in, or a
 * negative errno with the reason in a->text.
 */
static int ask(struct ectx *c, struct eng_msg *req, int wait_s,
               struct eng_msg *a)
{
    struct timespec until;
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    c->have_answer = false;
    pthread_mutex_unlock(&c->lock);
    if (c->parent_gone ||
        dch_send_fds(c->sock, req, sizeof(*req), NULL, 0) < 0) {
        snprintf(a->text, sizeof(a->text), "the migration process is gone");
        return -EPIPE;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_s;
    pthread_mutex_lock(&c->lock);
    while (!c->have_answer && !c->parent_gone && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->lock, &until);
    if (c->have_answer) {
        *a = c->answer;
        rc = (int)a->cmd;
    } else {
        snprintf(a->text, sizeof(a->text), c->parent_gone
                 ? "the migration process is gone"
                 : "the migration process did not answer within %d s",
                 wait_s);
        rc = c->parent_gone ? -EPIPE : -ETIMEDOUT;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int ask_simple(struct ectx *c, uint32_t cmd, int wait_s,
                      struct eng_msg *a)
{
    struct eng_msg req;

    eng_msg_init(&req, cmd);
    return ask(c, &req, wait_s, a);
}

/* After GO nobody reads our terminal any more: log to a file. */
static void to_log(struct ectx *c, const char *role, bool postcopy)
{
    char path[600];
    int fd;

    mkdir(c->setup.logdir, 0700);
    snprintf(path, sizeof(path), "%s/%s.%s.log", c->setup.logdir,
             c->setup.uuid, role);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    logf_(c, XLMIG_LOG_INFO, "%s %s in the background; log: %s, status: "
          "xlmig jobinfo %s", role, postcopy ? "post-copy continues"
                                            : "finishing", path,
          c->setup.domname);
    dup2(fd, 2);
    close(fd);
}

static void send_end(struct ectx *c, int result, const char *text)
{
    struct eng_msg m;

    if (c->parent_gone)
        return;
    eng_msg_init(&m, ENG_END);
    m.result = result;
    snprintf(m.text, sizeof(m.text), "%s", text);
    dch_send_fds(c->sock, &m, sizeof(m), NULL, 0);
}

/* ---- the child: source ---- */

static int h_suspend(void *opaque, struct xlmig_source *s)
{
    struct ectx *c = opaque;
    struct eng_msg a;
    int rc = ask_simple(c, ENG_SUSPEND, ENG_WAIT_SUSPEND_S, &a);

    if (rc == ENG_OK || (rc > 0 && (a.flags & ENG_F_SUSPENDED)))
        xlmig_source_mark_suspended(s);
    if (rc == ENG_OK)
        return 0;
    return xlmig_source_set_error(s, rc < 0 ? -rc : EIO, "%s", a.text);
}

static int h_handoff(void *opaque, struct xlmig_source *s)
{
    struct ectx *c = opaque;
    struct xlmig_source_report r;
    struct eng_msg req, a;
    int rc;

    xlmig_source_get_report(s, &r);
    eng_msg_init(&req, ENG_HANDOFF);
    req.postcopy = r.postcopy;
    req.final_blocks = r.final_blocks;
    /* READY must come within the stop-copy hard limit. */
    req.result = (int32_t)xlmig_source_time_left_ms(s);
    if (req.result == 0)
        req.result = 1;
    rc = ask(c, &req, ENG_WAIT_HANDOFF_S, &a);
    switch (rc) {
    case ENG_OK:
        pthread_mutex_lock(&c->lock);
        c->past_go = true;
        pthread_mutex_unlock(&c->lock);
        return 0;
    case ENG_REFUSED:
        xlmig_source_set_error(s, EIO, "%s", a.text);
        return XLMIG_HANDOFF_REFUSED;
    case ENG_UNKNOWN:
        pthread_mutex_lock(&c->lock);
        c->past_go = true;
        pthread_mutex_unlock(&c->lock);
        logf_(c, XLMIG_LOG_ERROR, "%s", a.text);
        return XLMIG_HANDOFF_UNKNOWN;
    default:
        return xlmig_source_set_error(s, rc < 0 ? -rc : EIO, "%s", a.text);
    }
}

static int h_resume(void *opaque, struct xlmig_source *s)
{
    struct ectx *c = opaque;
    struct eng_msg a;
    int rc = ask_simple(c, ENG_RESUME, ENG_WAIT_SHORT_S, &a);

    (void)s;
    if (rc == ENG_OK)
        return 0;
    logf_(c, XLMIG_LOG_ERROR, "resuming the guest: %s", a.text);
    return rc < 0 ? rc : -EIO;
}

static void h_after_go(void *opaque, struct xlmig_source *s)
{
    struct ectx *c = opaque;
    struct eng_msg a;

    (void)s;
    if (ask_simple(c, ENG_AFTER_GO, ENG_WAIT_SHORT_S, &a) != ENG_OK)
        logf_(c, XLMIG_LOG_WARN, "the migration process: %s", a.text);
}

/* The data channel again, as the first time (TCP with the secret, or the
 * ssh command); its fds become the library's. */
static int h_reconnect(void *opaque, struct xlmig_source *s, int *rfd,
                       int *wfd)
{
    struct ectx *c = opaque;

    (void)s;
    return xsess_connect(&c->setup, rfd, wfd);
}

/* What `xlmig migrate-recover` needs if this engine dies: held (flock)
 * while we live, removed when the destination has every block. */
static void save_session(struct ectx *c, struct xlmig_source *s)
{
    char text[16384];

    xlmig_source_session(s, text, sizeof(text));
    c->session_fd = xsess_save(NULL, &c->setup,
                               text, c->session_path,
                               sizeof(c->session_path));
    if (c->session_fd < 0)
        logf_(c, XLMIG_LOG_WARN, "cannot save the post-copy session (%s): "
              "if this engine dies, nothing can resume it", strerror(errno));
}

static void h_src_postcopy(void *opaque, struct xlmig_source *s)
{
    struct ectx *c = opaque;
    struct xlmig_source_report r;

    xlmig_source_get_report(s, &r);
    if (r.postcopy)
        save_session(c, s);
    xst_set(&c->st, "state", "%s", r.postcopy ? "postcopy" : "active");
    xst_flush(&c->st);
    to_log(c, "source", r.postcopy);
}

static int open_source_vbds(struct ectx *c, struct xlmig_vbd **v,
                            struct xlmig_error *err)
{
    for (unsigned i = 0; i < c->ndisks; i++) {
        struct eng_msg *d = &c->disks[i];
        struct xlmig_vbd *in;
        int rc;

        if (c->setup.flags & ENG_F_NOTRACK) {
            v[i] = xvbd_notrack(d->path, err);
        } else {
            rc = xlmig_vbd_blkback_open(c->setup.domid, d->devid, &in, err);
            if (rc < 0)
                return xlmig_fail(err, -rc, "disk %s: %s (is the patched "
                                  "xen-blkback loaded?)", d->name, err->msg);
            /* Post-copy reads the image, not the loop device that goes
             * with the source domain. */
            v[i] = xvbd_wrap(in, d->path, err);
            if (!v[i])
                in->ops->close(in);
        }
        if (!v[i])
            return -err->code;
    }
    return 0;
}

static void src_finish(struct ectx *c, struct xlmig_source *s, int rc)
{
    char line[4096];

    if (rc == 0) {
        struct xlmig_source_report r;

        xst_set(&c->st, "state", "completed");
        xlmig_source_get_report(s, &r);
        /* --verify: after any mismatch the source stays. */
        if ((c->setup.flags & ENG_F_REMOVE_SOURCE) && r.verify_result &&
            strcmp(r.verify_result, "passed")) {
            logf_(c, XLMIG_LOG_WARN, "--remove-source refused: verification "
                  "%s (%llu block(s) read back wrong on the destination: "
                  "%s); the source images are kept", r.verify_result,
                  (unsigned long long)r.verify_mismatched_blocks,
                  r.verify_mismatches);
            xst_set(&c->st, "message", "source kept: verification %s",
                    r.verify_result);
        } else if (c->setup.flags & ENG_F_REMOVE_SOURCE)
            for (unsigned i = 0; i < c->ndisks; i++)
                if (c->disks[i].kind == 1 && unlink(c->disks[i].path) == 0)
                    logf_(c, XLMIG_LOG_INFO, "removed %s",
                          c->disks[i].path);
    } else if (rc < 0) {
        xst_set(&c->st, "state", "rolled-back");
        xst_set(&c->st, "message", "%s", xlmig_source_error(s));
    } else {
        xst_set(&c->st, "state", "failed");
        xst_set(&c->st, "message", "POST-COPY FAILED: %s; %llu block(s) "
                "exist only in the source images: keep them",
                xlmig_source_error(s),
                (unsigned long long)xlmig_source_stale_blocks(s));
        logf_(c, XLMIG_LOG_ERROR, "POST-COPY FAILED: %s; the guest runs on "
              "the destination; %llu block(s) it has not received exist "
              "only in the source image(s): keep them",
              xlmig_source_error(s),
              (unsigned long long)xlmig_source_stale_blocks(s));
    }
    xst_flush(&c->st);
    /* One line, for scripts (wire_bytes, postcopy, ...). */
    xlmig_source_report_json(s, line, sizeof(line));
    logf_(c, XLMIG_LOG_INFO, "%s", line);
}

static int run_source(struct ectx *c, int data)
{
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS] = { NULL };
    struct xlmig_source_hooks h = {
        .opaque = c, .suspend = h_suspend, .handoff = h_handoff,
        .resume = h_resume, .after_go = h_after_go,
        .postcopy_start = h_src_postcopy, .reconnect = h_reconnect,
    };
    struct xlmig_error err;
    int rc;

    if ((rc = open_source_vbds(c, vbds, &err)) < 0 ||
        (rc = xlmig_source_new(&c->setup.so, &h, &c->src, &err)) < 0) {
        send_end(c, rc, err.msg);
        goto out;
    }
    xlmig_source_set_observer(c->src, on_event, on_log, c);
    /* Its own prediction: the memory moves over the same link. */
    struct xlmig_estimate_opts eo;
    xlmig_estimate_opts_init(&eo);
    eo.memory_bytes = c->setup.memory_bytes;
    xlmig_source_expect(c->src, &eo);
    rc = xlmig_source_set_channel(c->src, data, data);
    for (unsigned i = 0; i < c->ndisks && !rc; i++)
        rc = xlmig_source_add_disk(c->src, c->disks[i].name, vbds[i]);
    rc = rc ? rc : xlmig_source_run(c->src);
    src_finish(c, c->src, rc);
    if (c->session_fd >= 0) {
        if (rc == 0)
            unlink(c->session_path);
        close(c->session_fd);
    }
    send_end(c, rc, xlmig_source_error(c->src));
out:
    xlmig_source_free(c->src);
    for (unsigned i = 0; i < c->ndisks; i++)
        xlmig_vbd_close(vbds[i]);
    return rc == 0 ? 0 : rc < 0 ? 1 : 3;
}

/* ---- the child: destination ---- */

/* A lazy VBD's first use: the domain exists once the parent says so. */
static struct xlmig_vbd *dst_resolve(void *opaque, unsigned index,
                                     struct xlmig_error *err)
{
    struct ectx *c = opaque;
    struct timespec until;
    struct xlmig_vbd *v;
    uint32_t domid, devid;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ENG_WAIT_ATTACH_S;
    pthread_mutex_lock(&c->lock);
    while (!c->attached && !c->parent_gone && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->lock, &until);
    if (!c->attached) {
        pthread_mutex_unlock(&c->lock);
        xlmig_fail(err, ETIMEDOUT, "the destination domain was not created");
        return NULL;
    }
    domid = c->attach.domid;
    devid = c->attach.devids[index];
    pthread_mutex_unlock(&c->lock);
    rc = xlmig_vbd_blkback_open(domid, devid, &v, err);
    if (rc < 0) {
        xlmig_fail(err, -rc, "domain %u device %u: %s (is the patched "
                   "xen-blkback loaded?)", domid, devid, err->msg);
        return NULL;
    }
    return v;
}

static int h_targets(void *opaque, struct xlmig_dest *d)
{
    struct ectx *c = opaque;
    struct xlmig_error err;

    for (unsigned i = 0; i < xlmig_dest_disk_count(d); i++) {
        struct xlmig_vbd *v = xvbd_lazy(dst_resolve, c, i,
                                        xlmig_dest_disk_path(d, i), &err);
        if (!v)
            return xlmig_dest_set_error(d, err.code, "%s", err.msg);
        xlmig_dest_attach_vbd(d, i, v);
        c->lazy[i] = v;
    }
    return 0;
}

static int h_dst_handoff(void *opaque, struct xlmig_dest *d)
{
    struct ectx *c = opaque;
    struct eng_msg a;
    int rc = ask_simple(c, ENG_READY, ENG_WAIT_HANDOFF_S, &a);

    if (rc == ENG_OK) {
        pthread_mutex_lock(&c->lock);
        c->past_go = true;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    return xlmig_dest_set_error(d, rc < 0 ? -rc : EIO, "%s", a.text);
}

static int h_start(void *opaque, struct xlmig_dest *d)
{
    struct ectx *c = opaque;
    struct eng_msg a;
    int rc = ask_simple(c, ENG_START, ENG_WAIT_SHORT_S, &a);
    bool gated = false;

    if (rc != ENG_OK)
        return xlmig_dest_set_error(d, rc < 0 ? -rc : EIO, "%s", a.text);
    xst_set(&c->st, "state", "postcopy");
    xst_flush(&c->st);
    gated = xlmig_dest_stale_blocks(d) > 0;
    to_log(c, "destination", gated);
    return 0;
}

static void h_rollback(void *opaque, struct xlmig_dest *d)
{
    struct ectx *c = opaque;
    struct eng_msg a;

    (void)d;
    if (ask_simple(c, ENG_ROLLBACK, ENG_WAIT_SHORT_S, &a) != ENG_OK)
        logf_(c, XLMIG_LOG_WARN, "the migration process: %s", a.text);
}

/* Post-copy paused: the source comes back through the listener our
 * parent handed over (TCP: the secret first; ssh: the helper's fds). */
static int h_accept_recovery(void *opaque, struct xlmig_dest *d,
                             int timeout_ms, int *rfd, int *wfd)
{
    struct ectx *c = opaque;
    struct xlmig_error err;
    int fd, hold = -1;

    (void)d;
    if (c->listen_fd < 0) {
        struct timespec t = { timeout_ms / 1000,
                              (long)(timeout_ms % 1000) * 1000000 };
        nanosleep(&t, NULL);
        return -ENOTCONN;
    }
    if (c->setup.flags & ENG_F_TCP) {
        fd = xlmig_tcp_accept(c->listen_fd, timeout_ms, c->setup.data_token,
                              &err);
        if (fd < 0)
            return fd;
        *rfd = *wfd = fd;
        return 0;
    }
    if (dch_session_accept(c->listen_fd, timeout_ms, rfd, wfd, &hold,
                           &err) < 0)
        return -err.code;
    if (c->nholds < sizeof(c->holds) / sizeof(c->holds[0]))
        c->holds[c->nholds++] = hold;
    else
        close(hold);
    return 0;
}

static int run_dest(struct ectx *c, int rfd, int wfd, int hold)
{
    struct xlmig_dest_hooks h = {
        .opaque = c, .targets_ready = h_targets, .handoff = h_dst_handoff,
        .start_guest = h_start, .rollback = h_rollback,
        .accept_recovery = h_accept_recovery,
    };
    struct xlmig_dest_opts o;
    struct xlmig_error err;
    char line[4096];
    int rc;

    xlmig_dest_opts_init(&o);
    o.allow_existing = c->setup.allow_existing;
    if (c->setup.so.peer_timeout_ms > 0)
        o.peer_timeout_ms = c->setup.so.peer_timeout_ms;
    if (c->setup.so.recover_timeout_s > 0)
        o.recover_timeout_s = c->setup.so.recover_timeout_s;
    if ((rc = xlmig_dest_new(&o, &h, &c->dst, &err)) < 0) {
        send_end(c, rc, err.msg);
        return 1;
    }
    xlmig_dest_set_observer(c->dst, on_event, on_log, c);
    for (unsigned i = 0; i < c->ndisks && !rc; i++)
        rc = xlmig_dest_map(c->dst, c->disks[i].name, c->disks[i].path);
    rc = rc ? rc : xlmig_dest_set_channel(c->dst, rfd, wfd);
    rc = rc ? rc : xlmig_dest_run(c->dst);
    xst_set(&c->st, "state", "%s", rc == 0 ? "completed"
                                   : rc < 0 ? "rolled-back" : "failed");
    if (rc)
        xst_set(&c->st, "message", "%s", xlmig_dest_error(c->dst));
    xst_flush(&c->st);
    if (rc > 0)
        logf_(c, XLMIG_LOG_ERROR, "POST-COPY FAILED: %s",
              xlmig_dest_error(c->dst));
    xlmig_dest_report_json(c->dst, line, sizeof(line));
    logf_(c, XLMIG_LOG_INFO, "%s", line);
    send_end(c, rc, xlmig_dest_error(c->dst));
    xlmig_dest_free(c->dst);
    for (unsigned i = 0; i < XLMIG_MAX_DISKS; i++)
        xlmig_vbd_close(c->lazy[i]);
    if (hold >= 0)
        close(hold);
    for (unsigned i = 0; i < c->nholds; i++)
        close(c->holds[i]);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    if (c->setup.sock_path[0])
        unlink(c->setup.sock_path);
    return rc == 0 ? 0 : rc < 0 ? 1 : 3;
}

/* ---- the child ---- */

static int setup_child(struct ectx *c, int *fds, int *nfds)
{
    struct eng_msg m;
    int cmd;

    for (;;) {
        ssize_t n;

        *nfds = 4;
        n = dch_recv_fds(c->sock, &m, sizeof(m), fds, nfds);
        if (n != (ssize_t)sizeof(m))
            return -1;          /* the parent gave up before setting us up */
        m.text[sizeof(m.text) - 1] = '\0';
        m.name[sizeof(m.name) - 1] = '\0';
        m.path[sizeof(m.path) - 1] = '\0';
        cmd = (int)m.cmd;
        if ((cmd == ENG_DISK || cmd == ENG_MAP) &&
            c->ndisks < XLMIG_MAX_DISKS) {
            c->disks[c->ndisks++] = m;
            continue;
        }
        if (cmd != ENG_SETUP || *nfds < 1)
            return -1;
        c->setup = m;
        c->setup.uuid[sizeof(c->setup.uuid) - 1] = '\0';
        c->setup.domname[sizeof(c->setup.domname) - 1] = '\0';
        c->setup.rundir[sizeof(c->setup.rundir) - 1] = '\0';
        c->setup.logdir[sizeof(c->setup.logdir) - 1] = '\0';
        c->setup.data_host[sizeof(c->setup.data_host) - 1] = '\0';
        c->setup.data_rune[sizeof(c->setup.data_rune) - 1] = '\0';
        c->setup.sock_path[sizeof(c->setup.sock_path) - 1] = '\0';
        return 0;
    }
}

static int engine_main(struct ectx *c)
{
    int fds[4] = { -1, -1, -1, -1 }, nfds = 0, status;

    c->listen_fd = c->session_fd = -1;
    if (setup_child(c, fds, &nfds) < 0)
        return 1;
    /* The destination's parent hands its data listener over last. */
    if (c->role == ENG_DEST && nfds == ((c->setup.flags & ENG_F_TCP) ? 2 : 4))
        c->listen_fd = fds[--nfds];
    /* The engine copies disks in dom0 beside blkback's kthreads and the
     * device models that serve the guests: it yields to them. */
    if (c->setup.nice > 0 && setpriority(PRIO_PROCESS, 0, c->setup.nice) < 0)
        logf_(c, XLMIG_LOG_WARN, "cannot lower priority to nice %d: %s",
              c->setup.nice, strerror(errno));
    xst_open(&c->st, c->setup.rundir, c->setup.uuid,
             c->role == ENG_SOURCE ? "source" : "destination", true);
    xst_set(&c->st, "name", "%s", c->setup.domname);
    xst_set(&c->st, "domid", "%u", c->setup.domid);
    xst_set(&c->st, "state", "active");
    xst_set(&c->st, "peer", "%s", c->setup.text);
    xst_set(&c->st, "disks", "%u", c->ndisks);
    xst_flush(&c->st);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->ctl_running = pthread_create(&c->ctl, NULL, ctl_main, c) == 0;
    if (!c->ctl_running) {
        send_end(c, -EAGAIN, "cannot start the engine's control thread");
        return 1;
    }
    if (c->role == ENG_SOURCE)
        status = run_source(c, fds[0]);
    else
        status = run_dest(c, fds[0], nfds > 1 ? fds[1] : fds[0],
                          nfds > 2 ? fds[2] : -1);
    xst_close(&c->st);
    /* The control thread ends with the parent's socket. */
    shutdown(c->sock, SHUT_RDWR);
    pthread_join(c->ctl, NULL);
    return status;
}

int eng_spawn(struct eng *e, enum eng_role role,
              const struct xflow_observer *obs, struct xlmig_error *err)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return xlmig_fail(err, errno, "socketpair: %s", strerror(errno));
    e->pid = fork();
    if (e->pid < 0)
        return xlmig_fail(err, errno, "fork: %s", strerror(errno));
    if (e->pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        struct ectx *c = calloc(1, sizeof(*c));
        sigset_t none;

        close(sv[0]);
        /* Not the control channel's: its end must close with our parent. */
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            if (nul > 2)
                close(nul);
        }
        setsid();
        /* Our own process: the parent's Ctrl-C reaches us as a CANCEL,
         * and post-copy must survive the terminal going away. */
        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (!c)
            _exit(1);
        c->sock = sv[1];
        c->role = role;
        if (obs)
            c->obs = *obs;
        _exit(engine_main(c));
    }
    close(sv[1]);
    e->sock = sv[0];
    return 0;
}
