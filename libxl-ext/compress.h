/*
 * zlib for extents, and the decision whether compressing pays.
 * Compression costs CPU (level 1: ~39 MB/s per core on random data,
 * ~465 MB/s on text here) and saves link time only when the link is the
 * bottleneck and the data shrinks; so each extent is sampled first.
 */
#ifndef XLMIG_COMPRESS_H
#define XLMIG_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include "err.h"

struct xlmig_deflater {
    z_stream zs;
    bool ready;
};

struct xlmig_inflater {
    z_stream zs;
    bool ready;
};

/* Compressed size, or 0 if it did not fit in cap (incompressible). */
size_t xlmig_deflate(struct xlmig_deflater *d, const void *in, size_t n,
                     void *out, size_t cap);
void xlmig_deflater_end(struct xlmig_deflater *d);
/* Inflates exactly expect bytes, else -1 with a message in err. */
int xlmig_inflate(struct xlmig_inflater *f, const void *in, size_t n,
                  void *out, size_t expect, struct xlmig_error *err);
void xlmig_inflater_end(struct xlmig_inflater *f);

/* What a sample of an extent says: size ratio and compression speed. */
struct xlmig_sample {
    double ratio;               /* compressed / raw, 1.0 if it did not shrink */
    double Bps;                 /* bytes of input per second for one worker */
};

int xlmig_sample(struct xlmig_deflater *d, const void *buf, size_t n,
                 struct xlmig_sample *s);

/*
 * Whether compressing an extent with this sample raises throughput on a
 * link that moves link_Bps (0: unknown, assume fast) with `workers`
 * compressing in parallel.  Without compression, the link carries the raw
 * bytes; with it, input flows at min(workers * speed, link / ratio).
 */
bool xlmig_compress_pays(const struct xlmig_sample *s, double link_Bps,
                         unsigned workers);

#endif
