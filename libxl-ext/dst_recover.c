/*
 * Post-copy that survives a broken channel, on the destination.
 *
 * PAUSED: the guest runs on, its accesses to stale blocks wait in the
 * gate; a new channel comes from the accept_recovery hook (e.g. the
 * listening socket the first one came from) or from
 * xlmig_dest_recover_channel().  The source must show the session's secret
 * (RESUME); we answer with our current stale set -- what no install has
 * made current yet -- and ask again for what the guest demanded.  With
 * nothing stale left, we wait a little for the source (to tell it) and
 * then finish alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dst_internal.h"

#define ACCEPT_SLICE_MS 1000

int xlmig_dest_recover_channel(struct xlmig_dest *d, int rfd, int wfd)
{
    pthread_mutex_lock(&d->want_lock);
    if (d->next_rfd >= 0) {
        pthread_mutex_unlock(&d->want_lock);
        return -EBUSY;
    }
    d->next_rfd = rfd;
    d->next_wfd = wfd;
    pthread_mutex_unlock(&d->want_lock);
    return 0;
}

static bool take_pending(struct xlmig_dest *d, int *rfd, int *wfd)
{
    bool got;

    pthread_mutex_lock(&d->want_lock);
    got = d->next_rfd >= 0;
    if (got) {
        *rfd = d->next_rfd;
        *wfd = d->next_wfd;
        d->next_rfd = d->next_wfd = -1;
    }
    pthread_mutex_unlock(&d->want_lock);
    return got;
}

static void teardown(struct xlmig_dest *d)
{
    if (!d->have_channel)
        return;
    xlmig_conn_interrupt(&d->conn);
    xlmig_conn_heartbeat_stop(&d->conn);
    if (d->own_fds) {
        close(d->conn.rfd);
        if (d->conn.wfd != d->conn.rfd)
            close(d->conn.wfd);
    } else {
        /*
         * The front's fds (the first channel): it closes them when the
         * run ends, but the peer must learn now that this channel is
         * over, not after its peer timeout (a socket; pipes cannot).
         */
        shutdown(d->conn.rfd, SHUT_RDWR);
        if (d->conn.wfd != d->conn.rfd)
            shutdown(d->conn.wfd, SHUT_RDWR);
    }
    xlmig_conn_destroy(&d->conn);
    d->have_channel = false;
}

static void event(struct xlmig_dest *d, const char *phase, const char *msg)
{
    struct xlmig_event ev = xlmig_event_make("postcopy", phase);
    uint64_t over, stale = dst_gate_stale(d, &over);

    if (!strcmp(phase, "postcopy") || !strcmp(phase, "handoff"))
        ev.event = "phase";
    else if (!strncmp(phase, "handoff", 7))
        ev.event = "handoff";
    if (stale != UINT64_MAX)
        ev.remaining_blocks = (int64_t)stale;
    ev.message = msg;
    dst_event(d, &ev);
}

static int expect(struct xlmig_dest *d, struct xlmig_rec *rec)
{
    int rc = xlmig_conn_recv(&d->conn, rec);

    if (rc > 0)
        return 0;
    return xlmig_fail(&d->chan_err, rc ? d->conn.err.code : ECONNRESET,
                      "resuming: %s", rc ? d->conn.err.msg
                                         : "the source closed");
}

/* HELLO and RESUME(secret) from the source, our HELLO back. */
static int greet(struct xlmig_dest *d)
{
    uint8_t buf[XLMIG_HDR_LEN + 64], token[XLMIG_SESSION_TOKEN_LEN], diff = 0;
    struct xlmig_hello h = { 1, XLMIG_VERSION, 0, XLMIG_ROLE_RECEIVER }, peer;
    struct xlmig_rec rec;
    struct xlmig_error e;
    int rc;

    if ((rc = expect(d, &rec)) < 0)
        return rc;
    if (xlmig_dec_hello(&rec, &peer, &e) < 0 ||
        peer.role != XLMIG_ROLE_SENDER || !(peer.features & XLMIG_F_RECOVER))
        return xlmig_fail(&d->chan_err, EPROTO, "resuming: not a source "
                          "that resumes");
    if ((rc = expect(d, &rec)) < 0)
        return rc;
    if (xlmig_dec_token(&rec, XLMIG_REC_RESUME, token, &e) < 0)
        return xlmig_fail(&d->chan_err, EPROTO, "resuming: %s", e.msg);
    for (int i = 0; i < XLMIG_SESSION_TOKEN_LEN; i++)
        diff |= (uint8_t)(token[i] ^ d->token[i]);
    if (diff) {
        xlmig_conn_send_error(&d->conn, EACCES, "not this migration's "
                              "session");
        return xlmig_fail(&d->chan_err, EACCES, "resuming: a source showed "
                          "the wrong session secret");
    }
    h.features = peer.features & d->features & XLMIG_F_KNOWN;
    if (xlmig_conn_send(&d->conn, buf, xlmig_enc_hello(buf, &h)) < 0)
        return xlmig_fail_from(&d->chan_err, &d->conn.err, "resuming");
    return 0;
}

