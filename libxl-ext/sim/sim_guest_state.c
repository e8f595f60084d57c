/*
 * The simulated guest's state blob: what suspend hands out and load takes
 * back.  Layout (native byte order, same-host use):
 *
 *   struct blob_hdr    magic, version, sizes, CRC-32 of the whole blob,
 *                      image layout, workload config, random stream,
 *                      counters, write-gap clock, block count
 *   zlib stream        gen[nblocks] (uint32) then flags[nblocks] (uint8):
 *                      mostly zeros, so a 2 GiB disk's model is a few KiB
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
#define BLOB_VERSION 1

struct blob_hdr {
    uint32_t magic;
    uint32_t version;
    uint64_t total;             /* bytes, header included */
    uint32_t crc;               /* crc32 of the blob with this field zero */
    uint32_t hdr_size;
    struct sim_layout_params layout;
    struct sim_guest_persist p;
    uint64_t nblocks;
    uint64_t model_len;         /* bytes of zlib stream after the header */
};

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
                           char *err, size_t errlen)
{
    uint64_t nb = g->layout.nblocks;
    size_t raw_len = nb * (sizeof(uint32_t) + 1);
    unsigned char *raw, *out;
    struct blob_hdr h;
    uLongf zlen;
    int zrc;

    *blob = NULL;
    *len = 0;
    raw = malloc(raw_len);
    zlen = compressBound(raw_len);
    out = malloc(sizeof(h) + zlen);
    if (!raw || !out) {
        free(raw);
        free(out);
        return sim_err(err, errlen, ENOMEM, "out of memory for the state");
    }
    memcpy(raw, g->gen, nb * sizeof(uint32_t));
    for (uint64_t b = 0; b < nb; b++)
        raw[nb * sizeof(uint32_t) + b] = g->flags[b] & BLK_UNKNOWN;
    zrc = compress2(out + sizeof(h), &zlen, raw, raw_len, 1);
    free(raw);
    if (zrc != Z_OK) {
        free(out);
        return sim_err(err, errlen, EIO, "cannot compress the model (zlib "
                       "error %d)", zrc);
    }
    memset(&h, 0, sizeof(h));
    h.magic = BLOB_MAGIC;
    h.version = BLOB_VERSION;
    h.total = sizeof(h) + zlen;
    h.hdr_size = sizeof(h);
    h.layout = g->layout.p;
    h.p = g->p;
    h.nblocks = nb;
    h.model_len = zlen;
    memcpy(out, &h, sizeof(h));
    h.crc = blob_crc(out, (size_t)h.total);
    memcpy(out + offsetof(struct blob_hdr, crc), &h.crc, sizeof(h.crc));
    *blob = out;
    *len = (size_t)h.total;
    return 0;
}

int sim_guest_state_decode(const void *blob, size_t len, uint64_t image_size,
                           struct sim_layout *layout,
                           struct sim_guest_persist *p, uint32_t **gen,
                           uint8_t **flags, char *err, size_t errlen)
{
    const unsigned char *in = blob;
    unsigned char *raw = NULL;
    struct blob_hdr h;
    size_t raw_len;
    uLongf got;
    int rc;

    *gen = NULL;
    *flags = NULL;
    if (!blob || len < sizeof(h))
        return sim_err(err, errlen, EINVAL, "the guest state is too short "
                       "(%zu bytes)", len);
    memcpy(&h, in, sizeof(h));
    if (h.magic != BLOB_MAGIC)
        return sim_err(err, errlen, EINVAL, "not a simulated guest state");
    if (h.version != BLOB_VERSION || h.hdr_size != sizeof(h))
        return sim_err(err, errlen, EINVAL, "unsupported guest state version "
                       "%" PRIu32, h.version);
    if (h.total != len || h.model_len != len - sizeof(h))
        return sim_err(err, errlen, EINVAL, "the guest state is truncated or "
                       "padded (%zu bytes, header says %" PRIu64 ")", len,
                       h.total);
    if (h.crc != blob_crc(in, len))
        return sim_err(err, errlen, EINVAL, "the guest state is corrupt "
                       "(bad CRC)");
    rc = sim_layout_init(layout, &h.layout, err, errlen);
    if (rc)
        return rc;
    if (layout->p.size != image_size) {
        rc = sim_err(err, errlen, EINVAL, "the guest's disk is %" PRIu64
                     " bytes but this image is %" PRIu64, layout->p.size,
                     image_size);
        goto fail;
    }
    if (h.nblocks != layout->nblocks) {
        rc = sim_err(err, errlen, EINVAL, "the model has %" PRIu64 " blocks,"
                     " the disk %" PRIu64, h.nblocks, layout->nblocks);
        goto fail;
    }
    rc = sim_workload_check(&h.p.cfg, layout, err, errlen);
    if (rc)
        goto fail;
    if (!(h.p.rng.s[0] | h.p.rng.s[1] | h.p.rng.s[2] | h.p.rng.s[3])) {
        rc = sim_err(err, errlen, EINVAL, "the guest state has a dead "
                     "random stream");
        goto fail;
    }
    raw_len = h.nblocks * (sizeof(uint32_t) + 1);
    raw = malloc(raw_len);
    *flags = malloc(h.nblocks);
    if (!raw || !*flags) {
        rc = sim_err(err, errlen, ENOMEM, "out of memory for the model");
        goto fail;
    }
    got = raw_len;
    if (uncompress(raw, &got, in + sizeof(h), h.model_len) != Z_OK ||
        got != raw_len) {
        rc = sim_err(err, errlen, EINVAL, "the guest state's model is "
                     "corrupt");
        goto fail;
    }
    for (uint64_t b = 0; b < h.nblocks; b++) {
        uint8_t f = raw[h.nblocks * sizeof(uint32_t) + b];

        if (f & ~BLK_UNKNOWN) {
            rc = sim_err(err, errlen, EINVAL, "the guest state's model has "
                         "bad flags");
            goto fail;
        }
        (*flags)[b] = f;
    }
    /* The gen array is the head of raw: shrink it in place. */
    *gen = realloc(raw, h.nblocks * sizeof(uint32_t));
    if (!*gen)
        *gen = (uint32_t *)raw;
    *p = h.p;
    return 0;
fail:
    free(raw);
    free(*flags);
    *flags = NULL;
    sim_layout_free(layout);
    return rc;
}
