/*
 * Destination post-copy.  A watcher thread turns the gate's demanded blocks
 * into PULL_REQ records (remembering them until installed) and sends DONE
 * once the gate reports nothing stale; the main thread installs arriving
 * blocks (dst_gate.c).
 *
 * A broken channel pauses post-copy (dst_recover.c): the guest runs on,
 * its accesses to stale blocks wait in the gate, and the source resumes on
 * a new channel from our current stale set.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dst_internal.h"

#define WATCH_MS 100

uint64_t dst_heartbeat_stale(void *opaque)
{
    struct xlmig_dest *r = opaque;
    uint64_t over, n;

    if (!__atomic_load_n(&r->got_go, __ATOMIC_RELAXED))
        return XLMIG_HB_NO_STALE;
    n = dst_gate_stale(r, &over);
    return n == UINT64_MAX ? XLMIG_HB_NO_STALE : n;
}

int dst_send_pull_req(struct xlmig_dest *r, uint32_t disk,
                      const struct xlmig_extent *e, uint32_t n)
{
    uint8_t *buf = malloc(XLMIG_HDR_LEN + 8 + (size_t)n * XLMIG_EXTENT_LEN);
    int rc;

    if (!buf)
        return -ENOMEM;
    rc = xlmig_conn_send(&r->conn, buf,
                         xlmig_enc_extents(buf, XLMIG_REC_PULL_REQ, disk, e,
                                           n));
    free(buf);
    return rc;
}

/* Demanded blocks: remembered until installed (re-sent after a resume). */
static void demanded(struct xlmig_dest *r, uint32_t disk,
                     const struct xlmig_extent *e, uint32_t n)
{
    struct dst_disk *d = &r->disks[disk];

    pthread_mutex_lock(&r->want_lock);
    for (uint32_t i = 0; i < n; i++)
        xlmig_bitmap_set_range(d->want, e[i].start, e[i].count);
    pthread_mutex_unlock(&r->want_lock);
    for (uint32_t i = 0; i < n; i++)
        __atomic_fetch_add(&r->st.demanded, e[i].count, __ATOMIC_RELAXED);
}

/*
 * DONE lets the source drop its copy: everything here must be on stable
 * storage first.
 */
static int send_done(struct xlmig_dest *r, uint64_t overwritten)
{
    uint8_t buf[XLMIG_HDR_LEN + 24];
    struct xlmig_error err;
    struct xlmig_done d;

    for (unsigned i = 0; i < r->ndisks; i++)
        if (xlmig_image_sync(&r->disks[i].img, &err) < 0)
            return dst_fail(r, err.code, "disk %s: %s", r->disks[i].name,
                            err.msg);
    /* What the read-back found, ahead of DONE (--verify). */
    if (dst_verify_send_result(r) < 0)
        return -1;
    d = (struct xlmig_done){
        .installed = __atomic_load_n(&r->st.installed, __ATOMIC_RELAXED),
        .overwritten = overwritten,
        .demanded = __atomic_load_n(&r->st.demanded, __ATOMIC_RELAXED),
    };
    __atomic_store_n(&r->done_sent, true, __ATOMIC_SEQ_CST);
    return xlmig_conn_send(&r->conn, buf, xlmig_enc_done(buf, &d));
}

/* The gates' demands, popped and sent; false when the channel broke (the
 * main loop finds out by itself). */
static bool forward_demands(struct xlmig_dest *r)
{
    struct xlmig_extent e[256];

    for (unsigned i = 0; i < r->ndisks; i++) {
        struct dst_disk *d = &r->disks[i];
        int n;

        if (!d->gate_on)
            continue;
        do {
            pthread_mutex_lock(&r->vbd_lock);
            n = d->vbd->ops->wanted_pop(d->vbd, e, 256);
            pthread_mutex_unlock(&r->vbd_lock);
            if (n <= 0)
                break;
            demanded(r, i, e, (uint32_t)n);
            if (dst_send_pull_req(r, i, e, (uint32_t)n) < 0)
                return false;
        } while (n == 256);
    }
    return true;
}

