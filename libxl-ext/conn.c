#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "image.h"
#include "le.h"

#define RBUF_SIZE (2 * (XLMIG_HDR_LEN + XLMIG_MAX_BODY))
#define WRITE_CHUNK (256u << 10)
/* Reads take at most this much beyond the record being read. */
#define READ_AHEAD (64u << 10)
/* DATA records with a payload this large are read so that the payload
 * lands aligned (XLMIG_IO_ALIGN): written from there with O_DIRECT. */
#define BIG_PAYLOAD (64u << 10)
#define RECORD_HEAD (XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN)
#define ALIGNED_SLOT (XLMIG_IO_ALIGN - RECORD_HEAD)

uint64_t xlmig_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Why a yield and not only nice and SCHED_BATCH: a guest thread waking on
 * a CPU where a bulk thread computes is not always run at once.  EEVDF
 * (Linux 6.6 and later) preempts only for a woken task that is eligible
 * and due first, else the next tick decides (4 ms at HZ=250), and a
 * kernel built without preemption finishes a system call first.  A
 * compressor in user space for milliseconds then holds the guest's I/O
 * thread that long.  sched_yield() makes the scheduler pick again now:
 * the waiting guest thread runs, and when nothing waits the call costs
 * well under a microsecond.
 */
void xlmig_thread_yield_point(void)
{
    static _Thread_local uint64_t last;
    uint64_t now = xlmig_now_ns();

    if (now - last >= XLMIG_YIELD_EVERY_NS) {
        sched_yield();
        last = xlmig_now_ns();
    }
}

void xlmig_thread_bulk(void)
{
    struct sched_param sp = { .sched_priority = 0 };

    /* pid 0: the calling thread (Linux schedules threads one by one). */
    if (sched_setscheduler(0, SCHED_BATCH, &sp) < 0) {
        /* not allowed here: normal scheduling */
    }
    /* IOPRIO_WHO_PROCESS (1), the calling thread, class best-effort (2),
     * level 7 (the lowest). */
    if (syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 7) < 0) {
        /* no I/O priorities here */
    }
}

int xlmig_conn_init(struct xlmig_conn *c, int rfd, int wfd)
{
    memset(c, 0, sizeof(*c));
    c->rfd = rfd;
    c->wfd = wfd;
    c->timeout_ms = 120000;
    c->last_rx_ns = xlmig_now_ns();
    c->recv_timeout_ms = -1;
    c->wake_fd = -1;
    c->hb_pipe[0] = c->hb_pipe[1] = -1;
    if (pipe2(c->intr_pipe, O_CLOEXEC) < 0)
        return -1;
    c->peer_stale = XLMIG_HB_NO_STALE;
    c->rcap = RBUF_SIZE;
    c->rbuf = xlmig_alloc_io(c->rcap);
    if (!c->rbuf)
        return -1;
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->own_tb.lock, NULL);
    c->tb = &c->own_tb;
    {
        struct stat st;
        c->wfd_is_socket = fstat(wfd, &st) == 0 && S_ISSOCK(st.st_mode);
    }
    /* Non-blocking writes: a peer that stops reading trips the timeout
     * instead of hanging us inside write(). */
    int fl = fcntl(wfd, F_GETFL);
    if (fl >= 0)
        fcntl(wfd, F_SETFL, fl | O_NONBLOCK);
    return 0;
}

void xlmig_conn_destroy(struct xlmig_conn *c)
{
    xlmig_conn_heartbeat_stop(c);
    free(c->torn);
    c->torn = NULL;
    c->torn_len = 0;
    for (int i = 0; i < 2; i++)
        if (c->intr_pipe[i] >= 0) {
            close(c->intr_pipe[i]);
            c->intr_pipe[i] = -1;
        }
    free(c->rbuf);
    c->rbuf = NULL;
    pthread_mutex_destroy(&c->wlock);
    pthread_mutex_destroy(&c->own_tb.lock);
}

void xlmig_conn_set_limit(struct xlmig_conn *c, uint64_t bytes_per_sec)
{
    pthread_mutex_lock(&c->tb->lock);
    c->tb->limit_Bps = bytes_per_sec;
    c->tb->tokens = 0;
    c->tb->at_ns = xlmig_now_ns();
    pthread_mutex_unlock(&c->tb->lock);
}

void xlmig_conn_share_limit(struct xlmig_conn *c, struct xlmig_conn *other)
{
    pthread_mutex_lock(&c->wlock);
    c->tb = other->tb;
    pthread_mutex_unlock(&c->wlock);
}

