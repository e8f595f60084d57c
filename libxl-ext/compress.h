/*
 * Compressed extents, and samples of what compressing one would gain and
 * cost.  The wire format is a zlib stream (RFC 1950, what the ZLIB
 * encoding has always carried); libdeflate makes and reads it, a whole
 * extent at a time: at level 1 on the bench's text it deflates at twice
 * zlib's speed (228 against 113 MB/s of CPU here) to 0.37 of the size
 * (zlib level 1: 0.40) and inflates 2.8x faster.  A receiver or sender
 * of an older build, on zlib, reads and writes the same records.
 * Compression costs CPU and saves link time only when the link is the
 * bottleneck and the data shrinks; whether it pays is zpolicy.h's call.
 */
#ifndef XLMIG_COMPRESS_H
#define XLMIG_COMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

struct libdeflate_compressor;
struct libdeflate_decompressor;

/* NULL until the first use allocates it; freed by the _end calls. */
struct xlmig_deflater {
    struct libdeflate_compressor *c;
};

struct xlmig_inflater {
    struct libdeflate_decompressor *d;
};

/* Compressed size, or 0 if it did not fit in cap (incompressible) or
 * the compressor could not be allocated. */
size_t xlmig_deflate(struct xlmig_deflater *d, const void *in, size_t n,
                     void *out, size_t cap);
void xlmig_deflater_end(struct xlmig_deflater *d);
/* Inflates exactly expect bytes, else -1 with a message in err. */
int xlmig_inflate(struct xlmig_inflater *f, const void *in, size_t n,
                  void *out, size_t expect, struct xlmig_error *err);
void xlmig_inflater_end(struct xlmig_inflater *f);

/*
 * What a sample of an extent says: how much it shrinks and what it costs
 * in CPU time (what a CPU second is worth on a busy machine is measured
 * apart: zpolicy.h).
 */
struct xlmig_sample {
    double ratio;               /* compressed / raw, 1.0 if it did not shrink */
    double Bps;                 /* deflate: input bytes per CPU second */
    double inflate_Bps;         /* inflate: output bytes per CPU second, 0
                                   when it did not shrink or f was NULL */
};

/* CPU time this thread has used, in ns (CLOCK_THREAD_CPUTIME_ID). */
uint64_t xlmig_thread_cpu_ns(void);

/* Samples up to 8 KiB from the middle of buf; f (may be NULL) times the
 * inflate of the result, what the receiver will spend. */
int xlmig_sample(struct xlmig_deflater *d, struct xlmig_inflater *f,
                 const void *buf, size_t n, struct xlmig_sample *s);

#endif
