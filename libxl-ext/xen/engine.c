#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

#include "datachan.h"
#include "engine.h"
#include "receiver.h"
#include "status.h"
#include "xerr.h"
#include "xvbd.h"

#define LOGDIR "/var/log/xlmig"

void em_init(struct em_msg *m, uint32_t cmd)
{
    memset(m, 0, sizeof(*m));
    m->cmd = cmd;
}

/* ---- parent side ---- */

int eng_send(struct eng *e, const struct em_msg *m, const int *fds,
             int nfds, char *err)
{
    if (dch_send_fds(e->sock, m, sizeof(*m), fds, nfds) < 0)
        return ERR("the disk engine is gone: %s", strerror(errno));
    return 0;
}

int eng_reply(struct eng *e, struct em_msg *r, int timeout_ms, char *err)
{
    struct pollfd p = { .fd = e->sock, .events = POLLIN };
    int nfds = 0, rc;
    ssize_t n;

    while ((rc = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (rc == 0)
        return ERR("the disk engine did not answer within %d s",
                   timeout_ms / 1000);
    n = dch_recv_fds(e->sock, r, sizeof(*r), NULL, &nfds);
    if (n != (ssize_t)sizeof(*r))
        return ERR("the disk engine died (see its messages above)");
    r->text[sizeof(r->text) - 1] = '\0';
    if (r->cmd == EM_FAIL)
        return ERR("%s", r->text);
    return 0;
}

int eng_call(struct eng *e, uint32_t cmd, uint32_t flags, const char *text,
             struct em_msg *reply, char *err)
{
    struct em_msg m, r;

    em_init(&m, cmd);
    m.flags = flags;
    if (text)
        snprintf(m.text, sizeof(m.text), "%s", text);
    if (eng_send(e, &m, NULL, 0, err) < 0 ||
        eng_reply(e, reply ? reply : &r, -1, err) < 0)
        return -1;
    return 0;
}

/* ---- engine side: shared ---- */

struct ectx {
    int sock;
    struct xst st;
    struct xlmig_progress prog;
    char uuid[40], domname[128];
    struct em_msg disks[XLMIG_MAX_DISKS];      /* EM_DISK / EM_MAP */
    unsigned ndisks;
    /* destination: the command thread's view */
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool attached, go, abort, undo_after_go;
    uint32_t domid;
    uint32_t devids[XLMIG_MAX_DISKS];
    int abort_pipe[2];
};

static void reply(struct ectx *c, uint32_t cmd, const char *text,
                  const struct em_msg *extra)
{
    struct em_msg m;

    if (extra)
        m = *extra;
    else
        em_init(&m, cmd);
    m.cmd = cmd;
    snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
    dch_send_fds(c->sock, &m, sizeof(m), NULL, 0);
}

/* Returns the command, 0 on the parent's EOF, -1 on error. */
static int next_cmd(struct ectx *c, struct em_msg *m, int *fds, int *nfds)
{
    ssize_t n = dch_recv_fds(c->sock, m, sizeof(*m), fds, nfds);

    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof(*m))
        return -1;
    m->text[sizeof(m->text) - 1] = '\0';
    m->name[sizeof(m->name) - 1] = '\0';
    m->path[sizeof(m->path) - 1] = '\0';
    return (int)m->cmd;
}

/* After GO nobody reads our terminal any more: log to a file. */
static void to_log(struct ectx *c, const char *role, bool postcopy)
{
    char path[300];
    int fd;

    mkdir(LOGDIR, 0700);
    snprintf(path, sizeof(path), "%s/%s.%s.log", LOGDIR, c->uuid, role);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        fprintf(stderr, "xlmig: %s %s in the background; log: %s, "
                "status: xlmig jobinfo %s\n", role,
                postcopy ? "post-copy continues" : "finishing", path,
                c->domname);
        dup2(fd, 2);
        close(fd);
    }
    c->prog.human = NULL;
}

/* ---- source ---- */

/* Before GO, the parent's death must stop a long PUSH: shut the data
 * channel down, which fails whatever the engine is doing. */
