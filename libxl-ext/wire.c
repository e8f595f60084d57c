/*
 * Record framing, encoders and validating decoders for the wire protocol
 * described in PROTOCOL.md.  Decoders trust nothing: every length and field
 * is checked before use, so a corrupt or hostile stream gets an error that
 * says what was wrong.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libdeflate.h>

#include "le.h"
#include "wire.h"

static int fail(struct xlmig_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct xlmig_error *err, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = xlmig_vfail(err, EPROTO, fmt, ap);
    va_end(ap);
    return rc;
}

const char *xlmig_rec_name(uint16_t type)
{
    switch (type) {
    case XLMIG_REC_HELLO: return "HELLO";
    case XLMIG_REC_ERROR: return "ERROR";
    case XLMIG_REC_HEARTBEAT: return "HEARTBEAT";
    case XLMIG_REC_SESSION: return "SESSION";
    case XLMIG_REC_JOIN: return "JOIN";
    case XLMIG_REC_RESUME: return "RESUME";
    case XLMIG_REC_RESUME_ACK: return "RESUME_ACK";
    case XLMIG_REC_DISK: return "DISK";
    case XLMIG_REC_DISK_ACK: return "DISK_ACK";
    case XLMIG_REC_DATA: return "DATA";
    case XLMIG_REC_PHASE: return "PHASE";
    case XLMIG_REC_SYNC: return "SYNC";
    case XLMIG_REC_SYNC_ACK: return "SYNC_ACK";
    case XLMIG_REC_BITMAP: return "BITMAP";
    case XLMIG_REC_BITMAP_END: return "BITMAP_END";
    case XLMIG_REC_PULL_REQ: return "PULL_REQ";
    case XLMIG_REC_PUSHED_ALL: return "PUSHED_ALL";
    case XLMIG_REC_DONE: return "DONE";
    case XLMIG_REC_DONE_ACK: return "DONE_ACK";
    case XLMIG_REC_STATE: return "STATE";
    case XLMIG_REC_STATE_END: return "STATE_END";
    case XLMIG_REC_READY: return "READY";
    case XLMIG_REC_GO: return "GO";
    case XLMIG_REC_REPORT: return "REPORT";
    case XLMIG_REC_OFFLINE: return "OFFLINE";
    case XLMIG_REC_DIGEST: return "DIGEST";
    case XLMIG_REC_MISMATCH: return "MISMATCH";
    case XLMIG_REC_VERIFIED: return "VERIFIED";
    case XLMIG_REC_PROBE: return "PROBE";
    case XLMIG_REC_PROBE_ACK: return "PROBE_ACK";
    default: return NULL;
    }
}

/* ---- framing ---- */

uint32_t xlmig_crc32(uint32_t crc, const void *p, size_t n)
{
    /* The same CRC-32 as zlib's, several times faster (PCLMUL). */
    return libdeflate_crc32(crc, p, n);
}

static uint32_t rec_crc(const uint8_t *rec, uint32_t body_len)
{
    return xlmig_crc32(xlmig_crc32(0, rec, 12), rec + XLMIG_HDR_LEN,
                       body_len);
}

void xlmig_seal(uint8_t *rec, uint16_t type, uint32_t body_len)
{
    put32(rec, XLMIG_MAGIC);
    put16(rec + 4, type);
    put16(rec + 6, 0);
    put32(rec + 8, body_len);
    put32(rec + 12, rec_crc(rec, body_len));
}

/*
 * Body length bounds per record type: fixed-size records exactly their
 * size, variable ones what their layout allows (PROTOCOL.md).
 */
