/*
 * Wire protocol: every record round-trips, and every kind of malformed
 * record is rejected with an error that names the problem.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "digest.h"
#include "sendq.h"
#include "wire.h"

/* The sender cuts the guest state into chunks of this size (sender.c). */
_Static_assert(XLMIG_SENDQ_MAX_RECORD - XLMIG_HDR_LEN - 64 <=
               XLMIG_MAX_STATE_CHUNK, "STATE chunks over the wire bound");

static uint8_t buf[XLMIG_HDR_LEN + XLMIG_MAX_BODY + 64];
static struct xlmig_error err;

/* Parses exactly one record from buf[0..n). */
static int parse1(size_t n, struct xlmig_rec *r)
{
    size_t used = 0;
    int rc;

    err.msg[0] = '\0';
    rc = xlmig_parse(buf, n, r, &used, &err);
    if (rc == 1)
        assert_int_equal(used, n);
    return rc;
}

/* Recomputes the CRC after a test edits a record in place. */
static void reseal(size_t n)
{
    uint16_t type = (uint16_t)(buf[4] | buf[5] << 8);
    xlmig_seal(buf, type, (uint32_t)(n - XLMIG_HDR_LEN));
}

static void assert_err_has(const char *needle)
{
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

/*
 * A record whose length its type does not allow: the parser refuses it
 * from the header; a decoder handed the body anyway refuses it as well.
 */
static void refused_by_parser(size_t n, struct xlmig_rec *r)
{
    assert_int_equal(parse1(n, r), -EPROTO);
    assert_err_has("corrupted length");
    r->type = (uint16_t)(buf[4] | buf[5] << 8);
    r->len = (uint32_t)(n - XLMIG_HDR_LEN);
    r->body = buf + XLMIG_HDR_LEN;
}

static void test_hello_roundtrip(void **state)
{
    struct xlmig_hello h = { 1, 1, XLMIG_F_ZLIB | XLMIG_F_POSTCOPY,
                             XLMIG_ROLE_SENDER }, out;
    struct xlmig_rec r;
    size_t n = xlmig_enc_hello(buf, &h);

    (void)state;
    assert_int_equal(parse1(n, &r), 1);
    assert_int_equal(r.type, XLMIG_REC_HELLO);
    assert_int_equal(xlmig_dec_hello(&r, &out, &err), 0);
    assert_int_equal(out.version_max, 1);
    assert_int_equal(out.features, XLMIG_F_ZLIB | XLMIG_F_POSTCOPY);
    assert_int_equal(out.role, XLMIG_ROLE_SENDER);
    /* A bad role or version range is refused. */
    h.role = 7;
    n = xlmig_enc_hello(buf, &h);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_hello(&r, &out, &err), -EPROTO);
    assert_err_has("role");
    h.role = XLMIG_ROLE_SENDER;
    h.version_min = 3;
    n = xlmig_enc_hello(buf, &h);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_hello(&r, &out, &err), -EPROTO);
    assert_err_has("versions");
}

static void test_framing_rejections(void **state)
{
    struct xlmig_hello h = { 1, 1, 0, XLMIG_ROLE_SENDER };
    struct xlmig_rec r;
    size_t n;

    (void)state;
    /* Incomplete: ask for more, no error. */
    n = xlmig_enc_hello(buf, &h);
    assert_int_equal(parse1(5, &r), 0);
    assert_int_equal(parse1(n - 1, &r), 0);
    /* Bad magic. */
    n = xlmig_enc_hello(buf, &h);
    buf[0] ^= 0xff;
    assert_int_equal(parse1(n, &r), -EPROTO);
    assert_err_has("magic");
    /* Non-zero flags. */
    n = xlmig_enc_hello(buf, &h);
    buf[6] = 1;
    assert_int_equal(parse1(n, &r), -EPROTO);
    assert_err_has("flags");
    /* Oversized length: rejected from the header alone. */
    n = xlmig_enc_hello(buf, &h);
    buf[8] = 0xff; buf[9] = 0xff; buf[10] = 0xff; buf[11] = 0x7f;
    assert_int_equal(parse1(XLMIG_HDR_LEN, &r), -EPROTO);
    assert_err_has("limit");
    /* Unknown type. */
    n = xlmig_enc_hello(buf, &h);
    buf[4] = 0x99; buf[5] = 0x09;
    assert_int_equal(parse1(n, &r), -EPROTO);
    assert_err_has("unknown record type");
    /* A flipped byte anywhere in the body or header fails the CRC. */
    for (size_t i = 12; i < n; i++) {
        xlmig_enc_hello(buf, &h);
        buf[i] ^= 0x10;
        assert_int_equal(parse1(n, &r), -EPROTO);
        assert_err_has("checksum");
    }
}

static void test_disk(void **state)
{
    struct xlmig_disk d = { .id = 1, .count = 2, .block_size = 4096,
                            .size = 1 << 30, .allocated = 1 << 20 }, out;
    struct xlmig_rec r;
    size_t n;

    (void)state;
    strcpy(d.name, "xvda");
    n = xlmig_enc_disk(buf, &d);
    assert_int_equal(parse1(n, &r), 1);
    assert_int_equal(xlmig_dec_disk(&r, &out, &err), 0);
    assert_string_equal(out.name, "xvda");
    assert_int_equal(out.size, 1 << 30);
    assert_int_equal(out.count, 2);

    /* Hostile names: path tricks, empty, control characters. */
    const char *bad[] = { "../etc", "a/b", ".hidden", "", "x y", "a\nb" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(d.name, bad[i]);
        n = xlmig_enc_disk(buf, &d);
        if (bad[i][0])
            assert_int_equal(parse1(n, &r), 1);
        else
            refused_by_parser(n, &r);   /* no name: under the minimum */
        assert_int_equal(xlmig_dec_disk(&r, &out, &err), -EPROTO);
    }
    strcpy(d.name, "xvda");
    d.block_size = 3000;
    n = xlmig_enc_disk(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_disk(&r, &out, &err), -EPROTO);
    assert_err_has("block size");
    d.block_size = 4096;
    d.size = 1000;
    n = xlmig_enc_disk(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_disk(&r, &out, &err), -EPROTO);
    assert_err_has("size");
    d.size = 1 << 30;
    d.allocated = d.size + 1;
    n = xlmig_enc_disk(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_disk(&r, &out, &err), -EPROTO);
    d.allocated = 0;
    d.id = 2;
    n = xlmig_enc_disk(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_disk(&r, &out, &err), -EPROTO);
    /* Name length that disagrees with the body. */
    d.id = 0;
    n = xlmig_enc_disk(buf, &d);
    buf[XLMIG_HDR_LEN + 32] = 60;
    reseal(n);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_disk(&r, &out, &err), -EPROTO);
    assert_err_has("name length");
}

