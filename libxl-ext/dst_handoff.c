/*
 * The hand-off on the data channel (simulated guests; with Xen it travels
 * on xl's channel): READY, wait for GO, and the REPORT that tells the
 * source whether the guest runs here.
 */
#include <errno.h>
#include <stdio.h>

#include "dst_internal.h"

int dst_send_report(struct xlmig_dest *r, int32_t status)
{
    uint8_t buf[XLMIG_HDR_LEN + 8];

    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_report(buf, status)) < 0)
        return dst_fail(r, EIO, "sending REPORT: %s", r->conn.err.msg);
    return 0;
}

int dst_handoff_datachan(struct xlmig_dest *r)
{
    uint8_t buf[XLMIG_HDR_LEN + 8];
    struct xlmig_rec rec;
    struct xlmig_error err;
    int rc;

    if (xlmig_conn_send(&r->conn, buf, xlmig_enc_empty(buf,
                                                       XLMIG_REC_READY)) < 0)
        return dst_fail(r, EIO, "sending READY: %s", r->conn.err.msg);
    /* A channel that breaks now (not an ERROR from the source, not a
     * cancel) may have carried GO: wait for the source to come back. */
    while ((rc = xlmig_conn_recv(&r->conn, &rec)) != 1) {
        if (rc == -2 || !(r->features & XLMIG_F_RECOVER))
            return dst_next_failed(r, rc, "the hand-off");
        xlmig_fail(&r->chan_err, rc ? r->conn.err.code : ECONNRESET, "%s",
                   rc ? r->conn.err.msg : "the source closed the channel");
        if ((rc = dst_recover_handoff(r)) < 0)
            return rc;
    }
    if ((rc = dst_check_error(r, &rec)) < 0)
        return rc;
    if (rec.type != XLMIG_REC_GO || xlmig_dec_empty(&rec, &err) < 0)
        return dst_fail(r, EPROTO, "protocol error: expected GO, got %s",
                        xlmig_rec_name(rec.type));
    return 0;
}