static const struct {
    uint16_t type;
    uint32_t min, max;
} len_bounds[] = {
    { XLMIG_REC_HELLO, 24, 24 },
    { XLMIG_REC_ERROR, 6, 6 + XLMIG_MAX_REASON },
    { XLMIG_REC_HEARTBEAT, 16, 16 },
    { XLMIG_REC_DISK, 34 + 1, 34 + XLMIG_MAX_NAME },
    { XLMIG_REC_DISK_ACK, 8, 8 },
    { XLMIG_REC_SESSION, XLMIG_SESSION_TOKEN_LEN, XLMIG_SESSION_TOKEN_LEN },
    { XLMIG_REC_JOIN, XLMIG_JOIN_LEN, XLMIG_JOIN_LEN },
    { XLMIG_REC_OFFLINE, XLMIG_SESSION_TOKEN_LEN, XLMIG_SESSION_TOKEN_LEN },
    { XLMIG_REC_DATA, XLMIG_DATA_HDR_LEN, XLMIG_DATA_HDR_LEN + XLMIG_MAX_DATA },
    { XLMIG_REC_DIGEST, XLMIG_DIGEST_HDR_LEN + XLMIG_DIGEST_LEN,
      XLMIG_DIGEST_HDR_LEN + XLMIG_DIGEST_LEN * XLMIG_MAX_DIGESTS },
    { XLMIG_REC_PHASE, 16, 16 },
    { XLMIG_REC_SYNC, 8, 8 },
    { XLMIG_REC_SYNC_ACK, 8, 8 },
    { XLMIG_REC_BITMAP, 8 + XLMIG_EXTENT_LEN,
      8 + XLMIG_EXTENT_LEN * XLMIG_MAX_BITMAP_EXTENTS },
    { XLMIG_REC_BITMAP_END, 16, 16 },
    { XLMIG_REC_PULL_REQ, 8 + XLMIG_EXTENT_LEN,
      8 + XLMIG_EXTENT_LEN * XLMIG_MAX_PULL_EXTENTS },
    { XLMIG_REC_PUSHED_ALL, 0, 0 },
    { XLMIG_REC_DONE, 24, 24 },
    { XLMIG_REC_DONE_ACK, 0, 0 },
    { XLMIG_REC_MISMATCH, 8 + XLMIG_EXTENT_LEN,
      8 + XLMIG_EXTENT_LEN * XLMIG_MAX_PULL_EXTENTS },
    { XLMIG_REC_VERIFIED, 40, 40 },
    { XLMIG_REC_STATE, 1, XLMIG_MAX_STATE_CHUNK },
    { XLMIG_REC_STATE_END, 16, 16 },
    { XLMIG_REC_READY, 0, 0 },
    { XLMIG_REC_GO, 0, 0 },
    { XLMIG_REC_REPORT, 4, 4 },
    { XLMIG_REC_RESUME, XLMIG_SESSION_TOKEN_LEN, XLMIG_SESSION_TOKEN_LEN },
    { XLMIG_REC_RESUME_ACK, 0, 0 },
    { XLMIG_REC_PROBE, XLMIG_PROBE_HDR_LEN,
      XLMIG_PROBE_HDR_LEN + XLMIG_MAX_PROBE_PAD },
    { XLMIG_REC_PROBE_ACK, 24, 24 },
};

_Static_assert(XLMIG_DATA_HDR_LEN + XLMIG_MAX_DATA <= XLMIG_MAX_BODY &&
               8 + XLMIG_EXTENT_LEN * XLMIG_MAX_BITMAP_EXTENTS <=
                   XLMIG_MAX_BODY &&
               XLMIG_MAX_STATE_CHUNK <= XLMIG_MAX_BODY &&
               XLMIG_PROBE_HDR_LEN + XLMIG_MAX_PROBE_PAD <= XLMIG_MAX_BODY,
               "a record type allows more than XLMIG_MAX_BODY");

int xlmig_rec_len_bounds(uint16_t type, uint32_t *min, uint32_t *max)
{
    for (size_t i = 0; i < sizeof(len_bounds) / sizeof(len_bounds[0]); i++)
        if (len_bounds[i].type == type) {
            *min = len_bounds[i].min;
            *max = len_bounds[i].max;
            return 0;
        }
    return -1;
}

static int bad_prefix(struct xlmig_error *err, uint16_t type, uint32_t len,
                      const char *what, unsigned long long v)
{
    return fail(err, "%s record declares a %u-byte body, which does not "
                "match its %s %llu (corrupted length?)", xlmig_rec_name(type),
                len, what, v);
}

/*
 * While the body of a variable-length record is still arriving: once its
 * fixed part is there, the declared length must agree with the counts it
 * holds, so that a corrupted length is caught without waiting for bytes
 * that may never come.  Only what the decoders (or, for raw DATA, the
 * receiver's block-size check) would refuse anyway is refused here.
 */
static int check_prefix(uint16_t type, uint32_t len, const uint8_t *b,
                        size_t have, struct xlmig_error *err)
{
    uint32_t n, payload;

    switch (type) {
    case XLMIG_REC_ERROR:
        if (have >= 6 && len != 6u + get16(b + 4))
            return bad_prefix(err, type, len, "reason length", get16(b + 4));
        break;
    case XLMIG_REC_DISK:
        if (have >= 34 && len != 34u + get16(b + 32))
            return bad_prefix(err, type, len, "name length", get16(b + 32));
        break;
    case XLMIG_REC_BITMAP:
    case XLMIG_REC_PULL_REQ:
    case XLMIG_REC_MISMATCH:
        if (have < 8)
            break;
        n = get32(b + 4);
        if (len != 8 + (uint64_t)n * XLMIG_EXTENT_LEN)
            return bad_prefix(err, type, len, "extent count", n);
        break;
    case XLMIG_REC_DIGEST:
        if (have < XLMIG_DIGEST_HDR_LEN)
            break;
        n = get32(b + 20);
        if (len != XLMIG_DIGEST_HDR_LEN + (uint64_t)n * XLMIG_DIGEST_LEN)
            return bad_prefix(err, type, len, "digest count", n);
        break;
    case XLMIG_REC_PROBE:
        if (have < XLMIG_PROBE_HDR_LEN)
            break;
        n = get32(b + 16);
        if (len != XLMIG_PROBE_HDR_LEN + (uint64_t)n)
            return bad_prefix(err, type, len, "padding length", n);
        break;
    case XLMIG_REC_DATA:
        if (have < XLMIG_DATA_HDR_LEN)
            break;
        n = get32(b + 16);
        payload = len - XLMIG_DATA_HDR_LEN;
        if (b[4] == XLMIG_ENC_ZERO && payload)
            return bad_prefix(err, type, len, "zero encoding: payload", 0);
        /* Raw data is block count x block size, a power of two. */
        if (b[4] == XLMIG_ENC_RAW &&
            (!n || payload % n || !xlmig_block_size_ok(payload / n)))
            return bad_prefix(err, type, len, "raw block count", n);
        break;
    default:
        break;
    }
    return 0;
}

