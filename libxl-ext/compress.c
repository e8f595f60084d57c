#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "compress.h"
#include "conn.h"
#include "err.h"
#include "wire.h"

#define SAMPLE_BYTES 8192

size_t xlmig_deflate(struct xlmig_deflater *d, const void *in, size_t n,
                     void *out, size_t cap)
{
    if (!d->ready) {
        memset(&d->zs, 0, sizeof(d->zs));
        if (deflateInit(&d->zs, 1) != Z_OK)
            return 0;
        d->ready = true;
    } else {
        deflateReset(&d->zs);
    }
    d->zs.next_in = (Bytef *)(uintptr_t)in;
    d->zs.avail_in = (uInt)n;
    d->zs.next_out = out;
    d->zs.avail_out = (uInt)cap;
    if (deflate(&d->zs, Z_FINISH) != Z_STREAM_END)
        return 0;
    return d->zs.total_out;
}

void xlmig_deflater_end(struct xlmig_deflater *d)
{
    if (d->ready)
        deflateEnd(&d->zs);
    d->ready = false;
}

int xlmig_inflate(struct xlmig_inflater *f, const void *in, size_t n,
                  void *out, size_t expect, struct xlmig_error *err)
{
    int rc;

    if (!f->ready) {
        memset(&f->zs, 0, sizeof(f->zs));
        if (inflateInit(&f->zs) != Z_OK)
            return xlmig_fail(err, EIO, "zlib: inflateInit failed");
        f->ready = true;
    } else {
        inflateReset(&f->zs);
    }
    f->zs.next_in = (Bytef *)(uintptr_t)in;
    f->zs.avail_in = (uInt)n;
    f->zs.next_out = out;
    f->zs.avail_out = (uInt)expect;
    rc = inflate(&f->zs, Z_FINISH);
    if (rc != Z_STREAM_END || f->zs.total_out != expect ||
        f->zs.avail_in != 0) {
        return xlmig_fail(err, EIO, "compressed extent is corrupt or does "
                 "not inflate to its %zu bytes (zlib: %s, got %lu)", expect,
                 f->zs.msg ? f->zs.msg : zError(rc), f->zs.total_out);
    }
    return 0;
}

void xlmig_inflater_end(struct xlmig_inflater *f)
{
    if (f->ready)
        inflateEnd(&f->zs);
    f->ready = false;
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
