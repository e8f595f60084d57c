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
 * Reads the whole image in chunks and calls fn for every block with its
 * content; stops at the first non-zero return of fn (which it returns).
 */
typedef int block_fn(void *opaque, uint64_t b, const unsigned char *got);

static int walk_image(const struct sim_layout *l, int fd, block_fn *fn,
                      void *opaque, char *err, size_t errlen)
{
    unsigned char *buf = malloc(READ_CHUNK);
    int rc = 0;

    if (!buf)
        return sim_err(err, errlen, ENOMEM, "out of memory");
    for (uint64_t off = 0; off < l->p.size && !rc; off += READ_CHUNK) {
        size_t n = l->p.size - off < READ_CHUNK ? (size_t)(l->p.size - off)
                                                : READ_CHUNK;

        rc = sim_pread_full(fd, buf, n, off);
        if (rc) {
            sim_err(err, errlen, -rc, "cannot read the image at %" PRIu64
                    ": %s", off, strerror(-rc));
            break;
        }
        for (size_t i = 0; i < n && !rc; i += SIM_BLOCK_SIZE)
            rc = fn(opaque, (off + i) >> SIM_BLOCK_SHIFT, buf + i);
    }
    free(buf);
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
    uint32_t gen = v->g->gen[b];

    if (v->g->flags[b] & BLK_UNKNOWN) {
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
    int rc;

    if (!v)
        return sim_err(err, errlen, ENOMEM, "out of memory");
    v->g = g;
    v->l = &g->layout;
    rc = walk_image(v->l, sim_backend_fd(g->backend), verify_block, v, err,
                    errlen);
    if (rc) {
        free(v);
        return rc;
    }
    r->verified = 1;
    r->blocks_checked = v->checked;
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
    sim_log("verify: %" PRIu64 " blocks checked, %" PRIu64 " wrong, %" PRIu64
            " unknown: %s", v->checked, v->bad, v->unknown,
            v->bad ? "FAIL" : "ok");
    free(v);
    return 0;
}

struct adopt {
    const struct sim_layout *l;
    uint32_t *gen;
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

    a->gen[b] = 0;
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
            a->gen[b] = t.gen;
            (*a->written)++;
            return 0;
        }
    }
    sim_pattern_explain(got, a->want, a->l->p.seed, b, 0, why, sizeof(why));
    return sim_err(a->err, a->errlen, EINVAL, "the image is damaged: %s "
                   "(make a new one with mkimage)", why);
}

int sim_image_adopt(const struct sim_layout *l, int fd, uint32_t *gen,
                    uint64_t *written, char *err, size_t errlen)
{
    struct adopt a = { .l = l, .gen = gen, .written = written, .err = err,
                       .errlen = errlen };

    *written = 0;
    return walk_image(l, fd, adopt_block, &a, err, errlen);
}