int xlmig_parse(const uint8_t *buf, size_t n, struct xlmig_rec *out,
                size_t *used, struct xlmig_error *err)
{
    uint32_t magic, len, crc, min, max;
    uint16_t type, flags;

    if (n < XLMIG_HDR_LEN)
        return 0;
    magic = get32(buf);
    if (magic != XLMIG_MAGIC)
        return fail(err, "bad record magic 0x%08x (not an xlmig stream, or "
                    "out of sync)", magic);
    type = get16(buf + 4);
    flags = get16(buf + 6);
    len = get32(buf + 8);
    if (flags)
        return fail(err, "record type 0x%04x has unknown flags 0x%04x",
                    type, flags);
    if (len > XLMIG_MAX_BODY)
        return fail(err, "record type 0x%04x is %u bytes long, over the "
                    "%u-byte limit (corrupted length?)", type, len,
                    XLMIG_MAX_BODY);
    if (xlmig_rec_len_bounds(type, &min, &max) < 0)
        return fail(err, "unknown record type 0x%04x", type);
    /* From the header alone: never wait for a body the type cannot have. */
    if (len < min || len > max) {
        if (min == max)
            return fail(err, "%s record declares a %u-byte body, the type "
                        "has %u (corrupted length?)", xlmig_rec_name(type),
                        len, min);
        return fail(err, "%s record declares a %u-byte body, outside the "
                    "type's %u..%u (corrupted length?)", xlmig_rec_name(type),
                    len, min, max);
    }
    if (n < XLMIG_HDR_LEN + (size_t)len)
        return check_prefix(type, len, buf + XLMIG_HDR_LEN,
                            n - XLMIG_HDR_LEN, err);
    crc = get32(buf + 12);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (crc != rec_crc(buf, len))
#else
    if (crc != rec_crc(buf, len) && crc != 0)
#endif
        return fail(err, "%s record fails its checksum (corrupted in "
                    "transit)", xlmig_rec_name(type));
    out->type = type;
    out->len = len;
    out->body = buf + XLMIG_HDR_LEN;
    *used = XLMIG_HDR_LEN + (size_t)len;
    return 1;
}

/* ---- encoders ---- */

static size_t finish(uint8_t *out, uint16_t type, uint32_t body_len)
{
    xlmig_seal(out, type, body_len);
    return XLMIG_HDR_LEN + (size_t)body_len;
}

size_t xlmig_enc_hello(uint8_t *out, const struct xlmig_hello *h)
{
    uint8_t *b = out + XLMIG_HDR_LEN;

    put32(b, h->version_min);
    put32(b + 4, h->version_max);
    put64(b + 8, h->features);
    b[16] = h->role;
    memset(b + 17, 0, 7);
    return finish(out, XLMIG_REC_HELLO, 24);
}

size_t xlmig_enc_error(uint8_t *out, uint32_t code, const char *reason)
{
    uint8_t *b = out + XLMIG_HDR_LEN;
    size_t n = strlen(reason);

    if (n > XLMIG_MAX_REASON)
        n = XLMIG_MAX_REASON;
    put32(b, code);
    put16(b + 4, (uint16_t)n);
    memcpy(b + 6, reason, n);
    return finish(out, XLMIG_REC_ERROR, (uint32_t)(6 + n));
}

size_t xlmig_enc_disk(uint8_t *out, const struct xlmig_disk *d)
{
    uint8_t *b = out + XLMIG_HDR_LEN;
    size_t n = strlen(d->name);

    put32(b, d->id);
    put32(b + 4, d->count);
    put32(b + 8, d->block_size);
    put32(b + 12, 0);
    put64(b + 16, d->size);
    put64(b + 24, d->allocated);
    put16(b + 32, (uint16_t)n);
    memcpy(b + 34, d->name, n);
    return finish(out, XLMIG_REC_DISK, (uint32_t)(34 + n));
}

