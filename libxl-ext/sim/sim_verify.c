/*
 * Whole-image checks.  Stop-and-verify: every block must hold exactly what
 * the model says (its latest acknowledged generation, or the initial
 * content).  Adoption: a source daemon started on an image that a previous
 * run wrote rebuilds the model from the blocks' own tags.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim_guest_int.h"
#include "sim/sim_util.h"

#define READ_CHUNK (1u << 20)
#define MAX_EXPLAINED 4
#define MAX_LOGGED 100

/* Appends "; s" (or s), truncating to fit. */
static void append(char *buf, size_t len, const char *s)
{
    size_t used = strlen(buf), n;

    if (used && used + 2 < len) {
        memcpy(buf + used, "; ", 2);
        used += 2;
    }
    n = strlen(s);
    if (n > len - 1 - used)
        n = len - 1 - used;
    memcpy(buf + used, s, n);
    buf[used + n] = '\0';
}

static bool is_zero(const unsigned char *p, size_t len)
{
    return p[0] == 0 && !memcmp(p, p + 1, len - 1);
}

/*
 * Marks the blocks worth reading: the layout's data chunks, the blocks the
 * model knows (model may be NULL) and what the file holds as data
 * (SEEK_DATA; where the filesystem cannot tell, all of it).  The rest is
 * holes in the file where the layout has holes and the guest never wrote:
 * they read as zeros, which is what they must hold.
 */
static int blocks_to_read(const struct sim_layout *l, int fd,
                          const struct sim_map *model,
                          struct xlmig_bitmap **out, char *err, size_t errlen)
{
    struct xlmig_bitmap *set = xlmig_bitmap_new(l->nblocks);
    const uint64_t per_chunk = l->p.chunk >> SIM_BLOCK_SHIFT;
    off_t data, hole = 0;
    size_t pos = 0;
    uint64_t b, v;

