/*
 * The control socket of the simulated VBD daemon: one thread per
 * connection, requests validated and dispatched to the backend (the
 * blkback analog) and the guest.  Protocol: sim_proto.h.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim/sim_server.h"
#include "sim/sim_util.h"
#include "sim/sim_wire.h"

#define SUSPEND_MAX_MS SIM_MAX_TIMEOUT_MS
#define SEND_TIMEOUT_S 30

struct conn;

struct sim_server {
    const struct sim_server_cfg *cfg;
    struct sim_backend *b;
    struct sim_guest *g;
    int wake_efd;               /* a connection ended, or SHUTDOWN */
    pthread_mutex_t lock;       /* conns, nconns, shutdown */
    struct conn *conns;
    unsigned nconns;
    bool shutdown;
};

struct conn {
    struct sim_server *srv;
    int fd;
    pthread_t thread;
    bool finished;              /* the thread is done: join it */
    bool quiesced;              /* holds a quiesce */
    bool suspended_guest;       /* suspended the guest, not yet handed off */
    bool handed_off;            /* committed the guest to a hand-off */
    struct xlmig_bitmap *claims;    /* blocks this connection claimed */
    uint64_t claims_epoch;
    struct conn *next;
};

/* What a handler answers; msg is the error text when it fails. */
struct reply {
    const void *data;
    size_t len;
    void *owned;                /* freed after sending */
    int fd_pass;
    bool sent;                  /* the handler streamed the reply itself */
    bool shutdown;              /* stop the daemon after replying */
    struct xlmig_error err;     /* the reason sent with a failure */
};

#define FAIL(rep, code, ...) \
    xlmig_fail(&(rep)->err, (code), __VA_ARGS__)

static int need_len(struct reply *rep, size_t len, size_t want)
{
    if (len != want)
        return FAIL(rep, EINVAL, "bad request size %zu (want %zu)", len,
                    want);
    return 0;
}

static int get_u32(struct reply *rep, const void *p, size_t len,
                   uint32_t *v)
{
    struct sim_u32 u;
    int rc = need_len(rep, len, sizeof(u));

    if (rc)
        return rc;
    memcpy(&u, p, sizeof(u));
    *v = u.value;
    return 0;
}

static int get_range(struct reply *rep, const void *p, size_t len,
                     struct sim_range *r, uint32_t max_count)
{
    int rc = need_len(rep, len, sizeof(*r));

    if (rc)
        return rc;
    memcpy(r, p, sizeof(*r));
    if (r->pad)
        return FAIL(rep, EINVAL, "non-zero padding in a range");
    if (!r->count || r->count > max_count)
        return FAIL(rep, EINVAL, "block count %" PRIu32 " not in 1..%" PRIu32,
                    r->count, max_count);
    return 0;
}

/* Messages for the core's errors. */
static int core_err(struct reply *rep, int rc, const char *what)
{
    switch (rc) {
    case -EINVAL:
        return FAIL(rep, EINVAL, "%s: invalid argument (block size must be "
                    "a power of two from 512 to 1 MiB; is the gate on?)",
                    what);
    case -EBUSY:
        return FAIL(rep, EBUSY, "%s: busy (tracking or gate already on with "
                    "another geometry)", what);
    case -ERANGE:
        return FAIL(rep, ERANGE, "%s: blocks beyond the end of the disk",
                    what);
    case -ENODEV:
        return FAIL(rep, ENODEV, "%s: the gate is off", what);
    default:
        return FAIL(rep, -rc, "%s: %s", what, strerror(-rc));
    }
}

/* ---- streamed replies (extent lists) ----------------------------------- */

struct stream {
    int fd;
    uint16_t type;
};

static int emit_extents(void *ctx, const struct xlmig_extent *e, size_t n)
{
    struct stream *s = ctx;
    struct sim_hdr h = {
        .magic = SIM_MAGIC, .version = SIM_VERSION, .type = s->type,
        .flags = SIM_F_MORE,
    };
    struct iovec iov[2] = {
        { .iov_base = &h, .iov_len = sizeof(h) },
        { .iov_base = (void *)e, .iov_len = n * sizeof(*e) },
    };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    ssize_t w;

    do
        w = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    return w < 0 ? -errno : 0;
}

