/*
 * The destination of an estimate (the ESTIMATE feature): the targets are
 * resolved and checked by our policy but not created, and no hook but
 * targets_ready runs.  PROBEs are acknowledged with the bytes received;
 * sampled DATA is validated and decoded (inflated) as in a migration and
 * written, as a migration writes it (large writes past the page cache,
 * writeback started every 32 MiB, a flush at the full pass's SYNC), into
 * an unnamed temporary file next to where the
 * first target would go (O_TMPFILE: it has no name and is gone when
 * closed), so that the source's measure includes this disk; where that
 * is not possible the data is dropped.  The source's end of the channel
 * ends the session.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dst_internal.h"

#define WRITEBACK_KICK (32u << 20)

/* The sample's scratch file: unnamed, in the first target's directory. */
static int scratch_fd(struct xlmig_dest *d)
{
    char dir[4096];
    int fd;

    if (!d->ndisks)
        return -1;
    snprintf(dir, sizeof(dir), "%s", d->disks[0].path);
    xlmig_path_parent(dir, sizeof(dir));
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && d->policy.target_dir &&
        !strcmp(dir, d->policy.target_dir)) {
        /* Not created yet: its parent is the same file system. */
        xlmig_dir_parent(dir, sizeof(dir));
        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    }
    return fd;
}

/* The scratch file as an image, with direct writes as a target has them
 * (reopened through /proc: it has no name).  im->fd < 0: none. */
static void scratch(struct xlmig_dest *d, struct xlmig_image *im)
{
    memset(im, 0, sizeof(*im));
    im->dio_fd = -1;
    im->fd = scratch_fd(d);
    if (im->fd < 0)
        return;
    snprintf(im->path, sizeof(im->path), "/proc/self/fd/%d", im->fd);
    if (d->direct)
        xlmig_image_enable_direct(im);
}

int dst_estimate_target(struct xlmig_dest *d, struct dst_disk *k,
                        const struct xlmig_target_space *earlier,
                        unsigned nearlier)
{
    struct xlmig_error e;
    int rc;

    if ((rc = xlmig_target_check(&d->policy, k->path, k->size, k->allocated,
                                 earlier, nearlier, &k->space, &k->zeroed,
                                 &e)) < 0)
        return dst_fail(d, -rc, "disk %s: %s", k->name, e.msg);
    k->created = false;         /* nothing to undo */
    return 0;
}

static int ack_probe(struct xlmig_dest *d, const struct xlmig_rec *rec,
                     uint64_t *received)
{
    uint8_t buf[XLMIG_HDR_LEN + 24];
    struct xlmig_probe p;
    struct xlmig_probe_ack a;
    struct xlmig_error err;

    if (xlmig_dec_probe(rec, &p, &err) < 0)
        return dst_fail(d, EPROTO, "bad PROBE: %s", err.msg);
    *received += XLMIG_HDR_LEN + rec->len;
    a = (struct xlmig_probe_ack){ .seq = p.seq, .t_ns = p.t_ns,
                                  .received = *received };
    if (xlmig_conn_send(&d->conn, buf, xlmig_enc_probe_ack(buf, &a)) < 0)
        return dst_fail(d, EIO, "sending PROBE_ACK: %s", d->conn.err.msg);
    return 0;
}

static int decode(struct xlmig_dest *d, const struct xlmig_rec *rec,
                  struct xlmig_image *im, uint64_t *unflushed)
{
    struct xlmig_data data;
    struct xlmig_error err;
    struct dst_disk *k;
    const uint8_t *p;
    uint64_t off;
    size_t len;

    if (xlmig_dec_data(rec, &data, &err) < 0)
        return dst_fail(d, EPROTO, "bad DATA record: %s", err.msg);
    if (dst_check_data(d, &data, &k, &off, &len) < 0)
        return -1;
    if (data.encoding == XLMIG_ENC_ZERO) {
        d->st.zero_bytes += len;
    } else if (dst_payload(d, &d->io, &data, len, &p) < 0) {
        return -1;
    } else {
        d->st.data_bytes += len;
        /* As a migration writes it; a full scratch disk only stops the
         * writing (the measure then leaves this disk out). */
        if (im->fd >= 0 &&
            dst_write_payload(&d->io, im, p, len, off, &err) < 0)
            xlmig_image_close(im);
        else if (im->fd >= 0 && (*unflushed += len) >= WRITEBACK_KICK) {
            sync_file_range(im->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
            *unflushed = 0;
        }
    }
    d->st.records++;
    return 0;
}

static int serve(struct xlmig_dest *d, struct xlmig_image *im,
                 uint64_t *received, uint64_t *unflushed);

int dst_estimate_serve(struct xlmig_dest *d)
{
    struct xlmig_event ev = xlmig_event_make("phase", "estimate");
    uint64_t received = 0, unflushed = 0;
    struct xlmig_image im;
    int rc;

    scratch(d, &im);
    dst_event(d, &ev);
    rc = serve(d, &im, &received, &unflushed);
    xlmig_image_close(&im);
    if (rc < 0)
        return rc;
    ev = xlmig_event_make("done", "done");
    ev.message = "estimate: nothing was created";
    dst_event(d, &ev);
    return 0;
}

static int serve(struct xlmig_dest *d, struct xlmig_image *im,
                 uint64_t *received, uint64_t *unflushed)
{
    uint32_t phase = XLMIG_PHASE_FULL;

    for (;;) {
        uint8_t buf[XLMIG_HDR_LEN + 8];
        struct xlmig_error err;
        struct xlmig_rec rec;
        uint64_t seq;
        int rc = xlmig_conn_recv(&d->conn, &rec);

        if (rc == 0)
            break;              /* the source measured what it wanted */
        if (rc == -2)
            return dst_fail(d, ECANCELED, "cancelled during the estimate");
        if (rc < 0)
            return dst_fail(d, d->conn.err.code, "data channel during the "
                            "estimate: %s", d->conn.err.msg);
        switch (rec.type) {
        case XLMIG_REC_PROBE:
            rc = ack_probe(d, &rec, received);
            break;
        case XLMIG_REC_DATA:
            rc = decode(d, &rec, im, unflushed);
            break;
        case XLMIG_REC_PHASE: {
            struct xlmig_phase ph;

            if (xlmig_dec_phase(&rec, &ph, &err) < 0)
                return dst_fail(d, EPROTO, "bad PHASE: %s", err.msg);
            phase = ph.phase;
            break;
        }
        case XLMIG_REC_DIGEST:
            break;
        case XLMIG_REC_SYNC:
            if (xlmig_dec_u64(&rec, &seq, &err) < 0)
                return dst_fail(d, EPROTO, "bad SYNC: %s", err.msg);
            /* As a migration: flushed after the full pass only. */
            if (im->fd >= 0 && phase == XLMIG_PHASE_FULL)
                fdatasync(im->fd);
            if (xlmig_conn_send(&d->conn, buf,
                                xlmig_enc_u64(buf, XLMIG_REC_SYNC_ACK,
                                              seq)) < 0)
                return dst_fail(d, EIO, "sending SYNC_ACK: %s",
                                d->conn.err.msg);
            break;
        case XLMIG_REC_ERROR: {
            struct xlmig_error_rec e;

            if (xlmig_dec_error(&rec, &e, &err) < 0)
                return dst_fail(d, EPROTO, "the source failed: %s", err.msg);
            return dst_fail(d, e.code ? (int)e.code : EIO, "source: %s",
                            e.reason);
        }
        default:
            return dst_fail(d, EPROTO, "unexpected %s during an estimate",
                            xlmig_rec_name(rec.type));
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}
