/*
 * Several data connections (opts.connections > 1, feature bit 6).
 *
 * After SESSION the first connection says JOIN(secret, 0, N); the reconnect
 * hook opens each other one, which says HELLO and JOIN(secret, k, N) and
 * waits for the destination's HELLO.  The send pipeline then spreads the
 * data over all of them by the stripe rule (a block always on the same
 * connection, so the last copy of a block arrives last); records stay on
 * the first, SYNC goes on every one (sendq.h).  Each extra connection has
 * heartbeats both ways and a reader thread (the destination's heartbeats,
 * an ERROR, its end).  At the end of stop-copy, once the destination has
 * acknowledged the final SYNC, the pipeline narrows to the first
 * connection and the others close: post-copy, and its recovery, run on
 * one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src_internal.h"

void src_interrupt_all(struct xlmig_source *s)
{
    if (s->have_channel)
        xlmig_conn_interrupt(&s->conn);
    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++)
        if (s->xc[k].open)
            xlmig_conn_interrupt(&s->xc[k].conn);
}

static bool final(struct xlmig_source *s)
{
    return __atomic_load_n(&s->xfinal, __ATOMIC_ACQUIRE);
}

struct xreader {
    struct xlmig_source *s;
    unsigned k;
};

/* What the destination sends on an extra connection: heartbeats (taken by
 * the channel), at worst an ERROR, and its end. */
static void *xreader_main(void *arg)
{
    struct xreader *xr = arg;
    struct xlmig_source *s = xr->s;
    unsigned k = xr->k;
    struct xlmig_conn *c = &s->xc[k].conn;
    struct xlmig_rec r;

    free(xr);
    for (;;) {
        int rc = xlmig_conn_recv(c, &r);

        if (rc == -2 || (rc <= 0 && final(s)))
            break;
        if (rc < 0) {
            src_chan_fail(s, c->err.code, "data connection %u: %s", k + 1,
                          c->err.msg);
            break;
        }
        if (rc == 0) {
            src_chan_fail(s, ECONNRESET, "the destination closed data "
                          "connection %u", k + 1);
            break;
        }
        if (r.type == XLMIG_REC_ERROR) {
            struct xlmig_error_rec e;
            struct xlmig_error err;

            if (xlmig_dec_error(&r, &e, &err) < 0)
                src_fail(s, EPROTO, "the destination failed, and its ERROR "
                         "record is malformed: %s", err.msg);
            else
                src_fail(s, e.code ? (int)e.code : EIO, "destination: %s",
                         e.reason);
            break;
        }
        src_chan_fail(s, EPROTO, "protocol error: unexpected %s record on "
                      "data connection %u", xlmig_rec_name(r.type), k + 1);
        break;
    }
    return NULL;
}

/* The k-th connection: opened, joined, heartbeats and reader running. */
static int open_one(struct xlmig_source *s, unsigned k)
{
    struct src_xconn *x = &s->xc[k];
    uint8_t buf[XLMIG_HDR_LEN + XLMIG_JOIN_LEN];
    struct xlmig_hello h = { 1, XLMIG_VERSION, s->features,
                             XLMIG_ROLE_SENDER }, peer;
    struct xlmig_join j = { .index = k, .count = s->o.connections };
    struct xreader *xr;
    struct xlmig_rec r;
    struct xlmig_error err;
    int rfd = -1, wfd = -1, rc;

    rc = s->h.reconnect(s->h.opaque, s, &rfd, &wfd);
    if (rc < 0)
        return src_fail(s, -rc, "opening data connection %u of %u: %s",
                        k + 1, s->o.connections, strerror(-rc));
    if (pipe(x->wake) < 0 || xlmig_conn_init(&x->conn, rfd, wfd) < 0) {
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return src_fail(s, ENOMEM, "data connection %u: out of resources",
                        k + 1);
    }
    x->conn.wake_fd = x->wake[0];
    x->conn.recv_timeout_ms = s->o.peer_timeout_ms;
    x->conn.timeout_ms = s->o.peer_timeout_ms;
    /* One --bandwidth for all of them. */
    xlmig_conn_share_limit(&x->conn, &s->conn);
    pthread_mutex_lock(&s->lock);
    x->open = true;
    pthread_mutex_unlock(&s->lock);
    memcpy(j.token, s->token, sizeof(j.token));
    if (xlmig_conn_send(&x->conn, buf, xlmig_enc_hello(buf, &h)) < 0 ||
        xlmig_conn_send(&x->conn, buf, xlmig_enc_join(buf, &j)) < 0)
        return src_fail(s, EIO, "data connection %u: %s", k + 1,
                        x->conn.err.msg);
    rc = xlmig_conn_recv(&x->conn, &r);
    if (rc == -2 && s->cancelled)
        return src_fail(s, ECANCELED, "cancelled");
    if (rc <= 0)
        return src_fail(s, rc ? x->conn.err.code : ECONNRESET, "data "
                        "connection %u: %s", k + 1, rc ? x->conn.err.msg
                        : "the destination closed it");
    if (r.type == XLMIG_REC_ERROR) {
        struct xlmig_error_rec e;

        if (xlmig_dec_error(&r, &e, &err) < 0)
            return src_fail(s, EPROTO, "data connection %u: %s", k + 1,
                            err.msg);
        return src_fail(s, e.code ? (int)e.code : EIO, "destination: %s",
                        e.reason);
    }
    if (xlmig_dec_hello(&r, &peer, &err) < 0 ||
        peer.role != XLMIG_ROLE_RECEIVER)
        return src_fail(s, EPROTO, "data connection %u: no destination's "
                        "HELLO (%s)", k + 1, err.msg);
    if ((s->features & XLMIG_F_HEARTBEAT) &&
        xlmig_conn_heartbeat_start(&x->conn, s->o.peer_timeout_ms / 6, NULL,
                                   NULL) < 0)
        return src_fail(s, x->conn.err.code, "%s", x->conn.err.msg);
    xr = malloc(sizeof(*xr));
    if (!xr)
        return src_fail(s, ENOMEM, "out of memory");
    *xr = (struct xreader){ s, k };
    if (pthread_create(&x->reader, NULL, xreader_main, xr)) {
        free(xr);
        return src_fail(s, EAGAIN, "cannot start a reader thread");
    }
    x->reading = true;
    return 0;
}

