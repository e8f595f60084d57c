/*
 * The verifier's state, shared by dst_verify.c (reading back, the
 * verifier thread, its life cycle) and dst_verify_rx.c (the receiving
 * thread's side, post-copy installs, the results).
 */
#ifndef XLMIG_DST_VERIFY_INT_H
#define XLMIG_DST_VERIFY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bitmap.h"
#include "err.h"
#include "wire.h"

struct xlmig_dest;
struct dst_disk;

#define QUEUE_BYTES (128u << 20)        /* written, not yet checked */
#define STALL_S 300                     /* no check finished this long */
#define LIST_MAX 16                     /* mismatches named in the report */
#define POSTCOPY_MISMATCH_MAX 64        /* a disk that keeps failing */

struct vjob {
    struct vjob *next;
    uint32_t disk, count, grain, n;
    uint64_t first;
    uint8_t dig[];
};

struct dst_verifier {
    pthread_t thr;
    bool running, stop;
    pthread_mutex_t lock;
    pthread_cond_t cv_work, cv_done;
    struct vjob *head, *tail, *cur;
    uint64_t queued_bytes;
    uint64_t finished;          /* checks done, for stall detection */
    struct xlmig_bitmap *busy[XLMIG_MAX_DISKS];  /* queued or being read */
    struct xlmig_bitmap *bad[XLMIG_MAX_DISKS];   /* failed, not rewritten */
    int rfd[XLMIG_MAX_DISKS];   /* O_DIRECT readers, -1: none */
    uint8_t *buf;
    struct vjob *next_dig;      /* the DIGEST before the next DATA */
    struct xlmig_verified v;
    struct { uint32_t disk; uint64_t first, count; } list[LIST_MAX];
    unsigned nlist;
    char text[LIST_MAX * 96];
    uint64_t postcopy_bad;
    bool failed;
    struct xlmig_error err;
    /* test hook */
    int hook_disk;
    uint64_t hook_block;        /* UINT64_MAX: any */
    bool hook_always, hook_postcopy;
};

bool dv_on(const struct xlmig_dest *d);
/* Reads [off, off + len) of k as stored: flushed, then past the cache. */
int dv_read_back(struct dst_verifier *v, struct dst_disk *k, uint64_t off,
                 size_t len, uint8_t *buf, bool postcopy,
                 struct xlmig_error *err);
/* Lock held: a mismatch counted, listed, remembered as bad. */
void dv_note_bad(struct dst_verifier *v, uint32_t disk, uint64_t first,
                 uint64_t count);
void dv_send_mismatch(struct xlmig_dest *d, uint32_t disk,
                      const struct xlmig_extent *e, uint32_t n);
void dv_stop_thread(struct dst_verifier *v);

#endif