uint64_t xlmig_conn_limit(const struct xlmig_conn *c)
{
    return __atomic_load_n(&c->tb->limit_Bps, __ATOMIC_RELAXED);
}

uint64_t xlmig_conn_bytes_out(const struct xlmig_conn *c)
{
    return __atomic_load_n(&c->bytes_out, __ATOMIC_RELAXED);
}

uint64_t xlmig_conn_bytes_in(const struct xlmig_conn *c)
{
    return __atomic_load_n(&c->bytes_in, __ATOMIC_RELAXED);
}

uint64_t xlmig_conn_blocked_ns(const struct xlmig_conn *c)
{
    return __atomic_load_n(&c->blocked_ns, __ATOMIC_RELAXED);
}

static int wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = events };
    int rc;

    do
        rc = poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* Room to write within timeout_ms: 1; none: 0; interrupted: -1. */
static int wait_writable(struct xlmig_conn *c, int timeout_ms, bool intr)
{
    struct pollfd p[2] = { { .fd = c->wfd, .events = POLLOUT },
                           { .fd = c->intr_pipe[0], .events = POLLIN } };
    uint64_t start = xlmig_now_ns(), ms = (uint64_t)timeout_ms;
    int rc;

    for (;;) {
        do
            rc = poll(p, intr ? 2 : 1, timeout_ms);
        while (rc < 0 && errno == EINTR);
        if (intr && (p[1].revents & POLLIN))
            return -1;
        if (rc != 0 || !intr)
            return rc > 0;
        /*
         * Nothing taken for timeout_ms.  A peer that still sends (its
         * heartbeats) is alive, only slow to take data (a slow disk
         * there): give it up to CONN_SLOW_PEER times as long.
         */
        uint64_t now = xlmig_now_ns();

        if ((now - c->last_rx_ns) / 1000000ull >= ms ||
            (now - start) / 1000000ull >= CONN_SLOW_PEER * ms)
            return 0;
    }
}

void xlmig_conn_interrupt(struct xlmig_conn *c)
{
    c->interrupted = true;
    if (c->intr_pipe[1] >= 0 && write(c->intr_pipe[1], "x", 1) < 0) {
        /* already readable */
    }
}

/*
 * Where the next read goes and how much it takes.  Room for a whole
 * maximal record from where the pending one starts; reads of at most
 * READ_AHEAD beyond the pending record; and a large DATA payload lands
 * at an aligned address (the receiver writes it from there with O_DIRECT,
 * with no copy): a partial record is moved once to the aligned slot (at
 * most a read-ahead's worth of it), and an empty buffer starts there.
 */
static size_t next_read(struct xlmig_conn *c)
{
    size_t have = c->rend - c->rstart, want = READ_AHEAD;
    const uint8_t *h = c->rbuf + c->rstart;

    if (!have) {
        c->rstart = c->rend = ALIGNED_SLOT;
    } else if (have >= XLMIG_HDR_LEN) {
        uint32_t len = get32(h + 8);
        size_t rest = XLMIG_HDR_LEN + (size_t)len - have;

        if (get16(h + 4) == XLMIG_REC_DATA &&
            len >= XLMIG_DATA_HDR_LEN + BIG_PAYLOAD) {
            if ((uintptr_t)(h + RECORD_HEAD) % XLMIG_IO_ALIGN ||
                c->rcap - c->rstart < XLMIG_HDR_LEN + (size_t)len) {
                memmove(c->rbuf + ALIGNED_SLOT, h, have);
                c->rstart = ALIGNED_SLOT;
                c->rend = ALIGNED_SLOT + have;
            }
            return rest;        /* exactly the record: fits (checked) */
        }
        if (rest > want)
            want = rest;
    }
    if (c->rcap - c->rstart < XLMIG_HDR_LEN + XLMIG_MAX_BODY) {
        memmove(c->rbuf + ALIGNED_SLOT, c->rbuf + c->rstart, have);
        c->rstart = ALIGNED_SLOT;
        c->rend = ALIGNED_SLOT + have;
    }
    return want < c->rcap - c->rend ? want : c->rcap - c->rend;
}

