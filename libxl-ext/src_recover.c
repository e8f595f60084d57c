/*
 * Post-copy that survives a broken channel, on the source.
 *
 *   POSTCOPY --(error, peer silent past the peer timeout, bad record)-->
 *   PAUSED: the channel's threads stop; a new channel comes from the
 *           reconnect hook (retried with backoff) or from
 *           xlmig_source_recover_channel()
 *   RECOVERING: HELLO both ways, RESUME(token); the destination answers
 *           with its *current* stale set (BITMAP* BITMAP_END per disk,
 *           RESUME_ACK), which replaces ours: nothing it installed is
 *           sent again, and its gate keeps newer guest writes safe
 *   POSTCOPY again -- or FAILED when the recovery timeout expires.
 *
 * A source made from a saved session (xlmig_source_new_resumed(), after
 * the first engine died) starts in PAUSED.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "src_internal.h"

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000

int xlmig_source_recover_channel(struct xlmig_source *s, int rfd, int wfd)
{
    pthread_mutex_lock(&s->lock);
    if (s->next_rfd >= 0) {
        pthread_mutex_unlock(&s->lock);
        return -EBUSY;
    }
    s->next_rfd = rfd;
    s->next_wfd = wfd;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static void drain(int fd)
{
    char b[64];
    int fl = fcntl(fd, F_GETFL);

    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    while (read(fd, b, sizeof(b)) > 0)
        ;
    fcntl(fd, F_SETFL, fl);
}

/* The broken channel's threads and state go; its fds too if ours. */
static void teardown(struct xlmig_source *s)
{
    if (s->have_channel)
        xlmig_conn_interrupt(&s->conn);
    src_reply_stop(s);
    drain(s->wake[0]);
    xlmig_sendq_free(s->q);
    s->q = NULL;
    if (!s->have_channel)
        return;
    xlmig_conn_heartbeat_stop(&s->conn);
    if (s->own_fds) {
        close(s->conn.rfd);
        if (s->conn.wfd != s->conn.rfd)
            close(s->conn.wfd);
    } else {
        /*
         * The front's fds (the first channel): it closes them when the
         * run ends, but the peer must learn now that this channel is
         * over, not after its peer timeout (a socket; pipes cannot).
         */
        shutdown(s->conn.rfd, SHUT_RDWR);
        if (s->conn.wfd != s->conn.rfd)
            shutdown(s->conn.wfd, SHUT_RDWR);
    }
    xlmig_conn_destroy(&s->conn);
    s->have_channel = false;
}

static void event(struct xlmig_source *s, const char *phase, const char *msg)
{
    struct xlmig_event ev = xlmig_event_make(phase, phase);
    uint64_t stale = xlmig_source_stale_blocks(s);

    ev.event = !strcmp(phase, "postcopy") ? "phase" : "postcopy";
    ev.remaining_blocks = (int64_t)stale;
    ev.remaining_bytes = (int64_t)(stale * s->o.block_size);
    ev.message = msg;
    src_event(s, &ev);
}

/* One disk's stale set from the destination's BITMAP records. */
static int take_extents(struct xlmig_source *s, const struct xlmig_rec *r,
                        struct xlmig_bitmap **fresh, uint64_t *count)
{
    struct xlmig_extent_list l;
    struct xlmig_error e;

    if (xlmig_dec_extents(r, &l, &e) < 0)
        return xlmig_fail(&s->chan_err, EPROTO, "bad BITMAP: %s", e.msg);
    if (l.disk >= s->ndisks)
        return xlmig_fail(&s->chan_err, EPROTO, "BITMAP for unknown disk %u",
                          l.disk);
    for (uint32_t i = 0; i < l.n; i++) {
        struct xlmig_extent x;

        xlmig_extent_at(&l, i, &x);
        if (xlmig_check_extent(x.start, x.count, s->disks[l.disk].nblocks,
                               &e) < 0)
            return xlmig_fail(&s->chan_err, EPROTO, "BITMAP: %s", e.msg);
        count[l.disk] += xlmig_bitmap_set_range(fresh[l.disk], x.start,
                                                x.count);
    }
    return 0;
}