_Static_assert(sizeof(struct xlmig_extent) == sizeof(struct sim_extent),
               "extent wire layout");
#define EXTENTS_PER_PACKET (SIM_MAX_PAYLOAD / sizeof(struct sim_extent))

static int finish_stream(struct conn *c, uint16_t type, int rc,
                         struct reply *rep)
{
    if (rc)
        return rc;
    /* The last (empty) packet ends the message. */
    rep->sent = true;
    return sim_wire_send(c->fd, type, 0, NULL, 0, -1);
}

/* ---- claims owned by a connection -------------------------------------- */

static void release_claims(struct conn *c)
{
    struct xlmig_extent e;
    uint64_t pos = 0;

    if (!c->claims)
        return;
    if (c->claims_epoch == sim_backend_gate_epoch(c->srv->b))
        while (xlmig_bitmap_next_extent(c->claims, &pos, SIM_MAX_CLAIM, &e))
            sim_backend_unclaim(c->srv->b, e.start, (uint32_t)e.count);
    xlmig_bitmap_free(c->claims);
    c->claims = NULL;
}

/* Commits or unclaims the blocks of [start, start+count) this conn owns. */
static void settle_claims(struct conn *c, uint64_t start, uint32_t count,
                          bool commit)
{
    struct xlmig_extent e;
    uint64_t pos = start, end = start + count;

    if (!c->claims || c->claims_epoch != sim_backend_gate_epoch(c->srv->b))
        return;
    while (xlmig_bitmap_next_extent(c->claims, &pos, SIM_MAX_CLAIM, &e) &&
           e.start < end) {
        if (e.start + e.count > end)
            e.count = end - e.start;
        if (commit)
            sim_backend_commit(c->srv->b, e.start, (uint32_t)e.count);
        else
            sim_backend_unclaim(c->srv->b, e.start, (uint32_t)e.count);
        xlmig_bitmap_clear_range(c->claims, e.start, e.count);
        pos = e.start + e.count;
    }
}

static int do_claim(struct conn *c, const void *p, size_t len,
                    struct reply *rep)
{
    size_t words, sz;
    struct sim_claim_reply *out;
    struct sim_range r;
    struct sim_stats st;
    uint64_t epoch;
    long n;
    int rc;

    rc = get_range(rep, p, len, &r, SIM_MAX_CLAIM);
    if (rc)
        return rc;
    words = (r.count + 63) / 64;
    sz = sizeof(*out) + words * sizeof(uint64_t);
    out = calloc(1, sz);
    if (!out)
        return FAIL(rep, ENOMEM, "out of memory");
    epoch = sim_backend_gate_epoch(c->srv->b);
    n = sim_backend_claim(c->srv->b, r.start, r.count,
                          (unsigned long *)out->mask);
    if (n < 0) {
        free(out);
        return core_err(rep, (int)n, "claim");
    }
    if (n > 0) {
        sim_backend_stats(c->srv->b, &st);
        if (c->claims && (c->claims_epoch != epoch ||
                          xlmig_bitmap_size(c->claims) != st.mig.nr_blocks)) {
            xlmig_bitmap_free(c->claims);
            c->claims = NULL;
        }
        if (!c->claims) {
            c->claims = xlmig_bitmap_new(st.mig.nr_blocks);
            c->claims_epoch = epoch;
        }
        if (!c->claims) {
            /* Cannot own them: give them back rather than leak them. */
            sim_backend_unclaim(c->srv->b, r.start, r.count);
            free(out);
            return FAIL(rep, ENOMEM, "out of memory");
        }
        for (uint32_t i = 0; i < r.count; i++)
            if (out->mask[i / 64] & (1ULL << (i % 64)))
                xlmig_bitmap_set_range(c->claims, r.start + i, 1);
    }
    out->claimed = n;
    rep->data = rep->owned = out;
    rep->len = sz;
    return 0;
}

