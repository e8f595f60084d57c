/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Storage live migration support for xen-blkback: write tracking on the
 * source and the post-copy read gate on the destination.
 *
 * This file and migrate.c contain no blkback specifics: the same source is
 * compiled into xen-blkback.ko and into the xlmig userspace test harness
 * (against small shim headers), so that every host test run exercises the
 * exact code the kernel runs.
 *
 * Units: sectors are 512 bytes, as everywhere in blkif; blocks are the
 * tracking granularity (a power of two between 512 bytes and 1 MiB).
 */
#ifndef __XEN_BLKBACK__MIGRATE_H__
#define __XEN_BLKBACK__MIGRATE_H__

#include <linux/types.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/atomic.h>

#define BLKMIG_SECTOR_SHIFT	9
#define BLKMIG_MIN_BLOCK_SHIFT	9
#define BLKMIG_MAX_BLOCK_SHIFT	20
#define BLKMIG_MAX_LEVELS	8
#define BLKMIG_MAX_CLAIM	4096	/* blocks per claim */

/*
 * A hierarchical bitmap: level[0] holds one bit per block, and bit i of
 * level[k + 1] is set when word i of level[k] may be non-zero.  The top
 * level is a single word.  Finding the set bits therefore costs
 * O(set bits * levels), not O(size): a 1 TiB disk with 100 dirty blocks
 * is cheap to scan.
 */
struct blkmig_bitmap {
	u64 nbits;
	unsigned int levels;
	u64 len[BLKMIG_MAX_LEVELS];		/* bits in each level */
	unsigned long *level[BLKMIG_MAX_LEVELS];
};

struct blkmig_extent {
	u64 start;		/* first block */
	u64 count;		/* number of blocks */
};

/*
 * A guest request as the gate sees it.  The backend embeds one in each of
 * its own request structures and fills sector/nr_sectors/write before
 * calling blkmig_gate_admit().
 */
struct blkmig_req {
	struct list_head node;		/* on the parked or a ready list */
	struct list_head cover_node;	/* on the covering list */
	u64 sector;
	u64 nr_sectors;
	bool write;		/* writes and discards */
	bool covering;		/* admitted write that overwrites stale blocks */
};

enum blkmig_verdict {
	BLKMIG_PROCEED,		/* dispatch the request now */
	BLKMIG_PARKED,		/* held on the parked list; do not touch it */
};

struct blkmig_stats {
	u32 block_size;
	u64 nr_blocks;
	bool tracking;
	bool overflow;		/* a write beyond the tracked size was seen */
	u64 dirty;		/* blocks marked since the last collect */
	u64 frozen;		/* collected blocks not yet read out */
	u64 marked;		/* blocks marked since tracking started */
	bool gate;
	u64 stale;		/* blocks whose data has not arrived */
	u64 claimed;		/* blocks being installed */
	u64 wanted;		/* demanded blocks not yet read by userspace */
	u64 parked;		/* requests held by the gate */
	u64 installed;		/* stale blocks made current by an install */
	u64 overwritten;	/* stale blocks made current by a guest write */
};

struct blkmig {
	unsigned int block_shift;	/* 0 until tracking or gate starts */
	u64 nr_sectors;
	u64 nr_blocks;

	/* Tracking: marked locklessly (under RCU) from write completion. */
	int tracking;
	int overflow;
	atomic64_t dirty_count;
	atomic64_t marked_total;
	struct blkmig_bitmap dirty;
	/* Collected blocks, drained by the single snapshot reader. */
	struct blkmig_bitmap frozen;
	u64 frozen_count;

	/* Gate: everything below is protected by lock. */
	spinlock_t lock;
	bool gate_on;
	struct blkmig_bitmap stale;
	struct blkmig_bitmap claimed;
	struct blkmig_bitmap requested;	/* demanded, not yet installed */
	struct blkmig_bitmap wanted;	/* demanded, not yet popped */
	u64 stale_count;
	u64 claimed_count;
	u64 wanted_count;
	u64 installed;
	u64 overwritten;
	struct list_head parked;
	unsigned int nr_parked;
	struct list_head covering;	/* in-flight writes over stale blocks */
};

void blkmig_init(struct blkmig *m);
void blkmig_free(struct blkmig *m);

/* Source side. */
int blkmig_track_start(struct blkmig *m, u64 nr_sectors,
		       unsigned int block_size);
void blkmig_track_stop(struct blkmig *m);
void blkmig_mark_written(struct blkmig *m, u64 sector, u64 nr_sectors);
u64 blkmig_collect(struct blkmig *m);
unsigned int blkmig_frozen_read(struct blkmig *m, struct blkmig_extent *out,
				unsigned int max);
void blkmig_frozen_restore(struct blkmig *m);

/* Destination side. */
int blkmig_gate_start(struct blkmig *m, u64 nr_sectors,
		      unsigned int block_size);
int blkmig_gate_add_stale(struct blkmig *m, u64 start, u64 count);
enum blkmig_verdict blkmig_gate_admit(struct blkmig *m, struct blkmig_req *r,
				      bool *wake_wanted);
bool blkmig_gate_write_done(struct blkmig *m, struct blkmig_req *r, bool ok,
			    struct list_head *ready);
long blkmig_claim(struct blkmig *m, u64 start, u64 count,
		  unsigned long *mask);
void blkmig_commit(struct blkmig *m, u64 start, u64 count,
		   struct list_head *ready);
void blkmig_unclaim(struct blkmig *m, u64 start, u64 count,
		    struct list_head *ready, bool *wake_wanted);
unsigned int blkmig_wanted_pop(struct blkmig *m, struct blkmig_extent *out,
			       unsigned int max);
bool blkmig_wanted_pending(struct blkmig *m);
void blkmig_gate_stop(struct blkmig *m, struct list_head *orphans);
void blkmig_gate_take_parked(struct blkmig *m, struct list_head *out);

void blkmig_get_stats(struct blkmig *m, struct blkmig_stats *st);

#endif /* __XEN_BLKBACK__MIGRATE_H__ */