/* After RESUME: the destination's stale sets, then RESUME_ACK. */
static int read_stale(struct xlmig_source *s, struct xlmig_bitmap **fresh)
{
    uint64_t count[XLMIG_MAX_DISKS] = { 0 };
    struct xlmig_rec r;
    struct xlmig_error e;

    for (;;) {
        int rc = xlmig_conn_recv(&s->conn, &r);

        if (rc <= 0)
            return xlmig_fail(&s->chan_err, rc ? s->conn.err.code
                              : ECONNRESET, "resuming: %s", rc
                              ? s->conn.err.msg : "the destination closed");
        if (r.type == XLMIG_REC_RESUME_ACK)
            return xlmig_dec_empty(&r, &s->chan_err) < 0 ? -EPROTO : 0;
        if (r.type == XLMIG_REC_READY && s->go_unconfirmed)
            return xlmig_dec_empty(&r, &s->chan_err) < 0 ? -EPROTO : 1;
        if (r.type == XLMIG_REC_BITMAP) {
            if ((rc = take_extents(s, &r, fresh, count)) < 0)
                return rc;
        } else if (r.type == XLMIG_REC_BITMAP_END) {
            struct xlmig_bitmap_end be;

            if (xlmig_dec_bitmap_end(&r, &be, &e) < 0 || be.disk >= s->ndisks
                || be.total != count[be.disk])
                return xlmig_fail(&s->chan_err, EPROTO, "resuming: the "
                                  "stale set does not add up");
        } else if (r.type == XLMIG_REC_ERROR) {
            struct xlmig_error_rec er;

            if (xlmig_dec_error(&r, &er, &e) < 0)
                return xlmig_fail(&s->chan_err, EPROTO, "%s", e.msg);
            return xlmig_fail(&s->chan_err, er.code ? (int)er.code : EIO,
                              "the destination refused to resume: %s",
                              er.reason);
        } else {
            return xlmig_fail(&s->chan_err, EPROTO, "resuming: unexpected "
                              "%s", xlmig_rec_name(r.type));
        }
    }
}

static int hello(struct xlmig_source *s)
{
    uint8_t buf[XLMIG_HDR_LEN + 64];
    struct xlmig_hello h = { 1, XLMIG_VERSION,
                             XLMIG_F_ALL | XLMIG_F_VERIFY,
                             XLMIG_ROLE_SENDER }, peer;
    struct xlmig_rec r;
    struct xlmig_error e;
    int rc;

    if (xlmig_conn_send(&s->conn, buf, xlmig_enc_hello(buf, &h)) < 0 ||
        xlmig_conn_send(&s->conn, buf,
                        xlmig_enc_token(buf, XLMIG_REC_RESUME, s->token)) < 0)
        return xlmig_fail_from(&s->chan_err, &s->conn.err, "resuming");
    rc = xlmig_conn_recv(&s->conn, &r);
    if (rc <= 0)
        return xlmig_fail(&s->chan_err, rc ? s->conn.err.code : ECONNRESET,
                          "resuming: %s", rc ? s->conn.err.msg
                                             : "no answer");
    if (xlmig_dec_hello(&r, &peer, &e) < 0 ||
        peer.role != XLMIG_ROLE_RECEIVER ||
        !(peer.features & XLMIG_F_RECOVER))
        return xlmig_fail(&s->chan_err, EPROTO, "resuming: the peer is not "
                          "a destination that can resume");
    s->features = peer.features & XLMIG_F_KNOWN;
    return 0;
}

/*
 * The destination answered RESUME with READY: GO never arrived there.
 * Send it again and take the REPORT; its gates are still armed with the
 * stale sets of stop-copy (nothing was installed), so ours stay.
 */
static int go_again(struct xlmig_source *s)
{
    uint8_t buf[XLMIG_HDR_LEN];
    struct xlmig_rec r;
    struct xlmig_error e;
    int32_t status;
    int rc;

    xlmig_logf(&s->em, XLMIG_LOG_WARN, "the destination never got GO: "
               "sending it again");
    if (xlmig_conn_send(&s->conn, buf, xlmig_enc_empty(buf, XLMIG_REC_GO)) < 0)
        return xlmig_fail_from(&s->chan_err, &s->conn.err, "GO again");
    rc = xlmig_conn_recv(&s->conn, &r);
    if (rc <= 0)
        return xlmig_fail(&s->chan_err, rc ? s->conn.err.code : ECONNRESET,
                          "waiting for the REPORT: %s", rc ? s->conn.err.msg
                          : "the destination closed");
    if (r.type != XLMIG_REC_REPORT || xlmig_dec_report(&r, &status, &e) < 0)
        return xlmig_fail(&s->chan_err, EPROTO, "expected REPORT after GO, "
                          "got %s", xlmig_rec_name(r.type));
    if (status) {
        s->handoff_refused = true;
        return src_fail(s, EIO, "the destination could not start the guest "
                        "(status %d)", status);
    }
    src_go_confirmed(s);
    return 1;
}

