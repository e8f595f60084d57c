/*
 * Negotiation on the destination: HELLO both ways, the source's DISK
 * records -- each disk's target resolved by our own policy and created
 * (or checked) -- then the targets_ready hook, then the DISK_ACKs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dst_internal.h"
#include "transport.h"

/* "92.0 MiB", "1.5 GiB" */
static const char *mib_gib(uint64_t v, char *buf, size_t len)
{
    if (v >= (1ull << 30))
        snprintf(buf, len, "%.1f GiB", (double)v / 1073741824.0);
    else
        snprintf(buf, len, "%.1f MiB", (double)v / 1048576.0);
    return buf;
}

static int add_disk(struct xlmig_dest *r, const struct xlmig_disk *dr)
{
    struct xlmig_target_space earlier[XLMIG_MAX_DISKS];
    struct dst_disk *d;
    struct xlmig_error e;
    int rc;

    if (r->ndisks == XLMIG_MAX_DISKS)
        return dst_fail(r, E2BIG, "too many disks (at most %d)",
                        XLMIG_MAX_DISKS);
    if (dr->id != r->ndisks)
        return dst_fail(r, EPROTO, "disk ids must be 0, 1, ... in order; "
                        "got %u", dr->id);
    for (unsigned i = 0; i < r->ndisks; i++)
        if (!strcmp(r->disks[i].name, dr->name))
            return dst_fail(r, EPROTO, "disk %s announced twice", dr->name);
    d = &r->disks[r->ndisks];
    memset(d, 0, sizeof(*d));
    d->img.fd = -1;
    d->id = dr->id;
    snprintf(d->name, sizeof(d->name), "%s", dr->name);
    d->block_size = dr->block_size;
    d->size = dr->size;
    d->allocated = dr->allocated;
    d->nblocks = (dr->size + dr->block_size - 1) / dr->block_size;
    if ((rc = xlmig_target_resolve(&r->policy, d->name, d->path,
                                   sizeof(d->path), &e)) < 0)
        return dst_fail(r, -rc, "%s", e.msg);
    /* Count it before creating, so that a failure rolls back what exists. */
    r->ndisks++;
    for (unsigned i = 0; i + 1 < r->ndisks; i++)
        earlier[i] = r->disks[i].space;
    if (r->estimate) {
        /* Only measured: checked, nothing created or opened. */
        return dst_estimate_target(r, d, earlier, r->ndisks - 1);
    } else if (r->offline) {
        /* Resumable: kept (not the janitor's) if this attempt stops. */
        if ((rc = dst_offline_target(r, d, earlier, r->ndisks - 1)) < 0)
            return rc;
    } else if ((rc = xlmig_target_create(&r->policy, d->path, d->size,
                                         d->allocated, earlier,
                                         r->ndisks - 1, &d->space,
                                         &d->created, &d->zeroed, &e)) < 0) {
        return dst_fail(r, -rc, "disk %s: %s", d->name, e.msg);
    }
    /* A thin target: the guest cannot fill the whole disk. */
    if (d->space.checked && d->space.room < d->size - d->allocated) {
        char room[32], grow[32];

        xlmig_logf(&r->em, XLMIG_LOG_INFO, "disk %s: %s free on the "
                   "target's file system after the copy: the guest can add "
                   "that much to this disk, not the %s its size allows "
                   "(thin target)", d->name,
                   mib_gib(d->space.room, room, sizeof(room)),
                   mib_gib(d->size - d->allocated, grow, sizeof(grow)));
    }
    /* Only what we created (O_EXCL) is ever the janitor's to delete. */
    if (d->created && r->have_janitor && !r->offline &&
        xlmig_janitor_add_file(&r->janitor, d->path) < 0)
        return dst_fail(r, EIO, "disk %s: cannot register %s for cleanup",
                        d->name, d->path);
    if ((rc = xlmig_image_open(&d->img, d->path, true, &e)) < 0)
        return dst_fail(r, -rc, "disk %s: %s", d->name, e.msg);
    if (r->direct)
        xlmig_image_enable_direct(&d->img);
    return 0;
}