struct hup_watch {
    int sock, data;
    int stop[2];
    pthread_t th;
    bool running;
};

static void *hup_main(void *arg)
{
    struct hup_watch *h = arg;
    struct pollfd p[2] = { { .fd = h->sock, .events = POLLRDHUP },
                           { .fd = h->stop[0], .events = POLLIN } };

    while (poll(p, 2, -1) < 0 && errno == EINTR)
        ;
    if (!(p[1].revents & POLLIN) && (p[0].revents & (POLLHUP | POLLRDHUP))) {
        fprintf(stderr, "xlmig: the migration process died: stopping the "
                "disk transfer\n");
        shutdown(h->data, SHUT_RDWR);
    }
    return NULL;
}

static void hup_start(struct hup_watch *h, int sock, int data)
{
    h->sock = sock;
    h->data = data;
    h->running = pipe(h->stop) == 0 &&
                 pthread_create(&h->th, NULL, hup_main, h) == 0;
}

static void hup_stop(struct hup_watch *h)
{
    if (!h->running)
        return;
    if (write(h->stop[1], "x", 1) < 0) {
        /* the thread also ends on the parent's hangup */
    }
    pthread_join(h->th, NULL);
    close(h->stop[0]);
    close(h->stop[1]);
    h->running = false;
}

static int src_open_vbds(struct ectx *c, const struct em_msg *setup,
                         struct xlmig_vbd **v, char *err)
{
    for (unsigned i = 0; i < c->ndisks; i++) {
        struct em_msg *d = &c->disks[i];

        if (setup->flags & EM_NOTRACK) {
            v[i] = xvbd_notrack(d->path, err);
        } else {
            char e2[256];
            struct xlmig_vbd *in = xlmig_vbd_blkback_open(setup->domid,
                                                          d->devid, e2,
                                                          sizeof(e2));
            if (!in)
                return ERR("disk %s: %s (is the patched xen-blkback "
                           "loaded?)", d->name, e2);
            v[i] = xvbd_wrap(in, d->path, err);
            if (!v[i])
                in->ops->close(in);
        }
        if (!v[i])
            return -1;
    }
    return 0;
}

