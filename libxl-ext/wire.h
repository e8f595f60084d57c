/*
 * The disk migration wire protocol: record framing, encoders and
 * validating decoders.  PROTOCOL.md next to this file is the reference.
 */
#ifndef XLMIG_WIRE_H
#define XLMIG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bitmap.h"
#include "err.h"
#include "xlmig.h"

#define XLMIG_VERSION 1
#define XLMIG_MAGIC 0x474d4c58u         /* "XLMG" read as little-endian */
#define XLMIG_HDR_LEN 16
#define XLMIG_MAX_DATA (4u << 20)       /* payload of one DATA record */
#define XLMIG_MAX_BODY (XLMIG_MAX_DATA + 64)
#define XLMIG_DATA_HDR_LEN 24
#define XLMIG_MAX_REASON 1024
#define XLMIG_MAX_BITMAP_EXTENTS 65536
#define XLMIG_MAX_PULL_EXTENTS 4096
#define XLMIG_EXTENT_LEN 16
#define XLMIG_DIGEST_LEN 32             /* SHA-256 */
#define XLMIG_MAX_DIGESTS 256           /* per DIGEST record */
#define XLMIG_DIGEST_HDR_LEN 24
#define XLMIG_MAX_PROBE_PAD (1u << 20)  /* throwaway bytes of one PROBE */
#define XLMIG_PROBE_HDR_LEN 24
/* Largest STATE chunk (the sender cuts the guest state into such pieces). */
#define XLMIG_MAX_STATE_CHUNK (1u << 20)

enum xlmig_rec_type {
    XLMIG_REC_HELLO = 0x0001,
    XLMIG_REC_ERROR = 0x0002,
    XLMIG_REC_HEARTBEAT = 0x0003,
    XLMIG_REC_DISK = 0x0010,
    XLMIG_REC_DISK_ACK = 0x0011,
    XLMIG_REC_SESSION = 0x0012,
    XLMIG_REC_JOIN = 0x0013,
    XLMIG_REC_OFFLINE = 0x0014,
    XLMIG_REC_DATA = 0x0020,
    XLMIG_REC_DIGEST = 0x0021,
    XLMIG_REC_PHASE = 0x0030,
    XLMIG_REC_SYNC = 0x0031,
    XLMIG_REC_SYNC_ACK = 0x0032,
    XLMIG_REC_BITMAP = 0x0040,
    XLMIG_REC_BITMAP_END = 0x0041,
    XLMIG_REC_PULL_REQ = 0x0050,
    XLMIG_REC_PUSHED_ALL = 0x0051,
    XLMIG_REC_DONE = 0x0052,
    XLMIG_REC_DONE_ACK = 0x0053,
    XLMIG_REC_MISMATCH = 0x0054,
    XLMIG_REC_VERIFIED = 0x0055,
    XLMIG_REC_STATE = 0x0060,
    XLMIG_REC_STATE_END = 0x0061,
    XLMIG_REC_READY = 0x0070,
    XLMIG_REC_GO = 0x0071,
    XLMIG_REC_REPORT = 0x0072,
    XLMIG_REC_RESUME = 0x0080,
    XLMIG_REC_RESUME_ACK = 0x0081,
    XLMIG_REC_PROBE = 0x0090,
    XLMIG_REC_PROBE_ACK = 0x0091,
};

enum xlmig_feature {
    XLMIG_F_ZLIB = 1u << 0,
    XLMIG_F_ZERO = 1u << 1,
    XLMIG_F_POSTCOPY = 1u << 2,
    XLMIG_F_SIM_STATE = 1u << 3,
    XLMIG_F_HEARTBEAT = 1u << 4,
    XLMIG_F_RECOVER = 1u << 5,
    XLMIG_F_MULTI = 1u << 6,            /* several connections (JOIN) */
    XLMIG_F_VERIFY = 1u << 7,           /* DIGEST before every DATA */
    XLMIG_F_OFFLINE = 1u << 8,          /* cold migration: a stopped guest */
    XLMIG_F_ESTIMATE = 1u << 9,         /* measure only: nothing is created */
};
/* What a source always offers. */
#define XLMIG_F_ALL (XLMIG_F_ZLIB | XLMIG_F_ZERO | XLMIG_F_POSTCOPY | \
                     XLMIG_F_SIM_STATE | XLMIG_F_HEARTBEAT | XLMIG_F_RECOVER | \
                     XLMIG_F_MULTI)