/* ---- dispatch ---------------------------------------------------------- */

static int handle(struct conn *c, const struct sim_hdr *h, const void *p,
                  size_t len, struct reply *rep)
{
    struct sim_server *srv = c->srv;
    struct sim_backend *b = srv->b;
    struct xlmig_error *err = &rep->err;
    struct stream s = { .fd = c->fd, .type = h->type };
    struct sim_range r;
    uint32_t v;
    int rc;

    switch (h->type) {
    case SIM_HELLO: {
        size_t plen = strlen(srv->cfg->image_path) + 1;
        struct sim_hello *hello;

        if ((rc = need_len(rep, len, 0)))
            return rc;
        hello = calloc(1, sizeof(*hello) + plen);
        if (!hello)
            return FAIL(rep, ENOMEM, "out of memory");
        hello->size = sim_backend_size(b);
        hello->flags = (srv->cfg->dest ? SIM_HELLO_DEST : 0) |
                       (srv->cfg->test_hooks ? SIM_HELLO_TEST_HOOKS : 0);
        memcpy(hello + 1, srv->cfg->image_path, plen);
        rep->data = rep->owned = hello;
        rep->len = sizeof(*hello) + plen;
        return 0;
    }
    case SIM_TRACK_START:
        if ((rc = get_u32(rep, p, len, &v)))
            return rc;
        rc = sim_backend_track_start(b, v);
        return rc ? core_err(rep, rc, "track start") : 0;
    case SIM_TRACK_STOP:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        sim_backend_track_stop(b);
        return 0;
    case SIM_SNAPSHOT:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        rc = sim_backend_snapshot(b, emit_extents, &s, EXTENTS_PER_PACKET);
        if (rc == -EINVAL)
            return FAIL(rep, EINVAL, "snapshot: tracking is off");
        return finish_stream(c, h->type, rc, rep);
    case SIM_QUIESCE:
        if ((rc = get_u32(rep, p, len, &v)))
            return rc;
        if (!v || v > SIM_MAX_TIMEOUT_MS)
            return FAIL(rep, EINVAL, "quiesce timeout %" PRIu32 " ms not in "
                        "1..%u", v, SIM_MAX_TIMEOUT_MS);
        if (c->quiesced)
            return 0;
        rc = sim_backend_quiesce(b, v);
        if (rc)
            return FAIL(rep, -rc, "quiesce: requests still in flight after "
                        "%" PRIu32 " ms; the guest's I/O goes on", v);
        c->quiesced = true;
        return 0;
    case SIM_UNQUIESCE:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        if (c->quiesced)
            sim_backend_unquiesce(b);
        c->quiesced = false;
        return 0;
    case SIM_GATE_START:
        if ((rc = get_u32(rep, p, len, &v)))
            return rc;
        rc = sim_backend_gate_start(b, v);
        return rc ? core_err(rep, rc, "gate start") : 0;
    case SIM_GATE_ADD_STALE:
        if (!len || len % sizeof(struct sim_extent) ||
            len / sizeof(struct sim_extent) > SIM_MAX_EXTENTS)
            return FAIL(rep, EINVAL, "add stale: %zu bytes is not 1..%u "
                        "extents", len, SIM_MAX_EXTENTS);
        {
            struct xlmig_extent *e = malloc(len);

            if (!e)
                return FAIL(rep, ENOMEM, "out of memory");
            memcpy(e, p, len);
            rc = sim_backend_gate_add_stale(b, e, len / sizeof(*e));
            free(e);
        }
        return rc ? core_err(rep, rc, "add stale") : 0;
    case SIM_WANTED_FD:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        rep->fd_pass = sim_backend_wanted_fd(b);
        return 0;
    case SIM_WANTED_POP: {
        struct xlmig_extent *e;

        if ((rc = get_u32(rep, p, len, &v)))
            return rc;
        if (!v || v > SIM_MAX_EXTENTS)
            return FAIL(rep, EINVAL, "wanted pop: max %" PRIu32 " not in "
                        "1..%u", v, SIM_MAX_EXTENTS);
        e = calloc(v, sizeof(*e));
        if (!e)
            return FAIL(rep, ENOMEM, "out of memory");
        rep->len = sim_backend_wanted_pop(b, e, v) * sizeof(*e);
        rep->data = rep->owned = e;
        return 0;
    }
    case SIM_CLAIM:
        return do_claim(c, p, len, rep);
    case SIM_COMMIT:
    case SIM_UNCLAIM:
        if ((rc = get_range(rep, p, len, &r, UINT32_MAX)))
            return rc;
        settle_claims(c, r.start, r.count, h->type == SIM_COMMIT);
        return 0;
    case SIM_GATE_STOP:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        sim_backend_gate_stop(b);
        return 0;
    case SIM_STATS: {
        struct sim_stats *st;

        if ((rc = need_len(rep, len, 0)))
            return rc;
        st = malloc(sizeof(*st));
        if (!st)
            return FAIL(rep, ENOMEM, "out of memory");
        sim_backend_stats(b, st);
        rep->data = rep->owned = st;
        rep->len = sizeof(*st);
        return 0;
    }
    case SIM_GUEST_SUSPEND: {
        void *blob;
        size_t blen;

        if ((rc = get_u32(rep, p, len, &v)))
            return rc;
        if (!v || v > SUSPEND_MAX_MS)
            return FAIL(rep, EINVAL, "suspend timeout %" PRIu32 " ms not in "
                        "1..%u", v, SUSPEND_MAX_MS);
        rc = sim_guest_suspend(srv->g, v, &blob, &blen, err);
        if (rc)
            return rc;
        c->suspended_guest = true;
        rep->data = rep->owned = blob;
        rep->len = blen;
        return 0;
    }
    case SIM_GUEST_RESUME:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        rc = sim_guest_resume(srv->g, err);
        if (!rc)
            c->suspended_guest = false;
        return rc;
    case SIM_GUEST_HANDOFF:
        /* The point of no return is near: never resume behind its back. */
        if ((rc = need_len(rep, len, 0)))
            return rc;
        if (!c->suspended_guest)
            return FAIL(rep, EINVAL, "this connection did not suspend the "
                        "guest");
        c->suspended_guest = false;
        c->handed_off = true;
        return 0;
    case SIM_GUEST_LOAD:
        return sim_guest_load(srv->g, p, len, err);
    case SIM_GUEST_UNPAUSE:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        return sim_guest_unpause(srv->g, err);
    case SIM_GUEST_REPORT:
    case SIM_GUEST_VERIFY: {
        struct xlmig_sim_report *out;

        if ((rc = need_len(rep, len, 0)))
            return rc;
        out = calloc(1, sizeof(*out));
        if (!out)
            return FAIL(rep, ENOMEM, "out of memory");
        if (h->type == SIM_GUEST_REPORT)
            sim_guest_report(srv->g, out);
        else if ((rc = sim_guest_stop_and_verify(srv->g, out, err))) {
            free(out);
            return rc;
        }
        rep->data = rep->owned = out;
        rep->len = sizeof(*out);
        return 0;
    }
    case SIM_SHUTDOWN:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        rep->shutdown = true;   /* once the reply is out */
        return 0;
    case SIM_TEST_WRITTEN:
        if ((rc = need_len(rep, len, 0)))
            return rc;
        rc = sim_guest_test_written(srv->g, emit_extents, &s,
                                    EXTENTS_PER_PACKET, err);
        if (rc == -EPERM || rc == -ENOMEM || rc == -EINVAL)
            return rc;      /* nothing streamed yet: a normal error reply */
        return finish_stream(c, h->type, rc, rep);
    default:
        return FAIL(rep, ENOSYS, "unknown request type %u", h->type);
    }
}

