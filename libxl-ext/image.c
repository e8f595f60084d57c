#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "image.h"
#include "wire.h"


int xlmig_image_open(struct xlmig_image *im, const char *path, bool writable,
                     struct xlmig_error *err)
{
    struct stat st;
    int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;

    memset(im, 0, sizeof(*im));
    im->fd = -1;
    im->dio_fd = -1;
    if (strlen(path) >= sizeof(im->path))
        return xlmig_fail(err, EIO, "path too long: %.64s...", path);
    snprintf(im->path, sizeof(im->path), "%s", path);
    if (stat(path, &st) < 0)
        return xlmig_fail(err, errno, "%s: %s", path, strerror(errno));
    im->is_blk = S_ISBLK(st.st_mode);
    if (!im->is_blk && !S_ISREG(st.st_mode))
        return xlmig_fail(err, EIO, "%s: not a regular file or block device", path);
    if (im->is_blk)
        flags |= O_DIRECT;
    im->fd = open(path, flags);
    if (im->fd < 0)
        return xlmig_fail(err, errno, "%s: %s", path, strerror(errno));
    if (im->is_blk) {
        if (ioctl(im->fd, BLKGETSIZE64, &im->size) < 0) {
            int e = errno;

            xlmig_image_close(im);
            return xlmig_fail(err, e, "%s: BLKGETSIZE64: %s", path,
                              strerror(e));
        }
    } else {
        im->size = (uint64_t)st.st_size;
    }
    return 0;
}

void xlmig_image_close(struct xlmig_image *im)
{
    if (im->fd >= 0)
        close(im->fd);
    im->fd = -1;
    if (im->dio_fd >= 0)
        close(im->dio_fd);
    im->dio_fd = -1;
}