    *out = NULL;
    if (!set)
        return sim_err(err, errlen, ENOMEM, "out of memory");
    for (uint64_t i = 0; i < l->ndata; i++)
        xlmig_bitmap_set_range(set, l->data[i] * per_chunk, per_chunk);
    while (model && sim_map_next(model, &pos, &b, &v))
        xlmig_bitmap_set_range(set, b, 1);
    for (;;) {
        data = lseek(fd, hole, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;                          /* no data after hole */
        if (data >= 0)
            hole = lseek(fd, data, SEEK_HOLE);
        if (data < 0 || hole < 0) {
            /* Cannot tell data from holes here: read everything. */
            xlmig_bitmap_set_range(set, 0, l->nblocks);
            break;
        }
        if ((uint64_t)data >= l->p.size)
            break;
        xlmig_bitmap_set_range(set, (uint64_t)data >> SIM_BLOCK_SHIFT,
                               (((uint64_t)hole + SIM_BLOCK_SIZE - 1) >>
                                SIM_BLOCK_SHIFT) -
                                   ((uint64_t)data >> SIM_BLOCK_SHIFT));
    }
    *out = set;
    return 0;
}

/*
 * Reads the blocks of the set in runs of up to READ_CHUNK and calls fn
 * for each with its content; stops at the first non-zero return of fn
 * (which it returns).  *read counts the blocks read.
 */
typedef int block_fn(void *opaque, uint64_t b, const unsigned char *got);

static int walk_blocks(const struct sim_layout *l, int fd,
                       const struct xlmig_bitmap *set, block_fn *fn,
                       void *opaque, uint64_t *read, char *err,
                       size_t errlen)
{
    unsigned char *buf = malloc(READ_CHUNK);
    struct xlmig_extent e;
    uint64_t pos = 0;
    int rc = 0;

    *read = 0;
    if (!buf)
        return sim_err(err, errlen, ENOMEM, "out of memory");
    while (!rc && xlmig_bitmap_next_extent(set, &pos,
                                           READ_CHUNK >> SIM_BLOCK_SHIFT,
                                           &e)) {
        uint64_t off = e.start << SIM_BLOCK_SHIFT;
        size_t n = (size_t)(e.count << SIM_BLOCK_SHIFT);

        rc = sim_pread_full(fd, buf, n, off);
        if (rc) {
            sim_err(err, errlen, -rc, "cannot read the image at %" PRIu64
                    ": %s", off, strerror(-rc));
            break;
        }
        for (uint64_t i = 0; i < e.count && !rc; i++)
            rc = fn(opaque, e.start + i, buf + (i << SIM_BLOCK_SHIFT));
        *read += e.count;
    }
    free(buf);
    return rc;
}

/* Both at once: the set, then the walk. */
static int walk_image(const struct sim_layout *l, int fd,
                      const struct sim_map *model, block_fn *fn,
                      void *opaque, uint64_t *read, char *err, size_t errlen)
{
    struct xlmig_bitmap *set;
    int rc = blocks_to_read(l, fd, model, &set, err, errlen);

    if (!rc)
        rc = walk_blocks(l, fd, set, fn, opaque, read, err, errlen);
    xlmig_bitmap_free(set);
    return rc;
}

struct verify {
    struct sim_guest *g;
    const struct sim_layout *l;
    unsigned char want[SIM_BLOCK_SIZE];
    char found[MAX_EXPLAINED][200];
    uint64_t bad, checked, unknown;
};

static int verify_block(void *opaque, uint64_t b, const unsigned char *got)
{
    struct verify *v = opaque;
    uint32_t gen = sim_model_gen(&v->g->model, b);

    if (sim_model_flags(&v->g->model, b) & BLK_UNKNOWN) {
        v->unknown++;
        return 0;
    }
    v->checked++;
    /* Untouched holes: no need to generate zeros. */
    if (!gen && b && sim_layout_kind(v->l, b) == SIM_FILL_ZERO) {
        if (is_zero(got, SIM_BLOCK_SIZE))
            return 0;
        memset(v->want, 0, sizeof(v->want));
    } else {
        sim_layout_expected(v->l, b, gen, v->want);
        if (!memcmp(got, v->want, SIM_BLOCK_SIZE))
            return 0;
    }
    if (v->bad < MAX_LOGGED) {
        char why[200];

        sim_pattern_explain(got, v->want, v->l->p.seed, b, gen, why,
                            sizeof(why));
        if (v->bad < MAX_EXPLAINED)
            snprintf(v->found[v->bad], sizeof(v->found[0]), "%s", why);
        sim_log("verify: %s", why);
    }
    v->bad++;
    return 0;
}

int sim_guest_verify_image(struct sim_guest *g, struct xlmig_sim_report *r,
                           char *err, size_t errlen)
{
    struct verify *v = calloc(1, sizeof(*v));
    uint64_t read;
    int rc;

    if (!v)
        return sim_err(err, errlen, ENOMEM, "out of memory");
    v->g = g;
    v->l = &g->layout;
    rc = walk_image(v->l, sim_backend_fd(g->backend), &g->model,
                    verify_block, v, &read, err, errlen);
    if (rc) {
        free(v);
        return rc;
    }
    r->verified = 1;
    /* Blocks not read are file holes where zeros belong: checked too. */
    r->blocks_checked = v->checked + (v->l->nblocks - read);
    r->mismatches = v->bad;
    r->unknown = v->unknown;
    if (v->bad) {
        char head[96];

        snprintf(head, sizeof(head), "verify: %" PRIu64 " of %" PRIu64
                 " blocks wrong", v->bad, v->checked);
        append(r->detail, sizeof(r->detail), head);
        for (uint64_t i = 0; i < v->bad && i < MAX_EXPLAINED; i++)
            append(r->detail, sizeof(r->detail), v->found[i]);
    }
    sim_log("verify: %" PRIu64 " blocks checked (%" PRIu64 " read, the "
            "rest holes), %" PRIu64 " wrong, %" PRIu64 " unknown: %s",
            r->blocks_checked, read, v->bad, v->unknown,
            v->bad ? "FAIL" : "ok");
    free(v);
    return 0;
}

struct adopt {
    const struct sim_layout *l;
    struct sim_map *model;
    uint64_t *written;
    unsigned char want[SIM_BLOCK_SIZE];
    char *err;
    size_t errlen;
};

static int adopt_block(void *opaque, uint64_t b, const unsigned char *got)
{
    struct adopt *a = opaque;
    struct sim_tag t;
    char why[200];

    if (b && sim_layout_kind(a->l, b) == SIM_FILL_ZERO &&
        is_zero(got, SIM_BLOCK_SIZE))
        return 0;
    sim_layout_expected(a->l, b, 0, a->want);
    if (!memcmp(got, a->want, SIM_BLOCK_SIZE))
        return 0;
    /* Written by an earlier run: trust a consistent tag. */
    if (b && sim_pattern_inspect(got, &t) == SIM_FOUND_TAGGED &&
        t.seed == a->l->p.seed && t.block == b && t.gen &&
        t.gen != UINT32_MAX) {
        sim_layout_expected(a->l, b, t.gen, a->want);
        if (!memcmp(got, a->want, SIM_BLOCK_SIZE)) {
            (*a->written)++;
            if (sim_model_set(a->model, b, t.gen, 0) < 0)
                return sim_err(a->err, a->errlen, ENOMEM, "out of memory "
                               "for the model");
            return 0;
        }
    }
    sim_pattern_explain(got, a->want, a->l->p.seed, b, 0, why, sizeof(why));
    return sim_err(a->err, a->errlen, EINVAL, "the image is damaged: %s "
                   "(make a new one with mkimage)", why);
}

int sim_image_adopt(const struct sim_layout *l, int fd, struct sim_map *model,
                    uint64_t *written, char *err, size_t errlen)
{
    struct adopt a = { .l = l, .model = model, .written = written,
                       .err = err, .errlen = errlen };
    uint64_t read;

    *written = 0;
    /* Blocks not read are holes: generation 0, as the model has them. */
    return walk_image(l, fd, NULL, adopt_block, &a, &read, err, errlen);
}
