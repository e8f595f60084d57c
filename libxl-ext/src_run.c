/*
 * The source's state machine:
 *
 *   negotiate -> PUSH -> keep-up + suspend hook -> stop-copy -> hand-off
 *      |           |              |                   |           |
 *      +-----------+--------------+-------------------+-----------+
 *      | before GO, any failure: tell the destination, release the VBDs,
 *      | resume the guest if it was suspended (rollback)
 *      v
 *   after GO: after_go hook, post-copy service until DONE
 *
 * A cancel (xlmig_source_cancel) before GO is a failure like any other.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src_internal.h"

void xlmig_source_cancel(struct xlmig_source *s)
{
    s->cancelled = 1;
    if (write(s->cancel_pipe[1], "c", 1) < 0) {
        /* Full pipe: a cancel is already pending. */
    }
}

bool xlmig_source_failed(const struct xlmig_source *s)
{
    return s->failed || s->cancelled;
}

int xlmig_source_handoff_default(struct xlmig_source *s)
{
    return src_handoff_datachan(s);
}

void xlmig_source_mark_suspended(struct xlmig_source *s)
{
    if (!s->guest_suspended) {
        s->guest_suspended = true;
        s->st.t_suspended = xlmig_now_ns();
    }
}

/* Turns a cancel into a failure (before GO) and wakes the readers. */
static void *cancel_main(void *arg)
{
    struct xlmig_source *s = arg;
    struct pollfd p = { .fd = s->cancel_pipe[0], .events = POLLIN };
    char c;

    for (;;) {
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
            ;
        if (read(s->cancel_pipe[0], &c, 1) <= 0 || c == 'q')
            return NULL;
        if (!s->st.t_go) {
            src_fail(s, ECANCELED, "cancelled");
            if (write(s->wake[1], "x", 1) < 0) {
                /* The reply thread is being stopped anyway. */
            }
        }
    }
}

static void cancel_thread_stop(struct xlmig_source *s)
{
    if (!s->cancel_running)
        return;
    if (write(s->cancel_pipe[1], "q", 1) < 0) {
        /* cannot happen: the thread drains the pipe */
    }
    pthread_join(s->cancel_thread, NULL);
    s->cancel_running = false;
}

/* Before GO: the guest continues here, nothing is lost. */
static int rollback(struct xlmig_source *s)
{
    struct xlmig_event ev = xlmig_event_make("error", NULL);
    int code = s->err.code ? s->err.code : EIO;

    /* Nothing waits out a stalled peer any more; the ERROR gets its own
     * short bound. */
    pthread_mutex_lock(&s->lock);
    src_interrupt_all(s);
    pthread_mutex_unlock(&s->lock);
    src_keepup_stop(s);
    if (s->have_channel)
        xlmig_conn_send_error(&s->conn, code, "%s",
                              s->err.msg);
    src_release_backend(s);
    if (s->guest_suspended && s->h.resume) {
        int rc = s->h.resume(s->h.opaque, s);

        if (rc < 0)
            xlmig_logf(&s->em, XLMIG_LOG_ERROR, "resuming the guest failed "
                       "(%s): it is suspended here and nowhere else",
                       strerror(-rc));
        else
            s->guest_suspended = false;
    }
    ev.message = s->err.msg;
    src_event(s, &ev);
    return -code;
}

static int before_go(struct xlmig_source *s)
{
    int rc;

    if ((rc = src_negotiate(s)) < 0 || (rc = src_push(s)) < 0 ||
        (rc = src_keepup_start(s)) < 0)
        return rc;
    rc = s->h.suspend(s->h.opaque, s);
    if (rc < 0)
        return s->failed ? -s->err.code
                         : src_fail(s, -rc, "suspending the guest failed");
    if (s->failed)
        return -s->err.code;
    return src_stopcopy(s);
}

/* known: the destination said it runs the guest (else: we cannot tell,
 * and the copy here is left as it is). */
void src_go_confirmed(struct xlmig_source *s)
{
    if (!s->go_unconfirmed)
        return;
    s->go_unconfirmed = false;
    s->guest_suspended = false;
    xlmig_logf(&s->em, XLMIG_LOG_WARN, "the destination runs the guest: "
               "the hand-off is confirmed");
    if (s->h.after_go)
        s->h.after_go(s->h.opaque, s);
}

