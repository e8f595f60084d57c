/*
 * Hierarchical block bitmap.  level[0] has a bit per block; bit i of
 * level[k + 1] is set exactly when word i of level[k] is non-zero.  The top
 * level is one word, so a search climbs at most `levels` words and descends
 * as many: finding the next set bit is O(levels), whatever the disk size.
 */
#include <stdlib.h>

#include "bitmap.h"

#define WORD_BITS 64
#define MAX_LEVELS 11           /* 64^11 > 2^64 */

struct xlmig_bitmap {
    uint64_t nbits;
    uint64_t count;
    unsigned levels;
    uint64_t len[MAX_LEVELS];   /* bits per level */
    uint64_t *level[MAX_LEVELS];
};

static uint64_t words_for(uint64_t bits)
{
    return bits / WORD_BITS + (bits % WORD_BITS != 0);
}

struct xlmig_bitmap *xlmig_bitmap_new(uint64_t nbits)
{
    struct xlmig_bitmap *b = calloc(1, sizeof(*b));
    uint64_t len = nbits ? nbits : 1;

    if (!b)
        return NULL;
    b->nbits = nbits;
    for (;;) {
        uint64_t words = words_for(len);

        b->level[b->levels] = calloc(words, sizeof(uint64_t));
        if (!b->level[b->levels]) {
            xlmig_bitmap_free(b);
            return NULL;
        }
        b->len[b->levels++] = len;
        if (words == 1)
            return b;
        len = words;
    }
}

void xlmig_bitmap_free(struct xlmig_bitmap *b)
{
    if (!b)
        return;
    for (unsigned k = 0; k < b->levels; k++)
        free(b->level[k]);
    free(b);
}

uint64_t xlmig_bitmap_size(const struct xlmig_bitmap *b)
{
    return b->nbits;
}

uint64_t xlmig_bitmap_count(const struct xlmig_bitmap *b)
{
    return b->count;
}

bool xlmig_bitmap_test(const struct xlmig_bitmap *b, uint64_t nr)
{
    if (nr >= b->nbits)
        return false;
    return b->level[0][nr / WORD_BITS] >> (nr % WORD_BITS) & 1;
}

static uint64_t range_mask(uint64_t w, uint64_t w0, uint64_t w1,
                           uint64_t first, uint64_t last)
{
    uint64_t mask = ~0ULL;

    if (w == w0)
        mask &= ~0ULL << (first % WORD_BITS);
    if (w == w1)
        mask &= ~0ULL >> (WORD_BITS - 1 - last % WORD_BITS);
    return mask;
}

/* Sets bits [first, last] of level k and the summaries above them. */
static uint64_t level_set(struct xlmig_bitmap *b, unsigned k,
                          uint64_t first, uint64_t last)
{
    uint64_t w0 = first / WORD_BITS, w1 = last / WORD_BITS, newly = 0;

    for (uint64_t w = w0; w <= w1; w++) {
        uint64_t mask = range_mask(w, w0, w1, first, last);

        newly += (uint64_t)__builtin_popcountll(mask & ~b->level[k][w]);
        b->level[k][w] |= mask;
    }
    if (k + 1 < b->levels)
        level_set(b, k + 1, w0, w1);
    return newly;
}

/* Clears bits [first, last] of level k; empty words clear their summary. */
static uint64_t level_clear(struct xlmig_bitmap *b, unsigned k,
                            uint64_t first, uint64_t last)
{
    uint64_t w0 = first / WORD_BITS, w1 = last / WORD_BITS, cleared = 0;

    for (uint64_t w = w0; w <= w1; w++) {
        uint64_t mask = range_mask(w, w0, w1, first, last);
        uint64_t *word = &b->level[k][w];

        if (!(*word & mask))
            continue;
        cleared += (uint64_t)__builtin_popcountll(*word & mask);
        *word &= ~mask;
        if (!*word && k + 1 < b->levels)
            level_clear(b, k + 1, w, w);
    }
    return cleared;
}