int xlmig_conn_recv(struct xlmig_conn *c, struct xlmig_rec *rec)
{
    /* Liveness is whole, checksummed records (heartbeats included), not
     * bytes: after a corrupted length (within its type's bounds), the
     * peer's later records are swallowed as the bogus body and must not
     * keep the wait alive (PROTOCOL.md, length bounds). */
    uint64_t alive = xlmig_now_ns();

    for (;;) {
        size_t used, want;
        int rc = xlmig_parse(c->rbuf + c->rstart, c->rend - c->rstart, rec,
                             &used, &c->err);

        if (rc > 0)
            c->last_rx_ns = xlmig_now_ns();
        ssize_t n;

        if (rc < 0)
            return -1;
        if (rc > 0) {
            struct xlmig_heartbeat hb;

            c->rstart += used;
            alive = xlmig_now_ns();
            if (rec->type != XLMIG_REC_HEARTBEAT) {
                xlmig_thread_yield_point();
                return 1;
            }
            if (xlmig_dec_heartbeat(rec, &hb, &c->err) < 0)
                return -1;
            c->peer_stale = hb.stale;
            c->hb_in++;
            continue;
        }
        want = next_read(c);
        {
            struct pollfd p[2] = { { .fd = c->rfd, .events = POLLIN },
                                   { .fd = c->wake_fd, .events = POLLIN } };
            int tmo = c->recv_timeout_ms;

            if (tmo >= 0) {
                uint64_t gone = (xlmig_now_ns() - alive) / 1000000ull;

                tmo = gone >= (uint64_t)tmo ? 0 : tmo - (int)gone;
            }
            do
                rc = poll(p, c->wake_fd >= 0 ? 2 : 1, tmo);
            while (rc < 0 && errno == EINTR);
            if (rc == 0) {
                xlmig_fail(&c->err, ETIMEDOUT, "peer sent no complete "
                           "record for %d s", c->recv_timeout_ms / 1000);
                return -1;
            }
            if (c->wake_fd >= 0 && (p[1].revents & POLLIN) &&
                !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                return -2;
        }
        do
            n = read(c->rfd, c->rbuf + c->rend, want);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            xlmig_fail(&c->err, errno, "reading from peer: %s",
                     strerror(errno));
            return -1;
        }
        if (n == 0) {
            if (c->rend == c->rstart)
                return 0;
            xlmig_fail(&c->err, EIO, "stream truncated: peer closed "
                     "in the middle of a record (%zu bytes pending)",
                     c->rend - c->rstart);
            return -1;
        }
        c->rend += (size_t)n;
        __atomic_fetch_add(&c->bytes_in, (uint64_t)n, __ATOMIC_RELAXED);
    }
}

/*
 * write() that turns a vanished reader into EPIPE without a SIGPIPE, and
 * leaves the process's signal dispositions alone (as libpq does).
 */
