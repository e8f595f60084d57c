/*
 * Several data connections on the destination (feature bit 6).
 *
 * After SESSION the source's JOIN(secret, 0, N) on the first connection
 * says how many there are; the other N - 1 come through the
 * accept_recovery hook (e.g. the listening socket), each with HELLO and
 * JOIN(secret, k, N), answered with HELLO.  A connection with the wrong
 * secret is refused and waiting goes on, within the peer timeout.
 *
 * Each extra connection has a thread that reads its records and writes
 * their data (receiving and writing in parallel): DATA of its stripes
 * only, and SYNC, which marks how far it got.  The main thread's SYNC
 * waits until every connection has reached it: then everything sent
 * before the SYNC on any connection is written.  After the final SYNC
 * (stop-copy) the extra connections close.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dst_internal.h"

#define ACCEPT_SLICE_MS 500

void dst_interrupt_all(struct xlmig_dest *d)
{
    if (d->have_channel)
        xlmig_conn_interrupt(&d->conn);
    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++)
        if (d->xc[k])
            xlmig_conn_interrupt(&d->xc[k]->conn);
}

void dst_wake_main(struct xlmig_dest *d)
{
    if (write(d->cancel_pipe[1], "f", 1) < 0) {
        /* full: the main thread is woken anyway */
    }
    pthread_mutex_lock(&d->sync_lock);
    pthread_cond_broadcast(&d->sync_cv);
    pthread_mutex_unlock(&d->sync_lock);
}

static bool final(struct xlmig_dest *d)
{
    return __atomic_load_n(&d->xfinal, __ATOMIC_ACQUIRE);
}

/* One record of an extra connection: 0 go on, 1 stop, -1 failed. */
static int xrecord(struct dst_xconn *x)
{
    struct xlmig_dest *d = x->d;
    struct xlmig_rec rec;
    struct xlmig_error err;
    uint64_t seq;
    int rc = xlmig_conn_recv(&x->conn, &rec);

    if (rc == -2 || (rc <= 0 && final(d)))
        return 1;
    if (rc < 0)
        return dst_fail(d, x->conn.err.code, "data connection %u: %s",
                        x->index + 1, x->conn.err.msg);
    if (rc == 0)
        return dst_fail(d, ECONNRESET, "the source closed data connection "
                        "%u", x->index + 1);
    switch (rec.type) {
    case XLMIG_REC_DATA:
        return dst_apply_data(d, &x->io, x->index, &rec) < 0 ? -1 : 0;
    case XLMIG_REC_SYNC:
        if (xlmig_dec_u64(&rec, &seq, &err) < 0)
            return dst_fail(d, EPROTO, "bad SYNC: %s", err.msg);
        pthread_mutex_lock(&d->sync_lock);
        x->barrier = seq;
        pthread_cond_broadcast(&d->sync_cv);
        pthread_mutex_unlock(&d->sync_lock);
        return 0;
    case XLMIG_REC_ERROR:
        return dst_check_error(d, &rec) < 0 ? -1 : 0;
    default:
        return dst_fail(d, EPROTO, "protocol error: unexpected %s record on "
                        "data connection %u", xlmig_rec_name(rec.type),
                        x->index + 1);
    }
}

static void *xrecv_main(void *arg)
{
    struct dst_xconn *x = arg;
    int rc;

    xlmig_thread_bulk();
    while ((rc = xrecord(x)) == 0)
        ;
    if (rc < 0)
        dst_wake_main(x->d);
    pthread_mutex_lock(&x->d->sync_lock);
    x->ended = true;
    pthread_cond_broadcast(&x->d->sync_cv);
    pthread_mutex_unlock(&x->d->sync_lock);
    return NULL;
}

/* The next record on x within its receive bound. */
static int expect(struct dst_xconn *x, struct xlmig_rec *rec,
                  struct xlmig_error *why)
{
    int rc = xlmig_conn_recv(&x->conn, rec);

    if (rc > 0)
        return 0;
    return xlmig_fail(why, rc ? x->conn.err.code : ECONNRESET, "%s",
                      rc ? x->conn.err.msg : "closed");
}

/*
 * A connection that came in: HELLO and JOIN with our secret, a free index
 * of count.  0 taken (x->index set), 1 not one of ours (refused: waiting
 * goes on), -1 failed d.
 */
