/*
 * Layout of a simulated guest disk image.  The image is cut into chunks
 * (1 MiB by default); each chunk is a hole, text or random data.  Exactly
 * `allocated` bytes are data, text_pct percent of them text, placed by a
 * shuffle seeded with the disk seed, so the whole initial content
 * (generation 0 of every block) is a pure function of these parameters.
 *
 * Block 0 is the superblock: it records the parameters, so a source daemon
 * learns the layout from the image itself.  The guest never writes it.
 */
#ifndef XLMIG_SIM_LAYOUT_H
#define XLMIG_SIM_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/sim_pattern.h"
#include "err.h"

/* Everything per block is sparse (O(written)); per chunk, one byte. */
#define SIM_MAX_IMAGE_SIZE (4ULL << 40)
#define SIM_MAX_CHUNKS (1u << 24)
#define SIM_MIN_CHUNK SIM_BLOCK_SIZE
#define SIM_MAX_CHUNK (1u << 30)
#define SIM_DEFAULT_CHUNK (1u << 20)

struct sim_layout_params {
    uint64_t size;          /* bytes, a multiple of 4 KiB */
    uint64_t allocated;     /* bytes of data, a multiple of chunk */
    uint32_t chunk;         /* bytes, a power of two */
    uint32_t text_pct;      /* share of the data that is text, 0..100 */
    uint64_t seed;          /* names the disk; every tag carries it */
};

struct sim_layout {
    struct sim_layout_params p;
    uint64_t nblocks;       /* 4 KiB blocks */
    uint64_t nchunks;
    uint8_t *kind;          /* per chunk: enum sim_fill (ZERO = hole) */
    uint64_t *data;         /* the data chunks, ascending */
    uint64_t ndata;
};

/* Validates p and computes the chunk map.  0 or -errno with err set. */
int sim_layout_init(struct sim_layout *l, const struct sim_layout_params *p,
                    struct xlmig_error *err);
void sim_layout_free(struct sim_layout *l);

static inline enum sim_fill sim_layout_kind(const struct sim_layout *l,
                                            uint64_t block)
{
    return (enum sim_fill)l->kind[(block << SIM_BLOCK_SHIFT) / l->p.chunk];
}

/* Fill of the blocks the guest writes: the region's kind; random in holes. */
static inline enum sim_fill sim_layout_write_fill(const struct sim_layout *l,
                                                  uint64_t block)
{
    enum sim_fill k = sim_layout_kind(l, block);

    return k == SIM_FILL_ZERO ? SIM_FILL_RANDOM : k;
}

/* The content block must have after the guest's write number gen. */
void sim_layout_expected(const struct sim_layout *l, uint64_t block,
                         uint32_t gen, void *buf);

/* Writes a new sparse image.  Refuses to overwrite unless force. */
int sim_layout_write_image(const struct sim_layout *l, const char *path,
                           bool force, struct xlmig_error *err);
/* Reads the superblock of an open image and initialises l from it. */
int sim_layout_read_super(struct sim_layout *l, int fd, struct xlmig_error *err);

#endif