static ssize_t write_nosig(struct xlmig_conn *c, const struct iovec *v,
                           int nv)
{
    sigset_t pipe_only, old;
    struct timespec zero = { 0, 0 };
    bool pending;
    ssize_t rc;

    if (c->wfd_is_socket) {
        struct msghdr m = { .msg_iov = (struct iovec *)v,
                            .msg_iovlen = (size_t)nv };

        return sendmsg(c->wfd, &m, MSG_NOSIGNAL);
    }
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    {
        sigset_t now;
        sigpending(&now);
        pending = sigismember(&now, SIGPIPE);
    }
    rc = writev(c->wfd, v, nv);
    if (rc < 0 && errno == EPIPE && !pending && !sigismember(&old, SIGPIPE)) {
        int e = errno;
        /* Consume the SIGPIPE this write raised, then unblock. */
        sigtimedwait(&pipe_only, NULL, &zero);
        errno = e;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Token bucket (maybe shared by several connections): sleeps until n
 * bytes may go.  Called with wlock held. */
static void rate_wait(struct xlmig_conn *c, size_t n)
{
    struct xlmig_tbucket *tb = c->tb;
    double burst;
    uint64_t now;

    pthread_mutex_lock(&tb->lock);
    for (;;) {
        double wait_s;
        struct timespec ts;

        if (!tb->limit_Bps)
            break;
        burst = (double)tb->limit_Bps / 50.0;        /* 20 ms of traffic */
        if (burst < 2.0 * WRITE_CHUNK)
            burst = 2.0 * WRITE_CHUNK;
        now = xlmig_now_ns();
        tb->tokens += (double)(now - tb->at_ns) * 1e-9 *
                      (double)tb->limit_Bps;
        tb->at_ns = now;
        if (tb->tokens > burst)
            tb->tokens = burst;
        if (tb->tokens >= (double)n) {
            tb->tokens -= (double)n;
            break;
        }
        wait_s = ((double)n - tb->tokens) / (double)tb->limit_Bps;
        ts = (struct timespec){ .tv_sec = (time_t)wait_s,
                                .tv_nsec = (long)((wait_s -
                                                   (double)(time_t)wait_s) *
                                                  1e9) };
        pthread_mutex_unlock(&tb->lock);
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&tb->lock);
    }
    pthread_mutex_unlock(&tb->lock);
}

/* Tokens taken for bytes that did not go. */
static void rate_refund(struct xlmig_conn *c, size_t n)
{
    pthread_mutex_lock(&c->tb->lock);
    if (c->tb->limit_Bps)
        c->tb->tokens += (double)n;
    pthread_mutex_unlock(&c->tb->lock);
}

/* Where a send is in its pieces. */
struct ioq {
    const struct iovec *iov;
    int n, i;
    size_t off, left;
};

/* Up to max bytes from the current position, as at most 8 iovecs. */
static int ioq_take(const struct ioq *q, size_t max, struct iovec *v)
{
    int nv = 0, i = q->i;
    size_t off = q->off;

    while (max && i < q->n && nv < 8) {
        size_t l = q->iov[i].iov_len - off;

        if (l > max)
            l = max;
        if (l) {
            v[nv].iov_base = (uint8_t *)q->iov[i].iov_base + off;
            v[nv++].iov_len = l;
            max -= l;
        }
        off = 0;
        i++;
    }
    return nv;
}

static void ioq_advance(struct ioq *q, size_t n)
{
    q->left -= n;
    while (n) {
        size_t l = q->iov[q->i].iov_len - q->off;

        if (n < l) {
            q->off += n;
            return;
        }
        n -= l;
        q->i++;
        q->off = 0;
    }
    while (q->i < q->n && q->iov[q->i].iov_len == q->off) {
        q->i++;
        q->off = 0;
    }
}

/* A send that stops inside a record leaves the peer waiting for the rest
 * of it: keep the rest, so that an ERROR sent afterwards still arrives as
 * a record (xlmig_conn_send_error sends the rest first). */
static int torn(struct xlmig_conn *c, const struct ioq *q, size_t sent,
                int rc)
{
    struct ioq r = *q;

    if (!sent || c->torn_len)
        return rc;
    c->torn = malloc(q->left);
    if (!c->torn)
        return rc;
    c->torn_len = 0;
    while (r.left) {
        struct iovec v[8];
        int nv = ioq_take(&r, r.left, v);
        size_t got = 0;

        for (int k = 0; k < nv; k++) {
            memcpy(c->torn + c->torn_len, v[k].iov_base, v[k].iov_len);
            c->torn_len += v[k].iov_len;
            got += v[k].iov_len;
        }
        ioq_advance(&r, got);
    }
    return rc;
}

/* Called with wlock held.  intr: give up when interrupted. */
static int send_locked(struct xlmig_conn *c, const struct iovec *iov,
                       int iovcnt, bool intr)
{
    struct ioq q = { .iov = iov, .n = iovcnt };
    size_t sent = 0;

    for (int k = 0; k < iovcnt; k++)
        q.left += iov[k].iov_len;
    while (q.left) {
        size_t chunk = q.left < WRITE_CHUNK ? q.left : WRITE_CHUNK;
        uint64_t t0 = xlmig_now_ns();
        struct iovec v[8];
        int nv, w;
        ssize_t n;

        if (intr && c->interrupted)
            return torn(c, &q, sent,
                        xlmig_fail(&c->err, ECANCELED, "the channel was "
                                   "given up"));
        rate_wait(c, chunk);
        w = wait_writable(c, c->timeout_ms, intr);
        if (w < 0)
            return torn(c, &q, sent,
                        xlmig_fail(&c->err, ECANCELED, "the channel was "
                                   "given up"));
        if (w == 0)
            return torn(c, &q, sent,
                        xlmig_fail(&c->err, ETIMEDOUT, "peer accepted "
                                   "nothing for %d s", c->timeout_ms / 1000));
        nv = ioq_take(&q, chunk, v);
        do
            n = write_nosig(c, v, nv);
        while (n < 0 && errno == EINTR);
        __atomic_fetch_add(&c->blocked_ns, xlmig_now_ns() - t0,
                           __ATOMIC_RELAXED);
        if (n < 0 && errno == EAGAIN) {
            rate_refund(c, chunk);
            continue;
        }
        if (n < 0)
            return xlmig_fail(&c->err, errno, "writing to peer: %s",
                              strerror(errno));
        /* A short write returns unused tokens on the next refill. */
        if ((size_t)n < chunk)
            rate_refund(c, chunk - (size_t)n);
        ioq_advance(&q, (size_t)n);
        sent += (size_t)n;
        __atomic_fetch_add(&c->bytes_out, (uint64_t)n, __ATOMIC_RELAXED);
    }
    return 0;
}

int xlmig_conn_sendv(struct xlmig_conn *c, const struct iovec *iov,
                     int iovcnt)
{
    int rc;

    pthread_mutex_lock(&c->wlock);
    rc = send_locked(c, iov, iovcnt, true);
    pthread_mutex_unlock(&c->wlock);
    return rc < 0 ? -1 : 0;
}

int xlmig_conn_send(struct xlmig_conn *c, const void *buf, size_t len)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

    return xlmig_conn_sendv(c, &v, 1);
}

