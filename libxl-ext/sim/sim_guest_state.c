/*
 * The simulated guest's state blob: what suspend hands out and load takes
 * back.  Layout (native byte order, same-host use):
 *
 *   struct blob_hdr    magic, version, sizes, CRC-32 of the whole blob,
 *                      image layout, workload config, random stream,
 *                      counters, write-gap clock, block and entry counts
 *   entries            per block the model knows (written, or unknown
 *                      after a failed write): u64 block | flags << 56,
 *                      u32 generation
 *
 * Its size and the time to make and load it follow what the guest wrote,
 * not the disk's size: it is made and loaded inside the downtime.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "sim/sim_guest_int.h"
#include "sim/sim_util.h"

#define BLOB_MAGIC 0x42475358u      /* "XSGB" */
#define BLOB_VERSION 2     /* 1: whole gen[] and flags[] arrays */

struct blob_hdr {
    uint32_t magic;
    uint32_t version;
    uint64_t total;             /* bytes, header included */
    uint32_t crc;               /* crc32 of the blob with this field zero */
    uint32_t hdr_size;
    struct sim_layout_params layout;
    struct sim_guest_persist p;
    uint64_t nblocks;
    uint64_t nentries;          /* ENTRY_LEN bytes each after the header */
};

#define ENTRY_LEN 12
#define FLAGS_SHIFT 56

/* No padding anywhere: every byte of the blob is defined. */
_Static_assert(sizeof(struct sim_layout_params) == 32, "layout params");
_Static_assert(sizeof(struct sim_workload_cfg) == 40, "workload cfg");
_Static_assert(sizeof(struct sim_guest_persist) == 40 + 32 + 12 * 8,
               "persistent state");
_Static_assert(sizeof(struct blob_hdr) == 24 + 32 + 168 + 16, "blob header");

static uint32_t blob_crc(const unsigned char *blob, size_t len)
{
    static const unsigned char zero[4];
    const size_t off = offsetof(struct blob_hdr, crc);
    uLong c = crc32(0L, Z_NULL, 0);

    c = crc32(c, blob, off);
    c = crc32(c, zero, 4);
    /* crc32() takes a uInt length: feed large models in pieces. */
    for (size_t pos = off + 4; pos < len;) {
        size_t n = len - pos < (1u << 30) ? len - pos : (1u << 30);

        c = crc32(c, blob + pos, (uInt)n);
        pos += n;
    }
    return (uint32_t)c;
}

int sim_guest_state_encode(struct sim_guest *g, void **blob, size_t *len,
                           struct xlmig_error *err)
{
    size_t n = sim_map_count(&g->model), pos = 0, total;
    unsigned char *out, *e;
    struct blob_hdr h;
    uint64_t b, v;

    *blob = NULL;
    *len = 0;
    if (n > (SIZE_MAX - sizeof(h)) / ENTRY_LEN)
        return xlmig_fail(err, ENOMEM, "the model is too large");
    out = malloc(sizeof(h) + n * ENTRY_LEN);
    if (!out)
        return xlmig_fail(err, ENOMEM, "out of memory for the state");
    e = out + sizeof(h);
    /* The workload is stopped: no BUSY flags, only UNKNOWN may remain. */
    while (sim_map_next(&g->model, &pos, &b, &v)) {
        uint32_t gen = (uint32_t)v;
        uint64_t flags = (v >> 32) & BLK_UNKNOWN;
        uint64_t word = b | flags << FLAGS_SHIFT;

        if (!gen && !flags)
            continue;
        memcpy(e, &word, 8);
        memcpy(e + 8, &gen, 4);
        e += ENTRY_LEN;
    }
    total = (size_t)(e - out);
    memset(&h, 0, sizeof(h));
    h.magic = BLOB_MAGIC;
    h.version = BLOB_VERSION;
    h.total = total;
    h.hdr_size = sizeof(h);
    h.layout = g->layout.p;
    h.p = g->p;
    h.nblocks = g->layout.nblocks;
    h.nentries = (total - sizeof(h)) / ENTRY_LEN;
    memcpy(out, &h, sizeof(h));
    h.crc = blob_crc(out, total);
    memcpy(out + offsetof(struct blob_hdr, crc), &h.crc, sizeof(h.crc));
    *blob = out;
    *len = total;
    return 0;
}