/* Our current stale set: what no install has made current yet. */
static int send_stale(struct xlmig_dest *d)
{
    const uint32_t max = 4096;
    struct xlmig_extent *e = malloc(max * sizeof(*e));
    uint8_t *buf = malloc(XLMIG_HDR_LEN + 8 + max * XLMIG_EXTENT_LEN);
    int rc = 0;

    if (!e || !buf)
        rc = xlmig_fail(&d->chan_err, ENOMEM, "out of memory");
    for (unsigned i = 0; i < d->ndisks && !rc; i++) {
        struct dst_disk *k = &d->disks[i];
        uint64_t total;

        if (dst_send_bitmap(d, i, k->gate_on ? k->remaining : NULL, e, max,
                            buf, &total) < 0)
            rc = -EIO;
    }
    if (!rc && xlmig_conn_send(&d->conn, buf,
                               xlmig_enc_empty(buf, XLMIG_REC_RESUME_ACK)) < 0)
        rc = -EIO;
    if (rc == -EIO)
        xlmig_fail_from(&d->chan_err, &d->conn.err, "resuming");
    free(e);
    free(buf);
    return rc;
}

/* A new channel from the source: the handshake; heartbeats once the
 * answer (answer(), e.g. our stale set) has gone. */
static int open_channel(struct xlmig_dest *d, int rfd, int wfd,
                        int (*answer)(struct xlmig_dest *d))
{
    int rc;

    if (xlmig_conn_init(&d->conn, rfd, wfd) < 0) {
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return xlmig_fail(&d->chan_err, ENOMEM, "out of memory");
    }
    d->have_channel = true;
    d->own_fds = true;
    d->conn.recv_timeout_ms = d->peer_timeout_ms;
    d->conn.timeout_ms = d->peer_timeout_ms;
    if ((rc = greet(d)) < 0 || (rc = answer(d)) < 0)
        return rc;
    if ((d->features & XLMIG_F_HEARTBEAT) &&
        xlmig_conn_heartbeat_start(&d->conn, d->peer_timeout_ms / 6,
                                   dst_heartbeat_stale, d) < 0)
        return xlmig_fail_from(&d->chan_err, &d->conn.err, NULL);
    return 0;
}

static int resume_on(struct xlmig_dest *d, int rfd, int wfd)
{
    int rc;

    if ((rc = open_channel(d, rfd, wfd, send_stale)) < 0)
        goto fail;
    /* What the guest asked for and never got, again; DONE again too. */
    __atomic_store_n(&d->done_sent, false, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < d->ndisks; i++) {
        if (!d->disks[i].gate_on)
            continue;
        pthread_mutex_lock(&d->want_lock);
        rc = dst_request_set(d, i, d->disks[i].want);
        pthread_mutex_unlock(&d->want_lock);
        if (rc < 0) {
            rc = xlmig_fail_from(&d->chan_err, &d->conn.err, "resuming");
            goto fail;
        }
    }
    return 0;
fail:
    teardown(d);
    return rc;
}

/* A new channel within ms, from the hook or xlmig_dest_recover_channel. */
static bool next_channel(struct xlmig_dest *d, int ms, int *rfd, int *wfd)
{
    struct timespec t = { 0, 50 * 1000 * 1000 };

    if (take_pending(d, rfd, wfd))
        return true;
    if (d->h.accept_recovery)
        return d->h.accept_recovery(d->h.opaque, d, ms, rfd, wfd) == 0;
    for (int waited = 0; waited < ms; waited += 50) {
        nanosleep(&t, NULL);
        if (take_pending(d, rfd, wfd))
            return true;
    }
    return false;
}