static int after_go(struct xlmig_source *s, bool known)
{
    if (!s->st.t_go)
        s->st.t_go = xlmig_now_ns();
    /* Unknown: the guest stays suspended here until we know. */
    s->go_unconfirmed = !known;
    if (known)
        s->guest_suspended = false;
    if (known && s->h.after_go)
        s->h.after_go(s->h.opaque, s);
    if (s->h.postcopy_start)
        s->h.postcopy_start(s->h.opaque, s);
    /* An unknown hand-off is confirmed by the destination's DONE or by
     * its answer on a new channel (src_go_confirmed). */
    return src_pull(s);
}

int xlmig_source_run(struct xlmig_source *s)
{
    int rc;

    if (s->resume_mode)
        return src_run_resumed(s);
    if (!s->h.suspend && !s->o.offline)
        return src_fail(s, EINVAL, "a source needs a suspend hook");
    if (!s->have_channel)
        return src_fail(s, EINVAL, "no data channel");
    if (pthread_create(&s->cancel_thread, NULL, cancel_main, s) == 0)
        s->cancel_running = true;
    rc = s->o.offline ? src_offline_before_go(s) : before_go(s);
    if (rc < 0) {
        rc = rollback(s);
        goto out;
    }
    rc = s->h.handoff ? s->h.handoff(s->h.opaque, s)
                      : src_handoff_datachan(s);
    if (rc < 0 || rc == XLMIG_HANDOFF_REFUSED) {
        if (!s->failed)
            src_fail(s, rc < 0 ? -rc : EIO, "the hand-off failed");
        s->st.t_go = 0;
        rc = rollback(s);
        goto out;
    }
    if (rc == XLMIG_HANDOFF_UNKNOWN) {
        /*
         * GO may have reached the destination.  The guest stays suspended
         * here; a new channel (the same recovery as a paused post-copy)
         * asks the destination: READY again means GO never came (it is
         * sent again), its stale set or DONE that the guest runs there.
         * If the destination cannot be reached, nobody knows.
         */
        xlmig_logf(&s->em, XLMIG_LOG_WARN, "no REPORT after GO (%s): "
                   "asking the destination on a new channel whether GO "
                   "arrived; the guest stays suspended here until then",
                   s->chan_err.msg[0] ? s->chan_err.msg : s->err.msg);
        rc = after_go(s, false);
        if (rc < 0 && s->handoff_refused) {
            /* GO never arrived and the destination could not start the
             * guest: it is ours again. */
            s->st.t_go = 0;
            rc = rollback(s);
        } else if (rc < 0 || s->go_unconfirmed) {
            rc = XLMIG_RESULT_UNKNOWN;
        }
        goto out;
    }
    rc = after_go(s, true) < 0 ? XLMIG_RESULT_POSTCOPY_FAILED : 0;
out:
    cancel_thread_stop(s);
    return rc;
}

void xlmig_source_free(struct xlmig_source *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    src_interrupt_all(s);
    pthread_mutex_unlock(&s->lock);
    src_keepup_stop(s);
    pthread_mutex_lock(&s->lock);
    s->finished = true;
    pthread_mutex_unlock(&s->lock);
    src_reply_stop(s);
    xlmig_sendq_free(s->q);
    s->q = NULL;
    src_close_extras(s);
    src_release_backend(s);
    src_verify_free(s);
    for (unsigned i = 0; i < s->ndisks; i++) {
        xlmig_image_close(&s->disks[i].img);
        xlmig_bitmap_free(s->disks[i].pending);
        xlmig_bitmap_free(s->disks[i].alloc0);
        xlmig_bitmap_free(s->disks[i].stale);
        xlmig_bitmap_free(s->disks[i].have);
        if (s->disks[i].own_vbd)
            xlmig_vbd_close(s->disks[i].vbd);
    }
    free(s->dq);
    if (s->have_channel) {
        xlmig_conn_heartbeat_stop(&s->conn);
        if (s->own_fds) {
            close(s->conn.rfd);
            if (s->conn.wfd != s->conn.rfd)
                close(s->conn.wfd);
        }
        xlmig_conn_destroy(&s->conn);
    }
    for (int i = 0; i < 2; i++) {
        if (s->wake[i] >= 0)
            close(s->wake[i]);
        if (s->cancel_pipe[i] >= 0)
            close(s->cancel_pipe[i]);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cv);
    free(s);
}
