/*
 * Raw disk images and block devices as the engine reads and writes them.
 * Regular files use the page cache (a loop device over the file, or the
 * simulated VBD, sees the same pages); block devices use O_DIRECT, because
 * blkback's bios bypass the block device's page cache.
 */
#ifndef XLMIG_IMAGE_H
#define XLMIG_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define XLMIG_IO_ALIGN 4096
/* Bulk writes this long or longer go past the page cache (regular files). */
#define XLMIG_DIO_MIN (256u << 10)

struct xlmig_image {
    int fd;
    int dio_fd;                 /* regular files: O_DIRECT writes, or -1 */
    bool dio_refused;           /* the file system said no (__atomic) */
    bool is_blk;
    uint64_t size;
    char path[4096];
};

int xlmig_image_open(struct xlmig_image *im, const char *path, bool writable,
                     struct xlmig_error *err);
void xlmig_image_close(struct xlmig_image *im);
/*
 * The next allocated region at or after off: [*start, *end).  Returns false
 * when only holes remain.  Block devices are one allocated region.
 */
bool xlmig_image_next_data(struct xlmig_image *im, uint64_t off,
                           uint64_t *start, uint64_t *end);
/* Bytes allocated (what a full pass must read at most). */
uint64_t xlmig_image_allocated(struct xlmig_image *im);
/* Whole-length I/O; buffers must be XLMIG_IO_ALIGN-aligned. 0 or -1. */
int xlmig_image_read(struct xlmig_image *im, void *buf, size_t len,
                     uint64_t off, struct xlmig_error *err);
int xlmig_image_write(struct xlmig_image *im, const void *buf, size_t len,
                      uint64_t off, struct xlmig_error *err);
/*
 * Bulk writes past the page cache (regular files; block devices always
 * are): a second descriptor with O_DIRECT, if the file system takes it.
 * Then xlmig_image_write_bulk() writes aligned pieces with it.
 */
void xlmig_image_enable_direct(struct xlmig_image *im);
/*
 * As xlmig_image_write(), with O_DIRECT when the image has it, len is at
 * least XLMIG_DIO_MIN and buf, len and off are XLMIG_IO_ALIGN-aligned (a
 * file system that refuses a direct write gets buffered ones from then on).  A buffered write and a
 * direct one to the same range stay coherent: the kernel writes back and
 * drops cached pages around a direct write.
 */
/* Whether xlmig_image_write_bulk() writes len bytes at off directly
 * (given an aligned buffer). */
bool xlmig_image_direct(struct xlmig_image *im, size_t len, uint64_t off);
int xlmig_image_write_bulk(struct xlmig_image *im, const void *buf,
                           size_t len, uint64_t off, struct xlmig_error *err);
/* Makes [off, off+len) read as zeros (punching holes where possible). */
int xlmig_image_zero(struct xlmig_image *im, uint64_t off, uint64_t len,
                     struct xlmig_error *err);
int xlmig_image_sync(struct xlmig_image *im, struct xlmig_error *err);
bool xlmig_is_zero(const void *p, size_t n);
void *xlmig_alloc_io(size_t n);

#endif