size_t xlmig_enc_disk_ack(uint8_t *out, const struct xlmig_disk_ack *a)
{
    put32(out + XLMIG_HDR_LEN, a->id);
    put32(out + XLMIG_HDR_LEN + 4, a->flags);
    return finish(out, XLMIG_REC_DISK_ACK, 8);
}

size_t xlmig_enc_phase(uint8_t *out, const struct xlmig_phase *p)
{
    put32(out + XLMIG_HDR_LEN, p->phase);
    put32(out + XLMIG_HDR_LEN + 4, p->pass);
    put64(out + XLMIG_HDR_LEN + 8, p->remaining);
    return finish(out, XLMIG_REC_PHASE, 16);
}

size_t xlmig_enc_u64(uint8_t *out, uint16_t type, uint64_t v)
{
    put64(out + XLMIG_HDR_LEN, v);
    return finish(out, type, 8);
}

size_t xlmig_enc_empty(uint8_t *out, uint16_t type)
{
    return finish(out, type, 0);
}

size_t xlmig_enc_bitmap_end(uint8_t *out, const struct xlmig_bitmap_end *b)
{
    put32(out + XLMIG_HDR_LEN, b->disk);
    put32(out + XLMIG_HDR_LEN + 4, 0);
    put64(out + XLMIG_HDR_LEN + 8, b->total);
    return finish(out, XLMIG_REC_BITMAP_END, 16);
}

size_t xlmig_enc_done(uint8_t *out, const struct xlmig_done *d)
{
    put64(out + XLMIG_HDR_LEN, d->installed);
    put64(out + XLMIG_HDR_LEN + 8, d->overwritten);
    put64(out + XLMIG_HDR_LEN + 16, d->demanded);
    return finish(out, XLMIG_REC_DONE, 24);
}

size_t xlmig_enc_state_end(uint8_t *out, const struct xlmig_state_end *s)
{
    put64(out + XLMIG_HDR_LEN, s->total);
    put32(out + XLMIG_HDR_LEN + 8, s->crc);
    put32(out + XLMIG_HDR_LEN + 12, 0);
    return finish(out, XLMIG_REC_STATE_END, 16);
}

size_t xlmig_enc_report(uint8_t *out, int32_t status)
{
    put32(out + XLMIG_HDR_LEN, (uint32_t)status);
    return finish(out, XLMIG_REC_REPORT, 4);
}

size_t xlmig_enc_extents(uint8_t *out, uint16_t type, uint32_t disk,
                         const struct xlmig_extent *e, uint32_t n)
{
    uint8_t *b = out + XLMIG_HDR_LEN;

    put32(b, disk);
    put32(b + 4, n);
    for (uint32_t i = 0; i < n; i++) {
        put64(b + 8 + (size_t)i * XLMIG_EXTENT_LEN, e[i].start);
        put64(b + 16 + (size_t)i * XLMIG_EXTENT_LEN, e[i].count);
    }
    return finish(out, type, 8 + n * XLMIG_EXTENT_LEN);
}

/* The DATA record's own header (after the record header). */
static void put_data_hdr(uint8_t *b, const struct xlmig_data *d)
{
    put32(b, d->disk);
    b[4] = d->encoding;
    b[5] = d->origin;
    put16(b + 6, 0);
    put64(b + 8, d->first);
    put32(b + 16, d->count);
    put32(b + 20, 0);
}

size_t xlmig_enc_data(uint8_t *out, const struct xlmig_data *d)
{
    put_data_hdr(out + XLMIG_HDR_LEN, d);
    return finish(out, XLMIG_REC_DATA, XLMIG_DATA_HDR_LEN + d->payload_len);
}

size_t xlmig_enc_data_hdr(uint8_t *out, const struct xlmig_data *d,
                          const uint8_t *payload)
{
    uint8_t *b = out + XLMIG_HDR_LEN;
    uint32_t len = XLMIG_DATA_HDR_LEN + d->payload_len, crc;

    put_data_hdr(b, d);
    put32(out, XLMIG_MAGIC);
    put16(out + 4, XLMIG_REC_DATA);
    put16(out + 6, 0);
    put32(out + 8, len);
    crc = xlmig_crc32(xlmig_crc32(0, out, 12), b, XLMIG_DATA_HDR_LEN);
    put32(out + 12, xlmig_crc32(crc, payload, d->payload_len));
    return XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN;
}

size_t xlmig_enc_blob(uint8_t *out, uint16_t type, const void *p, uint32_t n)
{
    memcpy(out + XLMIG_HDR_LEN, p, n);
    return finish(out, type, n);
}

/* ---- decoders ---- */

static int want_len(const struct xlmig_rec *r, uint32_t len, struct xlmig_error *err)
{
    if (r->len != len)
        return fail(err, "%s record has a %u-byte body, expected %u",
                    xlmig_rec_name(r->type), r->len, len);
    return 0;
}