static int run_source(struct ectx *c, const struct em_msg *setup, int data)
{
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS] = { NULL };
    struct xlmig_sender_opts o = setup->so;
    struct xlmig_sender s;
    struct hup_watch hw = { 0 };
    struct em_msg m, out;
    char err[XLMIG_ERRLEN];
    int status = 1, cmd, nfds;

    o.progress = &c->prog;
    o.idle_timeout_s = setup->idle_timeout_s;
    memset(&s, 0, sizeof(s));
    if (src_open_vbds(c, setup, vbds, err) < 0) {
        reply(c, EM_FAIL, err, NULL);
        goto out_vbds;
    }
    if (xlmig_sender_init(&s, &o, data, data) < 0)
        goto failed;
    for (unsigned i = 0; i < c->ndisks; i++)
        if (xlmig_sender_add_disk(&s, c->disks[i].name, vbds[i]) < 0)
            goto failed;
    hup_start(&hw, c->sock, data);
    if (xlmig_sender_negotiate(&s) < 0)
        goto failed;
    hup_stop(&hw);
    reply(c, EM_OK, NULL, NULL);

    for (;;) {
        nfds = 0;
        cmd = next_cmd(c, &m, NULL, &nfds);
        if (cmd <= 0 || cmd == EM_ABORT) {
            snprintf(s.err, sizeof(s.err), "%s", cmd == EM_ABORT
                     ? m.text : "the migration process died");
            goto failed;
        }
        hup_start(&hw, c->sock, data);
        if (cmd == EM_PUSH) {
            if (xlmig_sender_push(&s) < 0 ||
                xlmig_sender_keepup_start(&s) < 0)
                goto failed;
        } else if (cmd == EM_STOPCOPY) {
            /* From here until GO the destination only answers: a silent
             * one must not hold the suspended guest forever. */
            s.conn.recv_timeout_ms = setup->idle_timeout_s * 1000;
            if (xlmig_sender_stopcopy(&s) < 0)
                goto failed;
        } else if (cmd == EM_GO) {
            break;
        } else {
            snprintf(s.err, sizeof(s.err), "unexpected command %d", cmd);
            goto failed;
        }
        hup_stop(&hw);
        em_init(&out, EM_OK);
        out.postcopy = s.st.postcopy;
        out.final_blocks = s.st.final_blocks;
        reply(c, EM_OK, NULL, &out);
    }

    /* GO: from here the destination runs the guest.  Post-copy may push
     * for longer than the idle timeout without hearing from it, so the
     * receive timeout goes; the pull loop has its own idle rule (no
     * traffic either way). */
    hup_stop(&hw);
    s.conn.recv_timeout_ms = -1;
    s.st.t_go = xlmig_now_ns();
    xst_set(&c->st, "state", "%s", s.st.postcopy ? "postcopy" : "active");
    xst_flush(&c->st);
    reply(c, EM_OK, NULL, NULL);
    close(c->sock);
    c->sock = -1;
    if (s.st.postcopy)
        to_log(c, "source", true);
    if (xlmig_sender_pull(&s) < 0) {
        fprintf(stderr, "xlmig: POST-COPY FAILED: %s\nxlmig: the guest runs "
                "on the destination; blocks it has not received exist only "
                "in the source image(s): keep them.\n", s.err);
        xst_set(&c->st, "state", "failed");
        xst_set(&c->st, "message", "POST-COPY FAILED: %s; keep the source "
                "images", s.err);
        status = 3;
    } else {
        status = 0;
        xst_set(&c->st, "state", "completed");
        if (setup->flags & EM_REMOVE_SOURCE)
            for (unsigned i = 0; i < c->ndisks; i++)
                if (c->disks[i].kind == 1 && unlink(c->disks[i].path) == 0)
                    fprintf(stderr, "xlmig: removed %s\n",
                            c->disks[i].path);
    }
    xst_flush(&c->st);
    xlmig_sender_report(&s, stderr, false);
    /* The same, one line, for scripts (wire_bytes, postcopy, ...). */
    xlmig_sender_report(&s, stderr, true);
    goto done;

failed:
    hup_stop(&hw);
    xlmig_sender_abort(&s, s.err);
    xst_set(&c->st, "state", "rolled-back");
    xst_set(&c->st, "message", "%s", s.err);
    xst_flush(&c->st);
    if (s.q)
        xlmig_sender_report(&s, stderr, true);
    if (c->sock >= 0)
        reply(c, EM_FAIL, s.err, NULL);
done:
    xlmig_sender_destroy(&s);
out_vbds:
    for (unsigned i = 0; i < c->ndisks; i++)
        if (vbds[i])
            vbds[i]->ops->close(vbds[i]);
    return status;
}

/* ---- destination ---- */

static void *dst_cmd_main(void *arg)
{
    struct ectx *c = arg;
    struct em_msg m;
    int cmd, nfds;

    for (;;) {
        nfds = 0;
        cmd = next_cmd(c, &m, NULL, &nfds);
        pthread_mutex_lock(&c->lock);
        if (cmd == EM_ATTACH && m.ndevids <= XLMIG_MAX_DISKS) {
            /* jobinfo: the domain the guest will run as here */
            xst_set(&c->st, "domid", "%u", m.domid);
            xst_flush(&c->st);
            c->domid = m.domid;
            memcpy(c->devids, m.devids, sizeof(c->devids));
            c->attached = true;
        } else if (cmd == EM_GO && !c->abort) {
            c->go = true;
        } else {
            /* ABORT, EOF, garbage: before GO all roll back. */
            if (cmd == EM_ABORT && (m.flags & EM_UNDO_AFTER_GO))
                c->undo_after_go = true;
            if (!c->go || c->undo_after_go) {
                c->abort = true;
                if (write(c->abort_pipe[1], "x", 1) < 0) {
                    /* one byte into an empty pipe */
                }
            }
        }
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->lock);
        if (cmd <= 0 || cmd == EM_ABORT || cmd == EM_GO)
            return NULL;
    }
}