/* Modes it asks for only when told to (and fails without). */
#define XLMIG_F_MODES (XLMIG_F_VERIFY | XLMIG_F_OFFLINE | XLMIG_F_ESTIMATE)
/* Everything this version knows: what a destination accepts. */
#define XLMIG_F_KNOWN (XLMIG_F_ALL | XLMIG_F_MODES)
_Static_assert((XLMIG_F_ALL & XLMIG_F_MODES) == 0,
               "a mode's feature bit is also an always-offered one");

enum xlmig_encoding { XLMIG_ENC_RAW = 0, XLMIG_ENC_ZLIB = 1, XLMIG_ENC_ZERO = 2 };
enum xlmig_origin {
    XLMIG_ORIGIN_PUSH = 0,
    XLMIG_ORIGIN_STOPCOPY = 1,
    XLMIG_ORIGIN_DEMAND = 2,
    XLMIG_ORIGIN_BACKGROUND = 3,
};
enum xlmig_phase_id {
    XLMIG_PHASE_FULL = 1,
    XLMIG_PHASE_DIRTY = 2,
    XLMIG_PHASE_STOPCOPY = 3,
    XLMIG_PHASE_POSTCOPY = 4,
};
enum xlmig_role { XLMIG_ROLE_SENDER = 1, XLMIG_ROLE_RECEIVER = 2 };

#define XLMIG_ACK_ZEROED 1u
/* Offline: the target holds an earlier attempt's blocks; its BITMAP records
 * (the blocks already there) follow the DISK_ACKs. */
#define XLMIG_ACK_RESUMED 2u

/* A record as parsed from the stream; body points into the reader. */
struct xlmig_rec {
    uint16_t type;
    uint32_t len;
    const uint8_t *body;
};

struct xlmig_hello {
    uint32_t version_min, version_max;
    uint64_t features;
    uint8_t role;
};

struct xlmig_error_rec {
    uint32_t code;
    char reason[XLMIG_MAX_REASON + 1];
};

struct xlmig_disk {
    uint32_t id;
    uint32_t count;             /* disks in this migration */
    uint32_t block_size;
    uint64_t size;
    uint64_t allocated;
    char name[XLMIG_MAX_NAME + 1];
};

struct xlmig_disk_ack {
    uint32_t id;
    uint32_t flags;
};

struct xlmig_data {
    uint32_t disk;
    uint8_t encoding;
    uint8_t origin;
    uint64_t first;
    uint32_t count;
    const uint8_t *payload;
    uint32_t payload_len;
};

struct xlmig_phase {
    uint32_t phase;
    uint32_t pass;
    uint64_t remaining;
};

/* BITMAP and PULL_REQ bodies: a disk and a list of extents. */
struct xlmig_extent_list {
    uint32_t disk;
    uint32_t n;
    const uint8_t *raw;         /* n entries of XLMIG_EXTENT_LEN bytes */
};

struct xlmig_bitmap_end {
    uint32_t disk;
    uint64_t total;
};

struct xlmig_done {
    uint64_t installed;
    uint64_t overwritten;
    uint64_t demanded;
};

/* HEARTBEAT: sent every peer timeout / 6 by both sides. */
struct xlmig_heartbeat {
    uint64_t seq;
    uint64_t stale;             /* destination: blocks still stale;
                                 * XLMIG_HB_NO_STALE from the source */
};
#define XLMIG_HB_NO_STALE UINT64_MAX

/* SESSION (R->S, with the DISK_ACKs) and RESUME (S->R on a new channel). */
#define XLMIG_SESSION_TOKEN_LEN 32

/*
 * DIGEST (S->R, with XLMIG_F_VERIFY): the SHA-256 of each grain of blocks
 * of the DATA record that follows (same disk, first, count), as read from
 * the source.  The last grain may be short.
 */
struct xlmig_digest {
    uint32_t disk;
    uint32_t count;             /* blocks covered */
    uint64_t first;
    uint32_t grain;             /* blocks per digest, a power of two */
    uint32_t n;                 /* digests: ceil(count / grain) */
    const uint8_t *d;           /* n * XLMIG_DIGEST_LEN bytes */
};

/* VERIFIED (R->S, before DONE): what the destination's read-back found. */
struct xlmig_verified {
    uint64_t checked;           /* digests compared */
    uint64_t bytes;             /* bytes read back and compared */
    uint64_t mismatched;        /* blocks in grains that did not match
                                 * (each time) */
    uint64_t unresolved;        /* blocks still wrong: neither written
                                 * again and matching, nor overwritten by
                                 * the guest */
    uint64_t skipped;           /* grains not comparable: the guest wrote
                                 * part of them first (post-copy) */
};

