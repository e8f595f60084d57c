/*
 * The source side's internals: the state of a struct xlmig_source and the
 * functions its files share, grouped by the file that defines them.
 *
 *   src_session.c    handle life cycle, failure, events, the send helpers
 *   src_reply.c      the thread reading the destination's records
 *   src_negotiate.c  HELLO, DISK / DISK_ACK, the send pipeline
 *   src_conns.c      the extra data connections (JOIN), closed at the end
 *                    of stop-copy
 *   src_push.c       full pass, dirty passes, keep-up
 *   src_stopcopy.c   quiesce, final snapshot, blocks or the stale bitmap
 *   src_handoff.c    READY / GO / REPORT on the data channel
 *   src_pull.c       the post-copy service
 *   src_report.c     the final figures
 *   src_run.c        the state machine: the phases in order, the hooks,
 *                    rollback
 */
#ifndef XLMIG_SRC_INTERNAL_H
#define XLMIG_SRC_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitmap.h"
#include "conn.h"
#include "err.h"
#include "image.h"
#include "policy.h"
#include "progress.h"
#include "sendq.h"
#include "vbd.h"
#include "wire.h"
#include "xlmig.h"

struct src_disk {
    uint32_t id;
    char name[XLMIG_MAX_NAME + 1];
    struct xlmig_vbd *vbd;
    struct xlmig_image img;
    struct xlmig_sq_disk sq;
    uint64_t nblocks;
    uint64_t allocated;
    bool dest_zeroed;
    bool tracking;
    bool quiesced;
    bool own_vbd;                       /* opened from a session: ours */
    struct xlmig_bitmap *pending;       /* dirty, not yet queued */
    struct xlmig_bitmap *alloc0;        /* full pass: allocated when
                                           tracking started */
    struct xlmig_bitmap *stale;         /* post-copy: not yet pushed */
    struct xlmig_bitmap *bad;           /* --verify: read back wrong there
                                         * (s->lock) */
    bool resumed;                       /* offline: a partial copy there */
    struct xlmig_bitmap *have;          /* offline: blocks it already has */
};

/* --verify: what the destination's read-back said (src_verify.c). */
struct src_verify {
    bool on;                            /* negotiated */
    bool got_result;                    /* its VERIFIED record came */
    struct xlmig_verified res;
    uint64_t mismatched_blocks;         /* from MISMATCH records */
    uint64_t resent_blocks;             /* sent again because of them */
    bool gave_up;                       /* failed before GO because of them */
    char list[512];                     /* the first ones, "disk:first+n" */
    size_t list_len;
};

struct src_demand {
    uint32_t disk;
    uint64_t start, count;
};

struct src_stats {
    uint64_t t_start, t_push_done, t_suspended, t_stopcopy_start,
             t_stopcopy_done, t_go, t_done;    /* ns, 0 = not reached */
    unsigned passes;                           /* dirty passes sent */
    unsigned keepup_passes;                    /* of which during keep-up */
    double keepup_limit_Bps;                   /* its average cap; 0: none */
    uint64_t keepup_wire_bytes;                /* what its passes sent */
    unsigned keepup_deferred;                  /* passes the cap cut short */
    uint64_t resumed_blocks;                   /* offline: already there */
    uint64_t t_push_start;
    enum xlmig_conv_verdict verdict;
    uint64_t allocated_bytes;
    uint64_t resent_blocks;                    /* in dirty passes */
    uint64_t full_skipped_blocks;              /* full pass: dirty already,
                                                  left to the dirty set */
    uint64_t final_blocks;                     /* dirty at stop-copy */
    bool postcopy;
    uint64_t demanded_blocks, background_blocks;
    struct xlmig_done done;                    /* from the destination */
    /* What the downtime costs besides the data, measured (ns). */
    uint64_t rtt_ns;                           /* HELLO round trip */
    uint64_t snapshot_ns;                      /* the last dirty snapshot */
    uint64_t t_quiesced;                       /* stop-copy: VBDs drained */
    double expected_downtime_ms;               /* stop-copy's estimate */
    double expected_guest_ms;                  /* and the guest's */
    /* The wire rate of the progress events. */
    uint64_t tick_t_ns, tick_wire;
    double wire_Bps;
};

/* An extra data connection (2..N of opts.connections): its share of the
 * data one way, heartbeats both ways, read by a thread of its own. */