static void test_data(void **state)
{
    struct xlmig_data d = { .disk = 0, .encoding = XLMIG_ENC_RAW,
                            .origin = XLMIG_ORIGIN_PUSH, .first = 10,
                            .count = 2, .payload_len = 8192 }, out;
    struct xlmig_rec r;
    size_t n;

    (void)state;
    memset(buf + XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN, 0xab, 8192);
    n = xlmig_enc_data(buf, &d);
    assert_int_equal(n, XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN + 8192);
    assert_int_equal(parse1(n, &r), 1);
    assert_int_equal(xlmig_dec_data(&r, &out, &err), 0);
    assert_int_equal(out.first, 10);
    assert_int_equal(out.count, 2);
    assert_int_equal(out.payload_len, 8192);
    assert_int_equal(out.payload[0], 0xab);

    /* Each malformed variant, re-sealed so only the field is wrong. */
    struct { size_t off; uint8_t val; const char *msg; } cases[] = {
        { 4, 9, "encoding" },           /* unknown encoding */
        { 5, 9, "origin" },             /* unknown origin */
        { 6, 1, "reserved" },           /* reserved bytes */
        { 20, 1, "reserved" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = xlmig_enc_data(buf, &d);
        buf[XLMIG_HDR_LEN + cases[i].off] = cases[i].val;
        reseal(n);
        assert_int_equal(parse1(n, &r), 1);
        assert_int_equal(xlmig_dec_data(&r, &out, &err), -EPROTO);
        assert_err_has(cases[i].msg);
    }
    /* Zero blocks, no payload: fine; with a payload: not. */
    d.encoding = XLMIG_ENC_ZERO;
    d.payload_len = 0;
    n = xlmig_enc_data(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_data(&r, &out, &err), 0);
    d.payload_len = 16;
    n = xlmig_enc_data(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_data(&r, &out, &err), -EPROTO);
    /* Raw without payload, and a zero block count. */
    d.encoding = XLMIG_ENC_RAW;
    d.payload_len = 0;
    n = xlmig_enc_data(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_data(&r, &out, &err), -EPROTO);
    d.payload_len = 16;
    d.count = 0;
    n = xlmig_enc_data(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_data(&r, &out, &err), -EPROTO);
    /* Truncated header. */
    n = xlmig_enc_blob(buf, XLMIG_REC_DATA, "abc", 3);
    refused_by_parser(n, &r);
    assert_int_equal(xlmig_dec_data(&r, &out, &err), -EPROTO);
    assert_err_has("short");
}

static void test_extents(void **state)
{
    struct xlmig_extent e[3] = { { 0, 1 }, { 100, 50 }, { 1000, 1 } }, x;
    struct xlmig_extent_list l;
    struct xlmig_rec r;
    size_t n;

    (void)state;
    n = xlmig_enc_extents(buf, XLMIG_REC_BITMAP, 3, e, 3);
    assert_int_equal(parse1(n, &r), 1);
    assert_int_equal(xlmig_dec_extents(&r, &l, &err), 0);
    assert_int_equal(l.disk, 3);
    assert_int_equal(l.n, 3);
    xlmig_extent_at(&l, 1, &x);
    assert_int_equal(x.start, 100);
    assert_int_equal(x.count, 50);
    /* Count field and body length disagree. */
    buf[XLMIG_HDR_LEN + 4] = 4;
    reseal(n);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_extents(&r, &l, &err), -EPROTO);
    /* An empty extent. */
    e[2].count = 0;
    n = xlmig_enc_extents(buf, XLMIG_REC_PULL_REQ, 0, e, 3);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_extents(&r, &l, &err), -EPROTO);
    assert_err_has("empty");
    /* Zero extents. */
    n = xlmig_enc_extents(buf, XLMIG_REC_PULL_REQ, 0, e, 0);
    refused_by_parser(n, &r);
    assert_int_equal(xlmig_dec_extents(&r, &l, &err), -EPROTO);
    /* Extent checks against a disk, including overflow. */
    assert_int_equal(xlmig_check_extent(0, 10, 10, &err), 0);
    assert_int_equal(xlmig_check_extent(5, 6, 10, &err), -EPROTO);
    assert_int_equal(xlmig_check_extent(10, 1, 10, &err), -EPROTO);
    assert_int_equal(xlmig_check_extent(UINT64_MAX, 2, 10, &err), -EPROTO);
    assert_int_equal(xlmig_check_extent(1, UINT64_MAX, 10, &err), -EPROTO);
    assert_int_equal(xlmig_check_extent(0, 0, 10, &err), -EPROTO);
}

