/*
 * The destination side's internals: the state of a struct xlmig_dest and
 * the functions its files share, grouped by the file that defines them.
 *
 *   dst_session.c    handle life cycle, failure, events, record reading
 *   dst_negotiate.c  HELLO, DISK records, creating the targets, DISK_ACKs
 *   dst_conns.c      the extra data connections: joined, each read and
 *                    written by a thread, SYNC as a barrier over all
 *   dst_receive.c    the PUSH and stop-copy stream, until the final SYNC
 *   dst_gate.c       arming the post-copy gates; installing fetched blocks
 *   dst_pull.c       post-copy: demand watcher, the install loop, DONE
 *   dst_handoff.c    READY / GO / REPORT on the data channel
 *   dst_report.c     the final figures
 *   dst_run.c        the state machine: the phases in order, the hooks,
 *                    rollback
 */
#ifndef XLMIG_DST_INTERNAL_H
#define XLMIG_DST_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitmap.h"
#include "compress.h"
#include "conn.h"
#include "dst_verify.h"
#include "err.h"
#include "image.h"
#include "janitor.h"
#include "progress.h"
#include "target.h"
#include "vbd.h"
#include "wire.h"
#include "xlmig.h"

#define XLMIG_MAX_STATE (256u << 20)

struct dst_disk {
    uint32_t id;
    char name[XLMIG_MAX_NAME + 1];
    uint32_t block_size;
    uint64_t size, nblocks, allocated;
    char path[4096];
    bool created;               /* we made it: delete it on rollback */
    struct xlmig_target_space space;    /* its file system, if new */
    uint64_t unflushed;         /* bytes written since writeback was kicked */
    bool zeroed;
    struct xlmig_image img;
    struct xlmig_vbd *vbd;      /* attached by the caller */
    struct xlmig_bitmap *stale; /* from the stop-copy bitmap */
    bool bitmap_ended;
    bool gate_on;
    struct xlmig_bitmap *remaining;     /* post-copy: not installed by us */
    struct xlmig_bitmap *want;  /* demanded, not installed (want_lock) */
    /* offline (dst_offline.c) */
    bool has_part;              /* <path>.xlmig-partial is kept */
    bool resumed;               /* an earlier attempt's blocks are here */
    struct xlmig_bitmap *have;  /* written, flushed (and checked) */
    struct xlmig_bitmap *have_new;      /* written since the last record */
};

/* What a thread that writes received data needs of its own. */
struct dst_io {
    struct xlmig_inflater inflater;
    uint8_t *inbuf;             /* XLMIG_MAX_DATA, aligned: inflated
                                   payloads */
};

struct xlmig_dest;

/* An extra data connection (2..N): its share of the data, read and
 * written by a thread of its own. */
struct dst_xconn {
    struct xlmig_dest *d;
    unsigned index;
    struct xlmig_conn conn;
    pthread_t th;
    bool running;
    int wake[2];                /* stops the thread */
    uint64_t barrier;           /* the last SYNC it reached (sync_lock) */
    bool ended;                 /* the thread returned (sync_lock) */
    struct dst_io io;
};

struct dst_stats {
    uint64_t t_start, t_sync, t_go, t_done;
    uint64_t data_bytes, zero_bytes, records;
    uint64_t stale_blocks;
    uint64_t installed, refused, demanded;
    uint64_t final_stale;       /* by the gate's count when PULL ended */
    uint64_t resumed_blocks;    /* offline: kept from an earlier attempt */
};

struct xlmig_dest {
    struct xlmig_target_policy policy;
    char target_dir[4096];
    struct xlmig_dest_hooks h;
    struct xlmig_emitter em;
    struct xlmig_conn conn;
    bool have_channel;
    uint64_t features;
    struct dst_disk disks[XLMIG_MAX_DISKS];
    unsigned ndisks;
    int peer_timeout_ms, recover_timeout_s;
    bool direct;                /* PUSH writes past the page cache */
    uint8_t token[XLMIG_SESSION_TOKEN_LEN];     /* to resume post-copy */
    bool in_stopcopy;
    bool got_go;
    bool guest_started;
    uint8_t *state;
    size_t state_len;
    struct dst_io io;           /* the main thread's */
    struct dst_stats st;        /* data_bytes, zero_bytes, records:
                                   __atomic (every receiving thread) */
    /* Connections 1.. (0 is conn): nconns carry data now. */
    struct dst_xconn *xc[XLMIG_MAX_CONNS];     /* set under err_lock */
    unsigned nconns;
    bool xfinal;                /* past the final SYNC: an end is fine */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_cv;
    uint64_t wire_closed;       /* bytes of connections closed already */
    struct xlmig_janitor janitor;
    bool have_janitor;

