/*
 * The destination side of a disk migration: create the targets (per the
 * receiver's own policy), write what PUSH and stop-copy send, arm the gate
 * with the stale bitmap, and after GO fetch the stale blocks (demanded ones
 * first) and install them through the gate.  Any failure before GO removes
 * what this side created.
 */
#ifndef XLMIG_RECEIVER_H
#define XLMIG_RECEIVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bitmap.h"
#include "compress.h"
#include "conn.h"
#include "image.h"
#include "janitor.h"
#include "progress.h"
#include "target.h"
#include "vbd.h"
#include "wire.h"

#define XLMIG_RECV_MAX_DISKS 16
#define XLMIG_MAX_STATE (256u << 20)

struct xlmig_receiver;

struct xlmig_receiver_hooks {
    void *opaque;
    /* Targets exist (before the DISK_ACKs): e.g. start destination VBDs. */
    int (*targets_ready)(void *opaque, struct xlmig_receiver *r);
    /* A simulated guest's state arrived (before stop-copy). */
    int (*guest_state)(void *opaque, struct xlmig_receiver *r,
                       const void *blob, size_t len);
    /* After GO: run the guest.  Returns 0 or a negative error. */
    int (*start_guest)(void *opaque, struct xlmig_receiver *r);
};

struct xlmig_recv_disk {
    uint32_t id;
    char name[XLMIG_MAX_NAME + 1];
    uint32_t block_size;
    uint64_t size, nblocks, allocated;
    char path[4096];
    bool created;               /* we made it: delete it on rollback */
    uint64_t unflushed;         /* bytes written since writeback was kicked */
    bool zeroed;
    struct xlmig_image img;
    struct xlmig_vbd *vbd;      /* attached by the caller */
    struct xlmig_bitmap *stale; /* from the stop-copy bitmap */
    bool bitmap_ended;
    bool gate_on;
    struct xlmig_bitmap *remaining;     /* post-copy: not installed by us */
};

struct xlmig_recv_stats {
    uint64_t t_start, t_sync, t_go, t_done;
    uint64_t data_bytes, zero_bytes, records;
    uint64_t stale_blocks;
    uint64_t installed, refused, demanded;
    uint64_t final_stale;       /* by the gate's count when PULL ended */
};

struct xlmig_receiver {
    struct xlmig_target_policy policy;
    struct xlmig_receiver_hooks hooks;
    struct xlmig_progress *progress;
    struct xlmig_conn conn;
    uint64_t features;
    struct xlmig_recv_disk disks[XLMIG_RECV_MAX_DISKS];
    unsigned ndisks;
    bool in_stopcopy;
    bool got_go;
    uint8_t *state;
    size_t state_len;
    uint8_t *inbuf;             /* inflated payloads */
    struct xlmig_inflater inflater;
    struct xlmig_recv_stats st;
    struct xlmig_janitor *janitor;      /* optional: undoes creations if we die */

    pthread_mutex_t vbd_lock;   /* backends' clients are not thread-safe */
    pthread_t watcher;
    bool watcher_running;
    int wake[2];
    bool done_sent;
    bool failed;
    char err[XLMIG_ERRLEN];
};

int xlmig_receiver_init(struct xlmig_receiver *r,
                        const struct xlmig_target_policy *policy,
                        const struct xlmig_receiver_hooks *hooks,
                        struct xlmig_progress *progress, int rfd, int wfd);
int xlmig_receiver_negotiate(struct xlmig_receiver *r);
void xlmig_receiver_attach_vbd(struct xlmig_receiver *r, unsigned i,
                               struct xlmig_vbd *vbd);
/* Until stop-copy is flushed and the gate armed (the SYNC is acked). */
int xlmig_receiver_receive(struct xlmig_receiver *r);
/* READY / GO / start_guest / REPORT on the data channel. */
int xlmig_receiver_handoff(struct xlmig_receiver *r);
/* After GO: install the stale blocks until none is left. */
int xlmig_receiver_pull(struct xlmig_receiver *r);
/* Before GO: tell the sender, delete the targets we created. */
void xlmig_receiver_abort(struct xlmig_receiver *r, const char *why);
void xlmig_receiver_destroy(struct xlmig_receiver *r);
void xlmig_receiver_report(struct xlmig_receiver *r, FILE *f, bool json);

#endif