static void wake_main(struct sim_server *srv, bool shutdown)
{
    uint64_t one = 1;

    if (shutdown) {
        pthread_mutex_lock(&srv->lock);
        srv->shutdown = true;
        pthread_mutex_unlock(&srv->lock);
    }
    if (write(srv->wake_efd, &one, sizeof(one)) < 0) {
        /* saturated: the main loop wakes anyway */
    }
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct sim_server *srv = c->srv;

    for (;;) {
        struct reply rep = { .fd_pass = -1 };
        struct sim_hdr h;
        void *msg;
        size_t len;
        int rc;

        rc = sim_wire_recv(c->fd, &h, &msg, &len, SIM_MAX_MESSAGE, NULL);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (rc != -EBADMSG && rc != -EMSGSIZE)
                break;          /* the socket failed */
            rc = sim_wire_send_error(c->fd, h.type, rc, rc == -EMSGSIZE
                                     ? "message too large"
                                     : "malformed packet (bad size, magic "
                                       "or version)");
            if (rc)
                break;
            continue;
        }
        if (h.status || (h.flags & ~SIM_F_MORE)) {
            rc = FAIL(&rep, EINVAL, "requests carry no status or flags");
        } else {
            rc = handle(c, &h, msg, len, &rep);
            sim_debug("conn %d: request %u -> %d", c->fd, h.type, rc);
        }
        free(msg);
        if (rc)
            rc = sim_wire_send_error(c->fd, h.type, rc,
                                     rep.err.msg[0] ? rep.err.msg : strerror(-rc));
        else if (!rep.sent)
            rc = sim_wire_send(c->fd, h.type, 0, rep.data, rep.len,
                               rep.fd_pass);
        free(rep.owned);
        if (rep.shutdown)
            wake_main(srv, true);
        if (rc)
            break;              /* the reply could not be sent */
    }
    /*
     * A migration tool that suspended the guest and died before committing
     * to the hand-off: the guest runs on here, as a rollback would do.
     */
    if (c->suspended_guest) {
        struct xlmig_error err;

        sim_log("client went away after suspending the guest, before the "
                "hand-off: resuming the guest");
        if (sim_guest_resume(srv->g, &err))
            sim_log("resuming the guest failed: %s", err.msg);
        c->suspended_guest = false;
    }
    /*
     * A vanished client must not leave the guest's I/O stuck.  (After a
     * hand-off the quiesce is simply over: the guest migrated, nothing is
     * held back for it here.)
     */
    if (c->quiesced) {
        if (!c->handed_off)
            sim_log("client went away holding a quiesce: releasing it");
        sim_backend_unquiesce(srv->b);
        c->quiesced = false;
    }
    if (c->claims && xlmig_bitmap_count(c->claims))
        sim_log("client went away holding %" PRIu64 " claimed blocks: "
                "releasing them", xlmig_bitmap_count(c->claims));
    release_claims(c);
    pthread_mutex_lock(&srv->lock);
    c->finished = true;
    pthread_mutex_unlock(&srv->lock);
    wake_main(srv, false);
    return NULL;
}