    pthread_mutex_t vbd_lock;   /* backends' clients are not thread-safe */
    pthread_mutex_t err_lock;   /* failed, err */
    pthread_mutex_t want_lock;  /* disks[].want, next_rfd/next_wfd */
    pthread_t watcher;
    bool watcher_running;
    int wake[2];                /* stops the watcher */
    int cancel_pipe[2];         /* [0] is the channel's wake fd */
    volatile sig_atomic_t cancelled;
    bool done_sent;
    bool failed;
    bool error_sent;            /* dst_tell_source() done */
    struct xlmig_error err;

    struct dst_verifier *ver;   /* --verify (dst_verify.c), else NULL */
    bool offline;               /* a cold migration (dst_offline.c) */
    uint8_t offline_id[XLMIG_SESSION_TOKEN_LEN];
    uint64_t t_checkpoint;
    bool estimate;              /* measure only (dst_estimate.c) */

    /* Post-copy paused: why the channel broke, what replaces it. */
    struct xlmig_error chan_err;
    bool own_fds;               /* rfd/wfd came from a recovery: ours */
    int next_rfd, next_wfd;     /* xlmig_dest_recover_channel() */
};

/* dst_session.c */
int dst_fail(struct xlmig_dest *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dst_event(struct xlmig_dest *d, struct xlmig_event *ev);
/*
 * Bitmap b (NULL: empty) of disk as BITMAP records of at most max extents
 * (e: room for max, buf: for one such record) and its BITMAP_END; *total
 * gets its block count.  -1 when the channel failed (d->conn.err).
 */
int dst_send_bitmap(struct xlmig_dest *d, unsigned disk,
                    const struct xlmig_bitmap *b, struct xlmig_extent *e,
                    uint32_t max, uint8_t *buf, uint64_t *total);
/* Next record; an ERROR from the peer or a closed channel fails d. */
int dst_next(struct xlmig_dest *d, struct xlmig_rec *rec,
             const char *during);
/* The same, in two steps: a receive that did not return 1, ... */
int dst_next_failed(struct xlmig_dest *d, int rc, const char *during);
/* ... and a record that may be the source's ERROR. */
int dst_check_error(struct xlmig_dest *d, const struct xlmig_rec *rec);
/* Before GO: tell the source, delete the targets we created. */
void dst_abort(struct xlmig_dest *d);
/* The ERROR to the source (once): before GO it goes first, so that the
 * source resumes its guest while the rollback hook cleans up here. */
void dst_tell_source(struct xlmig_dest *d);

/* dst_negotiate.c */
int dst_negotiate(struct xlmig_dest *d);

/* dst_receive.c */
/* Until stop-copy is flushed and the gates armed (the SYNC is acked). */
int dst_receive(struct xlmig_dest *d);
/* Validates a DATA record against its disk; payload bytes into *len. */
int dst_check_data(struct xlmig_dest *d, const struct xlmig_data *data,
                   struct dst_disk **disk, uint64_t *off, size_t *len);
/* The payload as plain bytes (inflating into io->inbuf when compressed). */
int dst_payload(struct xlmig_dest *d, struct dst_io *io,
                const struct xlmig_data *data, size_t len,
                const uint8_t **out);
/* Writes a payload as a migration does (O_DIRECT when large and the image
 * has it, through io->inbuf if unaligned).  0 or -1 (err). */
int dst_write_payload(struct dst_io *io, struct xlmig_image *im,
                      const uint8_t *p, size_t len, uint64_t off,
                      struct xlmig_error *err);
/* A PUSH or stop-copy DATA record that came on connection conn: checked
 * (the stripe rule too) and written. */
int dst_apply_data(struct xlmig_dest *d, struct dst_io *io, unsigned conn,
                   const struct xlmig_rec *rec);
int dst_io_init(struct dst_io *io);
void dst_io_free(struct dst_io *io);

/* dst_conns.c */
/* After SESSION: the source's JOIN on the first connection, the other
 * connections accepted (accept_recovery hook) and their threads. */
int dst_join(struct xlmig_dest *d);
/* SYNC seq on the first connection: waits until every other connection
 * has reached it (everything before it there is written).  0 or -1. */
int dst_barrier(struct xlmig_dest *d, uint64_t seq);
/* Every connection's blocked sends fail at once (err_lock held). */
void dst_interrupt_all(struct xlmig_dest *d);
/* A receiving thread failed d: wake the main thread's read. */
void dst_wake_main(struct xlmig_dest *d);
/* After the final SYNC (or at the end): the extra connections close. */
void dst_close_extras(struct xlmig_dest *d);
/* Bytes received on every connection so far. */
uint64_t dst_wire_in(const struct xlmig_dest *d);

/* dst_gate.c */
/* Loads each disk's stale bitmap into its VBD's gate. */
int dst_arm_gates(struct xlmig_dest *d);
/* Installs post-copy data through claim / write / commit. */
int dst_install(struct xlmig_dest *d, const struct xlmig_data *data);
/* Blocks the gates still hold stale (UINT64_MAX: cannot tell). */
uint64_t dst_gate_stale(struct xlmig_dest *d, uint64_t *overwritten);
void dst_gates_off(struct xlmig_dest *d);

/* dst_pull.c */
/* What the heartbeats announce: blocks the gates hold stale (after GO). */
uint64_t dst_heartbeat_stale(void *opaque);
int dst_pull(struct xlmig_dest *d);
int dst_start_watcher(struct xlmig_dest *d);
void dst_stop_watcher(struct xlmig_dest *d);
int dst_send_pull_req(struct xlmig_dest *d, uint32_t disk,
                      const struct xlmig_extent *e, uint32_t n);
/* PULL_REQs for the blocks of set still missing on that disk. */
int dst_request_set(struct xlmig_dest *d, unsigned disk,
                    const struct xlmig_bitmap *set);

/* dst_recover.c */
/* Paused post-copy: 0 resumed, 1 nothing stale and no source (finish
 * alone), < 0 not resumed within the recovery timeout. */
int dst_recover(struct xlmig_dest *d);
/* READY went, the channel broke before GO: wait (the recovery timeout)
 * for the source to come back and say READY again on the new channel.
 * 0, or < 0 (failed: roll back). */
int dst_recover_handoff(struct xlmig_dest *d);

/* dst_offline.c: cold migration */
/* After HELLO: the OFFLINE record (nothing without the feature). */
int dst_offline_hello(struct xlmig_dest *d);
/* The target of disk k: resumed from a record of ours, or created. */
int dst_offline_target(struct xlmig_dest *d, struct dst_disk *k,
                       const struct xlmig_target_space *earlier,
                       unsigned nearlier);
/* After the DISK_ACKs: what the resumed targets hold. */
int dst_offline_send_have(struct xlmig_dest *d);
/* Blocks written; a record of what is flushed, every few seconds (force:
 * now). */
void dst_offline_written(struct xlmig_dest *d, struct dst_disk *k,
                         uint64_t first, uint64_t count);
int dst_offline_checkpoint(struct xlmig_dest *d, bool force);
/* Everything is installed: the records go. */
void dst_offline_done(struct xlmig_dest *d);
/* Failed before GO: keep this partial target for the next attempt? */
bool dst_offline_keep(struct xlmig_dest *d, struct dst_disk *k);

/* dst_estimate.c: an estimate session */
/* The target of disk k checked, not created. */
int dst_estimate_target(struct xlmig_dest *d, struct dst_disk *k,
                        const struct xlmig_target_space *earlier,
                        unsigned nearlier);
/* Answers the probes until the source closes. */
int dst_estimate_serve(struct xlmig_dest *d);

/* dst_handoff.c */
int dst_handoff_datachan(struct xlmig_dest *d);
int dst_send_report(struct xlmig_dest *d, int32_t status);

/* dst_report.c, dst_run.c: public functions only */

#endif
