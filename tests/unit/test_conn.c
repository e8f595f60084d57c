/*
 * The channel's bounds (conn.c): a silent peer, an idle peer kept alive
 * by heartbeats, a corrupted length followed by a trickle of bytes, a
 * peer that stops reading, and an interrupted send.  Each bound is small
 * here; the test checks that the call ends within it (and not long
 * before, where a wait is expected).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn.h"

static uint8_t rec[XLMIG_HDR_LEN + 64];

static void sleep_ms(int ms)
{
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };

    nanosleep(&t, NULL);
}

static double ms_since(uint64_t t0)
{
    return (double)(xlmig_now_ns() - t0) / 1e6;
}

struct pair {
    int sv[2];
    struct xlmig_conn me, peer;
};

static void pair_open(struct pair *p)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->sv), 0);
    assert_int_equal(xlmig_conn_init(&p->me, p->sv[0], p->sv[0]), 0);
    assert_int_equal(xlmig_conn_init(&p->peer, p->sv[1], p->sv[1]), 0);
}

static void pair_close(struct pair *p)
{
    xlmig_conn_destroy(&p->me);
    xlmig_conn_destroy(&p->peer);
    close(p->sv[0]);
    close(p->sv[1]);
}

/* Nothing at all: the receive ends after recv_timeout_ms. */
static void test_silent_peer(void **state)
{
    struct pair p;
    struct xlmig_rec r;
    uint64_t t0;

    (void)state;
    pair_open(&p);
    p.me.recv_timeout_ms = 300;
    t0 = xlmig_now_ns();
    assert_int_equal(xlmig_conn_recv(&p.me, &r), -1);
    assert_int_equal(p.me.err.code, ETIMEDOUT);
    assert_true(ms_since(t0) >= 280 && ms_since(t0) < 2000);
    pair_close(&p);
}

struct later {
    struct xlmig_conn *c;
    int after_ms;
};

static void *send_go_later(void *opaque)
{
    struct later *l = opaque;
    size_t n;

    sleep_ms(l->after_ms);
    n = xlmig_enc_empty(rec, XLMIG_REC_GO);
    xlmig_conn_send(l->c, rec, n);
    return NULL;
}

/* Idle but alive: heartbeats every 50 ms keep a 300 ms bound from firing
 * for a full second, then the record comes. */
static void test_heartbeats_keep_alive(void **state)
{
    struct pair p;
    struct xlmig_rec r;
    struct later l;
    pthread_t th;
    uint64_t t0;

    (void)state;
    pair_open(&p);
    p.me.recv_timeout_ms = 300;
    assert_int_equal(xlmig_conn_heartbeat_start(&p.peer, 50, NULL, NULL), 0);
    l = (struct later){ &p.peer, 1000 };
    assert_int_equal(pthread_create(&th, NULL, send_go_later, &l), 0);
    t0 = xlmig_now_ns();
    assert_int_equal(xlmig_conn_recv(&p.me, &r), 1);
    assert_int_equal(r.type, XLMIG_REC_GO);
    assert_true(ms_since(t0) >= 900);
    assert_true(p.me.hb_in >= 5);
    pthread_join(th, NULL);
    xlmig_conn_heartbeat_stop(&p.peer);
    pair_close(&p);
}

static void *trickle(void *opaque)
{
    int fd = *(int *)opaque;

    for (int i = 0; i < 40; i++) {
        if (write(fd, "x", 1) != 1)
            break;
        sleep_ms(50);
    }
    return NULL;
}

/* A STATE header whose length (in the type's bounds) is more than will
 * come, then one byte every 50 ms: bytes are not signs of life, so the
 * 300 ms bound still ends the wait. */
static void test_trickle_after_bad_length(void **state)
{
    struct pair p;
    struct xlmig_rec r;
    pthread_t th;
    uint64_t t0;

    (void)state;
    pair_open(&p);
    p.me.recv_timeout_ms = 300;
    memset(rec + XLMIG_HDR_LEN, 0, 8);
    xlmig_seal(rec, XLMIG_REC_STATE, 1000);
    assert_int_equal(write(p.sv[1], rec, XLMIG_HDR_LEN), XLMIG_HDR_LEN);
    assert_int_equal(pthread_create(&th, NULL, trickle, &p.sv[1]), 0);
    t0 = xlmig_now_ns();
    assert_int_equal(xlmig_conn_recv(&p.me, &r), -1);
    assert_int_equal(p.me.err.code, ETIMEDOUT);
    assert_true(ms_since(t0) < 1000);
    pthread_join(th, NULL);
    pair_close(&p);
}

/* A length its type cannot have: refused from the header, no wait. */
static void test_bad_length_at_once(void **state)
{
    struct pair p;
    struct xlmig_rec r;
    uint64_t t0;

    (void)state;
    pair_open(&p);
    p.me.recv_timeout_ms = 5000;
    xlmig_seal(rec, XLMIG_REC_DISK_ACK, 8);
    rec[8] = 111;               /* the length field, low byte */
    assert_int_equal(write(p.sv[1], rec, XLMIG_HDR_LEN), XLMIG_HDR_LEN);
    t0 = xlmig_now_ns();
    assert_int_equal(xlmig_conn_recv(&p.me, &r), -1);
    assert_true(ms_since(t0) < 500);
    assert_non_null(strstr(p.me.err.msg, "corrupted length"));
    pair_close(&p);
}