static int greet(struct xlmig_dest *d, struct dst_xconn *x, unsigned count,
                 const bool *joined, struct xlmig_error *why)
{
    uint8_t buf[XLMIG_HDR_LEN + 64], diff = 0;
    struct xlmig_hello h = { 1, XLMIG_VERSION, d->features,
                             XLMIG_ROLE_RECEIVER }, peer;
    struct xlmig_join j;
    struct xlmig_rec rec;
    struct xlmig_error e;

    if (expect(x, &rec, why) < 0)
        return 1;
    if (xlmig_dec_hello(&rec, &peer, &e) < 0 ||
        peer.role != XLMIG_ROLE_SENDER) {
        xlmig_fail(why, EPROTO, "no source's HELLO");
        return 1;
    }
    if (expect(x, &rec, why) < 0)
        return 1;
    if (xlmig_dec_join(&rec, &j, &e) < 0) {
        xlmig_fail(why, EPROTO, "%s", e.msg);
        return 1;
    }
    for (int i = 0; i < XLMIG_SESSION_TOKEN_LEN; i++)
        diff |= (uint8_t)(j.token[i] ^ d->token[i]);
    if (diff) {
        xlmig_conn_send_error(&x->conn, EACCES, "not this migration's "
                              "session");
        xlmig_fail(why, EACCES, "a connection showed the wrong secret");
        return 1;
    }
    /* Ours: it must fit what the first connection announced. */
    if (j.count != count || !j.index || joined[j.index])
        return dst_fail(d, EPROTO, "JOIN for connection %u of %u, after "
                        "%u connections were announced", j.index + 1,
                        j.count, count);
    if (xlmig_conn_send(&x->conn, buf, xlmig_enc_hello(buf, &h)) < 0)
        return dst_fail(d, x->conn.err.code, "data connection %u: %s",
                        j.index + 1, x->conn.err.msg);
    x->index = j.index;
    return 0;
}

/* The first connection has something (an ERROR, while we wait for the
 * others): take it.  -1: d failed. */
static int check_first(struct xlmig_dest *d)
{
    struct pollfd p = { .fd = d->conn.rfd, .events = POLLIN };
    struct xlmig_rec rec;

    if (d->conn.rend > d->conn.rstart || poll(&p, 1, 0) > 0) {
        if (dst_next(d, &rec, "the extra connections' arrival") < 0)
            return -1;
        return dst_fail(d, EPROTO, "protocol error: %s before every data "
                        "connection joined", xlmig_rec_name(rec.type));
    }
    return 0;
}

/* An extra connection's end: thread, heartbeats, fds, memory. */
static void xfree(struct xlmig_dest *d, struct dst_xconn *x)
{
    if (x->running) {
        xlmig_conn_interrupt(&x->conn);
        if (write(x->wake[1], "x", 1) < 0) {
            /* one byte into an empty pipe */
        }
        pthread_join(x->th, NULL);
        x->running = false;
    }
    xlmig_conn_heartbeat_stop(&x->conn);
    pthread_mutex_lock(&d->err_lock);
    d->wire_closed += xlmig_conn_bytes_in(&x->conn);
    for (unsigned k = 0; k < XLMIG_MAX_CONNS; k++)
        if (d->xc[k] == x)
            d->xc[k] = NULL;
    pthread_mutex_unlock(&d->err_lock);
    close(x->conn.rfd);
    if (x->conn.wfd != x->conn.rfd)
        close(x->conn.wfd);
    xlmig_conn_destroy(&x->conn);
    dst_io_free(&x->io);
    for (int i = 0; i < 2; i++)
        if (x->wake[i] >= 0)
            close(x->wake[i]);
    free(x);
}

/* A connection accepted: greeted, then its thread. */
static int take(struct xlmig_dest *d, int rfd, int wfd, unsigned count,
                bool *joined, uint64_t end)
{
    struct dst_xconn *x = calloc(1, sizeof(*x));
    struct xlmig_error why = { 0, "" };
    uint64_t now = xlmig_now_ns();
    int rc;

    if (!x || xlmig_conn_init(&x->conn, rfd, wfd) < 0) {
        free(x);
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return dst_fail(d, ENOMEM, "out of memory");
    }
    x->d = d;
    x->wake[0] = x->wake[1] = -1;
    /* A stranger cannot hold us longer than the wait for them all. */
    x->conn.recv_timeout_ms = now >= end ? 1
                                         : (int)((end - now) / 1000000) + 1;
    x->conn.timeout_ms = d->peer_timeout_ms;
    rc = greet(d, x, count, joined, &why);
    if (rc || pipe(x->wake) < 0 || dst_io_init(&x->io) < 0) {
        if (rc > 0)
            xlmig_logf(&d->em, XLMIG_LOG_WARN, "refused a data connection: "
                       "%s", why.msg);
        else if (!rc)
            dst_fail(d, ENOMEM, "out of resources for a data connection");
        xfree(d, x);
        return rc > 0 ? 0 : -1;
    }
    x->conn.wake_fd = x->wake[0];
    x->conn.recv_timeout_ms = d->peer_timeout_ms;
    pthread_mutex_lock(&d->err_lock);
    d->xc[x->index] = x;
    pthread_mutex_unlock(&d->err_lock);
    joined[x->index] = true;
    if ((d->features & XLMIG_F_HEARTBEAT) &&
        xlmig_conn_heartbeat_start(&x->conn, d->peer_timeout_ms / 6, NULL,
                                   NULL) < 0)
        return dst_fail(d, x->conn.err.code, "%s", x->conn.err.msg);
    if (pthread_create(&x->th, NULL, xrecv_main, x))
        return dst_fail(d, EAGAIN, "cannot start a receiving thread");
    x->running = true;
    return 0;
}

