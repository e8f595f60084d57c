/*
 * Negotiation: HELLO both ways, one DISK record per disk, the
 * destination's DISK_ACKs once its targets exist; then the send pipeline
 * and the reply thread start.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "src_internal.h"

int src_recv_now(struct xlmig_source *s, struct xlmig_rec *r,
                 const char *what)
{
    int rc = xlmig_conn_recv(&s->conn, r);
    struct xlmig_error_rec e;
    struct xlmig_error err;

    if (rc == -2 && s->cancelled)
        return src_fail(s, ECANCELED, "cancelled");
    if (rc < 0)
        return src_fail(s, EIO, "waiting for %s: %s", what, s->conn.err.msg);
    if (rc == 0)
        return src_fail(s, ECONNRESET, "the destination closed the channel "
                        "before %s", what);
    if (r->type == XLMIG_REC_ERROR) {
        if (xlmig_dec_error(r, &e, &err) < 0)
            return src_fail(s, EPROTO, "the destination failed: %s", err.msg);
        return src_fail(s, e.code ? (int)e.code : EIO, "destination: %s",
                        e.reason);
    }
    return 0;
}

/*
 * What we offer: everything we always do, the modes asked for, and several
 * connections only if we can open them (the reconnect hook) and for no
 * mode: their records (DIGEST before each DATA, the offline and estimate
 * exchanges) are read on the first connection only.
 */
static uint64_t offer(struct xlmig_source *s)
{
    uint64_t f = XLMIG_F_ALL |
                 (s->o.verify && !s->estimate ? XLMIG_F_VERIFY : 0) |
                 (s->o.offline && !s->estimate ? XLMIG_F_OFFLINE : 0) |
                 (s->estimate ? XLMIG_F_ESTIMATE : 0);

    if (s->o.connections > 1 && s->h.reconnect && (f & XLMIG_F_MODES))
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "one data connection: %s uses "
                   "one (%u asked)", s->estimate ? "an estimate"
                   : s->o.offline ? "--offline" : "--verify",
                   s->o.connections);
    if (s->o.connections < 2 || !s->h.reconnect || (f & XLMIG_F_MODES))
        f &= ~(uint64_t)XLMIG_F_MULTI;
    if (s->o.connections > 1 && !s->h.reconnect)
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "one data connection: no "
                   "reconnect hook to open more");
    return f;
}

/* Before the destination creates anything: the modes we must have. */
static int check_modes(struct xlmig_source *s)
{
    if (s->o.verify && !s->estimate && !(s->features & XLMIG_F_VERIFY))
        return src_fail(s, EPROTONOSUPPORT, "the destination cannot verify "
                        "what it writes (--verify): upgrade it or migrate "
                        "without --verify");
    if (s->estimate && !(s->features & XLMIG_F_ESTIMATE))
        return src_fail(s, EPROTONOSUPPORT, "the destination cannot take "
                        "an estimate (it would create its targets)");
    /* Cold: the identity of the images (a partial copy there may be ours). */
    if (s->o.offline && !s->estimate)
        return src_offline_hello(s);
    return 0;
}

