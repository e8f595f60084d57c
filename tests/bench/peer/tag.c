/* Tagged block contents; see tag.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "tag.h"

_Static_assert(sizeof(struct peer_tag) == 32, "tag layout");

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t block_crc(const unsigned char *p)
{
    static const unsigned char zero[4];
    const size_t off = offsetof(struct peer_tag, crc);
    uLong c = crc32(0L, Z_NULL, 0);

    c = crc32(c, p, off);
    c = crc32(c, zero, 4);
    c = crc32(c, p + off + 4, PEER_BLOCK - off - 4);
    return (uint32_t)c;
}

void peer_tag_fill(void *buf, uint64_t seed, uint64_t block, uint32_t gen)
{
    unsigned char *p = buf;
    struct peer_tag t = {
        .magic = PEER_MAGIC, .seed = seed, .block = block, .gen = gen,
    };
    uint64_t x = seed ^ (block * 0x9e3779b97f4a7c15ULL) ^
                 ((uint64_t)gen << 40);

    for (size_t i = sizeof(t); i < PEER_BLOCK; i += 8) {
        uint64_t v = splitmix64(&x);

        memcpy(p + i, &v, 8);
    }
    memcpy(p, &t, sizeof(t));
    t.crc = block_crc(p);
    memcpy(p + offsetof(struct peer_tag, crc), &t.crc, sizeof(t.crc));
}

void peer_tag_explain(const void *buf, uint64_t seed, uint64_t block,
                      uint32_t gen, char *msg, size_t len)
{
    const unsigned char *p = buf;
    struct peer_tag t;

    memcpy(&t, p, sizeof(t));
    if (t.magic != PEER_MAGIC) {
        snprintf(msg, len, "block %" PRIu64 ": no guest tag (the image's "
                 "original data or garbage); want generation %" PRIu32
                 " (an acknowledged write was lost)", block, gen);
    } else if (t.crc != block_crc(p)) {
        snprintf(msg, len, "block %" PRIu64 ": corrupt tagged block "
                 "(generation %" PRIu32 ", bad CRC)", block, t.gen);
    } else if (t.seed != seed) {
        snprintf(msg, len, "block %" PRIu64 ": data of another run "
                 "(seed %" PRIu64 ")", block, t.seed);
    } else if (t.block != block) {
        snprintf(msg, len, "block %" PRIu64 ": data of block %" PRIu64
                 " (misplaced)", block, t.block);
    } else if (t.gen < gen) {
        snprintf(msg, len, "block %" PRIu64 ": older generation %" PRIu32
                 ", want %" PRIu32 " (an acknowledged write was lost)",
                 block, t.gen, gen);
    } else if (t.gen > gen) {
        snprintf(msg, len, "block %" PRIu64 ": generation %" PRIu32
                 " newer than the acknowledged %" PRIu32, block, t.gen, gen);
    } else {
        snprintf(msg, len, "block %" PRIu64 ": tag right, content wrong",
                 block);
    }
}