static struct xlmig_vbd *dst_resolve(void *opaque, unsigned index,
                                     char *err, size_t errlen)
{
    struct ectx *c = opaque;
    struct timespec until;
    struct xlmig_vbd *v;
    char e2[256];

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 900;
    pthread_mutex_lock(&c->lock);
    while (!c->attached && !c->abort)
        if (pthread_cond_timedwait(&c->cv, &c->lock, &until) == ETIMEDOUT)
            break;
    if (!c->attached) {
        pthread_mutex_unlock(&c->lock);
        snprintf(err, errlen, "the destination domain was not created");
        return NULL;
    }
    pthread_mutex_unlock(&c->lock);
    v = xlmig_vbd_blkback_open(c->domid, c->devids[index], e2, sizeof(e2));
    if (!v)
        snprintf(err, errlen, "domain %u device %u: %s (is the patched "
                 "xen-blkback loaded?)", c->domid, c->devids[index], e2);
    return v;
}

static int run_dest(struct ectx *c, const struct em_msg *setup, int rfd,
                    int wfd, int hold)
{
    struct xlmig_target_policy pol;
    struct xlmig_receiver r;
    struct xlmig_vbd *lazy[XLMIG_RECV_MAX_DISKS] = { NULL };
    pthread_t th;
    char err[XLMIG_ERRLEN];
    int status = 1;
    bool go;

    memset(&pol, 0, sizeof(pol));
    pol.allow_existing = setup->allow_existing;
    for (unsigned i = 0; i < c->ndisks && i < XLMIG_MAX_MAP; i++) {
        snprintf(pol.map[i].name, sizeof(pol.map[i].name), "%s",
                 c->disks[i].name);
        snprintf(pol.map[i].path, sizeof(pol.map[i].path), "%s",
                 c->disks[i].path);
        pol.nmap++;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pipe(c->abort_pipe) < 0) {
        reply(c, EM_FAIL, "pipe failed", NULL);
        return 1;
    }
    if (xlmig_receiver_init(&r, &pol, NULL, &c->prog, rfd, wfd) < 0 ||
        xlmig_receiver_negotiate(&r) < 0) {
        xlmig_receiver_abort(&r, r.err);
        reply(c, EM_FAIL, r.err, NULL);
        goto out;
    }
    for (unsigned i = 0; i < r.ndisks; i++) {
        lazy[i] = xvbd_lazy(dst_resolve, c, i, r.disks[i].path, err);
        if (!lazy[i]) {
            xlmig_receiver_abort(&r, err);
            reply(c, EM_FAIL, err, NULL);
            goto out;
        }
        xlmig_receiver_attach_vbd(&r, i, lazy[i]);
    }
    r.conn.wake_fd = c->abort_pipe[0];
    reply(c, EM_OK, NULL, NULL);
    if (pthread_create(&th, NULL, dst_cmd_main, c)) {
        xlmig_receiver_abort(&r, "cannot start a thread");
        goto out;
    }

    if (xlmig_receiver_receive(&r) < 0) {
        pthread_mutex_lock(&c->lock);
        bool aborted = c->abort;
        pthread_mutex_unlock(&c->lock);
        xlmig_receiver_abort(&r, aborted ? "the migration was aborted"
                                         : r.err);
        reply(c, EM_FAIL, r.err, NULL);
        pthread_join(th, NULL);
        goto out;
    }
    reply(c, EM_SYNCED, NULL, NULL);

    pthread_mutex_lock(&c->lock);
    while (!c->go && !c->abort)
        pthread_cond_wait(&c->cv, &c->lock);
    go = c->go && !c->abort;
    pthread_mutex_unlock(&c->lock);
    if (!go) {
        xlmig_receiver_abort(&r, "the destination rolled back");
        reply(c, EM_OK, NULL, NULL);
        pthread_join(th, NULL);
        goto out;
    }
    pthread_join(th, NULL);
    r.got_go = true;
    r.st.t_go = xlmig_now_ns();
    r.conn.wake_fd = -1;
    xst_set(&c->st, "state", "postcopy");
    xst_flush(&c->st);
    close(c->sock);
    c->sock = -1;
    {
        bool gated = false;
        for (unsigned i = 0; i < r.ndisks; i++)
            gated |= r.disks[i].gate_on;
        to_log(c, "destination", gated);
    }
    if (xlmig_receiver_pull(&r) < 0) {
        fprintf(stderr, "xlmig: POST-COPY FAILED: %s\n", r.err);
        xst_set(&c->st, "state", "failed");
        xst_set(&c->st, "message", "POST-COPY FAILED: %s", r.err);
        status = 3;
    } else {
        xst_set(&c->st, "state", "completed");
        status = 0;
    }
    xst_flush(&c->st);
    xlmig_receiver_report(&r, stderr, false);
    xlmig_receiver_report(&r, stderr, true);
out:
    xlmig_receiver_destroy(&r);
    for (unsigned i = 0; i < XLMIG_RECV_MAX_DISKS; i++)
        if (lazy[i])
            lazy[i]->ops->close(lazy[i]);
    if (hold >= 0)
        close(hold);
    return status;
}