/* Joins finished connections (all of them when `all`). */
static void reap(struct sim_server *srv, bool all)
{
    struct conn **pp, *c;

    for (;;) {
        pthread_mutex_lock(&srv->lock);
        for (pp = &srv->conns; (c = *pp); pp = &c->next)
            if (c->finished || all)
                break;
        if (c) {
            *pp = c->next;
            srv->nconns--;
        }
        pthread_mutex_unlock(&srv->lock);
        if (!c)
            return;
        pthread_join(c->thread, NULL);
        close(c->fd);
        free(c);
    }
}

static void accept_one(struct sim_server *srv, int lfd)
{
    struct conn *c;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    pthread_mutex_lock(&srv->lock);
    if (srv->nconns >= SIM_MAX_CONNS) {
        pthread_mutex_unlock(&srv->lock);
        sim_wire_send_error(fd, 0, -EMFILE, "too many connections");
        close(fd);
        return;
    }
    pthread_mutex_unlock(&srv->lock);
    /*
     * A client that stops reading must not block its thread for ever (a
     * snapshot streams while holding the backend's control lock): a send
     * that cannot progress for SEND_TIMEOUT_S fails and drops the client.
     */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO,
                   &(struct timeval){ .tv_sec = SEND_TIMEOUT_S },
                   sizeof(struct timeval)) < 0) {
        close(fd);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->srv = srv;
    c->fd = fd;
    if (pthread_create(&c->thread, NULL, conn_main, c)) {
        close(fd);
        free(c);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    c->next = srv->conns;
    srv->conns = c;
    srv->nconns++;
    pthread_mutex_unlock(&srv->lock);
}

int sim_server_listen(const char *path, struct xlmig_error *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return xlmig_fail(err, ENAMETOOLONG, "socket path too long: %s",
                       path);
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return xlmig_fail(err, errno, "socket: %s", strerror(errno));
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            close(fd);
            return xlmig_fail(err, EEXIST, "%s exists and is not a "
                           "socket", path);
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(fd);
            return xlmig_fail(err, EADDRINUSE, "%s: another daemon is "
                           "serving there", path);
        }
        /* A leftover of a dead daemon. */
        unlink(path);
        close(fd);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return xlmig_fail(err, errno, "socket: %s", strerror(errno));
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 16) < 0) {
        int e = errno;

        close(fd);
        return xlmig_fail(err, e, "cannot listen on %s: %s", path,
                       strerror(e));
    }
    return fd;
}