static void test_small_records(void **state)
{
    struct xlmig_rec r;
    struct xlmig_phase p = { XLMIG_PHASE_DIRTY, 3, 99 }, po;
    struct xlmig_done d = { 1, 2, 3 }, dout;
    struct xlmig_bitmap_end be = { 2, 77 }, beo;
    struct xlmig_state_end se = { 1234, 0xdeadbeef }, seo;
    struct xlmig_error_rec e;
    uint64_t v;
    int32_t st;
    size_t n;

    (void)state;
    n = xlmig_enc_phase(buf, &p);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_phase(&r, &po, &err), 0);
    assert_int_equal(po.pass, 3);
    p.phase = 9;
    n = xlmig_enc_phase(buf, &p);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_phase(&r, &po, &err), -EPROTO);

    n = xlmig_enc_u64(buf, XLMIG_REC_SYNC, 42);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_u64(&r, &v, &err), 0);
    assert_int_equal(v, 42);
    n = xlmig_enc_empty(buf, XLMIG_REC_SYNC);
    refused_by_parser(n, &r);
    assert_int_equal(xlmig_dec_u64(&r, &v, &err), -EPROTO);
    n = xlmig_enc_u64(buf, XLMIG_REC_GO, 1);
    refused_by_parser(n, &r);
    assert_int_equal(xlmig_dec_empty(&r, &err), -EPROTO);

    n = xlmig_enc_done(buf, &d);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_done(&r, &dout, &err), 0);
    assert_int_equal(dout.demanded, 3);
    n = xlmig_enc_bitmap_end(buf, &be);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_bitmap_end(&r, &beo, &err), 0);
    assert_int_equal(beo.total, 77);
    n = xlmig_enc_state_end(buf, &se);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_state_end(&r, &seo, &err), 0);
    assert_int_equal(seo.crc, 0xdeadbeef);
    n = xlmig_enc_report(buf, -5);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_report(&r, &st, &err), 0);
    assert_int_equal(st, -5);

    /* ERROR: the reason is kept printable and length-checked. */
    n = xlmig_enc_error(buf, 28, "disk full\033[2J");
    parse1(n, &r);
    assert_int_equal(xlmig_dec_error(&r, &e, &err), 0);
    assert_int_equal(e.code, 28);
    assert_string_equal(e.reason, "disk full?[2J");
    buf[XLMIG_HDR_LEN + 4] = 200;
    reseal(n);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_error(&r, &e, &err), -EPROTO);
    /* A decoder never accepts another record type. */
    n = xlmig_enc_empty(buf, XLMIG_REC_READY);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_done(&r, &dout, &err), -EPROTO);
    assert_err_has("expected");
}

/* JOIN: round trip, the connection index and count checked. */
static void test_join(void **state)
{
    struct xlmig_join j = { .token = { 1, 2, 3, 4 }, .index = 3,
                            .count = 8 }, o;
    struct xlmig_rec r;
    size_t n;

    (void)state;
    n = xlmig_enc_join(buf, &j);
    assert_int_equal(n, XLMIG_HDR_LEN + 40);
    assert_int_equal(parse1(n, &r), 1);
    assert_int_equal(xlmig_dec_join(&r, &o, &err), 0);
    assert_memory_equal(o.token, j.token, XLMIG_SESSION_TOKEN_LEN);
    assert_int_equal(o.index, 3);
    assert_int_equal(o.count, 8);
    /* Index within the count, count 1..8. */
    j.index = 2;
    j.count = 2;
    parse1(xlmig_enc_join(buf, &j), &r);
    assert_int_equal(xlmig_dec_join(&r, &o, &err), -EPROTO);
    assert_err_has("connection 2 of 2");
    j.index = 0;
    j.count = 9;
    parse1(xlmig_enc_join(buf, &j), &r);
    assert_int_equal(xlmig_dec_join(&r, &o, &err), -EPROTO);
    j.count = 0;
    parse1(xlmig_enc_join(buf, &j), &r);
    assert_int_equal(xlmig_dec_join(&r, &o, &err), -EPROTO);
    /* Not a RESUME. */
    j.count = 1;
    parse1(xlmig_enc_join(buf, &j), &r);
    assert_int_equal(xlmig_dec_token(&r, XLMIG_REC_RESUME, o.token, &err),
                     -EPROTO);
}

/*
 * The stripe rule: 1 MiB stripes, stripe k on connection k mod count, for
 * every block size; one connection carries everything.
 */
static void test_stripes(void **state)
{
    (void)state;
    assert_int_equal(xlmig_stripe_blocks(4096), 256);
    assert_int_equal(xlmig_stripe_blocks(512), 2048);
    assert_int_equal(xlmig_stripe_blocks(1u << 20), 1);
    for (uint32_t bs = 512; bs <= (1u << 20); bs <<= 1)
        for (unsigned count = 1; count <= XLMIG_MAX_CONNS; count++)
            for (uint64_t b = 0; b < 20000; b += 97) {
                uint64_t stripe = b * bs / XLMIG_STRIPE_BYTES;

                assert_int_equal(xlmig_stripe_conn(b, bs, count),
                                 count == 1 ? 0 : stripe % count);
            }
    /* A whole stripe stays on one connection, the next moves on. */
    assert_int_equal(xlmig_stripe_conn(255, 4096, 4), 0);
    assert_int_equal(xlmig_stripe_conn(256, 4096, 4), 1);
    assert_int_equal(xlmig_stripe_conn(4 * 256, 4096, 4), 0);
    assert_int_equal(xlmig_stripe_conn(UINT64_MAX, 4096, 1), 0);
}

static void test_stream_of_records(void **state)
{
    /* Several records back to back parse one after the other. */
    struct xlmig_rec r;
    size_t off = 0, used, n1, n2;

    (void)state;
    n1 = xlmig_enc_empty(buf, XLMIG_REC_READY);
    n2 = xlmig_enc_u64(buf + n1, XLMIG_REC_SYNC, 7);
    assert_int_equal(xlmig_parse(buf, n1 + n2, &r, &used, &err), 1);
    assert_int_equal(r.type, XLMIG_REC_READY);
    off += used;
    assert_int_equal(xlmig_parse(buf + off, n1 + n2 - off, &r, &used, &err), 1);
    assert_int_equal(r.type, XLMIG_REC_SYNC);
    assert_int_equal(off + used, n1 + n2);
}

