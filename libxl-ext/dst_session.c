/*
 * The destination handle: creation, placement policy, failure and events,
 * reading records, and the abort that deletes what this side created.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dst_internal.h"

void xlmig_dest_opts_init(struct xlmig_dest_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->accept_timeout_ms = 600000;
    o->peer_timeout_ms = 30000;
    o->recover_timeout_s = 3600;
}

int dst_fail(struct xlmig_dest *d, int code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    /* The main thread and the post-copy watcher both fail d. */
    pthread_mutex_lock(&d->err_lock);
    if (!d->failed) {
        va_start(ap, fmt);
        xlmig_vfail(&d->err, code, fmt, ap);
        va_end(ap);
        __atomic_store_n(&d->failed, true, __ATOMIC_RELEASE);
        dst_interrupt_all(d);
    }
    rc = -d->err.code;
    pthread_mutex_unlock(&d->err_lock);
    return rc;
}

int xlmig_dest_set_error(struct xlmig_dest *d, int code, const char *fmt, ...)
{
    char msg[XLMIG_ERRLEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return dst_fail(d, code, "%s", msg);
}

void dst_event(struct xlmig_dest *d, struct xlmig_event *ev)
{
    xlmig_emit(&d->em, ev);
}

int xlmig_dest_new(const struct xlmig_dest_opts *o,
                   const struct xlmig_dest_hooks *h, struct xlmig_dest **out,
                   struct xlmig_error *err)
{
    struct xlmig_dest *d;

    *out = NULL;
    if (o->peer_timeout_ms < 600 || o->recover_timeout_s < 0)
        return xlmig_fail(err, EINVAL, "bad timeouts: peer %d ms (>= 600)",
                          o->peer_timeout_ms);
    d = calloc(1, sizeof(*d));
    if (!d)
        return xlmig_fail(err, ENOMEM, "out of memory");
    d->wake[0] = d->wake[1] = -1;
    d->cancel_pipe[0] = d->cancel_pipe[1] = -1;
    d->janitor.fd = -1;
    if (o->target_dir) {
        if (strlen(o->target_dir) >= sizeof(d->target_dir)) {
            free(d);
            return xlmig_fail(err, ENAMETOOLONG, "target directory name "
                              "too long");
        }
        strcpy(d->target_dir, o->target_dir);
        d->policy.target_dir = d->target_dir;
    }
    d->policy.allow_existing = o->allow_existing;
    d->peer_timeout_ms = o->peer_timeout_ms;
    d->recover_timeout_s = o->recover_timeout_s;
    d->direct = !o->page_cache;
    if (h)
        d->h = *h;
    xlmig_emitter_init(&d->em, "destination", NULL, NULL, NULL);
    d->st.t_start = xlmig_now_ns();
    pthread_mutex_init(&d->vbd_lock, NULL);
    pthread_mutex_init(&d->err_lock, NULL);
    pthread_mutex_init(&d->want_lock, NULL);
    d->next_rfd = d->next_wfd = -1;
    pthread_mutex_init(&d->sync_lock, NULL);
    pthread_cond_init(&d->sync_cv, NULL);
    d->nconns = 1;
    if (dst_io_init(&d->io) < 0 || pipe(d->cancel_pipe) < 0) {
        xlmig_fail(err, errno ? errno : ENOMEM, "cannot set up: %s",
                   strerror(errno ? errno : ENOMEM));
        xlmig_dest_free(d);
        return -err->code;
    }
    /* Before any thread of ours: if we are killed before GO, it undoes. */
    if (o->janitor) {
        if (xlmig_janitor_start(&d->janitor) < 0) {
            xlmig_fail(err, EAGAIN, "cannot start the cleanup process");
            xlmig_dest_free(d);
            return -err->code;
        }
        d->have_janitor = true;
    }
    *out = d;
    return 0;
}

int xlmig_dest_map(struct xlmig_dest *d, const char *name, const char *path)
{
    char spec[4200];
    struct xlmig_error e;
    int rc;

    snprintf(spec, sizeof(spec), "%s=%s", name, path);
    if ((rc = xlmig_target_add_map(&d->policy, spec, &e)) < 0)
        return dst_fail(d, -rc, "%s", e.msg);
    return 0;
}

void xlmig_dest_set_observer(struct xlmig_dest *d, xlmig_event_fn *event,
                             xlmig_log_fn *log, void *opaque)
{
    d->em.fn = event;
    d->em.log = log;
    d->em.opaque = opaque;
}

int xlmig_dest_set_channel(struct xlmig_dest *d, int rfd, int wfd)
{
    if (d->have_channel)
        return dst_fail(d, EBUSY, "the data channel is already set");
    if (xlmig_conn_init(&d->conn, rfd, wfd) < 0)
        return dst_fail(d, ENOMEM, "out of memory");
    d->conn.wake_fd = d->cancel_pipe[0];
    d->conn.recv_timeout_ms = d->peer_timeout_ms;
    d->conn.timeout_ms = d->peer_timeout_ms;
    d->have_channel = true;
    return 0;
}

int dst_next_failed(struct xlmig_dest *d, int rc, const char *during)
{
    /* Woken because a receiving thread failed: its reason. */
    if (__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE))
        return -d->err.code;
    if (rc == -2)
        return dst_fail(d, ECANCELED, "cancelled during %s", during);
    if (rc < 0)
        return dst_fail(d, d->conn.err.code, "data channel during %s: %s",
                        during, d->conn.err.msg);
    return dst_fail(d, ECONNRESET, "the source closed the data channel "
                    "during %s", during);
}

