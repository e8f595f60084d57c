#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <libdeflate.h>

#include "compress.h"
#include "conn.h"
#include "err.h"
#include "wire.h"

#define SAMPLE_BYTES 8192
/* libdeflate's level 1, its fastest (still smaller than zlib's 1). */
#define DEFLATE_LEVEL 1

size_t xlmig_deflate(struct xlmig_deflater *d, const void *in, size_t n,
                     void *out, size_t cap)
{
    if (!d->c && !(d->c = libdeflate_alloc_compressor(DEFLATE_LEVEL)))
        return 0;
    return libdeflate_zlib_compress(d->c, in, n, out, cap);
}

void xlmig_deflater_end(struct xlmig_deflater *d)
{
    if (d->c)
        libdeflate_free_compressor(d->c);
    d->c = NULL;
}

static const char *inflate_why(enum libdeflate_result rc)
{
    switch (rc) {
    case LIBDEFLATE_BAD_DATA: return "not a valid zlib stream";
    case LIBDEFLATE_SHORT_OUTPUT: return "it inflates to fewer bytes";
    case LIBDEFLATE_INSUFFICIENT_SPACE: return "it inflates to more bytes";
    default: return "inflate failed";
    }
}

int xlmig_inflate(struct xlmig_inflater *f, const void *in, size_t n,
                  void *out, size_t expect, struct xlmig_error *err)
{
    enum libdeflate_result rc;
    size_t used = 0;

    if (!f->d && !(f->d = libdeflate_alloc_decompressor()))
        return xlmig_fail(err, ENOMEM, "cannot allocate a decompressor");
    /* Exactly expect bytes out (else SHORT_OUTPUT), all of the input in. */
    rc = libdeflate_zlib_decompress_ex(f->d, in, n, out, expect, &used, NULL);
    if (rc == LIBDEFLATE_SUCCESS && used != n)
        return xlmig_fail(err, EIO, "compressed extent is corrupt: %zu of "
                          "its %zu bytes follow the zlib stream", n - used, n);
    if (rc != LIBDEFLATE_SUCCESS)
        return xlmig_fail(err, EIO, "compressed extent is corrupt or does "
                          "not inflate to its %zu bytes (%s)", expect,
                          inflate_why(rc));
    return 0;
}

void xlmig_inflater_end(struct xlmig_inflater *f)
{
    if (f->d)
        libdeflate_free_decompressor(f->d);
    f->d = NULL;
}

uint64_t xlmig_thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double per_cpu_second(size_t bytes, uint64_t cpu_ns)
{
    /* Below the clock's useful resolution: call it 1 us. */
    return (double)bytes / ((double)(cpu_ns > 1000 ? cpu_ns : 1000) * 1e-9);
}

int xlmig_sample(struct xlmig_deflater *d, struct xlmig_inflater *f,
                 const void *buf, size_t n, struct xlmig_sample *s)
{
    unsigned char out[SAMPLE_BYTES + 512], back[SAMPLE_BYTES];
    size_t len = n < SAMPLE_BYTES ? n : SAMPLE_BYTES;
    /* From the middle: the start of an extent is often a header. */
    const unsigned char *p = (const unsigned char *)buf + (n - len) / 2;
    uint64_t t0 = xlmig_thread_cpu_ns(), t1;
    size_t z = xlmig_deflate(d, p, len, out, len);
    struct xlmig_error err;

    t1 = xlmig_thread_cpu_ns();
    s->ratio = z ? (double)z / (double)len : 1.0;
    s->Bps = per_cpu_second(len, t1 - t0);
    s->inflate_Bps = 0;
    if (z && f && xlmig_inflate(f, out, z, back, len, &err) == 0)
        s->inflate_Bps = per_cpu_second(len, xlmig_thread_cpu_ns() - t1);
    return 0;
}