int sim_server_run(const struct sim_server_cfg *cfg, int lfd,
                   struct sim_backend *b, struct sim_guest *g, struct xlmig_error *err)
{
    struct sim_server srv = { .cfg = cfg, .b = b, .g = g };
    sigset_t sigs;
    int sfd, rc;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    srv.wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sfd < 0 || srv.wake_efd < 0) {
        rc = xlmig_fail(err, errno, "signalfd/eventfd: %s",
                     strerror(errno));
        if (sfd >= 0)
            close(sfd);
        close(lfd);
        unlink(cfg->socket_path);
        return rc;
    }
    pthread_mutex_init(&srv.lock, NULL);
    sim_log("serving %s on %s (%s)", cfg->image_path, cfg->socket_path,
            cfg->dest ? "destination" : "source");
    for (;;) {
        struct pollfd pfd[3] = {
            { .fd = lfd, .events = POLLIN },
            { .fd = sfd, .events = POLLIN },
            { .fd = srv.wake_efd, .events = POLLIN },
        };
        bool stop;

        if (poll(pfd, 3, -1) < 0 && errno != EINTR)
            break;
        if (pfd[1].revents) {
            struct signalfd_siginfo si;

            if (read(sfd, &si, sizeof(si)) == sizeof(si))
                sim_log("signal %u: shutting down", si.ssi_signo);
            break;
        }
        if (pfd[2].revents) {
            uint64_t n;

            if (read(srv.wake_efd, &n, sizeof(n)) < 0) {
                /* EAGAIN: nothing pending */
            }
            reap(&srv, false);
        }
        pthread_mutex_lock(&srv.lock);
        stop = srv.shutdown;
        pthread_mutex_unlock(&srv.lock);
        if (stop) {
            sim_log("shutdown requested");
            break;
        }
        if (pfd[0].revents & POLLIN)
            accept_one(&srv, lfd);
    }
    close(lfd);
    unlink(cfg->socket_path);
    /* No more requests; then unblock whatever a request waits for. */
    pthread_mutex_lock(&srv.lock);
    for (struct conn *c = srv.conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&srv.lock);
    sim_backend_shutdown(b);
    sim_guest_halt(g);
    reap(&srv, true);
    pthread_mutex_destroy(&srv.lock);
    close(srv.wake_efd);
    close(sfd);
    return 0;
}