static void *watcher_main(void *arg)
{
    struct xlmig_dest *r = arg;
    struct pollfd p[XLMIG_MAX_DISKS + 1];
    uint64_t last_tick = 0, last_stale = UINT64_MAX;
    double drain = 0;           /* stale blocks installed per second */

    for (;;) {
        unsigned np = 1;
        uint64_t over, stale, now;

        p[0] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
        for (unsigned i = 0; i < r->ndisks; i++) {
            struct dst_disk *d = &r->disks[i];
            if (d->gate_on && d->vbd->ops->wanted_fd(d->vbd) >= 0)
                p[np++] = (struct pollfd){
                    .fd = d->vbd->ops->wanted_fd(d->vbd), .events = POLLIN };
        }
        if (poll(p, np, WATCH_MS) < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN)
            break;
        if (!forward_demands(r))
            return NULL;        /* the main loop sees the channel */
        if (__atomic_load_n(&r->done_sent, __ATOMIC_SEQ_CST))
            continue;
        stale = dst_gate_stale(r, &over);
        now = xlmig_now_ns();
        if (stale != UINT64_MAX && now - last_tick >= 500000000ull) {
            /* for status readers (xlmig jobinfo): blocks still stale */
            struct xlmig_event ev = xlmig_event_make("progress", "postcopy");

            if (last_stale != UINT64_MAX && last_tick && stale <= last_stale) {
                double inst = (double)(last_stale - stale) /
                              ((double)(now - last_tick) * 1e-9);
                drain = drain > 0 ? (drain + inst) / 2 : inst;
            }
            ev.remaining_blocks = (int64_t)stale;
            ev.total_blocks = (int64_t)r->st.stale_blocks;
            ev.installed_blocks = (int64_t)__atomic_load_n(&r->st.installed,
                                                           __ATOMIC_RELAXED);
            ev.demanded_blocks = (int64_t)__atomic_load_n(&r->st.demanded,
                                                          __ATOMIC_RELAXED);
            ev.wire_bytes = (int64_t)dst_wire_in(r);
            if (drain > 0)
                ev.eta_s = (double)stale / drain;
            dst_event(r, &ev);
            last_tick = now;
            last_stale = stale;
        }
        if (stale == 0 && send_done(r, over) < 0)
            return NULL;
    }
    return NULL;
}

int dst_start_watcher(struct xlmig_dest *r)
{
    if (pipe(r->wake) < 0)
        return dst_fail(r, errno, "pipe: %s", strerror(errno));
    if (pthread_create(&r->watcher, NULL, watcher_main, r))
        return dst_fail(r, EAGAIN, "cannot start the post-copy watcher");
    r->watcher_running = true;
    return 0;
}

void dst_stop_watcher(struct xlmig_dest *r)
{
    if (r->watcher_running) {
        if (write(r->wake[1], "x", 1) < 0) {
            /* one byte into an empty pipe cannot fail */
        }
        pthread_join(r->watcher, NULL);
        r->watcher_running = false;
    }
    for (int i = 0; i < 2; i++)
        if (r->wake[i] >= 0) {
            close(r->wake[i]);
            r->wake[i] = -1;
        }
}

/*
 * PULL_REQs for every block of set (one disk's) that is still missing:
 * after PUSHED_ALL for what never came, after a resume for what was
 * demanded.
 */
int dst_request_set(struct xlmig_dest *r, unsigned disk,
                    const struct xlmig_bitmap *set)
{
    struct dst_disk *d = &r->disks[disk];
    struct xlmig_extent e[256];
    uint64_t pos = 0;
    uint32_t n = 0;
    bool more = true;

    while (more) {
        more = xlmig_bitmap_next_extent(set, &pos, 0, &e[n]);
        if (more && xlmig_bitmap_test(d->remaining, e[n].start))
            n++;
        if (n && (n == 256 || !more)) {
            if (dst_send_pull_req(r, disk, e, n) < 0)
                return -EIO;
            n = 0;
        }
    }
    return 0;
}

/* The source pushed everything once: ask again for what we never got. */
static int rerequest(struct xlmig_dest *r)
{
    uint64_t over;

    if (dst_gate_stale(r, &over) == 0)
        return 0;
    for (unsigned i = 0; i < r->ndisks; i++)
        if (r->disks[i].gate_on &&
            dst_request_set(r, i, r->disks[i].remaining) < 0)
            return -EIO;
    return 0;
}

static void postcopy_failed(struct xlmig_dest *r)
{
    char msg[XLMIG_ERRLEN * 2];
    size_t o;
    uint64_t over, stale = dst_gate_stale(r, &over);

    o = (size_t)snprintf(msg, sizeof(msg), "POST-COPY FAILED: %s. ",
                         r->err.msg);
    if (stale != UINT64_MAX && o < sizeof(msg))
        snprintf(msg + o, sizeof(msg) - o, "%llu block(s) exist only on the "
                 "source: keep the source image; the guest's accesses to "
                 "them are held by the gate", (unsigned long long)stale);
    snprintf(r->err.msg, sizeof(r->err.msg), "%s", msg);
}

