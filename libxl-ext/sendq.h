/*
 * The send pipeline: extents are read, checked for zeros, maybe compressed
 * by worker threads, and written by one writer thread per connection,
 * each strictly in the order its jobs were queued.  Order matters during
 * PUSH: a block sent in pass 1 must never overtake its newer copy from
 * pass 2.  With several connections a block always travels on the same
 * one (the stripe rule, wire.h), so its copies keep their order there;
 * records go on the first connection, barriers (SYNC) on every one.
 */
#ifndef XLMIG_SENDQ_H
#define XLMIG_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "image.h"
#include "xlmig.h"


/* What the queue needs to know about a disk to send its extents. */
struct xlmig_sq_disk {
    uint32_t id;
    uint32_t block_size;
    uint64_t size;
    struct xlmig_image *img;
};

struct xlmig_sendq_stats {
    uint64_t data_bytes;        /* disk bytes covered by DATA records */
    uint64_t zero_bytes;        /* sent as zero records */
    uint64_t skipped_bytes;     /* zero blocks not sent at all */
    uint64_t zlib_in, zlib_out; /* compressed extents: before and after */
    uint64_t records;
    uint64_t wire_bytes;        /* everything the writers wrote */
    double link_Bps;            /* current link estimate, 0 = unknown */
    double send_Bps;            /* disk bytes per second, recent */
};

struct xlmig_sendq;

/*
 * A pipeline writing to nconns connections (1..XLMIG_MAX_CONNS): conns[0]
 * takes the records and its share of the data, the others their shares.
 */
struct xlmig_sendq *xlmig_sendq_new(struct xlmig_conn *const *conns,
                                    unsigned nconns, unsigned workers,
                                    enum xlmig_compress mode,
                                    uint64_t features);
/* Stops the threads (after a flush, or abandoning queued work). */
void xlmig_sendq_free(struct xlmig_sendq *q);
/*
 * Queues blocks [first, first + count) of d; count * block size must not
 * exceed XLMIG_MAX_DATA.  Each stripe's part goes to its connection.
 * With skip_zero, all-zero blocks are not sent (the target already reads
 * as zeros).  Blocks while `depth` jobs wait.  Returns 0, or -1 once the
 * pipeline has failed.
 */
int xlmig_sendq_extent(struct xlmig_sendq *q, const struct xlmig_sq_disk *d,
                       uint64_t first, uint32_t count, uint8_t origin,
                       bool skip_zero);
/*
 * Input of one compressed DATA record at most: the unit of deflate between
 * two yield points.  libdeflate's level 1 here on text: 16 KiB is ~80 us
 * of CPU (below the guest's own p99 write latency, ~0.1 ms) and deflates
 * to 0.395 of its size at 203 MB/s; 64 KiB ~290 us, 0.378, 223 MB/s;
 * 8 KiB ~47 us, 0.413, 175 MB/s.  Unpinned, 1 Gbit/s, 5 MiB/s of guest
 * writes: the guest's p99 0.19 ms (median of 13 reps) with 16 KiB against
 * 0.37 ms with 64 KiB (8 reps interleaved), 0.16 ms with 8 KiB.
 */
#define XLMIG_SENDQ_Z_PIECE (16u << 10)

/* Queues a ready record (copied, at most XLMIG_SENDQ_MAX_RECORD bytes),
 * in order with the extents of the first connection. */
#define XLMIG_SENDQ_MAX_RECORD ((1u << 20) + 64)
int xlmig_sendq_record(struct xlmig_sendq *q, const void *rec, size_t len);
/* The same record on every connection, after what each already has (a
 * SYNC: the receiver acknowledges it once all of them reached it). */
int xlmig_sendq_barrier(struct xlmig_sendq *q, const void *rec, size_t len);
/* Waits until everything queued has been written.  0 or -1. */
int xlmig_sendq_flush(struct xlmig_sendq *q);
/*
 * After a flush: from now on everything goes on the first connection, and
 * the other connections' writers stop (their channels are the caller's to
 * close).  0 or -1.
 */
int xlmig_sendq_narrow(struct xlmig_sendq *q);
/* Connections data is spread over now. */
unsigned xlmig_sendq_connections(struct xlmig_sendq *q);
/*
 * Whether the workers stop at yield points (the default) to let a waiting
 * guest thread run (conn.h).  Off while the guest is stopped (stop-copy),
 * and while the estimate samples what stop-copy will cost.
 */
void xlmig_sendq_set_yield(struct xlmig_sendq *q, bool yield);
/* Max jobs waiting in the queue (small during post-copy: demand first). */
void xlmig_sendq_set_depth(struct xlmig_sendq *q, unsigned depth);
unsigned xlmig_sendq_pending(struct xlmig_sendq *q);
void xlmig_sendq_get_stats(struct xlmig_sendq *q, struct xlmig_sendq_stats *s);
const char *xlmig_sendq_error(struct xlmig_sendq *q);
/* The pipeline failed writing to a channel (not reading a disk). */
bool xlmig_sendq_failed_on_channel(struct xlmig_sendq *q);
/* What the compression policy did and why, in one line. */
void xlmig_sendq_describe_compression(struct xlmig_sendq *q, char *buf,
                                      size_t len);
/* Largest extent the queue takes for a block size, in blocks. */
uint32_t xlmig_sendq_max_blocks(uint32_t block_size);

#endif