struct src_xconn {
    struct xlmig_conn conn;
    bool open;                  /* conn initialised (s->lock) */
    pthread_t reader;
    bool reading;
    int wake[2];                /* stops the reader */
};

struct xlmig_source {
    struct xlmig_source_opts o;
    struct xlmig_source_hooks h;
    struct xlmig_emitter em;
    struct xlmig_conn conn;
    bool have_channel;
    struct xlmig_sendq *q;
    uint64_t features;
    /* Connections 1.. (0 is conn); nconns carry data now. */
    struct src_xconn xc[XLMIG_MAX_CONNS];
    unsigned nconns;
    unsigned used_conns;        /* the most PUSH used (report) */
    bool xfinal;                /* the final SYNC is queued: the extras'
                                   end is expected (__atomic) */
    uint64_t wire_closed;       /* bytes of connections closed already */
    struct src_disk disks[XLMIG_MAX_DISKS];
    unsigned ndisks;
    struct src_stats st;
    struct xlmig_conv conv;
    bool guest_suspended;
    uint8_t token[XLMIG_SESSION_TOKEN_LEN];     /* to resume post-copy */
    bool have_token;

    pthread_t keepup_thread;
    bool keepup_running, keepup_stop;
    pthread_t reply_thread;
    bool reply_running;
    int wake[2];                /* stops the reply thread's reads */
    pthread_t cancel_thread;
    bool cancel_running;
    int cancel_pipe[2];         /* [1] written by xlmig_source_cancel */
    volatile sig_atomic_t cancelled;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    uint64_t sync_seq, sync_acked;
    bool got_ready, got_report, got_done, finished;
    bool peer_closed;           /* the reply thread read the channel's end */
    int32_t report;
    struct src_demand *dq;
    size_t dq_len, dq_cap;
    bool failed;
    struct xlmig_error err;

    /* Post-copy: the channel broke (src_chan_fail); paused until a new
     * one is resumed (src_recover.c). */
    bool broken;
    struct xlmig_error chan_err;
    bool own_fds;               /* rfd/wfd came from a recovery: ours */
    int next_rfd, next_wfd;     /* xlmig_source_recover_channel() */
    bool resume_mode;           /* made from a session: post-copy only */
    /* GO went out (perhaps) but no REPORT came: the guest stays suspended
     * here until a new channel tells whether GO arrived (src_recover.c). */
    bool go_unconfirmed;
    bool handoff_refused;       /* it had not; the destination refused */

    struct src_verify vf;

    /* xlmig_source_estimate() (src_estimate.c): the session only
     * measures; the reply thread records PROBE_ACKs (s->lock). */
    bool estimate;
    /* The engine's own prediction, early in PUSH (src_estimate.c). */
    struct xlmig_estimate_opts expect;
    bool predicted;
    double predicted_at_s;
    struct xlmig_estimate pred;
    struct {
        uint64_t sent, seq;             /* last PROBE sent, last acked */
        bool mark;                      /* next ack: the first measured */
        uint64_t t_first, received_first, t_last, received_last;
    } probe;
};

