/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * Control interface of xen-blkback for storage live migration, see
 * Documentation/userspace-api/xen-blkback-migration.rst.
 *
 * Open /dev/xen/blkback-migrate, bind the handle to one virtual block
 * device with BLKBACK_MIG_IOC_BIND, then issue the other commands on it.
 * Blocks are numbered from 0 in the block size that tracking (see the
 * "migrate-track" xenstore key) or the gate was started with.  Closing a
 * handle, or the death of its process, gives back what the handle holds:
 * its quiesce, its claims and a collected but unread dirty set.
 */
#ifndef _UAPI_XEN_BLKBACK_MIGRATE_H
#define _UAPI_XEN_BLKBACK_MIGRATE_H

#include <linux/ioctl.h>
#include <linux/types.h>

struct blkback_mig_bind {
	__u32 domid;
	__u32 devid;		/* the frontend's virtual device number */
};

struct blkback_mig_extent {
	__u64 start;		/* first block */
	__u64 count;		/* number of blocks */
};

/* An array of extents in user memory. */
struct blkback_mig_extents {
	__u64 buf;		/* struct blkback_mig_extent * */
	__u32 count;		/* in: entries in buf; out: entries used */
	__u32 pad;
};

#define BLKBACK_MIG_F_TRACKING	(1U << 0)	/* tracking writes */
#define BLKBACK_MIG_F_OVERFLOW	(1U << 1)	/* device grew while tracked */
#define BLKBACK_MIG_F_GATE	(1U << 2)	/* gate on */
#define BLKBACK_MIG_F_QUIESCED	(1U << 3)	/* a quiesce is held */
#define BLKBACK_MIG_F_CONNECTED	(1U << 4)	/* the frontend is connected */

struct blkback_mig_stats {
	__u32 block_size;	/* 0 before tracking or the gate started */
	__u32 flags;		/* BLKBACK_MIG_F_* */
	__u64 sectors;		/* device size, 512-byte sectors */
	__u64 nr_blocks;
	__u64 dirty;		/* blocks marked since the last collect */
	__u64 frozen;		/* collected blocks not read yet */
	__u64 marked;		/* blocks marked since tracking started */
	__u64 stale;		/* blocks whose data has not arrived */
	__u64 claimed;		/* blocks being installed */
	__u64 wanted;		/* demanded blocks not taken yet */
	__u64 parked;		/* guest requests held by the gate */
	__u64 installed;	/* stale blocks made current by an install */
	__u64 overwritten;	/* stale blocks made current by the guest */
	__u64 inflight;		/* guest requests in flight, parked included */
};

/* Bind the handle to the VBD of domain domid with device number devid. */
#define BLKBACK_MIG_IOC_BIND		_IOW('B', 0x40, struct blkback_mig_bind)
#define BLKBACK_MIG_IOC_STATS		_IOR('B', 0x41, struct blkback_mig_stats)
/*
 * Source.  COLLECT atomically moves the dirty set into a collected set and
 * returns its size in blocks; READ_DIRTY takes extents out of it (count 0:
 * it is empty).  One handle at a time owns a non-empty collected set.
 */
#define BLKBACK_MIG_IOC_COLLECT		_IOR('B', 0x42, __u64)
#define BLKBACK_MIG_IOC_READ_DIRTY	_IOWR('B', 0x43, struct blkback_mig_extents)

struct blkback_mig_quiesce {
	__u32 timeout_ms;	/* at most 600000 */
	__u32 pad;
};

/*
 * Stop taking requests from the guest and wait until none is in flight;
 * on timeout (-ETIMEDOUT) or a signal the quiesce is dropped again.
 */
#define BLKBACK_MIG_IOC_QUIESCE		_IOW('B', 0x44, struct blkback_mig_quiesce)
#define BLKBACK_MIG_IOC_UNQUIESCE	_IO('B', 0x45)

#define BLKBACK_MIG_MAX_CLAIM	4096	/* blocks per claim */

struct blkback_mig_gate {
	__u32 block_size;	/* bytes: a power of two, 512 to 1 MiB */
	__u32 pad;
};

struct blkback_mig_claim {
	__u64 start;
	__u32 count;		/* 1 to BLKBACK_MIG_MAX_CLAIM blocks */
	__u32 claimed;		/* out: blocks claimed */
	__u64 mask;		/* __u64[(count + 63) / 64]: bit i, block start + i */
};

struct blkback_mig_range {
	__u64 start;
	__u32 count;
	__u32 pad;
};

/*
 * Destination.  GATE_START before the frontend connects; ADD_STALE loads
 * stale extents; WANTED takes the blocks guest requests wait for (poll()
 * reports POLLIN while there are some); an install claims a range (mask
 * gets the blocks that still need the data), writes the claimed blocks to
 * the device and commits the same range, or unclaims it on failure;
 * GATE_STOP fails requests still waiting for stale blocks.
 */
#define BLKBACK_MIG_IOC_GATE_START	_IOW('B', 0x46, struct blkback_mig_gate)
#define BLKBACK_MIG_IOC_ADD_STALE	_IOW('B', 0x47, struct blkback_mig_extents)
#define BLKBACK_MIG_IOC_WANTED		_IOWR('B', 0x48, struct blkback_mig_extents)
#define BLKBACK_MIG_IOC_CLAIM		_IOWR('B', 0x49, struct blkback_mig_claim)
#define BLKBACK_MIG_IOC_COMMIT		_IOW('B', 0x4a, struct blkback_mig_range)
#define BLKBACK_MIG_IOC_UNCLAIM		_IOW('B', 0x4b, struct blkback_mig_range)
#define BLKBACK_MIG_IOC_GATE_STOP	_IO('B', 0x4c)

#endif /* _UAPI_XEN_BLKBACK_MIGRATE_H */