static int want_type(const struct xlmig_rec *r, uint16_t type, struct xlmig_error *err)
{
    if (r->type != type)
        return fail(err, "expected a %s record, got %s", xlmig_rec_name(type),
                    xlmig_rec_name(r->type) ? xlmig_rec_name(r->type) : "?");
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int xlmig_dec_hello(const struct xlmig_rec *r, struct xlmig_hello *h,
                    struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_HELLO, err) || want_len(r, 24, err))
        return -EPROTO;
    h->version_min = get32(r->body);
    h->version_max = get32(r->body + 4);
    h->features = get64(r->body + 8);
    h->role = r->body[16];
    if (!all_zero(r->body + 17, 7))
        return fail(err, "HELLO reserved bytes are not zero");
    if (!h->version_min || h->version_min > h->version_max)
        return fail(err, "HELLO offers versions %u..%u, not a valid range",
                    h->version_min, h->version_max);
    if (h->role != XLMIG_ROLE_SENDER && h->role != XLMIG_ROLE_RECEIVER)
        return fail(err, "HELLO has unknown role %u", h->role);
    return 0;
}

int xlmig_dec_error(const struct xlmig_rec *r, struct xlmig_error_rec *e,
                    struct xlmig_error *err)
{
    uint16_t n;

    if (want_type(r, XLMIG_REC_ERROR, err))
        return -EPROTO;
    if (r->len < 6)
        return fail(err, "ERROR record too short (%u bytes)", r->len);
    e->code = get32(r->body);
    n = get16(r->body + 4);
    if (n > XLMIG_MAX_REASON || r->len != 6u + n)
        return fail(err, "ERROR record reason length %u does not match its "
                    "%u-byte body", n, r->len);
    /* Keep printable ASCII only: the reason ends up on a terminal. */
    for (uint16_t i = 0; i < n; i++) {
        uint8_t c = r->body[6 + i];
        e->reason[i] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
    }
    e->reason[n] = '\0';
    return 0;
}

bool xlmig_disk_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (!n || n > XLMIG_MAX_NAME || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool xlmig_block_size_ok(uint32_t bs)
{
    return bs >= 512 && bs <= (1u << 20) && !(bs & (bs - 1));
}

int xlmig_dec_disk(const struct xlmig_rec *r, struct xlmig_disk *d, struct xlmig_error *err)
{
    uint16_t n;

    if (want_type(r, XLMIG_REC_DISK, err))
        return -EPROTO;
    if (r->len < 34)
        return fail(err, "DISK record too short (%u bytes)", r->len);
    d->id = get32(r->body);
    d->count = get32(r->body + 4);
    d->block_size = get32(r->body + 8);
    d->size = get64(r->body + 16);
    d->allocated = get64(r->body + 24);
    n = get16(r->body + 32);
    if (get32(r->body + 12))
        return fail(err, "DISK reserved field is not zero");
    if (n < 1 || n > XLMIG_MAX_NAME || r->len != 34u + n)
        return fail(err, "DISK record name length %u is invalid for its "
                    "%u-byte body", n, r->len);
    if (!d->count || d->id >= d->count)
        return fail(err, "DISK says it is disk %u of %u", d->id, d->count);
    memcpy(d->name, r->body + 34, n);
    d->name[n] = '\0';
    if (strlen(d->name) != n || !xlmig_disk_name_ok(d->name))
        return fail(err, "DISK %u has an invalid name (allowed: 1-%d of "
                    "[A-Za-z0-9._-], not starting with '.')", d->id,
                    XLMIG_MAX_NAME);
    if (!xlmig_block_size_ok(d->block_size))
        return fail(err, "DISK %s: block size %u is not a power of two "
                    "between 512 and 1048576", d->name, d->block_size);
    if (!d->size || d->size % 512)
        return fail(err, "DISK %s: size %llu is not a positive multiple of "
                    "512", d->name, (unsigned long long)d->size);
    if (d->size > (1ULL << 56))
        return fail(err, "DISK %s: size %llu is implausibly large", d->name,
                    (unsigned long long)d->size);
    if (d->allocated > d->size)
        return fail(err, "DISK %s: %llu bytes allocated out of %llu",
                    d->name, (unsigned long long)d->allocated,
                    (unsigned long long)d->size);
    return 0;
}

int xlmig_dec_disk_ack(const struct xlmig_rec *r, struct xlmig_disk_ack *a,
                       struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_DISK_ACK, err) || want_len(r, 8, err))
        return -EPROTO;
    a->id = get32(r->body);
    a->flags = get32(r->body + 4);
    if (a->flags & ~(XLMIG_ACK_ZEROED | XLMIG_ACK_RESUMED))
        return fail(err, "DISK_ACK has unknown flags 0x%x", a->flags);
    return 0;
}

