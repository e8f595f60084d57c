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

/* Block ranges to read, collected, then sorted and merged. */
struct ranges {
    struct xlmig_extent *r;
    size_t n, cap;
};

static int add_range(struct ranges *rs, uint64_t start, uint64_t count)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 1024;
        struct xlmig_extent *r = realloc(rs->r, cap * sizeof(*r));

        if (!r)
            return -ENOMEM;
        rs->r = r;
        rs->cap = cap;
    }
    rs->r[rs->n++] = (struct xlmig_extent){ start, count };
    return 0;
}

static int cmp_start(const void *a, const void *b)
{
    const struct xlmig_extent *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/* What the file holds as data (SEEK_DATA); where it cannot tell, all. */
static int file_data(const struct sim_layout *l, int fd, struct ranges *rs)
{
    off_t data, hole = 0;
    int rc = 0;

    while (!rc) {
        data = lseek(fd, hole, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;                          /* no data after hole */
        if (data >= 0)
            hole = lseek(fd, data, SEEK_HOLE);
        if (data < 0 || hole < 0)
            return add_range(rs, 0, l->nblocks);
        if ((uint64_t)data >= l->p.size)
            break;
        rc = add_range(rs, (uint64_t)data >> SIM_BLOCK_SHIFT,
                       (((uint64_t)hole + SIM_BLOCK_SIZE - 1) >>
                        SIM_BLOCK_SHIFT) - ((uint64_t)data >> SIM_BLOCK_SHIFT));
    }
    return rc;
}

/*
 * The blocks worth reading, sorted and merged: the layout's data chunks,
 * the blocks the model knows (model may be NULL) and what the file holds
 * as data.  The rest is holes in the file where the layout has holes and
 * the guest never wrote: they read as zeros, which is what they must
 * hold.  Memory and time follow those three, not the disk's size.
 */
static int blocks_to_read(const struct sim_layout *l, int fd,
                          const struct sim_map *model, struct ranges *rs,
                          struct xlmig_error *err)
{
    const uint64_t per_chunk = l->p.chunk >> SIM_BLOCK_SHIFT;
    size_t pos = 0, out = 0;
    uint64_t b, v;
    int rc = 0;

    for (uint64_t i = 0; i < l->ndata && !rc; i++)
        rc = add_range(rs, l->data[i] * per_chunk, per_chunk);
    while (!rc && model && sim_map_next(model, &pos, &b, &v))
        rc = add_range(rs, b, 1);
    if (!rc)
        rc = file_data(l, fd, rs);
    if (rc)
        return xlmig_fail(err, -rc, "out of memory");
    qsort(rs->r, rs->n, sizeof(*rs->r), cmp_start);
    for (size_t i = 0; i < rs->n; i++) {
        struct xlmig_extent *m = out ? &rs->r[out - 1] : NULL;
        uint64_t end = rs->r[i].start + rs->r[i].count;

        if (m && rs->r[i].start <= m->start + m->count) {
            if (end > m->start + m->count)
                m->count = end - m->start;
        } else {
            rs->r[out++] = rs->r[i];
        }
    }
    rs->n = out;
    return 0;
}

/*
 * Reads the ranges in pieces of up to READ_CHUNK and calls fn for each
 * block with its content; stops at the first non-zero return of fn
 * (which it returns).  *read counts the blocks read.
 */
typedef int block_fn(void *opaque, uint64_t b, const unsigned char *got);

static int walk_ranges(int fd, const struct ranges *rs, block_fn *fn,
                       void *opaque, uint64_t *read, struct xlmig_error *err)
{
    const uint64_t max = READ_CHUNK >> SIM_BLOCK_SHIFT;
    unsigned char *buf = malloc(READ_CHUNK);
    int rc = 0;

    *read = 0;
    if (!buf)
        return xlmig_fail(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < rs->n && !rc; i++) {
        for (uint64_t s = rs->r[i].start, e = s + rs->r[i].count;
             s < e && !rc; s += max) {
            uint64_t n = e - s < max ? e - s : max;

            rc = sim_pread_full(fd, buf, (size_t)(n << SIM_BLOCK_SHIFT),
                                s << SIM_BLOCK_SHIFT);
            if (rc) {
                xlmig_fail(err, -rc, "cannot read the image at %"
                        PRIu64 ": %s", s << SIM_BLOCK_SHIFT, strerror(-rc));
                break;
            }
            for (uint64_t k = 0; k < n && !rc; k++)
                rc = fn(opaque, s + k, buf + (k << SIM_BLOCK_SHIFT));
            *read += n;
        }
    }
    free(buf);
    return rc;
}

/* Both at once: the ranges, then the walk. */
static int walk_image(const struct sim_layout *l, int fd,
                      const struct sim_map *model, block_fn *fn,
                      void *opaque, uint64_t *read, struct xlmig_error *err)
{
    struct ranges rs = { NULL, 0, 0 };
    int rc = blocks_to_read(l, fd, model, &rs, err);

    *read = 0;
    if (!rc)
        rc = walk_ranges(fd, &rs, fn, opaque, read, err);
    free(rs.r);
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
                           struct xlmig_error *err)
{
    struct verify *v = calloc(1, sizeof(*v));
    uint64_t read;
    int rc;

    if (!v)
        return xlmig_fail(err, ENOMEM, "out of memory");
    v->g = g;
    v->l = &g->layout;
    rc = walk_image(v->l, sim_backend_fd(g->backend), &g->model,
                    verify_block, v, &read, err);
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
    struct xlmig_error *err;
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
                return xlmig_fail(a->err, ENOMEM, "out of memory "
                               "for the model");
            return 0;
        }
    }
    sim_pattern_explain(got, a->want, a->l->p.seed, b, 0, why, sizeof(why));
    return xlmig_fail(a->err, EINVAL, "the image is damaged: %s "
                   "(make a new one with mkimage)", why);
}

int sim_image_adopt(const struct sim_layout *l, int fd, struct sim_map *model,
                    uint64_t *written, struct xlmig_error *err)
{
    struct adopt a = { .l = l, .model = model, .written = written,
                       .err = err };
    uint64_t read;

    *written = 0;
    /* Blocks not read are holes: generation 0, as the model has them. */
    return walk_image(l, fd, NULL, adopt_block, &a, &read, err);
}