/* The entries into an empty model, each checked. */
static int decode_entries(const unsigned char *e, uint64_t n,
                          uint64_t nblocks, struct sim_map *model, struct xlmig_error *err)
{
    if (sim_map_reserve(model, (size_t)n) < 0)
        return xlmig_fail(err, ENOMEM, "out of memory for the model");
    for (uint64_t i = 0; i < n; i++, e += ENTRY_LEN) {
        uint64_t word, b, flags;
        uint32_t gen;

        memcpy(&word, e, 8);
        memcpy(&gen, e + 8, 4);
        b = word & ((1ULL << FLAGS_SHIFT) - 1);
        flags = word >> FLAGS_SHIFT;
        if (b >= nblocks || (flags & ~(uint64_t)BLK_UNKNOWN) ||
            (!gen && !flags))
            return xlmig_fail(err, EINVAL, "the guest state's model "
                           "has a bad entry (block %" PRIu64 ")", b);
        if (sim_map_get(model, b, NULL))
            return xlmig_fail(err, EINVAL, "the guest state's model "
                           "names block %" PRIu64 " twice", b);
        sim_model_set(model, b, gen, (uint8_t)flags);
    }
    return 0;
}

int sim_guest_state_decode(const void *blob, size_t len, uint64_t image_size,
                           struct sim_layout *layout,
                           struct sim_guest_persist *p, struct sim_map *model,
                           struct xlmig_error *err)
{
    const unsigned char *in = blob;
    struct blob_hdr h;
    int rc;

    sim_map_init(model);
    if (!blob || len < sizeof(h))
        return xlmig_fail(err, EINVAL, "the guest state is too short "
                       "(%zu bytes)", len);
    memcpy(&h, in, sizeof(h));
    if (h.magic != BLOB_MAGIC)
        return xlmig_fail(err, EINVAL, "not a simulated guest state");
    if (h.version != BLOB_VERSION || h.hdr_size != sizeof(h))
        return xlmig_fail(err, EINVAL, "unsupported guest state version "
                       "%" PRIu32, h.version);
    if (h.total != len || h.nentries > (len - sizeof(h)) / ENTRY_LEN ||
        h.nentries * ENTRY_LEN != len - sizeof(h))
        return xlmig_fail(err, EINVAL, "the guest state is truncated or "
                       "padded (%zu bytes, header says %" PRIu64 ")", len,
                       h.total);
    if (h.crc != blob_crc(in, len))
        return xlmig_fail(err, EINVAL, "the guest state is corrupt "
                       "(bad CRC)");
    rc = sim_layout_init(layout, &h.layout, err);
    if (rc)
        return rc;
    if (layout->p.size != image_size) {
        rc = xlmig_fail(err, EINVAL, "the guest's disk is %" PRIu64
                     " bytes but this image is %" PRIu64, layout->p.size,
                     image_size);
        goto fail;
    }
    if (h.nblocks != layout->nblocks) {
        rc = xlmig_fail(err, EINVAL, "the model has %" PRIu64 " blocks,"
                     " the disk %" PRIu64, h.nblocks, layout->nblocks);
        goto fail;
    }
    rc = sim_workload_check(&h.p.cfg, layout, err);
    if (rc)
        goto fail;
    if (!(h.p.rng.s[0] | h.p.rng.s[1] | h.p.rng.s[2] | h.p.rng.s[3])) {
        rc = xlmig_fail(err, EINVAL, "the guest state has a dead "
                     "random stream");
        goto fail;
    }
    rc = decode_entries(in + sizeof(h), h.nentries, h.nblocks, model, err);
    if (rc)
        goto fail;
    *p = h.p;
    return 0;
fail:
    sim_map_free(model);
    sim_layout_free(layout);
    return rc;
}