/* A peer that reads nothing: a send fails after timeout_ms. */
static void test_stalled_reader(void **state)
{
    static uint8_t big[XLMIG_HDR_LEN + 65536];
    struct pair p;
    uint64_t t0;
    int rc = 0;

    (void)state;
    pair_open(&p);
    p.me.timeout_ms = 300;
    xlmig_seal(big, XLMIG_REC_STATE, 65536);
    t0 = xlmig_now_ns();
    for (int i = 0; i < 1000 && rc == 0; i++)
        rc = xlmig_conn_send(&p.me, big, sizeof(big));
    assert_int_equal(rc, -1);
    assert_true(ms_since(t0) < 3000);
    pair_close(&p);
}

static void *interrupt_later(void *opaque)
{
    sleep_ms(200);
    xlmig_conn_interrupt(opaque);
    return NULL;
}

/* A send blocked on a full channel ends when another thread gives the
 * channel up, well before its own bound. */
static void test_interrupt(void **state)
{
    static uint8_t big[XLMIG_HDR_LEN + 65536];
    struct pair p;
    pthread_t th;
    uint64_t t0;
    int rc = 0;

    (void)state;
    pair_open(&p);
    p.me.timeout_ms = 60000;
    xlmig_seal(big, XLMIG_REC_STATE, 65536);
    assert_int_equal(pthread_create(&th, NULL, interrupt_later, &p.me), 0);
    t0 = xlmig_now_ns();
    for (int i = 0; i < 1000 && rc == 0; i++)
        rc = xlmig_conn_send(&p.me, big, sizeof(big));
    assert_int_equal(rc, -1);
    assert_true(ms_since(t0) < 5000);
    pthread_join(th, NULL);
    /* and every later send fails at once */
    assert_int_equal(xlmig_conn_send(&p.me, big, XLMIG_HDR_LEN), -1);
    pair_close(&p);
}

static void *recv_until_error(void *opaque)
{
    struct xlmig_conn *c = opaque;
    struct xlmig_rec r;

    while (xlmig_conn_recv(c, &r) == 1)
        ;
    return NULL;
}

/* A peer that takes no data but still sends heartbeats is slow (a slow
 * disk there), not gone: the send fails only after CONN_SLOW_PEER times
 * the bound.  Without heartbeats, after the bound (test_stalled_reader). */
static void test_slow_but_alive_peer(void **state)
{
    static uint8_t big[XLMIG_HDR_LEN + 65536];
    struct pair p;
    pthread_t rx;
    uint64_t t0;
    double ms;
    int rc = 0;

    (void)state;
    pair_open(&p);
    p.me.timeout_ms = 300;
    p.me.recv_timeout_ms = 5000;
    assert_int_equal(xlmig_conn_heartbeat_start(&p.peer, 50, NULL, NULL), 0);
    assert_int_equal(pthread_create(&rx, NULL, recv_until_error, &p.me), 0);
    xlmig_seal(big, XLMIG_REC_STATE, 65536);
    t0 = xlmig_now_ns();
    for (int i = 0; i < 1000 && rc == 0; i++)
        rc = xlmig_conn_send(&p.me, big, sizeof(big));
    ms = ms_since(t0);
    assert_int_equal(rc, -1);
    assert_true(ms >= 1000 && ms < 4000);
    xlmig_conn_heartbeat_stop(&p.peer);
    shutdown(p.sv[1], SHUT_RDWR);
    pthread_join(rx, NULL);
    pair_close(&p);
}

struct sender {
    struct xlmig_conn *c;
    const uint8_t *buf;
    size_t len;
    int rc;
};

static void *send_it(void *opaque)
{
    struct sender *x = opaque;

    x->rc = xlmig_conn_send(x->c, x->buf, x->len);
    return NULL;
}

struct reader {
    struct xlmig_conn *c;
    uint16_t types[8];
    int n;
};

static void *read_all(void *opaque)
{
    struct reader *x = opaque;
    struct xlmig_rec r;

    while (x->n < 8 && xlmig_conn_recv(x->c, &r) == 1)
        x->types[x->n++] = r.type;
    return NULL;
}

/* A record cut short by an interrupt is completed before the ERROR, so
 * that the peer still reads the ERROR as a record (not as the rest of a
 * body it waits for). */
static void test_torn_record_completed(void **state)
{
    static uint8_t big[XLMIG_HDR_LEN + (1u << 20)];
    struct pair p;
    struct sender snd;
    struct reader rd = { 0 };
    pthread_t a, b;

    (void)state;
    pair_open(&p);
    p.me.timeout_ms = 60000;
    memset(big + XLMIG_HDR_LEN, 0x5a, 1u << 20);
    xlmig_seal(big, XLMIG_REC_STATE, 1u << 20);
    snd = (struct sender){ &p.me, big, sizeof(big), 0 };
    assert_int_equal(pthread_create(&a, NULL, send_it, &snd), 0);
    sleep_ms(200);
    xlmig_conn_interrupt(&p.me);
    pthread_join(a, NULL);
    assert_int_equal(snd.rc, -1);
    assert_true(p.me.torn_len > 0 && p.me.torn_len < sizeof(big));
    rd.c = &p.peer;
    assert_int_equal(pthread_create(&b, NULL, read_all, &rd), 0);
    xlmig_conn_send_error(&p.me, EIO, "bye");
    shutdown(p.sv[0], SHUT_WR);
    pthread_join(b, NULL);
    assert_int_equal(rd.n, 2);
    assert_int_equal(rd.types[0], XLMIG_REC_STATE);
    assert_int_equal(rd.types[1], XLMIG_REC_ERROR);
    pair_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silent_peer),
        cmocka_unit_test(test_heartbeats_keep_alive),
        cmocka_unit_test(test_trickle_after_bad_length),
        cmocka_unit_test(test_bad_length_at_once),
        cmocka_unit_test(test_stalled_reader),
        cmocka_unit_test(test_slow_but_alive_peer),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_torn_record_completed),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
