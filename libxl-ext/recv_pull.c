/*
 * Destination post-copy.  A watcher thread turns the gate's demanded blocks
 * into PULL_REQ records and sends DONE once the gate reports nothing stale;
 * the main thread installs arriving blocks through claim / write / commit,
 * so that data fetched from the source never lands on a block the guest has
 * written here meanwhile.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "receiver_int.h"

#define WATCH_MS 100
#define GATE_CHUNK 1024

int recv_arm_gates(struct xlmig_receiver *r)
{
    struct xlmig_extent *e = malloc(GATE_CHUNK * sizeof(*e));

    if (!e)
        return recv_fail(r, "out of memory");
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct xlmig_recv_disk *d = &r->disks[i];
        uint64_t pos = 0;
        size_t n = 0;
        bool more = true;

        if (!d->stale || !xlmig_bitmap_count(d->stale))
            continue;
        if (!d->bitmap_ended) {
            free(e);
            return recv_fail(r, "stale bitmap for disk %s never ended",
                             d->name);
        }
        if (!d->vbd) {
            free(e);
            return recv_fail(r, "disk %s has stale blocks but no block "
                             "backend to gate them", d->name);
        }
        d->remaining = xlmig_bitmap_new(d->nblocks);
        if (!d->remaining) {
            free(e);
            return recv_fail(r, "out of memory");
        }
        xlmig_bitmap_merge(d->remaining, d->stale);
        pthread_mutex_lock(&r->vbd_lock);
        int rc = d->vbd->ops->gate_start(d->vbd, d->block_size);
        while (!rc && more) {
            more = xlmig_bitmap_next_extent(d->stale, &pos, 0, &e[n]);
            if (more)
                n++;
            if (n && (n == GATE_CHUNK || !more)) {
                rc = d->vbd->ops->gate_add_stale(d->vbd, e, n);
                n = 0;
            }
        }
        pthread_mutex_unlock(&r->vbd_lock);
        if (rc) {
            free(e);
            return recv_fail(r, "disk %s: arming the gate failed: %s",
                             d->name, d->vbd->err);
        }
        d->gate_on = true;
        r->st.stale_blocks += xlmig_bitmap_count(d->stale);
    }
    free(e);
    return 0;
}

/* ---- watcher thread ---- */

static int send_pull_req(struct xlmig_receiver *r, uint32_t disk,
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

static uint64_t gate_stale_total(struct xlmig_receiver *r, uint64_t *over)
{
    uint64_t total = 0;

    *over = 0;
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct xlmig_recv_disk *d = &r->disks[i];
        struct xlmig_vbd_stats vs;

        if (!d->gate_on)
            continue;
        pthread_mutex_lock(&r->vbd_lock);
        int rc = d->vbd->ops->stats(d->vbd, &vs);
        pthread_mutex_unlock(&r->vbd_lock);
        if (rc < 0)
            return UINT64_MAX;
        total += vs.stale;
        *over += vs.overwritten;
    }
    return total;
}

/*
 * DONE lets the source drop its copy: everything here must be on stable
 * storage first.
 */