/* A new channel: the handshake, the fresh stale sets, threads restarted. */
static int resume_on(struct xlmig_source *s, int rfd, int wfd)
{
    struct xlmig_bitmap *fresh[XLMIG_MAX_DISKS] = { NULL };
    int rc;

    if (xlmig_conn_init(&s->conn, rfd, wfd) < 0) {
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return xlmig_fail(&s->chan_err, ENOMEM, "out of memory");
    }
    s->have_channel = true;
    s->own_fds = true;
    s->conn.wake_fd = s->wake[0];
    s->conn.recv_timeout_ms = s->o.peer_timeout_ms;
    s->conn.timeout_ms = s->o.peer_timeout_ms;
    xlmig_conn_set_limit(&s->conn, s->o.bandwidth_Bps);
    for (unsigned i = 0; i < s->ndisks; i++)
        if (!(fresh[i] = xlmig_bitmap_new(s->disks[i].nblocks))) {
            rc = xlmig_fail(&s->chan_err, ENOMEM, "out of memory");
            goto out;
        }
    if ((rc = hello(s)) < 0)
        goto out;
    /* The first channel's --verify goes on (the destination's word). */
    if ((s->features & XLMIG_F_VERIFY) && !s->vf.on) {
        s->o.verify = true;
        if ((rc = src_verify_setup(s)) < 0)
            goto out;
    }
    if ((s->features & XLMIG_F_HEARTBEAT) &&
        xlmig_conn_heartbeat_start(&s->conn, s->o.peer_timeout_ms / 6, NULL,
                                   NULL) < 0) {
        rc = xlmig_fail_from(&s->chan_err, &s->conn.err, NULL);
        goto out;
    }
    if ((rc = read_stale(s, fresh)) < 0 ||
        (rc == 1 && (rc = go_again(s)) < 0))
        goto out;
    if (rc == 0)
        /* Only a destination that runs the guest has a stale set. */
        src_go_confirmed(s);
    for (unsigned i = 0; i < s->ndisks; i++) {
        /* (after GO again: its gates hold our stop-copy sets) */
        if (rc == 0) {
            xlmig_bitmap_free(s->disks[i].stale);
            s->disks[i].stale = fresh[i];
        } else {
            xlmig_bitmap_free(fresh[i]);
        }
        fresh[i] = NULL;
    }
    {
        struct xlmig_conn *c0 = &s->conn;

        /* Recovery runs on one connection. */
        s->features &= ~(uint64_t)XLMIG_F_MULTI;
        s->q = xlmig_sendq_new(&c0, 1, s->o.workers, s->o.compress,
                               s->features);
    }
    if (!s->q) {
        rc = xlmig_fail(&s->chan_err, ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&s->lock);
    s->dq_len = 0;              /* the destination asks again */
    s->got_done = false;
    s->broken = false;
    pthread_mutex_unlock(&s->lock);
    if ((rc = src_reply_start(s)) < 0)
        goto out;
    /* GO again (READY came): the stop-copy stale sets stay. */
    for (unsigned i = 0; i < s->ndisks; i++)
        xlmig_bitmap_free(fresh[i]);
    return 0;
out:
    for (unsigned i = 0; i < s->ndisks; i++)
        xlmig_bitmap_free(fresh[i]);
    teardown(s);
    return rc;
}

/* Waits for xlmig_source_recover_channel() until ms elapse. */
static bool wait_channel(struct xlmig_source *s, int ms, int *rfd, int *wfd)
{
    struct timespec until;
    bool got;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->lock);
    while (s->next_rfd < 0)
        if (pthread_cond_timedwait(&s->cv, &s->lock, &until) == ETIMEDOUT)
            break;
    got = s->next_rfd >= 0;
    if (got) {
        *rfd = s->next_rfd;
        *wfd = s->next_wfd;
        s->next_rfd = s->next_wfd = -1;
    }
    pthread_mutex_unlock(&s->lock);
    return got;
}

int src_recover(struct xlmig_source *s)
{
    uint64_t end = xlmig_now_ns() +
                   (uint64_t)s->o.recover_timeout_s * 1000000000ull;
    int backoff = BACKOFF_FIRST_MS, tries = 0;
    char why[XLMIG_ERRLEN];

    snprintf(why, sizeof(why), "%s", s->chan_err.msg);
    teardown(s);
    if (s->go_unconfirmed)
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "hand-off paused: %s; the guest "
                   "stays suspended here until the destination says "
                   "whether GO arrived", why);
    else
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "post-copy paused: %s; %llu "
                   "block(s) exist only here until it resumes", why,
                   (unsigned long long)xlmig_source_stale_blocks(s));
    event(s, "postcopy-paused", why);
    while (xlmig_now_ns() < end) {
        int rfd = -1, wfd = -1, rc = -EAGAIN;

        if (wait_channel(s, 0, &rfd, &wfd) ||
            (s->h.reconnect &&
             (rc = s->h.reconnect(s->h.opaque, s, &rfd, &wfd)) == 0)) {
            tries++;
            event(s, "postcopy-recovering", NULL);
            rc = resume_on(s, rfd, wfd);
            if (s->handoff_refused)
                return rc;
            if (rc == 0) {
                xlmig_logf(&s->em, XLMIG_LOG_INFO, "post-copy resumed after "
                           "%d attempt(s)", tries);
                return 0;
            }
        }
        if (rc != -EAGAIN)
            xlmig_logf(&s->em, XLMIG_LOG_INFO, "post-copy still paused: %s",
                       rc < 0 && s->chan_err.msg[0] ? s->chan_err.msg
                                                    : strerror(-rc));
        if (wait_channel(s, backoff, &rfd, &wfd)) {
            /* A channel handed over while we waited: take it now. */
            event(s, "postcopy-recovering", NULL);
            if (resume_on(s, rfd, wfd) == 0 || s->handoff_refused)
                return s->handoff_refused ? -s->err.code : 0;
        }
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return src_fail(s, ETIMEDOUT, "post-copy could not be resumed within "
                    "%d s (%s)", s->o.recover_timeout_s, why);
}
