/* Layout of a simulated guest disk image; see sim_layout.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "sim/sim_layout.h"
#include "sim/sim_map.h"
#include "sim/sim_rng.h"
#include "sim/sim_util.h"

#define SUPER_MAGIC "XLMIGSIM"
#define SUPER_VERSION 2     /* 2: the data chunks drawn as in draw_data_chunks() */

struct sim_super {
    char magic[8];
    uint32_t version;
    uint32_t block_size;
    uint64_t size;
    uint64_t allocated;
    uint32_t chunk;
    uint32_t text_pct;
    uint64_t seed;
    uint32_t crc;           /* crc32 of the fields above */
    uint32_t pad;
};

static int check_params(const struct sim_layout_params *p, struct xlmig_error *err)
{
    if (!p->size || p->size % SIM_BLOCK_SIZE)
        return xlmig_fail(err, EINVAL, "image size %" PRIu64
                       " is not a positive multiple of 4 KiB", p->size);
    if (p->size > SIM_MAX_IMAGE_SIZE)
        return xlmig_fail(err, EINVAL, "image size %" PRIu64
                       " exceeds the simulator's limit of %llu TiB", p->size,
                       SIM_MAX_IMAGE_SIZE >> 40);
    if (p->chunk >= SIM_MIN_CHUNK && p->chunk <= SIM_MAX_CHUNK &&
        p->size / p->chunk > SIM_MAX_CHUNKS)
        return xlmig_fail(err, EINVAL, "%" PRIu64 " chunks of %" PRIu32
                       " bytes: at most %u (use a larger --chunk)",
                       p->size / p->chunk, p->chunk, SIM_MAX_CHUNKS);
    if (p->chunk < SIM_MIN_CHUNK || p->chunk > SIM_MAX_CHUNK ||
        (p->chunk & (p->chunk - 1)))
        return xlmig_fail(err, EINVAL, "chunk size %" PRIu32
                       " must be a power of two from 4 KiB to 1 GiB",
                       p->chunk);
    if (p->allocated < p->chunk || p->allocated % p->chunk)
        return xlmig_fail(err, EINVAL, "allocated size %" PRIu64
                       " must be a positive multiple of the chunk size %"
                       PRIu32, p->allocated, p->chunk);
    /* Only whole chunks hold data, so the allocated size is exact. */
    if (p->allocated > p->size / p->chunk * p->chunk)
        return xlmig_fail(err, EINVAL, "allocated size %" PRIu64
                       " does not fit in the whole chunks of a %" PRIu64
                       "-byte image", p->allocated, p->size);
    if (p->text_pct > 100)
        return xlmig_fail(err, EINVAL, "text share %" PRIu32
                       "%% is above 100%%", p->text_pct);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Chunk 0 (the superblock's) always holds data; the other data chunks are
 * the first of a seeded shuffle of chunks 1..full-1, drawn by a sparse
 * Fisher-Yates: only the entries a swap moved are kept, so the cost is
 * O(data chunks) whatever the disk size.  Kinds go in draw order: text
 * first, then random.
 */
static int draw_data_chunks(struct sim_layout *l, uint64_t full,
                            uint64_t nalloc, uint64_t ntext)
{
    struct sim_map moved;
    struct sim_rng r;
    int rc = 0;

    sim_map_init(&moved);
    sim_rng_seed(&r, l->p.seed ^ 0x6c61796f7574ULL);
    l->data[0] = 0;
    for (uint64_t i = 1; i < nalloc && !rc; i++) {
        uint64_t j = i + sim_rng_below(&r, full - i);     /* in [i, full) */
        uint64_t at_i = i, at_j = j;

        sim_map_get(&moved, i, &at_i);
        sim_map_get(&moved, j, &at_j);
        l->data[i] = at_j;
        rc = sim_map_put(&moved, j, at_i);
        sim_map_del(&moved, i);
    }
    sim_map_free(&moved);
    if (rc)
        return rc;
    for (uint64_t i = 0; i < nalloc; i++)
        l->kind[l->data[i]] = i < ntext ? SIM_FILL_TEXT : SIM_FILL_RANDOM;
    qsort(l->data, nalloc, sizeof(*l->data), cmp_u64);
    return 0;
}

int sim_layout_init(struct sim_layout *l, const struct sim_layout_params *p,
                    struct xlmig_error *err)
{
    uint64_t full, nalloc, ntext;
    int rc;

    memset(l, 0, sizeof(*l));
    rc = check_params(p, err);
    if (rc)
        return rc;
    l->p = *p;
    l->nblocks = p->size / SIM_BLOCK_SIZE;
    l->nchunks = (p->size + p->chunk - 1) / p->chunk;
    full = p->size / p->chunk;
    nalloc = p->allocated / p->chunk;
    ntext = (nalloc * p->text_pct + 50) / 100;
    /* calloc'd: the pages of the holes' kinds are never touched. */
    l->kind = calloc(l->nchunks, 1);
    l->data = malloc(nalloc * sizeof(*l->data));
    if (!l->kind || !l->data ||
        draw_data_chunks(l, full, nalloc, ntext) < 0) {
        sim_layout_free(l);
        return xlmig_fail(err, ENOMEM, "out of memory for the layout");
    }
    l->ndata = nalloc;
    return 0;
}

void sim_layout_free(struct sim_layout *l)
{
    free(l->kind);
    free(l->data);
    memset(l, 0, sizeof(*l));
}

static void make_super(const struct sim_layout *l, void *buf)
{
    struct sim_super s = {
        .magic = SUPER_MAGIC, .version = SUPER_VERSION,
        .block_size = SIM_BLOCK_SIZE, .size = l->p.size,
        .allocated = l->p.allocated, .chunk = l->p.chunk,
        .text_pct = l->p.text_pct, .seed = l->p.seed,
    };

    s.crc = (uint32_t)crc32(0L, (const Bytef *)&s, offsetof(struct sim_super,
                                                           crc));
    memset(buf, 0, SIM_BLOCK_SIZE);
    memcpy(buf, &s, sizeof(s));
}

void sim_layout_expected(const struct sim_layout *l, uint64_t block,
                         uint32_t gen, void *buf)
{
    if (gen)
        sim_pattern_fill(buf, l->p.seed, block, gen,
                         sim_layout_write_fill(l, block));
    else if (block == 0)
        make_super(l, buf);
    else
        sim_pattern_fill(buf, l->p.seed, block, 0, sim_layout_kind(l, block));
}

int sim_layout_write_image(const struct sim_layout *l, const char *path,
                           bool force, struct xlmig_error *err)
{
    const size_t bufsz = 1u << 20;
    unsigned char *buf;
    int fd, rc = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
                        (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0)
        return xlmig_fail(err, errno, "cannot create %s: %s%s", path,
                       strerror(errno),
                       errno == EEXIST ? " (use --force to overwrite)" : "");
    buf = malloc(bufsz);
    if (!buf) {
        close(fd);
        return xlmig_fail(err, ENOMEM, "out of memory");
    }
    if (ftruncate(fd, (off_t)l->p.size) < 0) {
        rc = xlmig_fail(err, errno, "cannot size %s: %s", path,
                     strerror(errno));
        goto out;
    }
    for (uint64_t c = 0; c < l->ndata && !rc; c++) {
        uint64_t start = l->data[c] * l->p.chunk, end = start + l->p.chunk;

        for (uint64_t off = start; off < end && !rc; off += bufsz) {
            size_t n = end - off < bufsz ? (size_t)(end - off) : bufsz;

            for (size_t i = 0; i < n; i += SIM_BLOCK_SIZE)
                sim_layout_expected(l, (off + i) >> SIM_BLOCK_SHIFT, 0,
                                    buf + i);
            rc = sim_pwrite_full(fd, buf, n, off);
            if (rc)
                xlmig_fail(err, -rc, "cannot write %s: %s", path,
                        strerror(-rc));
        }
    }
    if (!rc && fsync(fd) < 0)
        rc = xlmig_fail(err, errno, "cannot sync %s: %s", path,
                     strerror(errno));
out:
    free(buf);
    if (close(fd) < 0 && !rc)
        rc = xlmig_fail(err, errno, "cannot close %s: %s", path,
                     strerror(errno));
    if (rc)
        unlink(path);
    return rc;
}

int sim_layout_read_super(struct sim_layout *l, int fd, struct xlmig_error *err)
{
    unsigned char buf[SIM_BLOCK_SIZE];
    struct sim_layout_params p;
    struct sim_super s;
    struct stat st;
    int rc;

    memset(l, 0, sizeof(*l));
    rc = sim_pread_full(fd, buf, sizeof(buf), 0);
    if (rc)
        return xlmig_fail(err, -rc, "cannot read the superblock: %s",
                       strerror(-rc));
    memcpy(&s, buf, sizeof(s));
    if (memcmp(s.magic, SUPER_MAGIC, 8))
        return xlmig_fail(err, EINVAL, "not a simulated guest disk "
                       "(no superblock; make one with "
                       "`xlmig-vbdsim mkimage`)");
    if (s.version == 1)
        return xlmig_fail(err, EINVAL, "the image was made by an older "
                       "xlmig-vbdsim (superblock version 1, another "
                       "layout): make a new one with mkimage");
    if (s.version != SUPER_VERSION || s.block_size != SIM_BLOCK_SIZE)
        return xlmig_fail(err, EINVAL, "unsupported superblock version "
                       "%" PRIu32, s.version);
    if (s.crc != (uint32_t)crc32(0L, (const Bytef *)&s,
                                 offsetof(struct sim_super, crc)))
        return xlmig_fail(err, EINVAL, "corrupt superblock (bad CRC)");
    if (fstat(fd, &st) < 0)
        return xlmig_fail(err, errno, "cannot stat the image: %s",
                       strerror(errno));
    if ((uint64_t)st.st_size != s.size)
        return xlmig_fail(err, EINVAL, "the image is %lld bytes but "
                       "its superblock says %" PRIu64, (long long)st.st_size,
                       s.size);
    p = (struct sim_layout_params){
        .size = s.size, .allocated = s.allocated, .chunk = s.chunk,
        .text_pct = s.text_pct, .seed = s.seed,
    };
    return sim_layout_init(l, &p, err);
}