int dst_join(struct xlmig_dest *d)
{
    bool joined[XLMIG_MAX_CONNS] = { true };
    uint64_t end = xlmig_now_ns() +
                   (uint64_t)d->peer_timeout_ms * 1000000ull;
    struct xlmig_rec rec;
    struct xlmig_join j;
    struct xlmig_error err;
    unsigned got = 1;
    uint8_t diff = 0;
    int rc;

    if ((rc = dst_next(d, &rec, "negotiation")) < 0)
        return rc;
    if (xlmig_dec_join(&rec, &j, &err) < 0)
        return dst_fail(d, EPROTO, "bad JOIN: %s", err.msg);
    for (int i = 0; i < XLMIG_SESSION_TOKEN_LEN; i++)
        diff |= (uint8_t)(j.token[i] ^ d->token[i]);
    if (diff || j.index)
        return dst_fail(d, EPROTO, "the first connection's JOIN is not "
                        "connection 1 of this session");
    /* From here the stripe rule holds on every connection. */
    d->nconns = j.count;
    while (got < j.count) {
        uint64_t now = xlmig_now_ns();
        int rfd = -1, wfd = -1, slice;

        if (d->failed)
            return -d->err.code;
        if (d->cancelled)
            return dst_fail(d, ECANCELED, "cancelled while the data "
                            "connections joined");
        if (now >= end)
            return dst_fail(d, ETIMEDOUT, "%u of %u data connections "
                            "joined within %d s", got, j.count,
                            d->peer_timeout_ms / 1000);
        if (check_first(d) < 0)
            return -d->err.code;
        slice = (int)((end - now) / 1000000);
        if (slice > ACCEPT_SLICE_MS)
            slice = ACCEPT_SLICE_MS;
        if (d->h.accept_recovery(d->h.opaque, d, slice > 0 ? slice : 1,
                                 &rfd, &wfd) < 0)
            continue;
        if (take(d, rfd, wfd, j.count, joined, end) < 0)
            return -d->err.code;
        got = 0;
        for (unsigned k = 0; k < j.count; k++)
            got += joined[k];
    }
    xlmig_logf(&d->em, XLMIG_LOG_INFO, "%u data connections", j.count);
    return 0;
}

int dst_barrier(struct xlmig_dest *d, uint64_t seq)
{
    unsigned waiting = 1, dead = 0;

    if (d->nconns <= 1)
        return 0;
    pthread_mutex_lock(&d->sync_lock);
    while (!d->failed) {
        struct timespec t;

        waiting = dead = 0;
        for (unsigned k = 1; k < d->nconns; k++) {
            struct dst_xconn *x = d->xc[k];

            if (!x || x->ended)
                dead += !x || x->barrier < seq;
            else if (x->barrier < seq)
                waiting++;
        }
        if (!waiting || dead)
            break;
        /* The threads' reads are bounded by the peer timeout; look at
         * the main thread's cancel now and then. */
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&d->sync_cv, &d->sync_lock, &t);
        if (d->cancelled) {
            pthread_mutex_unlock(&d->sync_lock);
            return dst_fail(d, ECANCELED, "cancelled during a sync");
        }
    }
    pthread_mutex_unlock(&d->sync_lock);
    if (d->failed)
        return -1;
    if (dead)
        return dst_fail(d, EIO, "a data connection ended before sync %llu",
                        (unsigned long long)seq);
    return 0;
}

void dst_close_extras(struct xlmig_dest *d)
{
    __atomic_store_n(&d->xfinal, true, __ATOMIC_RELEASE);
    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++)
        if (d->xc[k])
            xfree(d, d->xc[k]);
    d->nconns = 1;
}

uint64_t dst_wire_in(const struct xlmig_dest *d)
{
    uint64_t n = __atomic_load_n(&d->wire_closed, __ATOMIC_RELAXED);

    if (d->have_channel)
        n += xlmig_conn_bytes_in(&d->conn);
    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++) {
        struct dst_xconn *x = __atomic_load_n(&d->xc[k], __ATOMIC_ACQUIRE);

        if (x)
            n += xlmig_conn_bytes_in(&x->conn);
    }
    return n;
}
