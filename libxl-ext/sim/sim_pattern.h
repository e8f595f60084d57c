/*
 * Contents of the simulated guest's blocks.  Every 4 KiB block the guest
 * writes starts with a tag naming the disk (seed), the block and the
 * generation (how many times the guest has written it), and a CRC of the
 * whole block; the rest is filler generated from (seed, block, generation),
 * either text-like (compresses like prose) or random (does not compress).
 * So the expected content of any block can be recomputed from the model's
 * generation alone, and a wrong block can be explained: stale generation,
 * another block's data, another disk's data, corruption, zeros.
 */
#ifndef XLMIG_SIM_PATTERN_H
#define XLMIG_SIM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define SIM_BLOCK_SHIFT 12
#define SIM_BLOCK_SIZE (1u << SIM_BLOCK_SHIFT)
#define SIM_TAG_MAGIC 0x47544d58u          /* "XMTG" little-endian */

enum sim_fill {
    SIM_FILL_ZERO = 0,      /* a hole: all zeros, no tag */
    SIM_FILL_TEXT = 1,
    SIM_FILL_RANDOM = 2,
};

struct sim_tag {
    uint32_t magic;
    uint32_t gen;
    uint64_t seed;
    uint64_t block;
    uint32_t fill;
    uint32_t crc;           /* crc32 of the block with this field zero */
};

/* The content of `block` at generation `gen` (fill ZERO gives zeros). */
void sim_pattern_fill(void *buf, uint64_t seed, uint64_t block, uint32_t gen,
                      enum sim_fill fill);

enum sim_found {
    SIM_FOUND_ZEROS,        /* all zeros */
    SIM_FOUND_UNTAGGED,     /* no tag: not the guest's data, or garbage */
    SIM_FOUND_CORRUPT,      /* a tag, but the CRC does not match */
    SIM_FOUND_TAGGED,       /* a consistent tagged block; see tag */
};

/* What a block holds, judged from itself alone. */
enum sim_found sim_pattern_inspect(const void *buf, struct sim_tag *tag);

/*
 * One line saying how buf differs from what was expected (seed, block, gen
 * with the expected bytes in want), e.g. "older generation 3 (want 5)".
 */
void sim_pattern_explain(const void *buf, const void *want, uint64_t seed,
                         uint64_t block, uint32_t gen, char *msg, size_t len);

#endif