static int send_done(struct xlmig_receiver *r, uint64_t overwritten)
{
    uint8_t buf[XLMIG_HDR_LEN + 24];
    char err[XLMIG_ERRLEN];

    for (unsigned i = 0; i < r->ndisks; i++)
        if (xlmig_image_sync(&r->disks[i].img, err) < 0) {
            fprintf(stderr, "xlmig: disk %s: %s\n", r->disks[i].name, err);
            return -1;
        }
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
    struct xlmig_receiver *r = arg;
    struct pollfd p[XLMIG_RECV_MAX_DISKS + 1];
    struct xlmig_extent e[256];
    uint64_t last_tick = 0;

    for (;;) {
        unsigned np = 1;
        uint64_t over, stale, now;

        p[0] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
        for (unsigned i = 0; i < r->ndisks; i++) {
            struct xlmig_recv_disk *d = &r->disks[i];
            if (d->gate_on && d->vbd->ops->wanted_fd(d->vbd) >= 0)
                p[np++] = (struct pollfd){ .fd = d->vbd->ops->wanted_fd(d->vbd),
                                           .events = POLLIN };
        }
        if (poll(p, np, WATCH_MS) < 0 && errno != EINTR)
            break;
        if (p[0].revents & POLLIN)
            break;
        for (unsigned i = 0; i < r->ndisks; i++) {
            struct xlmig_recv_disk *d = &r->disks[i];
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
        stale = gate_stale_total(r, &over);
        now = xlmig_now_ns();
        if (stale != UINT64_MAX && now - last_tick >= 500000000ull) {
            /* for status readers (xlmig jobinfo): blocks still stale */
            struct xlmig_progress_ev ev = xlmig_progress_ev("progress",
                                                            "postcopy");
            ev.remaining_blocks = (int64_t)stale;
            recv_event(r, &ev);
            last_tick = now;
        }
        if (stale == 0 && send_done(r, over) < 0)
            return NULL;
    }
    return NULL;
}

static int start_watcher(struct xlmig_receiver *r)
{
    if (pipe(r->wake) < 0)
        return recv_fail(r, "pipe: %s", strerror(errno));
    if (pthread_create(&r->watcher, NULL, watcher_main, r))
        return recv_fail(r, "cannot start the post-copy watcher");
    r->watcher_running = true;
    return 0;
}

void recv_stop_watcher(struct xlmig_receiver *r)
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

/* ---- installing ---- */

static int install(struct xlmig_receiver *r, const struct xlmig_data *d)
{
    unsigned long mask[XLMIG_CLAIM_WORDS];
    struct xlmig_recv_disk *k;
    const uint8_t *p = NULL;
    char err[XLMIG_ERRLEN];
    uint64_t off;
    size_t len;

    if (recv_check_data(r, d, &k, &off, &len) < 0)
        return -1;
    if (!k->gate_on)
        return 0;               /* nothing stale on this disk */
    if (d->encoding != XLMIG_ENC_ZERO && recv_payload(r, d, len, &p) < 0)
        return -1;
    for (uint32_t done = 0; done < d->count;) {
        uint32_t n = d->count - done;
        uint64_t first = d->first + done;
        int claimed;

        if (n > XLMIG_CLAIM_MAX)
            n = XLMIG_CLAIM_MAX;
        pthread_mutex_lock(&r->vbd_lock);
        claimed = k->vbd->ops->claim(k->vbd, first, n, mask);
        pthread_mutex_unlock(&r->vbd_lock);
        if (claimed < 0)
            return recv_fail(r, "disk %s: claim failed: %s", k->name,
                             k->vbd->err);
        /* Write each run of claimed blocks, then commit the range. */
        for (uint32_t i = 0; i < n && claimed;) {
            uint32_t j;
            if (!(mask[i / (8 * sizeof(long))] >> (i % (8 * sizeof(long))) & 1)) {
                i++;
                continue;
            }
            for (j = i; j < n && (mask[j / (8 * sizeof(long))] >>
                                  (j % (8 * sizeof(long))) & 1); j++)
                ;
            uint64_t boff = (uint64_t)(done + i) * k->block_size;
            uint64_t blen = (uint64_t)(j - i) * k->block_size;
            if (boff + blen > len)
                blen = len - boff;
            int rc = p ? xlmig_image_write(&k->img, p + boff, blen,
                                           off + boff, err)
                       : xlmig_image_zero(&k->img, off + boff, blen, err);
            if (rc < 0) {
                pthread_mutex_lock(&r->vbd_lock);
                k->vbd->ops->unclaim(k->vbd, first, n);
                pthread_mutex_unlock(&r->vbd_lock);
                return recv_fail(r, "disk %s: installing fetched blocks: %s",
                                 k->name, err);
            }
            xlmig_bitmap_clear_range(k->remaining, first + i, j - i);
            i = j;
        }
        pthread_mutex_lock(&r->vbd_lock);
        int rc = claimed ? k->vbd->ops->commit(k->vbd, first, n) : 0;
        pthread_mutex_unlock(&r->vbd_lock);
        if (rc < 0)
            return recv_fail(r, "disk %s: commit failed: %s", k->name,
                             k->vbd->err);
        __atomic_fetch_add(&r->st.installed, (uint64_t)claimed,
                           __ATOMIC_RELAXED);
        r->st.refused += n - (uint32_t)claimed;
        done += n;
    }
    return 0;
}

/* The source pushed everything once: ask again for what we never got. */
static int rerequest(struct xlmig_receiver *r)
{
    struct xlmig_extent e[256];
    uint64_t over;

    if (gate_stale_total(r, &over) == 0)
        return 0;
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct xlmig_recv_disk *d = &r->disks[i];
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
                    return recv_fail(r, "sending PULL_REQ: %s", r->conn.err);
                n = 0;
            }
        }
    }
    return 0;
}