static int send_plain(struct xlmig_conn *c, const void *buf, size_t len)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

    return send_locked(c, &v, 1, false);
}

void xlmig_conn_send_error(struct xlmig_conn *c, int code, const char *fmt,
                           ...)
{
    uint8_t rec[XLMIG_HDR_LEN + 6 + XLMIG_MAX_REASON];
    char reason[XLMIG_MAX_REASON + 1];
    va_list ap;
    size_t n;
    int saved = c->timeout_ms;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    n = xlmig_enc_error(rec, (uint32_t)code, reason);
    /* Don't hang on a peer that stopped reading. */
    pthread_mutex_lock(&c->wlock);
    c->timeout_ms = 2000;
    if (c->torn_len && send_plain(c, c->torn, c->torn_len) == 0) {
        free(c->torn);
        c->torn = NULL;
        c->torn_len = 0;
    }
    if (!c->torn_len)
        send_plain(c, rec, n);
    c->timeout_ms = saved;
    pthread_mutex_unlock(&c->wlock);
}

void xlmig_conn_linger(struct xlmig_conn *c, int timeout_ms)
{
    uint64_t until = xlmig_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    char sink[65536];

    if (shutdown(c->wfd, SHUT_WR) < 0 && c->wfd != c->rfd)
        close(c->wfd);
    for (;;) {
        uint64_t now = xlmig_now_ns();
        int left = now >= until ? 0 : (int)((until - now) / 1000000ull);
        ssize_t n;

        if (!left || wait_fd(c->rfd, POLLIN, left) <= 0)
            return;
        n = read(c->rfd, sink, sizeof(sink));
        if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
            return;
    }
}

static void *heartbeat_main(void *arg)
{
    struct xlmig_conn *c = arg;
    struct pollfd p = { .fd = c->hb_pipe[0], .events = POLLIN };

    for (;;) {
        uint8_t rec[XLMIG_HDR_LEN + 16];
        struct xlmig_heartbeat hb;
        int rc;

        do
            rc = poll(&p, 1, c->hb_interval_ms);
        while (rc < 0 && errno == EINTR);
        if (rc != 0)
            return NULL;                /* stopped */
        hb.seq = ++c->hb_seq;
        hb.stale = c->hb_stale ? c->hb_stale(c->hb_opaque)
                               : XLMIG_HB_NO_STALE;
        if (xlmig_conn_send(c, rec, xlmig_enc_heartbeat(rec, &hb)) < 0)
            return NULL;
    }
}

int xlmig_conn_heartbeat_start(struct xlmig_conn *c, int interval_ms,
                               uint64_t (*stale)(void *opaque),
                               void *opaque)
{
    if (c->hb_running)
        return 0;
    if (pipe2(c->hb_pipe, O_CLOEXEC) < 0)
        return xlmig_fail(&c->err, errno, "pipe: %s", strerror(errno));
    c->hb_interval_ms = interval_ms > 0 ? interval_ms : 1000;
    c->hb_stale = stale;
    c->hb_opaque = opaque;
    if (pthread_create(&c->hb_thread, NULL, heartbeat_main, c)) {
        close(c->hb_pipe[0]);
        close(c->hb_pipe[1]);
        c->hb_pipe[0] = c->hb_pipe[1] = -1;
        return xlmig_fail(&c->err, EAGAIN, "cannot start the heartbeat "
                          "thread");
    }
    c->hb_running = true;
    return 0;
}

void xlmig_conn_heartbeat_stop(struct xlmig_conn *c)
{
    if (c->hb_running) {
        if (write(c->hb_pipe[1], "x", 1) < 0) {
            /* cannot fail: one byte into an empty pipe */
        }
        pthread_join(c->hb_thread, NULL);
        c->hb_running = false;
    }
    for (int i = 0; i < 2; i++)
        if (c->hb_pipe[i] >= 0) {
            close(c->hb_pipe[i]);
            c->hb_pipe[i] = -1;
        }
}
