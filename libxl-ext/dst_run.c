/*
 * The destination's state machine:
 *
 *   negotiate (targets created, targets_ready hook) -> PUSH / stop-copy
 *   stream (gates armed) -> handoff hook (READY, GO) -> start_guest hook
 *      |                                  |                 |
 *      +----------------------------------+-----------------+
 *      | before the guest runs here, any failure: tell the source, the
 *      | rollback hook, delete what was created (the janitor does it too
 *      | if this process dies)
 *      v
 *   guest running here: post-copy until nothing is stale, DONE
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dst_internal.h"

int xlmig_dest_handoff_default(struct xlmig_dest *d)
{
    return dst_handoff_datachan(d);
}

static int rollback(struct xlmig_dest *d)
{
    int code = d->err.code ? d->err.code : EIO;

    dst_verify_end_push(d);
    /* Before GO the source learns it at once (it resumes its guest; a
     * rollback hook may take a while, and our heartbeats stopped with the
     * failure).  Past it, our copy goes first: never two running. */
    if (!d->got_go)
        dst_tell_source(d);
    if (d->h.rollback)
        d->h.rollback(d->h.opaque, d);
    d->got_go = false;
    dst_abort(d);
    if (d->have_janitor)
        xlmig_janitor_undo(&d->janitor);
    return -code;
}

int xlmig_dest_run(struct xlmig_dest *d)
{
    int rc;

    if (!d->have_channel)
        return dst_fail(d, EINVAL, "no data channel");
    if ((rc = dst_negotiate(d)) < 0)
        return rollback(d);
    if (d->estimate)
        return dst_estimate_serve(d) < 0 ? rollback(d) : 0;
    if ((rc = dst_receive(d)) < 0)
        return rollback(d);
    dst_verify_end_push(d);
    rc = d->h.handoff ? d->h.handoff(d->h.opaque, d)
                      : dst_handoff_datachan(d);
    if (rc < 0) {
        if (!d->failed)
            dst_fail(d, -rc, "no GO from the source");
        return rollback(d);
    }
    d->got_go = true;
    d->st.t_go = xlmig_now_ns();
    /* The guest is ours to run: a cancel no longer stops the transfer. */
    d->conn.wake_fd = -1;
    rc = d->h.start_guest ? d->h.start_guest(d->h.opaque, d) : 0;
    if (rc < 0 && !d->failed)
        dst_fail(d, -rc, "starting the guest failed");
    if (!d->h.handoff && dst_send_report(d, rc) < 0 && rc == 0)
        xlmig_logf(&d->em, XLMIG_LOG_WARN, "the guest runs here but the "
                   "report did not reach the source: %s", d->err.msg);
    if (rc < 0) {
        /* Never two running copies: ours is gone, the source resumes. */
        return rollback(d);
    }
    /* The guest runs here now: its disks must survive us. */
    d->guest_started = true;
    if (d->have_janitor)
        xlmig_janitor_keep(&d->janitor);
    return dst_pull(d) < 0 ? XLMIG_RESULT_POSTCOPY_FAILED : 0;
}

void xlmig_dest_free(struct xlmig_dest *d)
{
    if (!d)
        return;
    dst_stop_watcher(d);
    dst_verify_stop(d);
    for (unsigned i = 0; i < d->ndisks; i++) {
        xlmig_image_close(&d->disks[i].img);
        xlmig_bitmap_free(d->disks[i].stale);
        xlmig_bitmap_free(d->disks[i].remaining);
        xlmig_bitmap_free(d->disks[i].want);
        xlmig_bitmap_free(d->disks[i].have);
        xlmig_bitmap_free(d->disks[i].have_new);
    }
    dst_close_extras(d);
    dst_io_free(&d->io);
    free(d->state);
    if (d->have_channel) {
        xlmig_conn_interrupt(&d->conn);
        xlmig_conn_heartbeat_stop(&d->conn);
        if (d->own_fds) {
            close(d->conn.rfd);
            if (d->conn.wfd != d->conn.rfd)
                close(d->conn.wfd);
        }
        xlmig_conn_destroy(&d->conn);
    }
    /* run() decided to keep or undo; if it never ran, undo. */
    if (d->have_janitor)
        xlmig_janitor_undo(&d->janitor);
    for (int i = 0; i < 2; i++)
        if (d->cancel_pipe[i] >= 0)
            close(d->cancel_pipe[i]);
    pthread_mutex_destroy(&d->vbd_lock);
    pthread_mutex_destroy(&d->err_lock);
    pthread_mutex_destroy(&d->want_lock);
    pthread_mutex_destroy(&d->sync_lock);
    pthread_cond_destroy(&d->sync_cv);
    free(d);
}