int src_join(struct xlmig_source *s)
{
    uint8_t buf[XLMIG_HDR_LEN + XLMIG_JOIN_LEN];
    struct xlmig_join j = { .index = 0, .count = s->o.connections };
    int rc;

    memcpy(j.token, s->token, sizeof(j.token));
    if (xlmig_conn_send(&s->conn, buf, xlmig_enc_join(buf, &j)) < 0)
        return src_fail(s, EIO, "sending JOIN: %s", s->conn.err.msg);
    for (unsigned k = 1; k < s->o.connections; k++)
        if ((rc = open_one(s, k)) < 0)
            return rc;
    s->nconns = s->used_conns = s->o.connections;
    xlmig_logf(&s->em, XLMIG_LOG_INFO, "%u data connections",
               s->o.connections);
    return 0;
}

void src_close_extras(struct xlmig_source *s)
{
    bool any = false;

    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++)
        any |= s->xc[k].open;
    if (!any)
        return;
    /* Nothing more for them: the pipeline writes only to the first. */
    if (s->q)
        xlmig_sendq_narrow(s->q);
    __atomic_store_n(&s->xfinal, true, __ATOMIC_RELEASE);
    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++) {
        struct src_xconn *x = &s->xc[k];

        if (x->reading) {
            if (write(x->wake[1], "x", 1) < 0) {
                /* one byte into an empty pipe */
            }
            pthread_join(x->reader, NULL);
            x->reading = false;
        }
        if (x->open) {
            xlmig_conn_heartbeat_stop(&x->conn);
            pthread_mutex_lock(&s->lock);
            x->open = false;
            s->wire_closed += xlmig_conn_bytes_out(&x->conn) +
                              xlmig_conn_bytes_in(&x->conn);
            pthread_mutex_unlock(&s->lock);
            close(x->conn.rfd);
            if (x->conn.wfd != x->conn.rfd)
                close(x->conn.wfd);
            xlmig_conn_destroy(&x->conn);
        }
        for (int i = 0; i < 2; i++)
            if (x->wake[i] >= 0) {
                close(x->wake[i]);
                x->wake[i] = -1;
            }
    }
    s->nconns = 1;
}

uint64_t src_wire_out(const struct xlmig_source *s)
{
    uint64_t n = s->have_channel ? xlmig_conn_bytes_out(&s->conn) : 0;

    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++)
        if (s->xc[k].open)
            n += xlmig_conn_bytes_out(&s->xc[k].conn);
    return n;
}

uint64_t src_wire_bytes(const struct xlmig_source *s)
{
    uint64_t n = s->wire_closed;

    if (s->have_channel)
        n += xlmig_conn_bytes_out(&s->conn) + xlmig_conn_bytes_in(&s->conn);
    for (unsigned k = 1; k < XLMIG_MAX_CONNS; k++)
        if (s->xc[k].open)
            n += xlmig_conn_bytes_out(&s->xc[k].conn) +
                 xlmig_conn_bytes_in(&s->xc[k].conn);
    return n;
}
