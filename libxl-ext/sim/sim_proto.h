/*
 * Control protocol of the simulated VBD daemon (xlmig-vbdsim serve).
 *
 * Transport: a Unix SOCK_SEQPACKET socket (the daemon's --socket).  Both
 * ends are built from this tree and run on one host, so integers are in
 * native byte order; the header carries a version.  Several clients may be
 * connected (at most SIM_MAX_CONNS); each is served by its own thread, so a
 * long request (quiesce, suspend, verify) on one connection does not stall
 * another.
 *
 * Packets.  Every packet is a struct sim_hdr followed by at most
 * SIM_MAX_PAYLOAD bytes.  A message longer than that is sent as several
 * packets of the same type, all but the last flagged SIM_F_MORE; the
 * receiver reassembles (at most SIM_MAX_MESSAGE bytes).  The client sends
 * one request message and reads one reply message; the reply has the
 * request's type and status 0 or a negative errno, in which case its
 * payload is a NUL-terminated error message for a human.  Malformed
 * requests (bad magic/version, wrong sizes, values out of range, unknown
 * types) get an error reply; the connection stays usable.  A client that
 * stops reading its replies for 30 s is disconnected.
 *
 * Requests (payload -> reply payload).  Blocks are in units of the block
 * size given to TRACK_START / GATE_START (the daemon runs the xen-blkback
 * core, blkback-patch/src/migrate.c, with that geometry).
 *
 *   HELLO            -            -> sim_hello + image path (NUL-terminated)
 *   TRACK_START      sim_u32 block size (512 B .. 1 MiB, power of two)
 *   TRACK_STOP       -
 *   SNAPSHOT         -            -> sim_extent[] of the blocks written
 *                                    since the previous snapshot (dirty set
 *                                    taken and cleared atomically)
 *   QUIESCE          sim_u32 timeout in ms (1 .. 600000): stop dispatching
 *                    guest requests and wait until none is in flight
 *                    (parked ones count).  -ETIMEDOUT undoes it.  Held by
 *                    this connection until UNQUIESCE or disconnect.
 *   UNQUIESCE        -
 *   GATE_START       sim_u32 block size
 *   GATE_ADD_STALE   sim_extent[1 .. SIM_MAX_EXTENTS]
 *   WANTED_FD        -            -> an eventfd, passed with SCM_RIGHTS:
 *                    readable while demanded blocks may wait to be popped.
 *                    Read it (to reset it) before WANTED_POP; it may wake
 *                    spuriously, then the pop returns nothing.
 *   WANTED_POP       sim_u32 max extents (1 .. SIM_MAX_EXTENTS)
 *                                 -> sim_extent[]
 *   CLAIM            sim_range (count 1 .. 4096)
 *                                 -> sim_claim_reply: int64 claimed, then a
 *                                    bit per block (uint64 words, bit i of
 *                                    word i/64 for block start + i)
 *   COMMIT, UNCLAIM  sim_range: only blocks this connection claimed are
 *                    committed / released.  Claims still held when the
 *                    connection closes are released (unclaimed).
 *   GATE_STOP        -            parked requests proceed if nothing is
 *                                 stale any more, else they fail (EIO)
 *   STATS            -            -> sim_stats
 *
 *   GUEST_SUSPEND    sim_u32 timeout ms -> state blob (opaque, versioned,
 *                    checksummed; see sim_guest_state.c)
 *   GUEST_HANDOFF    -            (the suspending client commits to
 *                                  handing the guest over: it is no
 *                                  longer resumed if that client goes
 *                                  away)
 *   GUEST_RESUME     -
 *   GUEST_LOAD       state blob (fragmented as needed)
 *   GUEST_UNPAUSE    -
 *   GUEST_REPORT     -            -> struct xlmig_sim_report
 *   GUEST_VERIFY     -            -> struct xlmig_sim_report (stops the
 *                                    workload, checks the whole image)
 *   SHUTDOWN         -            the daemon exits after replying
 *   TEST_WRITTEN     -            -> sim_extent[] of 4 KiB blocks whose
 *                    writes were acknowledged since the previous call
 *                    (only with --test-hooks, else -EPERM)
 */
#ifndef XLMIG_SIM_PROTO_H
#define XLMIG_SIM_PROTO_H

#include <stdint.h>

#include "../../blkback-patch/src/uapi/xen/blkback_migrate.h"

#include "sim/sim_client.h"

#define SIM_MAGIC 0x4d495358u               /* "XSIM" little-endian */
#define SIM_VERSION 1
#define SIM_MAX_PACKET 65536u
#define SIM_MAX_PAYLOAD (SIM_MAX_PACKET - (unsigned)sizeof(struct sim_hdr))
#define SIM_MAX_MESSAGE (64u << 20)
#define SIM_MAX_EXTENTS 4096u
#define SIM_MAX_CLAIM 4096u                 /* BLKMIG_MAX_CLAIM */
#define SIM_MAX_TIMEOUT_MS 600000u
#define SIM_MAX_CONNS 16

#define SIM_F_MORE 1u

enum sim_type {
    SIM_HELLO = 1,
    SIM_TRACK_START = 2,
    SIM_TRACK_STOP = 3,
    SIM_SNAPSHOT = 4,
    SIM_QUIESCE = 5,
    SIM_UNQUIESCE = 6,
    SIM_GATE_START = 7,
    SIM_GATE_ADD_STALE = 8,
    SIM_WANTED_FD = 9,
    SIM_WANTED_POP = 10,
    SIM_CLAIM = 11,
    SIM_COMMIT = 12,
    SIM_UNCLAIM = 13,
    SIM_GATE_STOP = 14,
    SIM_STATS = 15,
    SIM_GUEST_SUSPEND = 32,
    SIM_GUEST_RESUME = 33,
    SIM_GUEST_LOAD = 34,
    SIM_GUEST_UNPAUSE = 35,
    SIM_GUEST_REPORT = 36,
    SIM_GUEST_VERIFY = 37,
    SIM_GUEST_HANDOFF = 38,
    SIM_SHUTDOWN = 48,
    SIM_TEST_WRITTEN = 64,
};

struct sim_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t type;          /* enum sim_type; a reply repeats the request's */
    uint32_t flags;         /* SIM_F_MORE */
    int32_t status;         /* replies: 0 or -errno; requests: 0 */
};

struct sim_u32 {
    uint32_t value;
};

struct sim_extent {
    uint64_t start;
    uint64_t count;
};

struct sim_range {
    uint64_t start;
    uint32_t count;
    uint32_t pad;           /* 0 */
};

#define SIM_HELLO_DEST 1u           /* started with --dest */
#define SIM_HELLO_TEST_HOOKS 2u

struct sim_hello {
    uint64_t size;          /* image bytes */
    uint32_t flags;         /* SIM_HELLO_* */
    uint32_t pad;
    /* followed by the image path, NUL-terminated */
};

struct sim_claim_reply {
    int64_t claimed;
    uint64_t mask[];        /* (count + 63) / 64 words */
};

/* What xen-blkback's STATS ioctl returns (the same struct, so that one
 * conversion serves both backends: xlmig_vbd_stats_from_mig()), and
 * what only the simulator has. */
struct sim_stats {
    struct blkback_mig_stats mig;
    uint64_t quiesced;      /* quiesce holders */
    uint64_t held;          /* requests held back by a quiesce */
};

#endif