/* ---- header-first length checks ---- */

static const uint16_t all_types[] = {
    XLMIG_REC_HELLO, XLMIG_REC_ERROR, XLMIG_REC_DISK, XLMIG_REC_DISK_ACK,
    XLMIG_REC_DATA, XLMIG_REC_PHASE, XLMIG_REC_SYNC, XLMIG_REC_SYNC_ACK,
    XLMIG_REC_BITMAP, XLMIG_REC_BITMAP_END, XLMIG_REC_PULL_REQ,
    XLMIG_REC_PUSHED_ALL, XLMIG_REC_DONE, XLMIG_REC_DONE_ACK,
    XLMIG_REC_STATE, XLMIG_REC_STATE_END, XLMIG_REC_READY, XLMIG_REC_GO,
    XLMIG_REC_REPORT, XLMIG_REC_HEARTBEAT, XLMIG_REC_SESSION,
    XLMIG_REC_RESUME, XLMIG_REC_RESUME_ACK, XLMIG_REC_JOIN,
    XLMIG_REC_OFFLINE, XLMIG_REC_DIGEST, XLMIG_REC_MISMATCH,
    XLMIG_REC_VERIFIED, XLMIG_REC_PROBE, XLMIG_REC_PROBE_ACK,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void put_len(uint8_t *rec, uint32_t len)
{
    for (int i = 0; i < 4; i++)
        rec[8 + i] = (uint8_t)(len >> (8 * i));
}

/* A header declaring len for type (body zeros, CRC valid for that body). */
static void zero_record(uint16_t type, uint32_t len)
{
    memset(buf + XLMIG_HDR_LEN, 0, len);
    xlmig_seal(buf, type, len);
}

static void test_len_bounds_table(void **state)
{
    uint32_t min, max;

    (void)state;
    /* Every named type has bounds, nothing else has. */
    for (uint32_t t = 0; t <= 0xffff; t++) {
        int rc = xlmig_rec_len_bounds((uint16_t)t, &min, &max);
        assert_int_equal(rc == 0, xlmig_rec_name((uint16_t)t) != NULL);
        if (!rc) {
            assert_true(min <= max);
            assert_true(max <= XLMIG_MAX_BODY);
        }
    }
    /* The documented values (PROTOCOL.md, "Length bounds"). */
    struct { uint16_t type; uint32_t min, max; } want[] = {
        { XLMIG_REC_HELLO, 24, 24 },
        { XLMIG_REC_ERROR, 6, 1030 },
        { XLMIG_REC_DISK, 35, 98 },
        { XLMIG_REC_DISK_ACK, 8, 8 },
        { XLMIG_REC_DATA, 24, 24 + (4u << 20) },
        { XLMIG_REC_PHASE, 16, 16 },
        { XLMIG_REC_SYNC, 8, 8 },
        { XLMIG_REC_SYNC_ACK, 8, 8 },
        { XLMIG_REC_BITMAP, 24, 8 + 16 * 65536 },
        { XLMIG_REC_BITMAP_END, 16, 16 },
        { XLMIG_REC_PULL_REQ, 24, 8 + 16 * 4096 },
        { XLMIG_REC_PUSHED_ALL, 0, 0 },
        { XLMIG_REC_DONE, 24, 24 },
        { XLMIG_REC_DONE_ACK, 0, 0 },
        { XLMIG_REC_STATE, 1, 1u << 20 },
        { XLMIG_REC_STATE_END, 16, 16 },
        { XLMIG_REC_READY, 0, 0 },
        { XLMIG_REC_GO, 0, 0 },
        { XLMIG_REC_REPORT, 4, 4 },
        { XLMIG_REC_HEARTBEAT, 16, 16 },
        { XLMIG_REC_SESSION, 32, 32 },
        { XLMIG_REC_RESUME, 32, 32 },
        { XLMIG_REC_RESUME_ACK, 0, 0 },
        { XLMIG_REC_JOIN, 40, 40 },
        { XLMIG_REC_OFFLINE, 32, 32 },
        { XLMIG_REC_DIGEST, 24 + 32, 24 + 32 * 256 },
        { XLMIG_REC_MISMATCH, 24, 8 + 16 * 4096 },
        { XLMIG_REC_VERIFIED, 40, 40 },
        { XLMIG_REC_PROBE, 24, 24 + (1u << 20) },
        { XLMIG_REC_PROBE_ACK, 24, 24 },
    };
    assert_int_equal(sizeof(want) / sizeof(want[0]), NTYPES);
    for (size_t i = 0; i < NTYPES; i++) {
        assert_int_equal(xlmig_rec_len_bounds(want[i].type, &min, &max), 0);
        assert_int_equal(min, want[i].min);
        assert_int_equal(max, want[i].max);
    }
}

/*
 * For every type: the exact minimum and maximum are accepted (the header
 * alone asks for the body, the whole record parses); one byte less or
 * more is refused from the 16-byte header alone.
 */
static void test_len_bounds_every_type(void **state)
{
    struct xlmig_rec r;

    (void)state;
    for (size_t i = 0; i < NTYPES; i++) {
        uint16_t type = all_types[i];
        uint32_t min, max, ends[2];

        assert_int_equal(xlmig_rec_len_bounds(type, &min, &max), 0);
        ends[0] = min;
        ends[1] = max;
        for (int e = 0; e < 2; e++) {
            zero_record(type, ends[e]);
            assert_int_equal(parse1(XLMIG_HDR_LEN, &r), ends[e] ? 0 : 1);
            if (ends[e] > 1)
                assert_int_equal(parse1(XLMIG_HDR_LEN + 1, &r), 0);
            assert_int_equal(parse1(XLMIG_HDR_LEN + ends[e], &r), 1);
            assert_int_equal(r.type, type);
            assert_int_equal(r.len, ends[e]);
        }
        if (min > 0) {
            zero_record(type, min - 1);
            if (parse1(XLMIG_HDR_LEN, &r) != -EPROTO)
                fail_msg("%s: %u bytes not refused from the header",
                         xlmig_rec_name(type), min - 1);
            assert_err_has("corrupted length");
            assert_err_has(xlmig_rec_name(type));
        }
        zero_record(type, max + 1);
        if (parse1(XLMIG_HDR_LEN, &r) != -EPROTO)
            fail_msg("%s: %u bytes not refused from the header",
                     xlmig_rec_name(type), max + 1);
        assert_err_has("corrupted length");
    }
}

/* A valid record of each kind, as a sender would write it. */
struct sample {
    const char *what;
    size_t n;
    size_t fixed;               /* body bytes that state its length */
    bool opaque;                /* an in-range length cannot be told wrong */
    uint8_t rec[XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN + 3 * 4096];
};

static size_t make_sample(int k, struct sample *s)
{
    struct xlmig_hello h = { 1, 1, XLMIG_F_ALL, XLMIG_ROLE_SENDER };
    struct xlmig_disk d = { .id = 0, .count = 1, .block_size = 4096,
                            .size = 1 << 20, .allocated = 4096 };
    struct xlmig_disk_ack a = { 0, XLMIG_ACK_ZEROED };
    struct xlmig_phase p = { XLMIG_PHASE_DIRTY, 2, 17 };
    struct xlmig_extent e[3] = { { 0, 1 }, { 100, 50 }, { 1000, 1 } };
    struct xlmig_bitmap_end be = { 0, 52 };
    struct xlmig_done dn = { 1, 2, 3 };
    struct xlmig_state_end se = { 1000, 0x1234 };
    struct xlmig_data dd = { .encoding = XLMIG_ENC_RAW, .first = 8,
                             .count = 2, .payload_len = 8192 };
    uint8_t *pay = buf + XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN;
    uint8_t text[3 * 4096];
    size_t n;

    s->fixed = 0;
    s->opaque = false;
    switch (k) {
    case 0: s->what = "HELLO"; n = xlmig_enc_hello(buf, &h); break;
    case 1:
        s->what = "ERROR";
        n = xlmig_enc_error(buf, 28, "no space");
        s->fixed = 6;
        break;
    case 2:
        s->what = "DISK";
        strcpy(d.name, "xvda");
        n = xlmig_enc_disk(buf, &d);
        s->fixed = 34;
        break;
    case 3: s->what = "DISK_ACK"; n = xlmig_enc_disk_ack(buf, &a); break;
    case 4:
        s->what = "DATA raw";
        memset(pay, 0x5a, 8192);
        n = xlmig_enc_data(buf, &dd);
        s->fixed = XLMIG_DATA_HDR_LEN;
        break;
    case 5: {
        uLongf zl = 4096;

        s->what = "DATA zlib";
        for (size_t i = 0; i < sizeof(text); i++)
            text[i] = (uint8_t)("migrate the disk "[i % 17]);
        assert_int_equal(compress2(pay, &zl, text, sizeof(text), 1), Z_OK);
        dd.encoding = XLMIG_ENC_ZLIB;
        dd.count = 3;
        dd.payload_len = (uint32_t)zl;
        n = xlmig_enc_data(buf, &dd);
        s->fixed = XLMIG_DATA_HDR_LEN;
        s->opaque = true;       /* any size up to 4 MiB could be right */
        break;
    }
    case 6:
        s->what = "DATA zero";
        dd.encoding = XLMIG_ENC_ZERO;
        dd.payload_len = 0;
        n = xlmig_enc_data(buf, &dd);
        s->fixed = XLMIG_DATA_HDR_LEN;
        break;
    case 7: s->what = "PHASE"; n = xlmig_enc_phase(buf, &p); break;
    case 8: s->what = "SYNC"; n = xlmig_enc_u64(buf, XLMIG_REC_SYNC, 9); break;
    case 9:
        s->what = "SYNC_ACK";
        n = xlmig_enc_u64(buf, XLMIG_REC_SYNC_ACK, 9);
        break;
    case 10:
        s->what = "BITMAP";
        n = xlmig_enc_extents(buf, XLMIG_REC_BITMAP, 0, e, 3);
        s->fixed = 8;
        break;
    case 11: s->what = "BITMAP_END"; n = xlmig_enc_bitmap_end(buf, &be); break;
    case 12:
        s->what = "PULL_REQ";
        n = xlmig_enc_extents(buf, XLMIG_REC_PULL_REQ, 0, e, 2);
        s->fixed = 8;
        break;
    case 13:
        s->what = "PUSHED_ALL";
        n = xlmig_enc_empty(buf, XLMIG_REC_PUSHED_ALL);
        break;
    case 14: s->what = "DONE"; n = xlmig_enc_done(buf, &dn); break;
    case 15:
        s->what = "DONE_ACK";
        n = xlmig_enc_empty(buf, XLMIG_REC_DONE_ACK);
        break;
    case 16:
        s->what = "STATE";
        memset(text, 7, 1000);
        n = xlmig_enc_blob(buf, XLMIG_REC_STATE, text, 1000);
        s->opaque = true;       /* opaque bytes: nothing states the length */
        break;
    case 17: s->what = "STATE_END"; n = xlmig_enc_state_end(buf, &se); break;
    case 18: s->what = "READY"; n = xlmig_enc_empty(buf, XLMIG_REC_READY); break;
    case 19: s->what = "GO"; n = xlmig_enc_empty(buf, XLMIG_REC_GO); break;
    case 20: s->what = "REPORT"; n = xlmig_enc_report(buf, 0); break;
    case 21: {
        struct xlmig_heartbeat hb = { 7, XLMIG_HB_NO_STALE };

        s->what = "HEARTBEAT";
        n = xlmig_enc_heartbeat(buf, &hb);
        break;
    }
    case 22:
    case 23: {
        static const uint8_t tok[XLMIG_SESSION_TOKEN_LEN] = { 1, 2, 3 };

        s->what = k == 22 ? "SESSION" : "RESUME";
        n = xlmig_enc_token(buf, k == 22 ? XLMIG_REC_SESSION
                                         : XLMIG_REC_RESUME, tok);
        break;
    }
    case 24:
        s->what = "RESUME_ACK";
        n = xlmig_enc_empty(buf, XLMIG_REC_RESUME_ACK);
        break;
    case 25: {
        struct xlmig_join j = { .token = { 9, 8, 7 }, .index = 2,
                                .count = 4 };

        s->what = "JOIN";
        n = xlmig_enc_join(buf, &j);
        break;
    }
    case 26: {
        static const uint8_t id[XLMIG_SESSION_TOKEN_LEN] = { 4, 5, 6 };

        s->what = "OFFLINE";
        n = xlmig_enc_token(buf, XLMIG_REC_OFFLINE, id);
        break;
    }
    case 27: {
        uint8_t dig[3 * XLMIG_DIGEST_LEN];

        memset(dig, 0x3c, sizeof(dig));
        s->what = "DIGEST";
        n = xlmig_enc_digest(buf, 0, 8, 40, 16, dig);
        s->fixed = XLMIG_DIGEST_HDR_LEN;
        break;
    }
    case 28:
        s->what = "MISMATCH";
        n = xlmig_enc_extents(buf, XLMIG_REC_MISMATCH, 0, e, 3);
        s->fixed = 8;
        break;
    case 29: {
        struct xlmig_verified v = { 10, 40960, 16, 0, 2 };

        s->what = "VERIFIED";
        n = xlmig_enc_verified(buf, &v);
        break;
    }
    case 30: {
        struct xlmig_probe pr = { 3, 123456789, 1000 };

        s->what = "PROBE";
        memset(buf + XLMIG_HDR_LEN + XLMIG_PROBE_HDR_LEN, 0x5a, pr.pad);
        n = xlmig_enc_probe(buf, &pr);
        s->fixed = XLMIG_PROBE_HDR_LEN;
        break;
    }
    case 31: {
        struct xlmig_probe_ack pa = { 3, 123456789, 1040 };

        s->what = "PROBE_ACK";
        n = xlmig_enc_probe_ack(buf, &pa);
        break;
    }
    default: return 0;
    }
    assert_true(n <= sizeof(s->rec));
    memcpy(s->rec, buf, n);
    s->n = n;
    return n;
}

/* Valid records fed a byte at a time: never refused half-way. */
static void test_len_checks_accept_valid_prefixes(void **state)
{
    static struct sample s;
    struct xlmig_rec r;
    bool seen[NTYPES] = { false };

    (void)state;
    for (int k = 0; make_sample(k, &s); k++) {
        for (size_t i = 0; i < NTYPES; i++)
            if (all_types[i] == (uint16_t)(s.rec[4] | s.rec[5] << 8))
                seen[i] = true;
        for (size_t have = 0; have < s.n; have++) {
            memcpy(buf, s.rec, s.n);
            if (parse1(have, &r) != 0)
                fail_msg("%s: refused with %zu of %zu bytes: %s", s.what,
                         have, s.n, err.msg);
        }
        assert_int_equal(parse1(s.n, &r), 1);
    }
    for (size_t i = 0; i < NTYPES; i++)
        if (!seen[i])
            fail_msg("no sample of %s", xlmig_rec_name(all_types[i]));
}

/*
 * One flipped bit in the length of any record: the reader refuses it
 * before the (wrong) body could arrive: from the header alone for fixed
 * sizes, from the header and the body's fixed part for the others.  Only
 * records whose body is opaque (STATE, zlib DATA) cannot be told wrong
 * while the flipped length stays in the type's bounds; the whole-record
 * CRC catches those once the declared length has arrived (PROTOCOL.md).
 */
static void test_flipped_length_bit(void **state)
{
    static struct sample s;
    struct xlmig_rec r;

    (void)state;
    for (int k = 0; make_sample(k, &s); k++) {
        uint16_t type = (uint16_t)(s.rec[4] | s.rec[5] << 8);
        uint32_t len = (uint32_t)(s.n - XLMIG_HDR_LEN), min, max;
        unsigned waited = 0;

        assert_int_equal(xlmig_rec_len_bounds(type, &min, &max), 0);
        for (int bit = 0; bit < 32; bit++) {
            uint32_t fl = len ^ (1u << bit);
            bool in_range = fl >= min && fl <= max;
            size_t early = XLMIG_HDR_LEN + (s.fixed < fl ? s.fixed : fl);
            int rc;

            memcpy(buf, s.rec, s.n);
            put_len(buf, fl);
            /* The header and the fixed part only. */
            rc = parse1(early, &r);
            if (!s.opaque && rc != -EPROTO)
                fail_msg("%s: length %u (bit %d flipped) not refused from "
                         "%zu bytes (rc %d)", s.what, fl, bit, early, rc);
            if (s.opaque)
                assert_int_equal(rc, in_range ? 0 : -EPROTO);
            /* Everything the sender wrote for this record. */
            rc = parse1(s.n, &r);
            if (fl < len) {
                assert_int_equal(rc, -EPROTO);       /* complete: CRC or bounds */
            } else if (s.opaque && in_range) {
                assert_int_equal(rc, 0);        /* waits for the CRC */
                waited++;
            } else {
                assert_int_equal(rc, -EPROTO);
                assert_err_has("corrupted length");
            }
        }
        if (s.opaque)
            print_message("%s: %u of 32 length flips stay in bounds and "
                          "wait for the CRC\n", s.what, waited);
    }
}

/* What the fixed part of a variable record says must match the length. */
static void test_len_prefix_mismatch(void **state)
{
    struct xlmig_extent e[2] = { { 0, 1 }, { 5, 5 } };
    struct xlmig_data dd = { .encoding = XLMIG_ENC_RAW, .count = 3,
                             .payload_len = 3 * 4096 };
    struct xlmig_rec r;
    size_t n;

    (void)state;
    /* A BITMAP whose header declares one extent more than its count. */
    n = xlmig_enc_extents(buf, XLMIG_REC_BITMAP, 0, e, 2);
    put_len(buf, (uint32_t)(n - XLMIG_HDR_LEN + 16));
    assert_int_equal(parse1(XLMIG_HDR_LEN + 7, &r), 0);
    assert_int_equal(parse1(XLMIG_HDR_LEN + 8, &r), -EPROTO);
    assert_err_has("extent count 2");
    /* An ERROR whose length disagrees with its reason length. */
    n = xlmig_enc_error(buf, 5, "boom");
    put_len(buf, 20);
    assert_int_equal(parse1(XLMIG_HDR_LEN + 6, &r), -EPROTO);
    assert_err_has("reason length 4");
    /* Raw DATA: 3 blocks cannot make 3 x 4096 + 1 bytes. */
    n = xlmig_enc_data(buf, &dd);
    put_len(buf, (uint32_t)(n - XLMIG_HDR_LEN + 1));
    assert_int_equal(parse1(XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN, &r), -EPROTO);
    assert_err_has("raw block count 3");
    /* ... while 3 x 8192 could be right (the receiver checks its disk). */
    put_len(buf, XLMIG_DATA_HDR_LEN + 3 * 8192);
    assert_int_equal(parse1(XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN, &r), 0);
    /* Zero DATA carries nothing. */
    dd.encoding = XLMIG_ENC_ZERO;
    dd.payload_len = 0;
    xlmig_enc_data(buf, &dd);
    put_len(buf, XLMIG_DATA_HDR_LEN + 4096);
    assert_int_equal(parse1(XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN, &r), -EPROTO);
    assert_err_has("zero encoding");
    /* A DISK whose length disagrees with its name length. */
    struct xlmig_disk d = { .id = 0, .count = 1, .block_size = 4096,
                            .size = 1 << 20 };
    strcpy(d.name, "xvda");
    n = xlmig_enc_disk(buf, &d);
    put_len(buf, (uint32_t)(n - XLMIG_HDR_LEN + 1));
    assert_int_equal(parse1(XLMIG_HDR_LEN + 33, &r), 0);
    assert_int_equal(parse1(XLMIG_HDR_LEN + 34, &r), -EPROTO);
    assert_err_has("name length 4");
    /* A DIGEST declaring a digest more than its count. */
    {
        uint8_t dig[2 * XLMIG_DIGEST_LEN] = { 0 };

        n = xlmig_enc_digest(buf, 0, 0, 32, 16, dig);
        put_len(buf, (uint32_t)(n - XLMIG_HDR_LEN + XLMIG_DIGEST_LEN));
        assert_int_equal(parse1(XLMIG_HDR_LEN + 23, &r), 0);
        assert_int_equal(parse1(XLMIG_HDR_LEN + 24, &r), -EPROTO);
        assert_err_has("digest count 2");
    }
    /* A MISMATCH as a BITMAP. */
    n = xlmig_enc_extents(buf, XLMIG_REC_MISMATCH, 0, e, 2);
    put_len(buf, (uint32_t)(n - XLMIG_HDR_LEN - 16));
    assert_int_equal(parse1(XLMIG_HDR_LEN + 8, &r), -EPROTO);
    assert_err_has("extent count 2");
    /* A PROBE whose length is not its padding's. */
    {
        struct xlmig_probe pr = { 1, 2, 100 };

        memset(buf + XLMIG_HDR_LEN + XLMIG_PROBE_HDR_LEN, 0, pr.pad);
        n = xlmig_enc_probe(buf, &pr);
        put_len(buf, (uint32_t)(n - XLMIG_HDR_LEN + 1));
        assert_int_equal(parse1(XLMIG_HDR_LEN + 23, &r), 0);
        assert_int_equal(parse1(XLMIG_HDR_LEN + 24, &r), -EPROTO);
        assert_err_has("padding length 100");
    }
}

/* Issue 12's records: DIGEST, VERIFIED, MISMATCH, PROBE, PROBE_ACK,
 * OFFLINE, and the RESUMED flag of DISK_ACK. */
static void test_verify_records(void **state)
{
    uint8_t dig[3 * XLMIG_DIGEST_LEN];
    struct xlmig_digest dg;
    struct xlmig_verified v = { 10, 40960, 16, 0, 2 }, vo;
    struct xlmig_extent e = { 5, 16 };
    struct xlmig_extent_list l;
    struct xlmig_disk_ack a = { 0, XLMIG_ACK_ZEROED | XLMIG_ACK_RESUMED }, ao;
    uint8_t tok[XLMIG_SESSION_TOKEN_LEN], toko[XLMIG_SESSION_TOKEN_LEN];
    struct xlmig_rec r;
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(dig); i++)
        dig[i] = (uint8_t)i;
    /* 40 blocks in grains of 16: three digests, the last one short. */
    n = xlmig_enc_digest(buf, 1, 100, 40, 16, dig);
    assert_int_equal(n, XLMIG_HDR_LEN + XLMIG_DIGEST_HDR_LEN +
                        3 * XLMIG_DIGEST_LEN);
    assert_int_equal(parse1(n, &r), 1);
    assert_int_equal(xlmig_dec_digest(&r, &dg, &err), 0);
    assert_int_equal(dg.disk, 1);
    assert_int_equal(dg.first, 100);
    assert_int_equal(dg.count, 40);
    assert_int_equal(dg.grain, 16);
    assert_int_equal(dg.n, 3);
    assert_memory_equal(dg.d, dig, sizeof(dig));
    /* A digest count that does not fit the blocks is refused. */
    buf[XLMIG_HDR_LEN + 20] = 2;
    reseal(n);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_digest(&r, &dg, &err), -EPROTO);
    assert_err_has("digests");
    /* A grain that is not a power of two too. */
    n = xlmig_enc_digest(buf, 1, 100, 40, 16, dig);
    buf[XLMIG_HDR_LEN + 16] = 12;
    reseal(n);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_digest(&r, &dg, &err), -EPROTO);
    assert_err_has("power of two");

    n = xlmig_enc_verified(buf, &v);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_verified(&r, &vo, &err), 0);
    assert_int_equal(vo.checked, 10);
    assert_int_equal(vo.mismatched, 16);
    assert_int_equal(vo.skipped, 2);
    v.unresolved = 17;          /* more unresolved than ever mismatched */
    n = xlmig_enc_verified(buf, &v);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_verified(&r, &vo, &err), -EPROTO);
    assert_err_has("unresolved");

    n = xlmig_enc_extents(buf, XLMIG_REC_MISMATCH, 0, &e, 1);
    parse1(n, &r);
    assert_int_equal(r.type, XLMIG_REC_MISMATCH);
    assert_int_equal(xlmig_dec_extents(&r, &l, &err), 0);
    assert_int_equal(l.n, 1);

    n = xlmig_enc_disk_ack(buf, &a);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_disk_ack(&r, &ao, &err), 0);
    assert_int_equal(ao.flags, XLMIG_ACK_ZEROED | XLMIG_ACK_RESUMED);
    a.flags = 4;
    n = xlmig_enc_disk_ack(buf, &a);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_disk_ack(&r, &ao, &err), -EPROTO);

    memset(tok, 0xa5, sizeof(tok));
    n = xlmig_enc_token(buf, XLMIG_REC_OFFLINE, tok);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_token(&r, XLMIG_REC_OFFLINE, toko, &err), 0);
    assert_memory_equal(tok, toko, sizeof(tok));
    assert_int_equal(xlmig_dec_token(&r, XLMIG_REC_SESSION, toko, &err),
                     -EPROTO);
}