/* PROBE (S->R) and PROBE_ACK (R->S): round trips and link rate. */
struct xlmig_probe {
    uint64_t seq;
    uint64_t t_ns;              /* the sender's clock, echoed */
    uint32_t pad;               /* throwaway bytes after the header */
};

struct xlmig_probe_ack {
    uint64_t seq;
    uint64_t t_ns;              /* as in the PROBE */
    uint64_t received;          /* PROBE bytes received so far */
};

/*
 * JOIN (S->R): with feature bit 6, connection `index` of `count` (1..8)
 * belongs to the session whose secret the receiver gave in SESSION: on
 * the first connection after SESSION (index 0: how many there are), as
 * the first record after HELLO on each other one.
 */
#define XLMIG_MAX_CONNS 8
#define XLMIG_JOIN_LEN (XLMIG_SESSION_TOKEN_LEN + 8)
struct xlmig_join {
    uint8_t token[XLMIG_SESSION_TOKEN_LEN];
    uint32_t index, count;
};

/*
 * With several connections, which one carries a block: the disk is cut
 * into stripes of 1 MiB (XLMIG_STRIPE_BYTES / block size blocks, at least
 * one), and stripe k travels on connection k mod count, always the same
 * one -- so that a block's copies keep their order (the last one wins).
 */
#define XLMIG_STRIPE_BYTES (1u << 20)
uint64_t xlmig_stripe_blocks(uint32_t block_size);
unsigned xlmig_stripe_conn(uint64_t block, uint32_t block_size,
                           unsigned count);

struct xlmig_state_end {
    uint64_t total;
    uint32_t crc;
};

/* ---- framing ---- */

/* CRC-32 as zlib's crc32() computes it (0 to start). */
uint32_t xlmig_crc32(uint32_t crc, const void *p, size_t n);

/* Fills the header of a record whose body is already in place after it. */
void xlmig_seal(uint8_t *rec, uint16_t type, uint32_t body_len);

/*
 * Parses one record from buf.  Returns 1 and sets *out / *used when a whole
 * valid record is there, 0 when more bytes are needed, -1 on a framing
 * error (message in err).
 */
int xlmig_parse(const uint8_t *buf, size_t n, struct xlmig_rec *out,
                size_t *used, struct xlmig_error *err);

const char *xlmig_rec_name(uint16_t type);

/*
 * The body lengths a record type allows (PROTOCOL.md, "Length bounds"):
 * xlmig_parse rejects a header declaring anything else before waiting for
 * the body.  Returns 0, or -1 for an unknown type.
 */
int xlmig_rec_len_bounds(uint16_t type, uint32_t *min, uint32_t *max);

/* ---- encoders: write a whole record (header + body) into out ----
 * Each returns the record length; out must hold XLMIG_HDR_LEN plus the
 * body (the *_LEN constants or the stated sizes). */
size_t xlmig_enc_hello(uint8_t *out, const struct xlmig_hello *h);
size_t xlmig_enc_error(uint8_t *out, uint32_t code, const char *reason);
size_t xlmig_enc_disk(uint8_t *out, const struct xlmig_disk *d);
size_t xlmig_enc_disk_ack(uint8_t *out, const struct xlmig_disk_ack *a);
size_t xlmig_enc_phase(uint8_t *out, const struct xlmig_phase *p);
size_t xlmig_enc_u64(uint8_t *out, uint16_t type, uint64_t v);
size_t xlmig_enc_empty(uint8_t *out, uint16_t type);
size_t xlmig_enc_bitmap_end(uint8_t *out, const struct xlmig_bitmap_end *b);
size_t xlmig_enc_done(uint8_t *out, const struct xlmig_done *d);
size_t xlmig_enc_state_end(uint8_t *out, const struct xlmig_state_end *s);
size_t xlmig_enc_report(uint8_t *out, int32_t status);
size_t xlmig_enc_heartbeat(uint8_t *out, const struct xlmig_heartbeat *h);
/* SESSION / RESUME: a 32-byte token. */
size_t xlmig_enc_token(uint8_t *out, uint16_t type, const uint8_t *token);
size_t xlmig_enc_join(uint8_t *out, const struct xlmig_join *j);
/* DIGEST: n = ceil(count / grain) digests (out holds 40 + 32n bytes). */
size_t xlmig_enc_digest(uint8_t *out, uint32_t disk, uint64_t first,
                        uint32_t count, uint32_t grain, const uint8_t *dig);
