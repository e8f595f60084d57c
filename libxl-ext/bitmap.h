/*
 * Engine-side block bitmap (not shared with the kernel): a hierarchical
 * bitmap whose set bits are found in O(set bits), so a 1 TiB disk with a
 * handful of dirty blocks is cheap to walk.  Not thread-safe.
 */
#ifndef XLMIG_BITMAP_H
#define XLMIG_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

struct xlmig_extent {
    uint64_t start;             /* first block */
    uint64_t count;             /* number of blocks */
};

struct xlmig_bitmap;

struct xlmig_bitmap *xlmig_bitmap_new(uint64_t nbits);
void xlmig_bitmap_free(struct xlmig_bitmap *b);
uint64_t xlmig_bitmap_size(const struct xlmig_bitmap *b);
uint64_t xlmig_bitmap_count(const struct xlmig_bitmap *b);
bool xlmig_bitmap_test(const struct xlmig_bitmap *b, uint64_t nr);
/* Both return how many bits changed; ranges beyond the size are clipped. */
uint64_t xlmig_bitmap_set_range(struct xlmig_bitmap *b, uint64_t start,
                                uint64_t count);
uint64_t xlmig_bitmap_clear_range(struct xlmig_bitmap *b, uint64_t start,
                                  uint64_t count);
/* O(set bits): the untouched parts of a large bitmap stay untouched. */
void xlmig_bitmap_clear_all(struct xlmig_bitmap *b);
/* First set bit >= from, or the size if none. */
uint64_t xlmig_bitmap_next_set(const struct xlmig_bitmap *b, uint64_t from);
/*
 * The next run of set bits starting at or after *pos, at most max_len long;
 * advances *pos past it.  Returns false when there is none.
 */
bool xlmig_bitmap_next_extent(const struct xlmig_bitmap *b, uint64_t *pos,
                              uint64_t max_len, struct xlmig_extent *out);
/* dst |= src (same size); returns how many bits were newly set. */
uint64_t xlmig_bitmap_merge(struct xlmig_bitmap *dst,
                            const struct xlmig_bitmap *src);

#endif