int xlmig_dec_data(const struct xlmig_rec *r, struct xlmig_data *d, struct xlmig_error *err)
{
    const uint8_t *b = r->body;

    if (want_type(r, XLMIG_REC_DATA, err))
        return -EPROTO;
    if (r->len < XLMIG_DATA_HDR_LEN)
        return fail(err, "DATA record too short (%u bytes)", r->len);
    d->disk = get32(b);
    d->encoding = b[4];
    d->origin = b[5];
    d->first = get64(b + 8);
    d->count = get32(b + 16);
    d->payload = b + XLMIG_DATA_HDR_LEN;
    d->payload_len = r->len - XLMIG_DATA_HDR_LEN;
    if (get16(b + 6) || get32(b + 20))
        return fail(err, "DATA reserved fields are not zero");
    if (d->encoding > XLMIG_ENC_ZERO)
        return fail(err, "DATA has unknown encoding %u", d->encoding);
    if (d->origin > XLMIG_ORIGIN_BACKGROUND)
        return fail(err, "DATA has unknown origin %u", d->origin);
    if (!d->count)
        return fail(err, "DATA covers no block");
    if (d->encoding == XLMIG_ENC_ZERO && d->payload_len)
        return fail(err, "zero DATA carries %u payload bytes",
                    d->payload_len);
    if (d->encoding != XLMIG_ENC_ZERO && !d->payload_len)
        return fail(err, "DATA carries no payload");
    if (d->payload_len > XLMIG_MAX_DATA)
        return fail(err, "DATA payload of %u bytes is over the limit",
                    d->payload_len);
    return 0;
}

int xlmig_dec_phase(const struct xlmig_rec *r, struct xlmig_phase *p,
                    struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_PHASE, err) || want_len(r, 16, err))
        return -EPROTO;
    p->phase = get32(r->body);
    p->pass = get32(r->body + 4);
    p->remaining = get64(r->body + 8);
    if (p->phase < XLMIG_PHASE_FULL || p->phase > XLMIG_PHASE_POSTCOPY)
        return fail(err, "PHASE has unknown phase %u", p->phase);
    return 0;
}

int xlmig_dec_u64(const struct xlmig_rec *r, uint64_t *v, struct xlmig_error *err)
{
    if (want_len(r, 8, err))
        return -EPROTO;
    *v = get64(r->body);
    return 0;
}

int xlmig_dec_empty(const struct xlmig_rec *r, struct xlmig_error *err)
{
    return want_len(r, 0, err);
}

int xlmig_dec_extents(const struct xlmig_rec *r, struct xlmig_extent_list *l,
                      struct xlmig_error *err)
{
    uint32_t max = r->type == XLMIG_REC_BITMAP ? XLMIG_MAX_BITMAP_EXTENTS
                                               : XLMIG_MAX_PULL_EXTENTS;

    if (r->type != XLMIG_REC_BITMAP && r->type != XLMIG_REC_PULL_REQ &&
        r->type != XLMIG_REC_MISMATCH)
        return fail(err, "expected BITMAP, PULL_REQ or MISMATCH, got %s",
                    xlmig_rec_name(r->type) ? xlmig_rec_name(r->type) : "?");
    if (r->len < 8)
        return fail(err, "%s record too short (%u bytes)",
                    xlmig_rec_name(r->type), r->len);
    l->disk = get32(r->body);
    l->n = get32(r->body + 4);
    l->raw = r->body + 8;
    if (l->n < 1 || l->n > max)
        return fail(err, "%s holds %u extents (allowed 1..%u)",
                    xlmig_rec_name(r->type), l->n, max);
    if (r->len != 8 + (uint64_t)l->n * XLMIG_EXTENT_LEN)
        return fail(err, "%s with %u extents has a %u-byte body",
                    xlmig_rec_name(r->type), l->n, r->len);
    for (uint32_t i = 0; i < l->n; i++)
        if (!get64(l->raw + (size_t)i * XLMIG_EXTENT_LEN + 8))
            return fail(err, "%s extent %u is empty",
                        xlmig_rec_name(r->type), i);
    return 0;
}

void xlmig_extent_at(const struct xlmig_extent_list *l, uint32_t i,
                     struct xlmig_extent *e)
{
    e->start = get64(l->raw + (size_t)i * XLMIG_EXTENT_LEN);
    e->count = get64(l->raw + (size_t)i * XLMIG_EXTENT_LEN + 8);
}

int xlmig_dec_bitmap_end(const struct xlmig_rec *r, struct xlmig_bitmap_end *b,
                         struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_BITMAP_END, err) || want_len(r, 16, err))
        return -EPROTO;
    b->disk = get32(r->body);
    b->total = get64(r->body + 8);
    if (get32(r->body + 4))
        return fail(err, "BITMAP_END reserved field is not zero");
    return 0;
}

int xlmig_dec_done(const struct xlmig_rec *r, struct xlmig_done *d, struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_DONE, err) || want_len(r, 24, err))
        return -EPROTO;
    d->installed = get64(r->body);
    d->overwritten = get64(r->body + 8);
    d->demanded = get64(r->body + 16);
    return 0;
}