int src_negotiate(struct xlmig_source *s)
{
    uint8_t buf[XLMIG_HDR_LEN + 128];
    struct xlmig_hello h = { 1, XLMIG_VERSION, offer(s),
                             XLMIG_ROLE_SENDER }, peer;
    struct xlmig_conn *conns[XLMIG_MAX_CONNS];
    struct xlmig_rec r;
    struct xlmig_error err;
    bool acked[XLMIG_MAX_DISKS] = { false };
    struct xlmig_event ev = xlmig_event_make("phase", "negotiate");
    int rc;

    src_event(s, &ev);
    if (!s->ndisks)
        return src_fail(s, EINVAL, "no disk to migrate");
    s->st.rtt_ns = xlmig_now_ns();
    if (xlmig_conn_send(&s->conn, buf, xlmig_enc_hello(buf, &h)) < 0)
        return src_fail(s, EIO, "sending HELLO: %s", s->conn.err.msg);
    if ((rc = src_recv_now(s, &r, "the destination's HELLO")) < 0)
        return rc;
    /* One round trip: part of every downtime estimate. */
    s->st.rtt_ns = xlmig_now_ns() - s->st.rtt_ns;
    if (xlmig_dec_hello(&r, &peer, &err) < 0)
        return src_fail(s, EPROTO, "bad HELLO from the destination: %s",
                        err.msg);
    if (peer.role != XLMIG_ROLE_RECEIVER)
        return src_fail(s, EPROTO, "the peer is not a destination");
    if (peer.version_min > XLMIG_VERSION)
        return src_fail(s, EPROTONOSUPPORT, "the destination speaks protocol "
                        "versions %u..%u, we speak 1..%u", peer.version_min,
                        peer.version_max, XLMIG_VERSION);
    s->features = peer.features & h.features;
    if ((rc = check_modes(s)) < 0)
        return rc;
    /* From here on both sides show they are alive, whatever they do. */
    if ((s->features & XLMIG_F_HEARTBEAT) &&
        xlmig_conn_heartbeat_start(&s->conn, s->o.peer_timeout_ms / 6, NULL,
                                   NULL) < 0)
        return src_fail(s, s->conn.err.code, "%s", s->conn.err.msg);

    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        struct xlmig_disk dr = { .id = d->id, .count = s->ndisks,
                                 .block_size = s->o.block_size,
                                 .size = d->img.size,
                                 .allocated = d->allocated };

        snprintf(dr.name, sizeof(dr.name), "%s", d->name);
        if (xlmig_conn_send(&s->conn, buf, xlmig_enc_disk(buf, &dr)) < 0)
            return src_fail(s, EIO, "sending DISK: %s", s->conn.err.msg);
    }
    for (unsigned n = 0; n < s->ndisks; n++) {
        struct xlmig_disk_ack a;

        if ((rc = src_recv_now(s, &r, "disk acknowledgements")) < 0)
            return rc;
        if (xlmig_dec_disk_ack(&r, &a, &err) < 0)
            return src_fail(s, EPROTO, "bad DISK_ACK: %s", err.msg);
        if (a.id >= s->ndisks || acked[a.id])
            return src_fail(s, EPROTO, "the destination acknowledged disk "
                            "%u twice or that we never sent", a.id);
        acked[a.id] = true;
        s->disks[a.id].dest_zeroed = a.flags & XLMIG_ACK_ZEROED;
        s->disks[a.id].resumed = a.flags & XLMIG_ACK_RESUMED;
        if (s->disks[a.id].resumed && !s->o.offline)
            return src_fail(s, EPROTO, "the destination resumes disk %u of "
                            "a live migration", a.id);
    }
    /* The destination's secret for resuming a broken post-copy, and for
     * the extra connections to join. */
    if (s->features & (XLMIG_F_RECOVER | XLMIG_F_MULTI)) {
        if ((rc = src_recv_now(s, &r, "the session token")) < 0)
            return rc;
        if (xlmig_dec_token(&r, XLMIG_REC_SESSION, s->token, &err) < 0)
            return src_fail(s, EPROTO, "bad SESSION: %s", err.msg);
        s->have_token = true;
    }
    if (s->features & XLMIG_F_MULTI) {
        if ((rc = src_join(s)) < 0)
            return rc;
    } else if (s->o.connections > 1 && s->h.reconnect &&
               !(h.features & XLMIG_F_MODES)) {
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "the destination takes one data "
                   "connection: %u asked", s->o.connections);
    }

    /* Cold: what each resumed target already holds. */
    if (s->o.offline && !s->estimate && (rc = src_offline_read_have(s)) < 0)
        return rc;
    if ((rc = src_verify_setup(s)) < 0)
        return rc;
    conns[0] = &s->conn;
    for (unsigned k = 1; k < s->nconns; k++)
        conns[k] = &s->xc[k].conn;
    s->q = xlmig_sendq_new(conns, s->nconns, s->o.workers, s->o.compress,
                           s->features);
    if (!s->q)
        return src_fail(s, ENOMEM, "out of memory for the send queue");
    return src_reply_start(s);
}
