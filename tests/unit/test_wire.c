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
#include "wire.h"

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
        parse1(n, &r);
        if (bad[i][0])
            assert_int_equal(xlmig_dec_disk(&r, &out, &err), -EPROTO);
        else
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
    parse1(n, &r);
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
    parse1(n, &r);
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
    parse1(n, &r);
    assert_int_equal(xlmig_dec_u64(&r, &v, &err), -EPROTO);
    n = xlmig_enc_u64(buf, XLMIG_REC_GO, 1);
    parse1(n, &r);
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
        cmocka_unit_test(test_stream_of_records),
        cmocka_unit_test(test_verify_records),
        cmocka_unit_test(test_probe_records),
        cmocka_unit_test(test_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
