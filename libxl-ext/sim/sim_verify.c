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

int sim_guest_verify_image(struct sim_guest *g, struct xlmig_sim_report *r,
                           char *err, size_t errlen)
{
    const struct sim_layout *l = &g->layout;
    int fd = sim_backend_fd(g->backend);
    unsigned char *buf = malloc(READ_CHUNK), want[SIM_BLOCK_SIZE];
    char found[MAX_EXPLAINED][200];
    uint64_t bad = 0, checked = 0, unknown = 0;
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
        for (size_t i = 0; i < n; i += SIM_BLOCK_SIZE) {
            uint64_t b = (off + i) >> SIM_BLOCK_SHIFT;
            const unsigned char *got = buf + i;
            uint32_t gen = g->gen[b];

            if (g->flags[b] & BLK_UNKNOWN) {
                unknown++;
                continue;
            }
            checked++;
            /* Untouched holes: no need to generate zeros. */
            if (!gen && b && sim_layout_kind(l, b) == SIM_FILL_ZERO) {
                if (is_zero(got, SIM_BLOCK_SIZE))
                    continue;
                memset(want, 0, sizeof(want));
            } else {
                sim_layout_expected(l, b, gen, want);
                if (!memcmp(got, want, SIM_BLOCK_SIZE))
                    continue;
            }
            if (bad < MAX_LOGGED) {
                char why[200];

                sim_pattern_explain(got, want, l->p.seed, b, gen, why,
                                    sizeof(why));
                if (bad < MAX_EXPLAINED)
                    snprintf(found[bad], sizeof(found[bad]), "%s", why);
                sim_log("verify: %s", why);
            }
            bad++;
        }
    }
    free(buf);
    if (rc)
        return rc;
    r->verified = 1;
    r->blocks_checked = checked;
    r->mismatches = bad;
    r->unknown = unknown;
    if (bad) {
        char head[96];

        snprintf(head, sizeof(head), "verify: %" PRIu64 " of %" PRIu64
                 " blocks wrong", bad, checked);
        append(r->detail, sizeof(r->detail), head);
        for (uint64_t i = 0; i < bad && i < MAX_EXPLAINED; i++)
            append(r->detail, sizeof(r->detail), found[i]);
    }
    sim_log("verify: %" PRIu64 " blocks checked, %" PRIu64 " wrong, %" PRIu64
            " unknown: %s", checked, bad, unknown, bad ? "FAIL" : "ok");
    return 0;
}

int sim_image_adopt(const struct sim_layout *l, int fd, uint32_t *gen,
                    uint64_t *written, char *err, size_t errlen)
{
    unsigned char *buf = malloc(READ_CHUNK), want[SIM_BLOCK_SIZE];
    int rc = 0;

    *written = 0;
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
        for (size_t i = 0; i < n && !rc; i += SIM_BLOCK_SIZE) {
            uint64_t b = (off + i) >> SIM_BLOCK_SHIFT;
            const unsigned char *got = buf + i;
            struct sim_tag t;
            char why[200];

            gen[b] = 0;
            if (b && sim_layout_kind(l, b) == SIM_FILL_ZERO &&
                is_zero(got, SIM_BLOCK_SIZE))
                continue;
            sim_layout_expected(l, b, 0, want);
            if (!memcmp(got, want, SIM_BLOCK_SIZE))
                continue;
            /* Written by an earlier run: trust a consistent tag. */
            if (b && sim_pattern_inspect(got, &t) == SIM_FOUND_TAGGED &&
                t.seed == l->p.seed && t.block == b && t.gen &&
                t.gen != UINT32_MAX) {
                sim_layout_expected(l, b, t.gen, want);
                if (!memcmp(got, want, SIM_BLOCK_SIZE)) {
                    gen[b] = t.gen;
                    (*written)++;
                    continue;
                }
            }
            sim_pattern_explain(got, want, l->p.seed, b, 0, why,
                                sizeof(why));
            rc = sim_err(err, errlen, EINVAL, "the image is damaged: %s "
                         "(make a new one with mkimage)", why);
        }
    }
    free(buf);
    return rc;
}