int xlmig_dec_state_end(const struct xlmig_rec *r, struct xlmig_state_end *s,
                        struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_STATE_END, err) || want_len(r, 16, err))
        return -EPROTO;
    s->total = get64(r->body);
    s->crc = get32(r->body + 8);
    if (get32(r->body + 12))
        return fail(err, "STATE_END reserved field is not zero");
    return 0;
}

int xlmig_dec_report(const struct xlmig_rec *r, int32_t *status, struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_REPORT, err) || want_len(r, 4, err))
        return -EPROTO;
    *status = (int32_t)get32(r->body);
    return 0;
}

int xlmig_check_extent(uint64_t first, uint64_t count, uint64_t nblocks,
                       struct xlmig_error *err)
{
    if (!count || first >= nblocks || count > nblocks - first)
        return fail(err, "extent of %llu blocks at block %llu is outside "
                    "the %llu-block disk", (unsigned long long)count,
                    (unsigned long long)first, (unsigned long long)nblocks);
    return 0;
}

size_t xlmig_enc_heartbeat(uint8_t *out, const struct xlmig_heartbeat *h)
{
    put64(out + XLMIG_HDR_LEN, h->seq);
    put64(out + XLMIG_HDR_LEN + 8, h->stale);
    return finish(out, XLMIG_REC_HEARTBEAT, 16);
}

int xlmig_dec_heartbeat(const struct xlmig_rec *r, struct xlmig_heartbeat *h,
                        struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_HEARTBEAT, err) || want_len(r, 16, err))
        return -EPROTO;
    h->seq = get64(r->body);
    h->stale = get64(r->body + 8);
    return 0;
}

size_t xlmig_enc_token(uint8_t *out, uint16_t type, const uint8_t *token)
{
    memcpy(out + XLMIG_HDR_LEN, token, XLMIG_SESSION_TOKEN_LEN);
    return finish(out, type, XLMIG_SESSION_TOKEN_LEN);
}

int xlmig_dec_token(const struct xlmig_rec *r, uint16_t type, uint8_t *token,
                    struct xlmig_error *err)
{
    if (want_type(r, type, err) ||
        want_len(r, XLMIG_SESSION_TOKEN_LEN, err))
        return -EPROTO;
    memcpy(token, r->body, XLMIG_SESSION_TOKEN_LEN);
    return 0;
}

size_t xlmig_enc_join(uint8_t *out, const struct xlmig_join *j)
{
    memcpy(out + XLMIG_HDR_LEN, j->token, XLMIG_SESSION_TOKEN_LEN);
    put32(out + XLMIG_HDR_LEN + XLMIG_SESSION_TOKEN_LEN, j->index);
    put32(out + XLMIG_HDR_LEN + XLMIG_SESSION_TOKEN_LEN + 4, j->count);
    return finish(out, XLMIG_REC_JOIN, XLMIG_JOIN_LEN);
}

int xlmig_dec_join(const struct xlmig_rec *r, struct xlmig_join *j,
                   struct xlmig_error *err)
{
    if (want_type(r, XLMIG_REC_JOIN, err) || want_len(r, XLMIG_JOIN_LEN, err))
        return -EPROTO;
    memcpy(j->token, r->body, XLMIG_SESSION_TOKEN_LEN);
    j->index = get32(r->body + XLMIG_SESSION_TOKEN_LEN);
    j->count = get32(r->body + XLMIG_SESSION_TOKEN_LEN + 4);
    if (j->count < 1 || j->count > XLMIG_MAX_CONNS || j->index >= j->count)
        return fail(err, "JOIN names connection %u of %u (at most %d "
                    "connections)", j->index, j->count, XLMIG_MAX_CONNS);
    return 0;
}

uint64_t xlmig_stripe_blocks(uint32_t block_size)
{
    uint64_t n = block_size ? XLMIG_STRIPE_BYTES / block_size : 1;

    return n ? n : 1;
}

unsigned xlmig_stripe_conn(uint64_t block, uint32_t block_size,
                           unsigned count)
{
    if (count <= 1)
        return 0;
    return (unsigned)((block / xlmig_stripe_blocks(block_size)) % count);
}

/* ---- verification and probes ---- */

size_t xlmig_enc_digest(uint8_t *out, uint32_t disk, uint64_t first,
                        uint32_t count, uint32_t grain, const uint8_t *dig)
{
    uint8_t *b = out + XLMIG_HDR_LEN;
    uint32_t n = (count + grain - 1) / grain;

    put32(b, disk);
    put32(b + 4, count);
    put64(b + 8, first);
    put32(b + 16, grain);
    put32(b + 20, n);
    memcpy(b + XLMIG_DIGEST_HDR_LEN, dig, (size_t)n * XLMIG_DIGEST_LEN);
    return finish(out, XLMIG_REC_DIGEST,
                  XLMIG_DIGEST_HDR_LEN + n * XLMIG_DIGEST_LEN);
}

