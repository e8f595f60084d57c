/*
 * The control-channel storage negotiation (ctlmsg.c) and xl's save header
 * (xlproto.c): round trips, and malformed input rejected.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "conn.h"
#include "ctlmsg.h"
#include "xlproto.h"

static struct xlmig_error err;
static uint8_t buf[XCTL_HDR_LEN + XCTL_MAX_BODY + 4];

static struct xctl_msg offer(void)
{
    struct xctl_msg m;

    memset(&m, 0, sizeof(m));
    m.type = XCTL_OFFER;
    m.flags = XCTL_F_POSTCOPY;
    m.ndisks = 2;
    snprintf(m.disks[0].name, sizeof(m.disks[0].name), "xvda");
    m.disks[0].kind = XCTL_KIND_FILE;
    m.disks[0].size = 8ull << 30;
    snprintf(m.disks[1].name, sizeof(m.disks[1].name), "xvdb");
    m.disks[1].kind = XCTL_KIND_BLOCK;
    m.disks[1].size = 512;
    return m;
}

/* Recomputes the CRC after a test edits a frame. */
static void reseal(uint8_t *b, size_t len)
{
    uint32_t crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), b, (uInt)(len - 4));

    for (int i = 0; i < 4; i++)
        b[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

static void test_offer_roundtrip(void **state)
{
    struct xctl_msg m = offer(), d;
    size_t n;

    (void)state;
    n = xctl_encode(&m, buf, &err);
    assert_true(n > XCTL_HDR_LEN);
    assert_int_equal(xctl_decode(buf, n, &d, &err), 0);
    assert_int_equal(d.type, XCTL_OFFER);
    assert_int_equal(d.flags, XCTL_F_POSTCOPY);
    assert_int_equal(d.ndisks, 2);
    assert_string_equal(d.disks[1].name, "xvdb");
    assert_int_equal(d.disks[1].kind, XCTL_KIND_BLOCK);
    assert_int_equal(d.disks[0].size, 8ull << 30);
}

static void test_accept_roundtrip(void **state)
{
    struct xctl_msg m, d;
    size_t n;
    char hex[33];

    (void)state;
    memset(&m, 0, sizeof(m));
    m.type = XCTL_ACCEPT;
    m.chan = XCTL_CHAN_TCP;
    m.port = 40123;
    for (int i = 0; i < XCTL_TOKEN_LEN; i++)
        m.token[i] = (uint8_t)(i * 7 + 1);
    m.ndisks = 1;
    snprintf(m.disks[0].name, sizeof(m.disks[0].name), "xvda");
    snprintf(m.disks[0].path, sizeof(m.disks[0].path), "/srv/g1 disk.img");
    n = xctl_encode(&m, buf, &err);
    assert_true(n > 0);
    assert_int_equal(xctl_decode(buf, n, &d, &err), 0);
    assert_int_equal(d.port, 40123);
    assert_memory_equal(d.token, m.token, XCTL_TOKEN_LEN);
    assert_string_equal(d.disks[0].path, "/srv/g1 disk.img");
    xctl_session_hex(d.token, hex);
    assert_true(xctl_session_ok(hex));
    assert_false(xctl_session_ok("../../etc/passwd"));
    assert_false(xctl_session_ok("0123"));

    /* TCP without a port, an unknown channel. */
    m.port = 0;
    n = xctl_encode(&m, buf, &err);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    m.port = 1;
    m.chan = 9;
    assert_int_equal(xctl_encode(&m, buf, &err), 0);
}

static void test_refuse_abort_memory(void **state)
{
    struct xctl_msg m, d;
    size_t n;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.type = XCTL_REFUSE;
    m.code = 28;
    snprintf(m.reason, sizeof(m.reason), "no space left for xvda");
    n = xctl_encode(&m, buf, &err);
    assert_int_equal(xctl_decode(buf, n, &d, &err), 0);
    assert_int_equal(d.code, 28);
    assert_string_equal(d.reason, "no space left for xvda");
    m.type = XCTL_MEMORY;
    n = xctl_encode(&m, buf, &err);
    assert_int_equal(n, XCTL_HDR_LEN + 4);
    assert_int_equal(xctl_decode(buf, n, &d, &err), 0);
    assert_int_equal(d.type, XCTL_MEMORY);
}

static void test_malformed(void **state)
{
    struct xctl_msg m = offer(), d;
    size_t n = xctl_encode(&m, buf, &err);
    uint8_t copy[sizeof(buf)];

    (void)state;
    memcpy(copy, buf, n);
    /* Bad magic (stock xl's libxl stream would start "Xen"...). */
    buf[0] = 'Y';
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    assert_non_null(strstr(err.msg, "not an xlmig control"));
    /* Version 2. */
    memcpy(buf, copy, n);
    buf[8] = 2;
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    assert_non_null(strstr(err.msg, "version"));
    /* CRC. */
    memcpy(buf, copy, n);
    buf[XCTL_HDR_LEN + 3] ^= 1;
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    assert_non_null(strstr(err.msg, "checksum"));
    /* Truncated frame, frame longer than announced. */
    memcpy(buf, copy, n);
    assert_true(xctl_decode(buf, n - 1, &d, &err) < 0);
    assert_true(xctl_decode(buf, 10, &d, &err) < 0);
    /* Body length over the bound. */
    buf[14] = 0xff;
    assert_true(xctl_peek_len(buf, &err) < 0);
    /* Unknown type. */
    memcpy(buf, copy, n);
    buf[10] = 77;
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    /* Unknown flags. */
    memcpy(buf, copy, n);
    buf[XCTL_HDR_LEN] |= 0x80;
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    /* 0 disks, 17 disks (count field at body offset 4). */
    memcpy(buf, copy, n);
    buf[XCTL_HDR_LEN + 4] = 0;
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    buf[XCTL_HDR_LEN + 4] = 17;
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    /* A disk name that would climb out of a directory: "../a". */
    memcpy(buf, copy, n);
    memcpy(buf + XCTL_HDR_LEN + 9, "../a", 4);
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    assert_non_null(strstr(err.msg, "name"));
    /* Unknown kind, size 0. */
    memcpy(buf, copy, n);
    buf[XCTL_HDR_LEN + 13] = 3;
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    memcpy(buf, copy, n);
    memset(buf + XCTL_HDR_LEN + 14, 0, 8);
    reseal(buf, n);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    /* The same disk twice. */
    m.disks[1] = m.disks[0];
    n = xctl_encode(&m, buf, &err);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
    assert_non_null(strstr(err.msg, "twice"));
}

static void test_trailing_and_reason(void **state)
{
    struct xctl_msg m, d;
    size_t n;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.type = XCTL_ABORT;
    snprintf(m.reason, sizeof(m.reason), "x");
    n = xctl_encode(&m, buf, &err);
    /* One more body byte, with the length and CRC made consistent. */
    memmove(buf + n, buf + n - 4, 4);
    buf[n - 4] = 'y';
    buf[12]++;
    reseal(buf, n + 1);
    assert_true(xctl_decode(buf, n + 1, &d, &err) < 0);
    assert_non_null(strstr(err.msg, "trailing"));
    /* A reason with an escape sequence is not shown to anyone. */
    snprintf(m.reason, sizeof(m.reason), "bad\x1b[2J");
    n = xctl_encode(&m, buf, &err);
    assert_true(xctl_decode(buf, n, &d, &err) < 0);
}

/* Every single-byte change of a valid frame, resealed: no crash, and a
 * decoded message still obeys the rules. */
static void test_mutations(void **state)
{
    struct xctl_msg m = offer(), d;
    size_t n = xctl_encode(&m, buf, &err);
    uint8_t copy[sizeof(buf)];

    (void)state;
    memcpy(copy, buf, n);
    for (size_t i = 0; i < n - 4; i++)
        for (int v = 0; v < 256; v += 17) {
            memcpy(buf, copy, n);
            buf[i] = (uint8_t)v;
            reseal(buf, n);
            if (xctl_decode(buf, n, &d, &err) == 0 && d.type == XCTL_OFFER) {
                assert_true(d.ndisks >= 1 && d.ndisks <= XLMIG_MAX_DISKS);
                for (uint32_t k = 0; k < d.ndisks; k++)
                    assert_true(xlmig_disk_name_ok(d.disks[k].name));
            }
        }
}

static void test_pipe_io(void **state)
{
    struct xctl_msg m = offer(), d;
    int p[2];

    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(xctl_send(p[1], &m, 1000, &err), 0);
    assert_int_equal(xctl_recv(p[0], &d, XCTL_OFFER, 1000, &err), 0);
    assert_int_equal(d.ndisks, 2);
    /* A REFUSE where an ACCEPT is awaited carries its reason. */
    memset(&m, 0, sizeof(m));
    m.type = XCTL_REFUSE;
    snprintf(m.reason, sizeof(m.reason), "disk full");
    assert_int_equal(xctl_send(p[1], &m, 1000, &err), 0);
    assert_true(xctl_recv(p[0], &d, XCTL_ACCEPT, 1000, &err) < 0);
    assert_non_null(strstr(err.msg, "disk full"));
    close(p[1]);
    assert_true(xctl_recv(p[0], &d, 0, 1000, &err) < 0);
    close(p[0]);
}

/* ---- xl's header ---- */

static void test_xl_header(void **state)
{
    const char *json = "{\"c_info\":{\"name\":\"g1\"}}";
    uint8_t raw[256];
    char *got;
    uint32_t flags, optlen;
    int p[2];
    ssize_t n;

    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(xlp_write_header(p[1], json, 1000, &err), 0);
    assert_int_equal(xlp_read_header(p[0], &got, &flags, 1000, &err),
                     0);
    assert_string_equal(got, json);
    assert_int_equal(flags, XLP_FLAG_JSON | XLP_FLAG_STREAMV2);
    free(got);

    /* Byte layout as xl writes it: magic, 0x01020304, flags 3, 0, len. */
    assert_int_equal(xlp_write_header(p[1], json, 1000, &err), 0);
    n = read(p[0], raw, sizeof(raw));
    assert_int_equal(n, XLP_HDR_LEN + 4 + (ssize_t)strlen(json) + 1);
    assert_memory_equal(raw, "Xen saved domain, xl format\n \0 \r", 32);
    assert_int_equal(raw[32], 0x04);
    assert_int_equal(raw[36], 3);
    assert_int_equal(raw[44], 4 + strlen(json) + 1);
    assert_int_equal(raw[48], strlen(json) + 1);
    assert_int_equal(xlp_parse_header(raw, XLP_HDR_LEN, &flags, &optlen, &err), 0);
    raw[31] = 'x';
    assert_true(xlp_parse_header(raw, XLP_HDR_LEN, &flags, &optlen, &err) < 0);
    raw[31] = '\r';
    raw[36] = 7;        /* an unknown mandatory flag */
    assert_true(xlp_parse_header(raw, XLP_HDR_LEN, &flags, &optlen, &err) < 0);
    raw[36] = 3;
    raw[47] = 0x7f;     /* 2 GiB of config */
    assert_true(xlp_parse_header(raw, XLP_HDR_LEN, &flags, &optlen, &err) < 0);

    /* A config that does not end in NUL where its length says. */
    raw[47] = 0;
    raw[44] = 4 + 3;
    memcpy(raw + 48, "\x03\0\0\0abc", 7);
    assert_int_equal(write(p[1], raw, 48 + 7), 48 + 7);
    assert_true(xlp_read_header(p[0], &got, &flags, 1000, &err) < 0);
    close(p[0]);
    close(p[1]);
}

static void test_fixed_messages(void **state)
{
    int p[2];

    (void)state;
    /* The lengths xl reads: banner without NUL, the others with. */
    assert_int_equal(xlp_banner_len, 54);
    assert_int_equal(xlp_ready_len, 34);
    assert_int_equal(xlp_go_len, 44);
    assert_int_equal(xlp_report_len, 39);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(xlp_write_all(p[1], xlp_ready, xlp_ready_len, 1000), 0);
    assert_int_equal(xlp_expect(p[0], xlp_ready, xlp_ready_len, "ready", 1000,
                                &err), 0);
    assert_int_equal(xlp_write_all(p[1], xlp_go, xlp_ready_len, 1000), 0);
    assert_true(xlp_expect(p[0], xlp_ready, xlp_ready_len, "ready", 1000,
                                &err) < 0);
    close(p[0]);
    close(p[1]);
}

/* A silent peer on xl's channel: every read is bounded. */
static void test_silent_peer(void **state)
{
    uint64_t t0;
    struct xctl_msg d;
    char b;
    int p[2];

    (void)state;
    assert_int_equal(pipe(p), 0);
    t0 = xlmig_now_ns();
    assert_int_equal(xlp_expect(p[0], xlp_go, xlp_go_len, "GO", 200, &err),
                     -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "GO"));
    assert_int_equal(xctl_recv(p[0], &d, XCTL_MEMORY, 200, &err),
                     -ETIMEDOUT);
    /* Part of a message, then silence: still bounded. */
    assert_int_equal(write(p[1], "X", 1), 1);
    assert_int_equal(xlp_read_all(p[0], &b, 1, 200), 0);
    assert_int_equal(write(p[1], xlp_go, 10), 10);
    assert_int_equal(xlp_expect(p[0], xlp_go, xlp_go_len, "GO", 200, &err),
                     -ETIMEDOUT);
    assert_true(xlmig_now_ns() - t0 < 2000000000ull);
    close(p[0]);
    close(p[1]);
}

/* A peer that stops reading: writes are bounded too, and the fd is left
 * blocking as it was. */
static void test_stalled_reader(void **state)
{
    static char big[256 * 1024];
    struct xctl_msg m;
    uint64_t t0;
    int p[2];

    (void)state;
    assert_int_equal(pipe(p), 0);
    t0 = xlmig_now_ns();
    assert_int_equal(xlp_write_all(p[1], big, sizeof(big), 200), -ETIMEDOUT);
    memset(&m, 0, sizeof(m));
    m.type = XCTL_ABORT;
    assert_int_equal(xctl_send(p[1], &m, 200, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "ABORT"));
    assert_true(xlmig_now_ns() - t0 < 2000000000ull);
    assert_int_equal(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offer_roundtrip),
        cmocka_unit_test(test_accept_roundtrip),
        cmocka_unit_test(test_refuse_abort_memory),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_trailing_and_reason),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_pipe_io),
        cmocka_unit_test(test_xl_header),
        cmocka_unit_test(test_fixed_messages),
        cmocka_unit_test(test_silent_peer),
        cmocka_unit_test(test_stalled_reader),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
