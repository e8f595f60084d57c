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
    if ((rc = dst_next(r, &rec, "the hand-off")) < 0)
        return rc;
    if (rec.type != XLMIG_REC_GO || xlmig_dec_empty(&rec, &err) < 0)
        return dst_fail(r, EPROTO, "protocol error: expected GO, got %s",
                        xlmig_rec_name(rec.type));
    return 0;
}