static void test_probe_records(void **state)
{
    struct xlmig_probe p = { 7, 123456789, 1000 }, po;
    struct xlmig_probe_ack a = { 7, 123456789, 5000 }, ao;
    struct xlmig_rec r;
    size_t n;

    (void)state;
    memset(buf + XLMIG_HDR_LEN + XLMIG_PROBE_HDR_LEN, 0x5a, p.pad);
    n = xlmig_enc_probe(buf, &p);
    assert_int_equal(n, XLMIG_HDR_LEN + XLMIG_PROBE_HDR_LEN + 1000);
    assert_int_equal(parse1(n, &r), 1);
    assert_int_equal(xlmig_dec_probe(&r, &po, &err), 0);
    assert_int_equal(po.seq, 7);
    assert_int_equal(po.t_ns, 123456789);
    assert_int_equal(po.pad, 1000);
    /* The padding length must be the body's. */
    buf[XLMIG_HDR_LEN + 16] = 0xe9;
    reseal(n);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_probe(&r, &po, &err), -EPROTO);
    assert_err_has("padding");
    n = xlmig_enc_probe_ack(buf, &a);
    parse1(n, &r);
    assert_int_equal(xlmig_dec_probe_ack(&r, &ao, &err), 0);
    assert_int_equal(ao.received, 5000);
    assert_string_equal(xlmig_rec_name(XLMIG_REC_PROBE_ACK), "PROBE_ACK");
}