size_t xlmig_enc_verified(uint8_t *out, const struct xlmig_verified *v);
/* PROBE: the pad bytes are already in place after the 24-byte header. */
size_t xlmig_enc_probe(uint8_t *out, const struct xlmig_probe *p);
size_t xlmig_enc_probe_ack(uint8_t *out, const struct xlmig_probe_ack *a);
/* BITMAP / PULL_REQ / MISMATCH: n extents (out holds 24 + 16n bytes). */
size_t xlmig_enc_extents(uint8_t *out, uint16_t type, uint32_t disk,
                         const struct xlmig_extent *e, uint32_t n);
/*
 * DATA: writes the record header and the 24-byte data header in front of a
 * payload that the caller has already placed at out + XLMIG_HDR_LEN +
 * XLMIG_DATA_HDR_LEN.
 */
size_t xlmig_enc_data(uint8_t *out, const struct xlmig_data *d);
/*
 * DATA whose payload lies elsewhere (sent from there, e.g. with writev):
 * writes the record header and the data header (XLMIG_HDR_LEN +
 * XLMIG_DATA_HDR_LEN bytes) with the CRC over both and the payload.
 */
size_t xlmig_enc_data_hdr(uint8_t *out, const struct xlmig_data *d,
                          const uint8_t *payload);
/* STATE: a chunk of opaque bytes. */
size_t xlmig_enc_blob(uint8_t *out, uint16_t type, const void *p, uint32_t n);

/* ---- decoders: validate the body layout and field ranges ----
 * Each returns 0, or -EPROTO with the reason in err. */
int xlmig_dec_hello(const struct xlmig_rec *r, struct xlmig_hello *h,
                    struct xlmig_error *err);
int xlmig_dec_error(const struct xlmig_rec *r, struct xlmig_error_rec *e,
                    struct xlmig_error *err);
int xlmig_dec_disk(const struct xlmig_rec *r, struct xlmig_disk *d, struct xlmig_error *err);
int xlmig_dec_disk_ack(const struct xlmig_rec *r, struct xlmig_disk_ack *a,
                       struct xlmig_error *err);
/* DATA layout only; ranges are checked against the disk by the receiver. */
int xlmig_dec_data(const struct xlmig_rec *r, struct xlmig_data *d, struct xlmig_error *err);
int xlmig_dec_phase(const struct xlmig_rec *r, struct xlmig_phase *p,
                    struct xlmig_error *err);
int xlmig_dec_u64(const struct xlmig_rec *r, uint64_t *v, struct xlmig_error *err);
int xlmig_dec_empty(const struct xlmig_rec *r, struct xlmig_error *err);
int xlmig_dec_extents(const struct xlmig_rec *r, struct xlmig_extent_list *l,
                      struct xlmig_error *err);
void xlmig_extent_at(const struct xlmig_extent_list *l, uint32_t i,
                     struct xlmig_extent *e);
int xlmig_dec_bitmap_end(const struct xlmig_rec *r, struct xlmig_bitmap_end *b,
                         struct xlmig_error *err);
int xlmig_dec_done(const struct xlmig_rec *r, struct xlmig_done *d, struct xlmig_error *err);
int xlmig_dec_state_end(const struct xlmig_rec *r, struct xlmig_state_end *s,
                        struct xlmig_error *err);
int xlmig_dec_heartbeat(const struct xlmig_rec *r, struct xlmig_heartbeat *h,
                        struct xlmig_error *err);
int xlmig_dec_token(const struct xlmig_rec *r, uint16_t type, uint8_t *token,
                    struct xlmig_error *err);
int xlmig_dec_report(const struct xlmig_rec *r, int32_t *status, struct xlmig_error *err);
int xlmig_dec_join(const struct xlmig_rec *r, struct xlmig_join *j,
                   struct xlmig_error *err);
int xlmig_dec_digest(const struct xlmig_rec *r, struct xlmig_digest *d,
                     struct xlmig_error *err);
int xlmig_dec_verified(const struct xlmig_rec *r, struct xlmig_verified *v,
                       struct xlmig_error *err);
int xlmig_dec_probe(const struct xlmig_rec *r, struct xlmig_probe *p,
                    struct xlmig_error *err);
int xlmig_dec_probe_ack(const struct xlmig_rec *r, struct xlmig_probe_ack *a,
                        struct xlmig_error *err);

/* Checks an extent against a disk of nblocks blocks (overflow-safe). */
int xlmig_check_extent(uint64_t first, uint64_t count, uint64_t nblocks,
                       struct xlmig_error *err);
/* Block size: power of two in [512, 1 MiB]. */
bool xlmig_block_size_ok(uint32_t bs);
bool xlmig_disk_name_ok(const char *name);

#endif
