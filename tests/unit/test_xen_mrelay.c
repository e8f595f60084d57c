/*
 * The memory stream's relay (mrelay.c): the bytes pass unchanged, a
 * stalled or silent peer ends libxl's side within the bound, bytes past
 * the stream's end are an error.  "libxl" is a thread or the test itself
 * on the fd the relay hands out; the peer is a socketpair's other end.
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
#include <unistd.h>
#include <cmocka.h>

#include "conn.h"
#include "mrelay.h"

#define STREAM (3u * 1024 * 1024 + 17)

static struct xlmig_error err;

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7u + (i >> 12));
}

/* libxl saving: writes STREAM bytes (or until EPIPE); returns how many. */
static void *saver(void *opaque)
{
    int fd = *(int *)opaque;
    static uint8_t b[8192];
    size_t done = 0;

    while (done < STREAM) {
        size_t n = STREAM - done < sizeof(b) ? STREAM - done : sizeof(b);
        ssize_t w;

        for (size_t i = 0; i < n; i++)
            b[i] = pattern(done + i);
        w = write(fd, b, n);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    return (void *)(uintptr_t)done;
}

static void socket_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void test_to_peer(void **state)
{
    struct mrelay *r;
    pthread_t th;
    uint8_t b[4096];
    size_t got = 0, bad = 0;
    void *ret;
    int sv[2], fd;

    (void)state;
    socket_pair(sv);
    assert_int_equal(mrelay_start(&r, MRELAY_TO_PEER, sv[0], 1000, &fd,
                                  &err), 0);
    assert_int_equal(pthread_create(&th, NULL, saver, &fd), 0);
    while (got < STREAM) {
        ssize_t n = read(sv[1], b, sizeof(b));

        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++)
            bad += b[i] != pattern(got + (size_t)i);
        got += (size_t)n;
    }
    pthread_join(th, &ret);
    assert_int_equal((uintptr_t)ret, STREAM);
    assert_int_equal(mrelay_finish(r, &err), 0);
    assert_int_equal(bad, 0);
    close(sv[0]);
    close(sv[1]);
}

/* The destination takes nothing: libxl's writes fail within the bound. */
static void test_to_peer_stalled(void **state)
{
    struct mrelay *r;
    pthread_t th;
    uint64_t t0 = xlmig_now_ns();
    void *ret;
    int sv[2], fd;

    (void)state;
    socket_pair(sv);
    assert_int_equal(mrelay_start(&r, MRELAY_TO_PEER, sv[0], 300, &fd,
                                  &err), 0);
    assert_int_equal(pthread_create(&th, NULL, saver, &fd), 0);
    pthread_join(th, &ret);
    assert_true((uintptr_t)ret < STREAM);
    assert_true(xlmig_now_ns() - t0 < 3000000000ull);
    assert_int_equal(mrelay_finish(r, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "destination took nothing"));
    close(sv[0]);
    close(sv[1]);
}

/* The peer sends the stream and keeps the channel open (as the source
 * does until READY): libxl reads it all; nothing is left over. */
static void test_from_peer(void **state)
{
    struct mrelay *r;
    pthread_t th;
    uint8_t b[4096];
    size_t got = 0, bad = 0;
    int sv[2], fd;

    (void)state;
    socket_pair(sv);
    assert_int_equal(mrelay_start(&r, MRELAY_FROM_PEER, sv[0], 1000, &fd,
                                  &err), 0);
    assert_int_equal(pthread_create(&th, NULL, saver, &sv[1]), 0);
    while (got < STREAM) {
        ssize_t n = read(fd, b, STREAM - got < sizeof(b) ? STREAM - got
                                                         : sizeof(b));

        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++)
            bad += b[i] != pattern(got + (size_t)i);
        got += (size_t)n;
    }
    pthread_join(th, NULL);
    assert_int_equal(mrelay_finish(r, &err), 0);
    assert_int_equal(bad, 0);
    /* the channel is the caller's again, blocking as it was */
    assert_int_equal(write(sv[1], "GO", 2), 2);
    assert_int_equal(read(sv[0], b, 2), 2);
    close(sv[0]);
    close(sv[1]);
}

/* A silent source: libxl sees the end of its stream within the bound. */
static void test_from_peer_silent(void **state)
{
    struct mrelay *r;
    uint64_t t0 = xlmig_now_ns();
    uint8_t b[64];
    int sv[2], fd;

    (void)state;
    socket_pair(sv);
    assert_int_equal(mrelay_start(&r, MRELAY_FROM_PEER, sv[0], 300, &fd,
                                  &err), 0);
    assert_int_equal(write(sv[1], "abc", 3), 3);
    assert_int_equal(read(fd, b, sizeof(b)), 3);
    assert_int_equal(read(fd, b, sizeof(b)), 0);
    assert_true(xlmig_now_ns() - t0 < 3000000000ull);
    assert_int_equal(mrelay_finish(r, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "source sent nothing"));
    close(sv[0]);
    close(sv[1]);
}

/* Bytes libxl did not read are past the stream's end: an error. */
static void test_from_peer_trailing(void **state)
{
    struct mrelay *r;
    uint8_t b[4];
    int sv[2], fd;

    (void)state;
    socket_pair(sv);
    assert_int_equal(mrelay_start(&r, MRELAY_FROM_PEER, sv[0], 1000, &fd,
                                  &err), 0);
    assert_int_equal(write(sv[1], "streamXX", 8), 8);
    assert_int_equal(read(fd, b, 4), 4);
    usleep(100000);
    assert_int_equal(mrelay_finish(r, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "past its end"));
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_to_peer),
        cmocka_unit_test(test_to_peer_stalled),
        cmocka_unit_test(test_from_peer),
        cmocka_unit_test(test_from_peer_silent),
        cmocka_unit_test(test_from_peer_trailing),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
