/*
 * The source side of a disk migration: negotiate, PUSH (full pass, then
 * dirty passes until the convergence policy stops them), stop-and-copy
 * (quiesce, final snapshot, then blocks or a stale bitmap), hand-off, and
 * the PULL service.  The caller drives the phases and does what is not
 * about disks in between (suspending the guest, moving its memory).
 */
#ifndef XLMIG_SENDER_H
#define XLMIG_SENDER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bitmap.h"
#include "conn.h"
#include "image.h"
#include "policy.h"
#include "progress.h"
#include "sendq.h"
#include "vbd.h"
#include "wire.h"

#define XLMIG_MAX_DISKS 16

struct xlmig_sender_opts {
    uint32_t block_size;        /* tracking granularity (4096) */
    double max_downtime_ms;     /* disk downtime budget (50) */
    bool postcopy;              /* false: send everything before GO */
    uint64_t bandwidth_Bps;     /* 0: unlimited */
    unsigned workers;           /* compression/read threads (2) */
    unsigned max_passes;        /* dirty passes at most (30) */
    enum xlmig_compress_mode compress;
    int quiesce_timeout_ms;     /* (10000) */
    int ack_timeout_ms;         /* waiting for the receiver (300000) */
    int idle_timeout_s;         /* post-copy with no traffic either way (600) */
    struct xlmig_progress *progress;
};

void xlmig_sender_opts_default(struct xlmig_sender_opts *o);

struct xlmig_send_disk {
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
    struct xlmig_bitmap *pending;       /* dirty, not yet queued */
    struct xlmig_bitmap *stale;         /* post-copy: not yet pushed */
};

struct xlmig_demand {
    uint32_t disk;
    uint64_t start, count;
};

struct xlmig_send_stats {
    uint64_t t_start, t_push_done, t_suspended, t_stopcopy_start,
             t_stopcopy_done, t_go, t_done;    /* ns, 0 = not reached */
    unsigned passes;                           /* dirty passes sent */
    unsigned keepup_passes;                    /* of which during keep-up */
    enum xlmig_conv_verdict verdict;
    uint64_t allocated_bytes;
    uint64_t resent_blocks;                    /* in dirty passes */
    uint64_t final_blocks;                     /* dirty at stop-copy */
    bool postcopy;
    uint64_t demanded_blocks, background_blocks;
    struct xlmig_done done;                    /* from the receiver */
};

struct xlmig_sender {
    struct xlmig_sender_opts o;
    struct xlmig_conn conn;
    struct xlmig_sendq *q;
    uint64_t features;
    struct xlmig_send_disk disks[XLMIG_MAX_DISKS];
    unsigned ndisks;
    struct xlmig_send_stats st;
    struct xlmig_conv conv;

    pthread_t keepup_thread;
    bool keepup_running, keepup_stop;
    pthread_t reply_thread;
    bool reply_running;
    int wake[2];
    pthread_mutex_t lock;
    pthread_cond_t cv;
    uint64_t sync_seq, sync_acked;
    bool got_ready, got_report, got_done, finished;
    int32_t report;
    struct xlmig_demand *dq;
    size_t dq_len, dq_cap;
    bool failed;
    char err[XLMIG_ERRLEN];
};

/* All return 0, or -1 with the reason in s->err. */
int xlmig_sender_init(struct xlmig_sender *s,
                      const struct xlmig_sender_opts *o, int rfd, int wfd);
/* vbd->data_path is opened read-only; the sender does not own vbd. */
int xlmig_sender_add_disk(struct xlmig_sender *s, const char *name,
                          struct xlmig_vbd *vbd);
int xlmig_sender_negotiate(struct xlmig_sender *s);
int xlmig_sender_push(struct xlmig_sender *s);
/*
 * Keep-up: after push() converged, keep sending dirty blocks in the
 * background while the caller moves the guest's memory (libxl's stream can
 * take a minute), so that stop-copy finds little left.  Stop it before
 * stopcopy().
 */
int xlmig_sender_keepup_start(struct xlmig_sender *s);
int xlmig_sender_keepup_stop(struct xlmig_sender *s);
/* Simulated guests: their suspended state travels on the data channel. */
int xlmig_sender_send_state(struct xlmig_sender *s, const void *blob,
                            size_t len);
int xlmig_sender_stopcopy(struct xlmig_sender *s);
/* READY / GO / REPORT on the data channel (simulated guests). */
int xlmig_sender_handoff(struct xlmig_sender *s);
/* After GO: serve post-copy until the receiver is done. */
int xlmig_sender_pull(struct xlmig_sender *s);
/* Before GO: tell the receiver, release quiesce, stop tracking. */
void xlmig_sender_abort(struct xlmig_sender *s, const char *why);
void xlmig_sender_destroy(struct xlmig_sender *s);
void xlmig_sender_report(struct xlmig_sender *s, FILE *f, bool json);

#endif