static void postcopy_failed(struct xlmig_receiver *r)
{
    char msg[XLMIG_ERRLEN * 2];
    size_t o;
    uint64_t over, stale = gate_stale_total(r, &over);

    o = (size_t)snprintf(msg, sizeof(msg), "POST-COPY FAILED: %s. ", r->err);
    if (stale != UINT64_MAX)
        snprintf(msg + o, sizeof(msg) - o, "%llu block(s) exist only on the "
                 "source: keep the source image; the guest's accesses to "
                 "them are held by the gate", (unsigned long long)stale);
    snprintf(r->err, sizeof(r->err), "%s", msg);
}

int xlmig_receiver_pull(struct xlmig_receiver *r)
{
    struct xlmig_progress_ev ev = xlmig_progress_ev("phase", "postcopy");
    struct xlmig_rec rec;
    char err[XLMIG_ERRLEN];
    bool gated = false;
    uint64_t over;

    for (unsigned i = 0; i < r->ndisks; i++)
        gated |= r->disks[i].gate_on;
    if (gated) {
        ev.remaining_blocks = (int64_t)r->st.stale_blocks;
        recv_event(r, &ev);
        if (start_watcher(r) < 0)
            return -1;
    } else if (send_done(r, 0) < 0) {
        return recv_fail(r, "sending DONE: %s", r->conn.err);
    }

    for (;;) {
        if (recv_next(r, &rec, "post-copy") < 0)
            break;
        if (rec.type == XLMIG_REC_DATA) {
            struct xlmig_data d;
            if (xlmig_dec_data(&rec, &d, err) < 0) {
                recv_fail(r, "bad DATA record: %s", err);
                break;
            }
            if (install(r, &d) < 0)
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
            recv_fail(r, "protocol error: unexpected %s during post-copy",
                      xlmig_rec_name(rec.type));
            break;
        }
    }
    recv_stop_watcher(r);
    if (r->failed) {
        postcopy_failed(r);
        return -1;
    }
    r->st.final_stale = gated ? gate_stale_total(r, &over) : 0;
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct xlmig_recv_disk *d = &r->disks[i];
        if (d->gate_on) {
            pthread_mutex_lock(&r->vbd_lock);
            d->vbd->ops->gate_stop(d->vbd);
            pthread_mutex_unlock(&r->vbd_lock);
            d->gate_on = false;
        }
        if (xlmig_image_sync(&d->img, err) < 0)
            return recv_fail(r, "disk %s: %s", d->name, err);
    }
    r->st.t_done = xlmig_now_ns();
    ev = xlmig_progress_ev("done", "done");
    recv_event(r, &ev);
    return 0;
}

void xlmig_receiver_report(struct xlmig_receiver *r, FILE *f, bool json)
{
    double post = r->st.t_go && r->st.t_done
                      ? (double)(r->st.t_done - r->st.t_go) * 1e-9 : -1;

    if (json) {
        fprintf(f, "{\"event\":\"report\",\"role\":\"destination\","
                "\"result\":\"%s\",\"data_bytes\":%llu,\"zero_bytes\":%llu,"
                "\"stale_blocks\":%llu,\"installed\":%llu,\"refused\":%llu,"
                "\"demanded\":%llu,\"postcopy_s\":%.3f",
                r->failed ? "failed" : "success",
                (unsigned long long)r->st.data_bytes,
                (unsigned long long)r->st.zero_bytes,
                (unsigned long long)r->st.stale_blocks,
                (unsigned long long)r->st.installed,
                (unsigned long long)r->st.refused,
                (unsigned long long)r->st.demanded, post);
        if (r->failed) {
            fprintf(f, ",\"error\":");
            xlmig_json_string(f, r->err);
        }
        fprintf(f, "}\n");
        fflush(f);
        return;
    }
    fprintf(f, "xlmig disk migration report (destination)\n");
    fprintf(f, "  result            %s%s\n", r->failed ? "FAILED: " : "success",
            r->failed ? r->err : "");
    for (unsigned i = 0; i < r->ndisks; i++)
        fprintf(f, "  disk %-12s -> %s\n", r->disks[i].name,
                r->disks[i].path);
    fprintf(f, "  written           %.1f MiB data, %.1f MiB zeroed\n",
            (double)r->st.data_bytes / 1048576.0,
            (double)r->st.zero_bytes / 1048576.0);
    if (r->st.stale_blocks)
        fprintf(f, "  post-copy         %llu stale blocks: %llu installed, "
                "%llu demanded, %llu deliveries discarded (the guest had "
                "written the block), %.2f s\n",
                (unsigned long long)r->st.stale_blocks,
                (unsigned long long)r->st.installed,
                (unsigned long long)r->st.demanded,
                (unsigned long long)r->st.refused, post);
    fflush(f);
}
