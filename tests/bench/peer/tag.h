/*
 * Contents of the peer guest's blocks.  Like xlmig's simulated guest
 * (libxl-ext/sim/sim_pattern.c), every 4 KiB block the guest writes starts
 * with a tag -- the run (seed), the block, the generation (how many times
 * the guest has written it), a CRC of the whole block -- and the rest is
 * filler generated from (seed, block, generation).  So the expected
 * content of a block follows from the model's generation alone, and a
 * wrong block can be explained (older generation: a lost write).
 * Unwritten blocks are compared with the original image instead.
 *
 * Own code rather than libvbdsim.a: the bench builds with the system cc
 * alone, does not follow libxl-ext/sim's internal API (being reworked),
 * and checks the untouched blocks against the very file QEMU was given.
 */
#ifndef PEER_TAG_H
#define PEER_TAG_H

#include <stddef.h>
#include <stdint.h>

#define PEER_BLOCK 4096u
#define PEER_MAGIC 0x3152454550474d58ULL    /* "XMGPEER1" little-endian */

struct peer_tag {
    uint64_t magic;
    uint64_t seed;
    uint64_t block;
    uint32_t gen;
    uint32_t crc;           /* crc32 of the block with this field zero */
};

/* The content of block at generation gen (gen >= 1) in run seed. */
void peer_tag_fill(void *buf, uint64_t seed, uint64_t block, uint32_t gen);

/* One line saying what buf holds instead of (seed, block, gen). */
void peer_tag_explain(const void *buf, uint64_t seed, uint64_t block,
                      uint32_t gen, char *msg, size_t len);

#endif
