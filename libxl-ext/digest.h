/*
 * Extent digests for --verify: SHA-256 (OpenSSL libcrypto's EVP) of each
 * grain of a run of blocks, as the source reads them and as the
 * destination reads them back from its disk.  A grain is 64 KiB of blocks
 * (at least one block): fine enough to name the blocks that differ, and to
 * check what a guest did not overwrite during post-copy, coarse enough to
 * cost under 0.1% of the data on the wire.
 */
#ifndef XLMIG_DIGEST_H
#define XLMIG_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* SHA-256 of p[0..n) into out (XLMIG_DIGEST_LEN bytes).  0, or -1 if
 * libcrypto failed (out of memory). */
int xlmig_sha256(const void *p, size_t n, uint8_t *out);
/* Blocks per digest for a block size. */
uint32_t xlmig_digest_grain(uint32_t block_size);
/* Digests needed for count blocks. */
static inline uint32_t xlmig_digest_count(uint32_t count, uint32_t grain)
{
    return (count + grain - 1) / grain;
}
/*
 * The digests of a run: len bytes (count blocks of block_size, the last
 * one possibly short at the end of the disk) in grains of grain blocks,
 * into out (xlmig_digest_count() * XLMIG_DIGEST_LEN bytes).  0 or -1.
 */
int xlmig_digest_run(const uint8_t *p, size_t len, uint32_t block_size,
                     uint32_t count, uint32_t grain, uint8_t *out);
/* Byte range of grain g of a run of len bytes: [*off, *off + *n). */
void xlmig_digest_grain_range(size_t len, uint32_t block_size,
                              uint32_t grain, uint32_t g, size_t *off,
                              size_t *n);

#endif