int dst_next(struct xlmig_dest *d, struct xlmig_rec *rec, const char *during)
{
    int rc = xlmig_conn_recv(&d->conn, rec);

    if (rc != 1)
        return dst_next_failed(d, rc, during);
    return dst_check_error(d, rec);
}

int dst_check_error(struct xlmig_dest *d, const struct xlmig_rec *rec)
{
    if (rec->type == XLMIG_REC_ERROR) {
        struct xlmig_error_rec e;
        struct xlmig_error err;
        if (xlmig_dec_error(rec, &e, &err) < 0)
            return dst_fail(d, EPROTO, "the source failed; its ERROR is "
                            "malformed: %s", err.msg);
        return dst_fail(d, e.code ? (int)e.code : EIO, "source: %s",
                        e.reason);
    }
    return 0;
}

void xlmig_dest_attach_vbd(struct xlmig_dest *d, unsigned i,
                           struct xlmig_vbd *vbd)
{
    if (i < d->ndisks)
        d->disks[i].vbd = vbd;
}

bool xlmig_dest_offline(const struct xlmig_dest *d)
{
    return d->offline;
}

bool xlmig_dest_estimate(const struct xlmig_dest *d)
{
    return d->estimate;
}

unsigned xlmig_dest_disk_count(const struct xlmig_dest *d)
{
    return d->ndisks;
}

const char *xlmig_dest_disk_name(const struct xlmig_dest *d, unsigned i)
{
    return i < d->ndisks ? d->disks[i].name : NULL;
}

const char *xlmig_dest_disk_path(const struct xlmig_dest *d, unsigned i)
{
    return i < d->ndisks ? d->disks[i].path : NULL;
}

int xlmig_dest_janitor_add_pid(struct xlmig_dest *d, int pid)
{
    if (d->have_janitor && xlmig_janitor_add_pid(&d->janitor, pid) < 0)
        return dst_fail(d, EIO, "cannot register process %d for cleanup",
                        pid);
    return 0;
}

int xlmig_dest_janitor_add_file(struct xlmig_dest *d, const char *path)
{
    if (d->have_janitor && xlmig_janitor_add_file(&d->janitor, path) < 0)
        return dst_fail(d, EIO, "cannot register %s for cleanup", path);
    return 0;
}

void xlmig_dest_cancel(struct xlmig_dest *d)
{
    d->cancelled = 1;
    if (write(d->cancel_pipe[1], "c", 1) < 0) {
        /* Full pipe: a cancel is already pending. */
    }
}

bool xlmig_dest_past_go(const struct xlmig_dest *d)
{
    return d->got_go;
}

const char *xlmig_dest_error(const struct xlmig_dest *d)
{
    return d->failed ? d->err.msg : "";
}

int dst_send_bitmap(struct xlmig_dest *d, unsigned disk,
                    const struct xlmig_bitmap *b, struct xlmig_extent *e,
                    uint32_t max, uint8_t *buf, uint64_t *total)
{
    struct xlmig_bitmap_end end = { .disk = disk, .total = 0 };
    uint64_t pos = 0;
    uint32_t n = 0;
    bool more = b != NULL;

    while (more) {
        more = xlmig_bitmap_next_extent(b, &pos, 0, &e[n]);
        if (more)
            end.total += e[n++].count;
        if (n && (n == max || !more)) {
            if (xlmig_conn_send(&d->conn, buf,
                                xlmig_enc_extents(buf, XLMIG_REC_BITMAP,
                                                  disk, e, n)) < 0)
                return -1;
            n = 0;
        }
    }
    *total = end.total;
    return xlmig_conn_send(&d->conn, buf,
                           xlmig_enc_bitmap_end(buf, &end)) < 0 ? -1 : 0;
}

void dst_tell_source(struct xlmig_dest *d)
{
    if (d->error_sent)
        return;
    d->error_sent = true;
    dst_close_extras(d);
    if (d->have_channel) {
        pthread_mutex_lock(&d->err_lock);
        dst_interrupt_all(d);
        pthread_mutex_unlock(&d->err_lock);
        /* The source prefixes it with "destination: ". */
        xlmig_conn_send_error(&d->conn, d->err.code ? d->err.code : EIO,
                              "%s", d->err.msg);
        xlmig_conn_linger(&d->conn, 2000);
    }
}

void dst_abort(struct xlmig_dest *d)
{
    struct xlmig_event ev = xlmig_event_make("error", NULL);

    dst_tell_source(d);
    if (!d->got_go) {
        /* Before GO the source still has everything: remove our copy. */
        for (unsigned i = 0; i < d->ndisks; i++) {
            struct dst_disk *k = &d->disks[i];
            xlmig_image_close(&k->img);
            if (k->created && !dst_offline_keep(d, k) &&
                unlink(k->path) == 0)
                k->created = false;
        }
    }
    ev.message = d->err.msg;
    dst_event(d, &ev);
}