int xlmig_dec_digest(const struct xlmig_rec *r, struct xlmig_digest *d,
                     struct xlmig_error *err)
{
    const uint8_t *b = r->body;

    if (want_type(r, XLMIG_REC_DIGEST, err))
        return -EPROTO;
    if (r->len < XLMIG_DIGEST_HDR_LEN + XLMIG_DIGEST_LEN)
        return fail(err, "DIGEST record too short (%u bytes)", r->len);
    d->disk = get32(b);
    d->count = get32(b + 4);
    d->first = get64(b + 8);
    d->grain = get32(b + 16);
    d->n = get32(b + 20);
    d->d = b + XLMIG_DIGEST_HDR_LEN;
    if (!d->count || !d->grain || (d->grain & (d->grain - 1)))
        return fail(err, "DIGEST covers %u blocks in grains of %u (a power "
                    "of two)", d->count, d->grain);
    if (d->n < 1 || d->n > XLMIG_MAX_DIGESTS ||
        d->n != d->count / d->grain + (d->count % d->grain != 0))
        return fail(err, "DIGEST holds %u digests for %u blocks in grains "
                    "of %u (allowed 1..%u)", d->n, d->count, d->grain,
                    XLMIG_MAX_DIGESTS);
    if (r->len != XLMIG_DIGEST_HDR_LEN + (uint64_t)d->n * XLMIG_DIGEST_LEN)
        return fail(err, "DIGEST with %u digests has a %u-byte body", d->n,
                    r->len);
    return 0;
}

size_t xlmig_enc_verified(uint8_t *out, const struct xlmig_verified *v)
{
    uint8_t *b = out + XLMIG_HDR_LEN;

    put64(b, v->checked);
    put64(b + 8, v->bytes);
    put64(b + 16, v->mismatched);
    put64(b + 24, v->unresolved);
    put64(b + 32, v->skipped);
    return finish(out, XLMIG_REC_VERIFIED, 40);
}

int xlmig_dec_verified(const struct xlmig_rec *r, struct xlmig_verified *v,
                       struct xlmig_error *err)
{
    const uint8_t *b = r->body;

    if (want_type(r, XLMIG_REC_VERIFIED, err) || want_len(r, 40, err))
        return -EPROTO;
    v->checked = get64(b);
    v->bytes = get64(b + 8);
    v->mismatched = get64(b + 16);
    v->unresolved = get64(b + 24);
    v->skipped = get64(b + 32);
    if (v->unresolved > v->mismatched)
        return fail(err, "VERIFIED counts more unresolved blocks (%llu) "
                    "than mismatched ones (%llu)",
                    (unsigned long long)v->unresolved,
                    (unsigned long long)v->mismatched);
    return 0;
}

size_t xlmig_enc_probe(uint8_t *out, const struct xlmig_probe *p)
{
    uint8_t *b = out + XLMIG_HDR_LEN;

    put64(b, p->seq);
    put64(b + 8, p->t_ns);
    put32(b + 16, p->pad);
    put32(b + 20, 0);
    return finish(out, XLMIG_REC_PROBE, XLMIG_PROBE_HDR_LEN + p->pad);
}

int xlmig_dec_probe(const struct xlmig_rec *r, struct xlmig_probe *p,
                    struct xlmig_error *err)
{
    const uint8_t *b = r->body;

    if (want_type(r, XLMIG_REC_PROBE, err))
        return -EPROTO;
    if (r->len < XLMIG_PROBE_HDR_LEN)
        return fail(err, "PROBE record too short (%u bytes)", r->len);
    p->seq = get64(b);
    p->t_ns = get64(b + 8);
    p->pad = get32(b + 16);
    if (get32(b + 20))
        return fail(err, "PROBE reserved field is not zero");
    if (p->pad > XLMIG_MAX_PROBE_PAD ||
        r->len != XLMIG_PROBE_HDR_LEN + p->pad)
        return fail(err, "PROBE says %u padding bytes in a %u-byte body "
                    "(at most %u)", p->pad, r->len, XLMIG_MAX_PROBE_PAD);
    return 0;
}

size_t xlmig_enc_probe_ack(uint8_t *out, const struct xlmig_probe_ack *a)
{
    uint8_t *b = out + XLMIG_HDR_LEN;

    put64(b, a->seq);
    put64(b + 8, a->t_ns);
    put64(b + 16, a->received);
    return finish(out, XLMIG_REC_PROBE_ACK, 24);
}

int xlmig_dec_probe_ack(const struct xlmig_rec *r, struct xlmig_probe_ack *a,
                        struct xlmig_error *err)
{
    const uint8_t *b = r->body;

    if (want_type(r, XLMIG_REC_PROBE_ACK, err) || want_len(r, 24, err))
        return -EPROTO;
    a->seq = get64(b);
    a->t_ns = get64(b + 8);
    a->received = get64(b + 16);
    return 0;
}