/* SHA-256 as FIPS 180-2 gives it, and grains as the wire cuts them. */
static void test_digest(void **state)
{
    static const uint8_t abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
    static uint8_t data[3 * 65536 + 4096];
    uint8_t out[XLMIG_DIGEST_LEN], run[4 * XLMIG_DIGEST_LEN];
    size_t off, n;

    (void)state;
    assert_int_equal(xlmig_sha256("abc", 3, out), 0);
    assert_memory_equal(out, abc, sizeof(abc));
    assert_int_equal(xlmig_digest_grain(4096), 16);
    assert_int_equal(xlmig_digest_grain(512), 128);
    assert_int_equal(xlmig_digest_grain(1u << 20), 1);
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    /* 49 blocks of 4 KiB: grains of 16, 16, 16, 1. */
    assert_int_equal(xlmig_digest_count(49, 16), 4);
    assert_int_equal(xlmig_digest_run(data, sizeof(data), 4096, 49, 16, run),
                     0);
    xlmig_digest_grain_range(sizeof(data), 4096, 16, 3, &off, &n);
    assert_int_equal(off, 3 * 65536);
    assert_int_equal(n, 4096);
    assert_int_equal(xlmig_sha256(data + off, n, out), 0);
    assert_memory_equal(out, run + 3 * XLMIG_DIGEST_LEN, XLMIG_DIGEST_LEN);
    /* One byte changed changes that grain's digest only. */
    data[65536 + 5] ^= 1;
    assert_int_equal(xlmig_sha256(data + 65536, 65536, out), 0);
    assert_memory_not_equal(out, run + XLMIG_DIGEST_LEN, XLMIG_DIGEST_LEN);
    assert_int_equal(xlmig_sha256(data, 65536, out), 0);
    assert_memory_equal(out, run, XLMIG_DIGEST_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_roundtrip),
        cmocka_unit_test(test_framing_rejections),
        cmocka_unit_test(test_disk),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_extents),
        cmocka_unit_test(test_small_records),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_stripes),
        cmocka_unit_test(test_stream_of_records),
        cmocka_unit_test(test_len_bounds_table),
        cmocka_unit_test(test_len_bounds_every_type),
        cmocka_unit_test(test_len_checks_accept_valid_prefixes),
        cmocka_unit_test(test_flipped_length_bit),
        cmocka_unit_test(test_len_prefix_mismatch),
        cmocka_unit_test(test_verify_records),
        cmocka_unit_test(test_probe_records),
        cmocka_unit_test(test_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
