/*
 * The hand-off on the data channel (simulated guests; with Xen, READY, GO
 * and REPORT travel on xl's own channel): wait for READY, send GO -- the
 * point of no return -- and wait for the destination's REPORT.
 */
#include <errno.h>
#include <stdio.h>

#include "src_internal.h"

int src_handoff_datachan(struct xlmig_source *s)
{
    uint8_t buf[XLMIG_HDR_LEN];
    int rc;

    if ((rc = src_wait(s, &s->got_ready, "the destination to be ready")) < 0)
        return rc;
    /*
     * Past GO from the moment it is queued: the destination may get it
     * and run the guest, so a channel error seen from now on (by the
     * reply thread too, src_chan_fail) pauses post-copy instead of failing
     * the run -- even one that comes before this thread has returned from
     * the flush.
     */
    pthread_mutex_lock(&s->lock);
    s->st.t_go = xlmig_now_ns();
    pthread_mutex_unlock(&s->lock);
    rc = src_queue_record(s, buf, xlmig_enc_empty(buf, XLMIG_REC_GO));
    if (!rc)
        rc = src_flush(s);
    if (rc < 0)
        /* GO may or may not have left: nobody knows who runs the guest. */
        return XLMIG_HANDOFF_UNKNOWN;
    if (src_wait(s, &s->got_report, "the destination's report") < 0)
        return XLMIG_HANDOFF_UNKNOWN;
    if (s->report) {
        src_fail(s, EIO, "the destination could not start the guest "
                 "(status %d)", s->report);
        return XLMIG_HANDOFF_REFUSED;
    }
    return 0;
}
