/*
 * Destination post-copy.  A watcher thread turns the gate's demanded blocks
 * into PULL_REQ records and sends DONE once the gate reports nothing stale;
 * the main thread installs arriving blocks (dst_gate.c).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dst_internal.h"

#define WATCH_MS 100

static int send_pull_req(struct xlmig_dest *r, uint32_t disk,
                         const struct xlmig_extent *e, uint32_t n)
{
    uint8_t *buf = malloc(XLMIG_HDR_LEN + 8 + (size_t)n * XLMIG_EXTENT_LEN);
    int rc;

    if (!buf)
        return -1;
    rc = xlmig_conn_send(&r->conn, buf,
                         xlmig_enc_extents(buf, XLMIG_REC_PULL_REQ, disk, e,
                                           n));
    free(buf);
    for (uint32_t i = 0; i < n; i++)
        __atomic_fetch_add(&r->st.demanded, e[i].count, __ATOMIC_RELAXED);
    return rc;
}

/*
 * DONE lets the source drop its copy: everything here must be on stable
 * storage first.
 */
static int send_done(struct xlmig_dest *r, uint64_t overwritten)
{
    uint8_t buf[XLMIG_HDR_LEN + 24];
    struct xlmig_error err;

    for (unsigned i = 0; i < r->ndisks; i++)
        if (xlmig_image_sync(&r->disks[i].img, &err) < 0)
            return dst_fail(r, err.code, "disk %s: %s", r->disks[i].name,
                            err.msg);
    struct xlmig_done d = {
        .installed = __atomic_load_n(&r->st.installed, __ATOMIC_RELAXED),
        .overwritten = overwritten,
        .demanded = __atomic_load_n(&r->st.demanded, __ATOMIC_RELAXED),
    };

    __atomic_store_n(&r->done_sent, true, __ATOMIC_SEQ_CST);
    return xlmig_conn_send(&r->conn, buf, xlmig_enc_done(buf, &d));
}

static void *watcher_main(void *arg)
{
    struct xlmig_dest *r = arg;
    struct pollfd p[XLMIG_MAX_DISKS + 1];
    struct xlmig_extent e[256];
    uint64_t last_tick = 0, last_stale = UINT64_MAX;
    double drain = 0;           /* stale blocks installed per second */

    for (;;) {
        unsigned np = 1;
        uint64_t over, stale, now;

        p[0] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
        for (unsigned i = 0; i < r->ndisks; i++) {
            struct dst_disk *d = &r->disks[i];
            if (d->gate_on && d->vbd->ops->wanted_fd(d->vbd) >= 0)
                p[np++] = (struct pollfd){ .fd = d->vbd->ops->wanted_fd(d->vbd),
                                           .events = POLLIN };
        }
        if (poll(p, np, WATCH_MS) < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN)
            break;
        for (unsigned i = 0; i < r->ndisks; i++) {
            struct dst_disk *d = &r->disks[i];
            int n;

            if (!d->gate_on)
                continue;
            do {
                pthread_mutex_lock(&r->vbd_lock);
                n = d->vbd->ops->wanted_pop(d->vbd, e, 256);
                pthread_mutex_unlock(&r->vbd_lock);
                if (n > 0 && send_pull_req(r, i, e, (uint32_t)n) < 0)
                    return NULL;        /* the main loop sees the channel */
            } while (n == 256);
        }
        if (__atomic_load_n(&r->done_sent, __ATOMIC_SEQ_CST))
            continue;
        stale = dst_gate_stale(r, &over);
        now = xlmig_now_ns();
        if (stale != UINT64_MAX && now - last_tick >= 500000000ull) {
            /* for status readers (xlmig jobinfo): blocks still stale */
            struct xlmig_event ev = xlmig_event_make("progress",
                                                            "postcopy");
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
            ev.wire_bytes = (int64_t)r->conn.bytes_in;
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

static int start_watcher(struct xlmig_dest *r)
{
    if (pipe(r->wake) < 0)
        return dst_fail(r, EIO, "pipe: %s", strerror(errno));
    if (pthread_create(&r->watcher, NULL, watcher_main, r))
        return dst_fail(r, EIO, "cannot start the post-copy watcher");
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

/* The source pushed everything once: ask again for what we never got. */
static int rerequest(struct xlmig_dest *r)
{
    struct xlmig_extent e[256];
    uint64_t over;

    if (dst_gate_stale(r, &over) == 0)
        return 0;
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct dst_disk *d = &r->disks[i];
        uint64_t pos = 0;
        uint32_t n = 0;
        bool more = true;

        if (!d->gate_on)
            continue;
        while (more) {
            more = xlmig_bitmap_next_extent(d->remaining, &pos, 0, &e[n]);
            if (more)
                n++;
            if (n && (n == 256 || !more)) {
                if (send_pull_req(r, i, e, n) < 0)
                    return dst_fail(r, EIO, "sending PULL_REQ: %s", r->conn.err.msg);
                n = 0;
            }
        }
    }
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

int dst_pull(struct xlmig_dest *r)
{
    struct xlmig_event ev = xlmig_event_make("phase", "postcopy");
    struct xlmig_rec rec;
    struct xlmig_error err;
    bool gated = false;
    uint64_t over;

    for (unsigned i = 0; i < r->ndisks; i++)
        gated |= r->disks[i].gate_on;
    if (gated) {
        ev.remaining_blocks = (int64_t)r->st.stale_blocks;
        ev.total_blocks = (int64_t)r->st.stale_blocks;
        dst_event(r, &ev);
        if (start_watcher(r) < 0)
            return -1;
    } else if (send_done(r, 0) < 0) {
        return dst_fail(r, EIO, "sending DONE: %s", r->conn.err.msg);
    }

    for (;;) {
        if (dst_next(r, &rec, "post-copy") < 0)
            break;
        if (rec.type == XLMIG_REC_DATA) {
            struct xlmig_data d;
            if (xlmig_dec_data(&rec, &d, &err) < 0) {
                dst_fail(r, EPROTO, "bad DATA record: %s", err.msg);
                break;
            }
            if (dst_install(r, &d) < 0)
                break;
        } else if (rec.type == XLMIG_REC_PUSHED_ALL) {
            if (rerequest(r) < 0)
                break;
        } else if (rec.type == XLMIG_REC_PHASE) {
            continue;
        } else if (rec.type == XLMIG_REC_DONE_ACK &&
                   __atomic_load_n(&r->done_sent, __ATOMIC_SEQ_CST)) {
            break;
        } else {
            dst_fail(r, EPROTO, "protocol error: unexpected %s during post-copy",
                      xlmig_rec_name(rec.type));
            break;
        }
    }
    dst_stop_watcher(r);
    if (r->failed) {
        postcopy_failed(r);
        return -1;
    }
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
            return dst_fail(r, EIO, "disk %s: %s", d->name, err.msg);
    }
    r->st.t_done = xlmig_now_ns();
    ev = xlmig_event_make("done", "done");
    dst_event(r, &ev);
    return 0;
}