int dst_recover(struct xlmig_dest *d)
{
    uint64_t start = xlmig_now_ns(), over, stale;
    uint64_t end = start + (uint64_t)d->recover_timeout_s * 1000000000ull;
    uint64_t linger = start + 2ull * (uint64_t)d->peer_timeout_ms * 1000000ull;
    char why[XLMIG_ERRLEN];

    snprintf(why, sizeof(why), "%s", d->chan_err.msg);
    teardown(d);
    stale = dst_gate_stale(d, &over);
    if (stale == UINT64_MAX)
        xlmig_logf(&d->em, XLMIG_LOG_WARN, "post-copy paused: %s; the "
                   "destination VBD does not answer: how many blocks exist "
                   "only on the source is unknown", why);
    else
        xlmig_logf(&d->em, XLMIG_LOG_WARN, "post-copy paused: %s; %llu "
                   "block(s) exist only on the source until it resumes (the "
                   "guest's accesses to them wait)", why,
                   (unsigned long long)stale);
    event(d, "postcopy-paused", why);
    while (xlmig_now_ns() < end) {
        int rfd, wfd;

        stale = dst_gate_stale(d, &over);
        if (stale == 0 && xlmig_now_ns() >= linger) {
            xlmig_logf(&d->em, XLMIG_LOG_WARN, "every block is here; the "
                       "source did not come back to hear it (%s)", why);
            return 1;
        }
        if (!next_channel(d, ACCEPT_SLICE_MS, &rfd, &wfd))
            continue;
        event(d, "postcopy-recovering", NULL);
        if (resume_on(d, rfd, wfd) == 0) {
            xlmig_logf(&d->em, XLMIG_LOG_INFO, "post-copy resumed after "
                       "%.1f s", (double)(xlmig_now_ns() - start) * 1e-9);
            event(d, "postcopy", "resumed");
            return 0;
        }
        xlmig_logf(&d->em, XLMIG_LOG_INFO, "post-copy still paused: %s",
                   d->chan_err.msg);
    }
    return dst_fail(d, ETIMEDOUT, "post-copy was not resumed within %d s "
                    "(%s)", d->recover_timeout_s, why);
}

/* No GO yet: READY again. */
static int say_ready(struct xlmig_dest *d)
{
    uint8_t buf[XLMIG_HDR_LEN];

    if (xlmig_conn_send(&d->conn, buf,
                        xlmig_enc_empty(buf, XLMIG_REC_READY)) < 0)
        return xlmig_fail_from(&d->chan_err, &d->conn.err, "resuming");
    return 0;
}

int dst_recover_handoff(struct xlmig_dest *d)
{
    uint64_t start = xlmig_now_ns();
    uint64_t end = start + (uint64_t)d->recover_timeout_s * 1000000000ull;
    int wake = d->conn.wake_fd;
    char why[XLMIG_ERRLEN];

    snprintf(why, sizeof(why), "%s", d->chan_err.msg);
    teardown(d);
    /* The source may have sent GO: then it keeps its guest suspended until
     * it learns whether GO arrived.  Rolling back now could leave the guest
     * running nowhere; waiting costs only our paused copy. */
    xlmig_logf(&d->em, XLMIG_LOG_WARN, "the data channel broke after READY "
               "(%s): waiting up to %d s for the source to come back (it may "
               "have sent GO)", why, d->recover_timeout_s);
    event(d, "handoff-paused", why);
    while (xlmig_now_ns() < end) {
        int rfd, wfd;

        if (d->cancelled)
            return dst_fail(d, ECANCELED, "cancelled while waiting for "
                            "the source after READY (%s)", why);
        if (!next_channel(d, ACCEPT_SLICE_MS, &rfd, &wfd))
            continue;
        if (open_channel(d, rfd, wfd, say_ready) == 0) {
            d->conn.wake_fd = wake;
            xlmig_logf(&d->em, XLMIG_LOG_INFO, "the source is back after "
                       "%.1f s; READY again",
                       (double)(xlmig_now_ns() - start) * 1e-9);
            event(d, "handoff", "resumed");
            return 0;
        }
        xlmig_logf(&d->em, XLMIG_LOG_INFO, "still waiting for the source: "
                   "%s", d->chan_err.msg);
        teardown(d);
    }
    return dst_fail(d, ETIMEDOUT, "no GO: the source did not come back "
                    "within %d s after the channel broke (%s)",
                    d->recover_timeout_s, why);
}