/*
 * One record of the post-copy stream.  1: DONE_ACK came (the end); 0: go
 * on; -EPIPE: the channel broke (r->chan_err says how); other < 0: failed.
 */
static int pull_record(struct xlmig_dest *r)
{
    struct xlmig_rec rec;
    struct xlmig_data d;
    struct xlmig_error e;
    int rc = xlmig_conn_recv(&r->conn, &rec);

    if (rc == -2 || rc < 0 || rc == 0) {
        xlmig_fail(&r->chan_err, rc == 0 ? ECONNRESET : r->conn.err.code,
                   "%s", rc == 0 ? "the source closed the data channel"
                                 : r->conn.err.msg);
        return -EPIPE;
    }
    switch (rec.type) {
    case XLMIG_REC_DATA:
        if (xlmig_dec_data(&rec, &d, &e) < 0) {
            xlmig_fail(&r->chan_err, EPROTO, "bad DATA record: %s", e.msg);
            return -EPIPE;
        }
        return dst_install(r, &d) < 0 ? -r->err.code : 0;
    case XLMIG_REC_DIGEST:
        return dst_verify_digest(r, &rec) < 0 ? -r->err.code : 0;
    case XLMIG_REC_PUSHED_ALL:
        return rerequest(r) < 0 ? (xlmig_fail(&r->chan_err, EIO, "sending "
                                              "PULL_REQ: %s",
                                              r->conn.err.msg), -EPIPE) : 0;
    case XLMIG_REC_PHASE:
        return 0;
    case XLMIG_REC_DONE_ACK:
        if (__atomic_load_n(&r->done_sent, __ATOMIC_SEQ_CST))
            return 1;
        /* fall through */
    default:
        xlmig_fail(&r->chan_err, EPROTO, "unexpected %s during post-copy",
                   xlmig_rec_name(rec.type));
        return -EPIPE;
    }
}

/* The gates off, the targets flushed: the guest's disks are whole here. */
static int complete(struct xlmig_dest *r, bool gated)
{
    struct xlmig_event ev = xlmig_event_make("done", "done");
    struct xlmig_error err;
    uint64_t over;

    r->st.final_stale = gated ? dst_gate_stale(r, &over) : 0;
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct dst_disk *d = &r->disks[i];
        if (d->gate_on) {
            pthread_mutex_lock(&r->vbd_lock);
            d->vbd->ops->gate_stop(d->vbd);
            pthread_mutex_unlock(&r->vbd_lock);
            d->gate_on = false;
        }
        if (xlmig_image_sync(&d->img, &err) < 0)
            return dst_fail(r, err.code, "disk %s: %s", d->name, err.msg);
    }
    dst_offline_done(r);
    r->st.t_done = xlmig_now_ns();
    dst_event(r, &ev);
    return 0;
}

int dst_pull(struct xlmig_dest *r)
{
    struct xlmig_event ev = xlmig_event_make("phase", "postcopy");
    bool gated = false, broken = false;
    int rc;

    for (unsigned i = 0; i < r->ndisks; i++)
        gated |= r->disks[i].gate_on;
    if (gated) {
        ev.remaining_blocks = (int64_t)r->st.stale_blocks;
        ev.total_blocks = (int64_t)r->st.stale_blocks;
        dst_event(r, &ev);
        if ((rc = dst_start_watcher(r)) < 0)
            return rc;
    } else if (send_done(r, 0) < 0 && !r->failed) {
        /* Every block is here, but the source may not know that GO
         * arrived (its REPORT may be lost too): give it the chance to
         * come back and hear it (dst_recover lingers when nothing is
         * stale). */
        xlmig_fail(&r->chan_err, r->conn.err.code, "sending DONE: %s",
                   r->conn.err.msg);
        broken = true;
    }
    for (;;) {
        if (!broken) {
            rc = r->failed ? -r->err.code : pull_record(r);
            if (rc > 0)
                break;
            if (rc == 0)
                continue;
            if (rc != -EPIPE || r->failed)
                break;
        }
        broken = false;
        /* The channel broke: pause until the source resumes (or every
         * block is here and it never comes back). */
        dst_stop_watcher(r);
        rc = dst_recover(r);
        if (rc > 0)
            break;              /* complete without the source */
        if (rc < 0)
            break;
        if ((rc = dst_start_watcher(r)) < 0)
            break;
    }
    dst_stop_watcher(r);
    if (r->failed) {
        postcopy_failed(r);
        return -r->err.code;
    }
    return complete(r, gated);
}