/* ---- the child ---- */

static int engine_main(int sock, enum eng_role role)
{
    struct ectx *c = calloc(1, sizeof(*c));
    struct em_msg m;
    int fds[3] = { -1, -1, -1 }, nfds, cmd, status = 1;

    if (!c)
        return 1;
    c->sock = sock;
    for (;;) {
        nfds = 3;
        cmd = next_cmd(c, &m, fds, &nfds);
        if (cmd == EM_DISK || cmd == EM_MAP) {
            if (c->ndisks == XLMIG_MAX_DISKS)
                return 1;
            c->disks[c->ndisks++] = m;
            continue;
        }
        break;
    }
    if (cmd != EM_SETUP || nfds < 1) {
        free(c);
        return 1;           /* the parent gave up before setting us up */
    }
    /* The engine copies disks in dom0 beside blkback's kthreads and the
     * device models that serve the guests: it yields to them. */
    if (m.nice > 0 && setpriority(PRIO_PROCESS, 0, m.nice) < 0)
        fprintf(stderr, "xlmig: cannot lower priority to nice %d: %s\n",
                m.nice, strerror(errno));
    snprintf(c->uuid, sizeof(c->uuid), "%s", m.uuid);
    snprintf(c->domname, sizeof(c->domname), "%s", m.domname);
    xst_open(&c->st, c->uuid, role == ENG_SOURCE ? "source"
                                                 : "destination");
    xst_set(&c->st, "name", "%s", c->domname);
    xst_set(&c->st, "domid", "%u", m.domid);
    xst_set(&c->st, "state", "active");
    xst_set(&c->st, "peer", "%s", m.text);
    xst_set(&c->st, "disks", "%u", c->ndisks);
    xst_flush(&c->st);
    xlmig_progress_init(&c->prog, role == ENG_SOURCE ? "source"
                                                     : "destination",
                        (m.flags & EM_QUIET) ? NULL : stderr, NULL);
    c->prog.hook = xst_progress_hook;
    c->prog.hook_opaque = &c->st;
    if (role == ENG_SOURCE)
        status = run_source(c, &m, fds[0]);
    else
        status = run_dest(c, &m, fds[0], nfds > 1 ? fds[1] : fds[0],
                          nfds > 2 ? fds[2] : -1);
    xst_close(&c->st);
    free(c);
    return status;
}

int eng_spawn(struct eng *e, enum eng_role role, char *err)
{
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return ERR("socketpair: %s", strerror(errno));
    e->pid = fork();
    if (e->pid < 0)
        return ERR("fork: %s", strerror(errno));
    if (e->pid == 0) {
        int nul = open("/dev/null", O_RDWR);

        close(sv[0]);
        /* Not the control channel's: its end must close with our parent. */
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            if (nul > 2)
                close(nul);
        }
        setsid();
        signal(SIGPIPE, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        _exit(engine_main(sv[1], role));
    }
    close(sv[1]);
    e->sock = sv[0];
    return 0;
}