/* src_session.c */
int src_fail(struct xlmig_source *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void src_event(struct xlmig_source *s, struct xlmig_event *ev);
/* Waits for *flag (set by the reply thread) with the ack timeout. */
int src_wait(struct xlmig_source *s, bool *flag, const char *what);
int src_queue_record(struct xlmig_source *s, const void *rec, size_t len);
int src_queue_extent(struct xlmig_source *s, struct src_disk *d,
                     uint64_t first, uint64_t count, uint8_t origin,
                     bool skip_zero);
int src_flush(struct xlmig_source *s);
int src_phase(struct xlmig_source *s, uint32_t phase, uint32_t pass,
              uint64_t remaining);
/* Waits until the destination has written everything queued. */
int src_sync(struct xlmig_source *s);
uint64_t src_pending_blocks(struct xlmig_source *s);
/* ORs every disk's dirty set into its pending bitmap. */
int src_snapshot_all(struct xlmig_source *s);
/* Disk bytes per second the pipeline achieves (0 = not known yet). */
double src_rate(struct xlmig_source *s);
/*
 * After GO, a failure of the channel (an error, silence past the peer
 * timeout, a corrupted record) is not the migration's: post-copy pauses.
 * Before GO it is src_fail().
 */
int src_chan_fail(struct xlmig_source *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Quiesce off, tracking off (before GO, and at the end). */
void src_release_backend(struct xlmig_source *s);

/* src_reply.c */
int src_reply_start(struct xlmig_source *s);
void src_reply_stop(struct xlmig_source *s);

/* src_negotiate.c */
int src_negotiate(struct xlmig_source *s);
/* The next record before the reply thread runs (an ERROR fails s). */
int src_recv_now(struct xlmig_source *s, struct xlmig_rec *r,
                 const char *what);

/* src_offline.c: cold migration (opts.offline) */
/* After HELLO: the OFFLINE record (the images' identity). */
int src_offline_hello(struct xlmig_source *s);
/* After the DISK_ACKs: the resumed targets' BITMAP records. */
int src_offline_read_have(struct xlmig_source *s);
/* Everything before GO: negotiate, copy, the configuration, the final
 * SYNC (checked with --verify). */
int src_offline_before_go(struct xlmig_source *s);

/* src_conns.c */
/* After SESSION: JOIN on the first connection, then the others opened
 * with the reconnect hook, each joined and read by a thread. */
int src_join(struct xlmig_source *s);
/* Every connection's blocked sends fail at once (s->lock held). */
void src_interrupt_all(struct xlmig_source *s);
/* End of stop-copy (or the end): the pipeline narrows to the first
 * connection, the others close. */
void src_close_extras(struct xlmig_source *s);
/* Bytes both ways on every connection so far. */
uint64_t src_wire_bytes(const struct xlmig_source *s);
/* Bytes sent on every connection so far. */
uint64_t src_wire_out(const struct xlmig_source *s);

/* src_push.c */
int src_push(struct xlmig_source *s);
/*
 * Keep-up: after PUSH converged, keep sending dirty blocks in the
 * background while the toolstack moves the guest's memory.
 */
int src_keepup_start(struct xlmig_source *s);
int src_keepup_stop(struct xlmig_source *s);
/* One dirty pass over the pending sets (also keep-up's). */
/* Sends the pending blocks, at most max (0: all); what is not sent stays
 * pending. */
int src_dirty_pass(struct xlmig_source *s, uint64_t remaining_blocks,
                   bool keepup, uint64_t max);
/* The measured costs of the downtime besides sending the set (s). */
double src_fixed_costs(const struct xlmig_source *s);
/* Fills the rate, wire and counter fields of a progress event. */
void src_fill_rates(struct xlmig_source *s, struct xlmig_event *ev);

/* src_stopcopy.c */
int src_stopcopy(struct xlmig_source *s);

/* src_handoff.c */
int src_handoff_datachan(struct xlmig_source *s);

/* src_pull.c */
int src_pull(struct xlmig_source *s);

/* src_run.c */
/* The destination proved it runs the guest after an unknown hand-off
 * (RESUME_ACK, a REPORT on a new channel, DONE): the after_go hook. */
void src_go_confirmed(struct xlmig_source *s);

/* src_recover.c */
/* Paused post-copy: a new channel (hook or recover_channel), RESUME, the
 * destination's stale set; 0, or -errno after the recovery timeout. */
int src_recover(struct xlmig_source *s);

/* src_estimate.c */
/* During the full pass: after 2 s of it (or at its end, last), predicts
 * the rest from what it measured so far. */
void src_predict(struct xlmig_source *s, bool last);

/* src_resume.c */
/* run() of a source made from a saved session. */
int src_run_resumed(struct xlmig_source *s);

/* src_verify.c */
/* After negotiation: the per-disk sets (nothing without --verify). */
int src_verify_setup(struct xlmig_source *s);
/* Reply thread: MISMATCH and VERIFIED records. */
int src_verify_mismatch(struct xlmig_source *s, const struct xlmig_rec *r);
int src_verify_result(struct xlmig_source *s, const struct xlmig_rec *r);
/* Blocks that read back wrong join the pending sets (sent again). */
void src_verify_requeue(struct xlmig_source *s);
/* Stop-copy without post-copy, after its SYNC: sends blocks that read
 * back wrong again until none do (three rounds at most, then fails). */
int src_verify_settle(struct xlmig_source *s);
/* "passed", "repaired", "failed", "incomplete", or NULL (not asked). */
const char *src_verify_verdict(const struct xlmig_source *s);
void src_verify_free(struct xlmig_source *s);

/* src_report.c: public functions only */

/* src_run.c: public functions only */

#endif