int dst_negotiate(struct xlmig_dest *r)
{
    uint8_t buf[XLMIG_HDR_LEN + 128];
    struct xlmig_hello h = { 1, XLMIG_VERSION, 0, XLMIG_ROLE_RECEIVER }, peer;
    struct xlmig_rec rec;
    struct xlmig_error err;
    struct xlmig_event ev = xlmig_event_make("phase", "negotiate");
    int rc;

    dst_event(r, &ev);
    if ((rc = dst_next(r, &rec, "negotiation")) < 0)
        return rc;
    if (xlmig_dec_hello(&rec, &peer, &err) < 0)
        return dst_fail(r, EPROTO, "bad HELLO from the source: %s", err.msg);
    if (peer.role != XLMIG_ROLE_SENDER)
        return dst_fail(r, EPROTO, "the peer is not a source");
    if (peer.version_min > XLMIG_VERSION)
        return dst_fail(r, EPROTONOSUPPORT, "the source speaks protocol "
                        "versions %u..%u, we speak 1..%u", peer.version_min,
                        peer.version_max, XLMIG_VERSION);
    r->features = peer.features & XLMIG_F_KNOWN;
    /* Extra connections come through the accept hook, and carry plain
     * migrations only (the modes' records are read on the first). */
    if (!r->h.accept_recovery || (r->features & XLMIG_F_MODES))
        r->features &= ~(uint64_t)XLMIG_F_MULTI;
    h.features = r->features;
    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_hello(buf, &h)) < 0)
        return dst_fail(r, r->conn.err.code, "sending HELLO: %s",
                        r->conn.err.msg);
    /* Alive whatever we do (creating targets, waiting for the domain). */
    if ((r->features & XLMIG_F_HEARTBEAT) &&
        xlmig_conn_heartbeat_start(&r->conn, r->peer_timeout_ms / 6,
                                   dst_heartbeat_stale, r) < 0)
        return dst_fail(r, r->conn.err.code, "%s", r->conn.err.msg);
    r->estimate = r->features & XLMIG_F_ESTIMATE;
    if ((rc = dst_offline_hello(r)) < 0)
        return rc;

    /* n DISK records, then the targets exist, then n acks. */
    for (unsigned i = 0, n = 1; i < n; i++) {
        struct xlmig_disk dr;

        if ((rc = dst_next(r, &rec, "negotiation")) < 0)
            return rc;
        if (xlmig_dec_disk(&rec, &dr, &err) < 0)
            return dst_fail(r, EPROTO, "bad DISK record: %s", err.msg);
        if (i == 0)
            n = dr.count;
        if (dr.count != n || dr.id != i || n > XLMIG_MAX_DISKS)
            return dst_fail(r, EPROTO, "DISK %u of %u does not follow disk "
                            "%u of %u (at most %d disks)", dr.id, dr.count, i,
                            n, XLMIG_MAX_DISKS);
        if ((rc = add_disk(r, &dr)) < 0)
            return rc;
    }
    if (r->h.targets_ready &&
        (rc = r->h.targets_ready(r->h.opaque, r)) < 0)
        return dst_fail(r, -rc, "preparing the targets failed");
    if ((rc = dst_verify_start(r)) < 0)
        return rc;
    for (unsigned i = 0; i < r->ndisks; i++) {
        struct xlmig_disk_ack a = { .id = i,
                                    .flags = (r->disks[i].zeroed
                                                  ? XLMIG_ACK_ZEROED : 0) |
                                             (r->disks[i].resumed
                                                  ? XLMIG_ACK_RESUMED : 0) };
        if (xlmig_conn_send(&r->conn, buf, xlmig_enc_disk_ack(buf, &a)) < 0)
            return dst_fail(r, r->conn.err.code, "sending DISK_ACK: %s",
                            r->conn.err.msg);
    }
    /* The secret a source must show to resume a broken post-copy, or
     * to join more connections. */
    if (r->features & (XLMIG_F_RECOVER | XLMIG_F_MULTI)) {
        if (xlmig_random_token(r->token, &err) < 0)
            return dst_fail(r, err.code, "%s", err.msg);
        if (xlmig_conn_send(&r->conn, buf,
                            xlmig_enc_token(buf, XLMIG_REC_SESSION,
                                            r->token)) < 0)
            return dst_fail(r, r->conn.err.code, "sending SESSION: %s",
                            r->conn.err.msg);
    }
    if ((r->features & XLMIG_F_MULTI) && (rc = dst_join(r)) < 0)
        return rc;
    return dst_offline_send_have(r);
}