void xlmig_image_enable_direct(struct xlmig_image *im)
{
    if (im->is_blk || im->dio_fd >= 0 || im->fd < 0)
        return;
    /* tmpfs and a few others refuse O_DIRECT: buffered writes then. */
    im->dio_fd = open(im->path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

bool xlmig_image_direct(struct xlmig_image *im, size_t len, uint64_t off)
{
    /*
     * Small writes (a dirty pass's scattered blocks) through the page
     * cache: a direct write waits for the disk (0.4 ms or more for 64 KiB
     * into a sparse file here), and the final SYNC waits for every write
     * before it -- 100-240 ms of disk downtime after a keep-up pass of a
     * few hundred blocks.  The page cache and direct writes stay coherent
     * (a direct write flushes and drops the cached range first).
     */
    return im->dio_fd >= 0 && len >= XLMIG_DIO_MIN &&
           !__atomic_load_n(&im->dio_refused, __ATOMIC_RELAXED) &&
           !((len | off) % XLMIG_IO_ALIGN);
}

int xlmig_image_write_bulk(struct xlmig_image *im, const void *buf,
                           size_t len, uint64_t off, struct xlmig_error *err)
{
    int dfd = im->dio_fd;
    const uint8_t *p = buf;

    if (!xlmig_image_direct(im, len, off) || (uintptr_t)buf % XLMIG_IO_ALIGN)
        return xlmig_image_write(im, buf, len, off, err);
    while (len) {
        ssize_t n = pwrite(dfd, p, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EINVAL) {
            /* Not for this file system after all: buffered from now on
             * (the descriptor stays open until close: other threads may
             * be using it). */
            __atomic_store_n(&im->dio_refused, true, __ATOMIC_RELAXED);
            return xlmig_image_write(im, p, len, off, err);
        }
        if (n <= 0)
            return xlmig_fail(err, n < 0 ? errno : EIO, "writing %s at "
                              "%llu: %s", im->path, (unsigned long long)off,
                              n < 0 ? strerror(errno) : "no progress");
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
        /* A short direct write leaves the rest unaligned: buffered. */
        if (len && ((uintptr_t)p | len | off) % XLMIG_IO_ALIGN)
            return xlmig_image_write(im, p, len, off, err);
    }
    return 0;
}

bool xlmig_image_next_data(struct xlmig_image *im, uint64_t off,
                           uint64_t *start, uint64_t *end)
{
    off_t d, h;

    if (off >= im->size)
        return false;
    if (im->is_blk) {
        *start = off;
        *end = im->size;
        return true;
    }
    d = lseek(im->fd, (off_t)off, SEEK_DATA);
    if (d < 0) {
        /* ENXIO: nothing but holes after off.  Other errors: the file
         * system cannot tell; treat the rest as data. */
        if (errno == ENXIO)
            return false;
        *start = off;
        *end = im->size;
        return true;
    }
    h = lseek(im->fd, d, SEEK_HOLE);
    if (h < 0 || (uint64_t)h > im->size)
        h = (off_t)im->size;
    *start = (uint64_t)d;
    *end = (uint64_t)h;
    return true;
}

uint64_t xlmig_image_allocated(struct xlmig_image *im)
{
    uint64_t off = 0, s, e, total = 0;

    while (xlmig_image_next_data(im, off, &s, &e)) {
        total += e - s;
        off = e;
    }
    return total;
}

int xlmig_image_read(struct xlmig_image *im, void *buf, size_t len,
                     uint64_t off, struct xlmig_error *err)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = pread(im->fd, p, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return xlmig_fail(err, errno, "reading %s at %llu: %s", im->path, (unsigned long long)off,
                strerror(errno));
        if (n == 0)
            return xlmig_fail(err, EIO, "reading %s at %llu: unexpected end of file (the image "
                "shrank?)", im->path, (unsigned long long)off);
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int xlmig_image_write(struct xlmig_image *im, const void *buf, size_t len,
                      uint64_t off, struct xlmig_error *err)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = pwrite(im->fd, p, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return xlmig_fail(err, errno, "writing %s at %llu: %s", im->path, (unsigned long long)off,
                n < 0 ? strerror(errno) : "no progress");
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* 1 MiB of zeros, shared by every thread that writes (made once). */
static uint8_t *zeros;
static pthread_once_t zeros_once = PTHREAD_ONCE_INIT;

static void make_zeros(void)
{
    zeros = xlmig_alloc_io(1 << 20);
    if (zeros)
        memset(zeros, 0, 1 << 20);
}

int xlmig_image_zero(struct xlmig_image *im, uint64_t off, uint64_t len,
                     struct xlmig_error *err)
{

    if (im->is_blk) {
        uint64_t range[2] = { off, len };
        if (ioctl(im->fd, BLKZEROOUT, range) == 0)
            return 0;
    } else if (fallocate(im->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         (off_t)off, (off_t)len) == 0) {
        return 0;
    }
    /* No hole punching here: write zeros. */
    pthread_once(&zeros_once, make_zeros);
    if (!zeros)
        return xlmig_fail(err, EIO, "out of memory");
    while (len) {
        size_t n = len < (1 << 20) ? (size_t)len : (1 << 20);
        int rc = xlmig_image_write(im, zeros, n, off, err);

        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

int xlmig_image_sync(struct xlmig_image *im, struct xlmig_error *err)
{
    if (fdatasync(im->fd) < 0)
        return xlmig_fail(err, errno, "flushing %s: %s", im->path,
                          strerror(errno));
    return 0;
}

bool xlmig_is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;

    if (n < 16) {
        for (size_t i = 0; i < n; i++)
            if (b[i])
                return false;
        return true;
    }
    for (size_t i = 0; i < 16; i++)
        if (b[i])
            return false;
    return memcmp(b, b + 16, n - 16) == 0;
}

void *xlmig_alloc_io(size_t n)
{
    void *p;

    if (posix_memalign(&p, XLMIG_IO_ALIGN, n ? n : XLMIG_IO_ALIGN))
        return NULL;
    return p;
}