static bool clip(const struct xlmig_bitmap *b, uint64_t start,
                 uint64_t *count)
{
    if (!*count || start >= b->nbits)
        return false;
    if (*count > b->nbits - start)
        *count = b->nbits - start;
    return true;
}

uint64_t xlmig_bitmap_set_range(struct xlmig_bitmap *b, uint64_t start,
                                uint64_t count)
{
    uint64_t newly;

    if (!clip(b, start, &count))
        return 0;
    newly = level_set(b, 0, start, start + count - 1);
    b->count += newly;
    return newly;
}

uint64_t xlmig_bitmap_clear_range(struct xlmig_bitmap *b, uint64_t start,
                                  uint64_t count)
{
    uint64_t cleared;

    if (!clip(b, start, &count))
        return 0;
    cleared = level_clear(b, 0, start, start + count - 1);
    b->count -= cleared;
    return cleared;
}

/* Zeroes word w of level k and, following its set bits, the words below. */
static void zero_below(struct xlmig_bitmap *b, unsigned k, uint64_t w)
{
    uint64_t bits = b->level[k][w];

    b->level[k][w] = 0;
    while (k && bits) {
        unsigned i = (unsigned)__builtin_ctzll(bits);

        bits &= bits - 1;
        zero_below(b, k - 1, w * WORD_BITS + i);
    }
}

/*
 * Follows the summaries down from the top: O(set words), so clearing a
 * 1 TiB disk's bitmap with a few dirty blocks neither scans nor touches
 * (faults in) its 32 MiB leaf level.
 */
void xlmig_bitmap_clear_all(struct xlmig_bitmap *b)
{
    zero_below(b, b->levels - 1, 0);
    b->count = 0;
}

uint64_t xlmig_bitmap_next_set(const struct xlmig_bitmap *b, uint64_t from)
{
    unsigned k = 0;
    uint64_t pos = from;

    while (pos < b->len[k]) {
        uint64_t w = pos / WORD_BITS;
        uint64_t word = b->level[k][w] & (~0ULL << (pos % WORD_BITS));

        if (!word) {
            if (k + 1 == b->levels)
                break;
            k++;
            pos = w + 1;
            continue;
        }
        pos = w * WORD_BITS + (uint64_t)__builtin_ctzll(word);
        if (!k)
            return pos;
        k--;
        pos *= WORD_BITS;
    }
    return b->nbits;
}

/* First clear bit >= from (within the size), scanning whole words. */
static uint64_t next_clear(const struct xlmig_bitmap *b, uint64_t from)
{
    uint64_t pos = from;

    while (pos < b->nbits) {
        uint64_t w = pos / WORD_BITS;
        uint64_t word = ~b->level[0][w] & (~0ULL << (pos % WORD_BITS));

        if (word) {
            pos = w * WORD_BITS + (uint64_t)__builtin_ctzll(word);
            break;
        }
        pos = (w + 1) * WORD_BITS;
    }
    return pos < b->nbits ? pos : b->nbits;
}

bool xlmig_bitmap_next_extent(const struct xlmig_bitmap *b, uint64_t *pos,
                              uint64_t max_len, struct xlmig_extent *out)
{
    uint64_t start = xlmig_bitmap_next_set(b, *pos), end;

    if (start >= b->nbits)
        return false;
    end = next_clear(b, start);
    if (max_len && end - start > max_len)
        end = start + max_len;
    out->start = start;
    out->count = end - start;
    *pos = end;
    return true;
}

uint64_t xlmig_bitmap_merge(struct xlmig_bitmap *dst,
                            const struct xlmig_bitmap *src)
{
    uint64_t pos = 0, newly = 0;
    struct xlmig_extent e;

    while (xlmig_bitmap_next_extent(src, &pos, 0, &e))
        newly += xlmig_bitmap_set_range(dst, e.start, e.count);
    return newly;
}
