/*
 * The reply thread: reads what the destination sends once negotiation is
 * over (SYNC_ACK, READY, REPORT, PULL_REQ, DONE, ERROR) and wakes whoever
 * waits for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src_internal.h"

static int queue_demand(struct xlmig_source *s, const struct xlmig_rec *r)
{
    struct xlmig_extent_list l;
    struct xlmig_error err;

    if (xlmig_dec_extents(r, &l, &err) < 0)
        return src_chan_fail(s, EPROTO, "bad PULL_REQ from the destination: %s",
                        err.msg);
    if (l.disk >= s->ndisks)
        return src_fail(s, EPROTO, "the destination asked for unknown disk "
                        "%u", l.disk);
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < l.n; i++) {
        struct xlmig_extent e;

        xlmig_extent_at(&l, i, &e);
        if (xlmig_check_extent(e.start, e.count, s->disks[l.disk].nblocks,
                               &err) < 0) {
            pthread_mutex_unlock(&s->lock);
            return src_chan_fail(s, EPROTO, "bad PULL_REQ for disk %s: %s",
                            s->disks[l.disk].name, err.msg);
        }
        /* A peer cannot make us hold unbounded requests. */
        if (s->dq_len >= (1u << 20)) {
            pthread_mutex_unlock(&s->lock);
            return src_fail(s, EPROTO, "the destination has over a million "
                            "pending demand requests");
        }
        if (s->dq_len == s->dq_cap) {
            size_t cap = s->dq_cap ? s->dq_cap * 2 : 256;
            struct src_demand *n = realloc(s->dq, cap * sizeof(*n));
            if (!n) {
                pthread_mutex_unlock(&s->lock);
                return src_fail(s, ENOMEM, "out of memory");
            }
            s->dq = n;
            s->dq_cap = cap;
        }
        s->dq[s->dq_len++] = (struct src_demand){ l.disk, e.start,
                                                  e.count };
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int handle_reply(struct xlmig_source *s, const struct xlmig_rec *r)
{
    struct xlmig_error err;
    uint64_t seq;

    switch (r->type) {
    case XLMIG_REC_SYNC_ACK:
        if (xlmig_dec_u64(r, &seq, &err) < 0)
            return src_chan_fail(s, EPROTO, "bad SYNC_ACK: %s", err.msg);
        pthread_mutex_lock(&s->lock);
        if (seq != s->sync_seq) {
            pthread_mutex_unlock(&s->lock);
            return src_fail(s, EPROTO, "the destination acknowledged sync "
                            "%llu, expected %llu", (unsigned long long)seq,
                            (unsigned long long)s->sync_seq);
        }
        s->sync_acked = seq;
        break;
    case XLMIG_REC_READY:
        if (xlmig_dec_empty(r, &err) < 0)
            return src_chan_fail(s, EPROTO, "bad READY: %s", err.msg);
        pthread_mutex_lock(&s->lock);
        s->got_ready = true;
        break;
    case XLMIG_REC_REPORT: {
        int32_t status;
        if (xlmig_dec_report(r, &status, &err) < 0)
            return src_chan_fail(s, EPROTO, "bad REPORT: %s", err.msg);
        pthread_mutex_lock(&s->lock);
        s->report = status;
        s->got_report = true;
        break;
    }
    case XLMIG_REC_PULL_REQ:
        return queue_demand(s, r);
    case XLMIG_REC_PROBE_ACK: {
        struct xlmig_probe_ack a;
        uint64_t now = xlmig_now_ns();

        if (xlmig_dec_probe_ack(r, &a, &err) < 0)
            return src_chan_fail(s, EPROTO, "bad PROBE_ACK: %s", err.msg);
        pthread_mutex_lock(&s->lock);
        if (s->probe.mark) {
            s->probe.mark = false;
            s->probe.t_first = now;
            s->probe.received_first = a.received;
        }
        s->probe.t_last = now;
        s->probe.received_last = a.received;
        s->probe.seq = a.seq;
        break;
    }
    case XLMIG_REC_MISMATCH:
        return src_verify_mismatch(s, r);
    case XLMIG_REC_VERIFIED:
        return src_verify_result(s, r);
    case XLMIG_REC_DONE: {
        struct xlmig_done d;
        if (xlmig_dec_done(r, &d, &err) < 0)
            return src_chan_fail(s, EPROTO, "bad DONE: %s", err.msg);
        pthread_mutex_lock(&s->lock);
        s->st.done = d;
        s->got_done = true;
        break;
    }
    case XLMIG_REC_ERROR: {
        struct xlmig_error_rec e;
        if (xlmig_dec_error(r, &e, &err) < 0)
            return src_fail(s, EPROTO, "the destination failed, and its "
                            "ERROR record is malformed: %s", err.msg);
        return src_fail(s, e.code ? (int)e.code : EIO, "destination: %s",
                        e.reason);
    }
    default:
        return src_chan_fail(s, EPROTO, "protocol error: unexpected %s "
                             "record from the destination",
                             xlmig_rec_name(r->type));
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void *reply_main(void *arg)
{
    struct xlmig_source *s = arg;
    struct xlmig_rec r;

    for (;;) {
        int rc = xlmig_conn_recv(&s->conn, &r);

        if (rc == -2)
            break;
        if (rc < 0) {
            src_chan_fail(s, s->conn.err.code, "data channel: %s",
                          s->conn.err.msg);
            break;
        }
        if (rc == 0) {
            pthread_mutex_lock(&s->lock);
            bool fine = s->finished;
            s->peer_closed = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->lock);
            if (!fine)
                src_chan_fail(s, ECONNRESET, "the destination closed the "
                              "data channel");
            break;
        }
        if (handle_reply(s, &r) < 0)
            break;
    }
    return NULL;
}

int src_reply_start(struct xlmig_source *s)
{
    if (pthread_create(&s->reply_thread, NULL, reply_main, s))
        return src_fail(s, EAGAIN, "cannot start the reply thread");
    s->reply_running = true;
    return 0;
}

void src_reply_stop(struct xlmig_source *s)
{
    if (!s->reply_running)
        return;
    if (write(s->wake[1], "x", 1) < 0) {
        /* The pipe cannot be full: one byte, written once. */
    }
    pthread_join(s->reply_thread, NULL);
    s->reply_running = false;
}
