/* Endpoint and rate parsing, the one-time secret check, the janitor. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "janitor.h"
#include "transport.h"
#include "wire.h"

static void test_endpoints(void **state)
{
    struct xlmig_endpoint ep;
    struct xlmig_error err;

    (void)state;
    assert_int_equal(xlmig_endpoint_parse("tcp:10.0.0.2:5000", &ep, &err), 0);
    assert_int_equal(ep.kind, XLMIG_EP_TCP);
    assert_string_equal(ep.host, "10.0.0.2");
    assert_string_equal(ep.port, "5000");
    assert_int_equal(xlmig_endpoint_parse("tcp-listen:[::1]:0", &ep, &err), 0);
    assert_int_equal(ep.kind, XLMIG_EP_LISTEN);
    assert_string_equal(ep.host, "::1");
    assert_int_equal(xlmig_endpoint_parse("cmd:ssh h xlmig receive -", &ep,
                                          &err), 0);
    assert_string_equal(ep.cmd, "ssh h xlmig receive -");
    assert_int_equal(xlmig_endpoint_parse("fd:3,4", &ep, &err), 0);
    assert_int_equal(ep.rfd, 3);
    assert_int_equal(ep.wfd, 4);
    assert_int_equal(xlmig_endpoint_parse("-", &ep, &err), 0);
    assert_int_equal(ep.kind, XLMIG_EP_STDIO);
    const char *bad[] = { "tcp:", "tcp:host", "tcp::80", "fd:3", "fd:-1,2",
                          "cmd:", "udp:x:1", "" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_true(xlmig_endpoint_parse(bad[i], &ep, &err) < 0);
}

static void test_rates(void **state)
{
    uint64_t r;

    (void)state;
    assert_int_equal(xlmig_parse_rate("125M", &r), 0);
    assert_int_equal(r, 125000000);
    assert_int_equal(xlmig_parse_rate("1000Mbit", &r), 0);
    assert_int_equal(r, 125000000);
    assert_int_equal(xlmig_parse_rate("1gbit", &r), 0);
    assert_int_equal(r, 125000000);
    assert_int_equal(xlmig_parse_rate("64k", &r), 0);
    assert_int_equal(r, 64000);
    assert_int_equal(xlmig_parse_rate("4096", &r), 0);
    assert_int_equal(r, 4096);
    assert_int_equal(xlmig_parse_rate("fast", &r), -EINVAL);
    assert_int_equal(xlmig_parse_rate("10 M", &r), -EINVAL);
    assert_int_equal(xlmig_parse_rate("nan", &r), -EINVAL);
    assert_int_equal(xlmig_parse_rate("inf", &r), -EINVAL);
    assert_int_equal(xlmig_parse_rate("-5M", &r), -EINVAL);
}

/* Only a connection that presents the secret is accepted. */
static void test_token(void **state)
{
    uint8_t tok[XLMIG_TOKEN_LEN], wrong[XLMIG_TOKEN_LEN];
    char port[16];
    struct xlmig_error err;
    int lfd, p, bad, good, fd;

    (void)state;
    assert_int_equal(xlmig_random_token(tok, &err), 0);
    memcpy(wrong, tok, sizeof(wrong));
    wrong[7] ^= 1;
    lfd = xlmig_tcp_listen("127.0.0.1", "0", &p, &err);
    assert_true(lfd >= 0);
    snprintf(port, sizeof(port), "%d", p);
    bad = xlmig_tcp_connect("127.0.0.1", port, &err);
    good = xlmig_tcp_connect("127.0.0.1", port, &err);
    assert_true(bad >= 0 && good >= 0);
    assert_int_equal(xlmig_tcp_send_token(bad, wrong, &err), 0);
    assert_int_equal(xlmig_tcp_send_token(good, tok, &err), 0);
    fd = xlmig_tcp_accept(lfd, 5000, tok, &err);
    assert_true(fd >= 0);
    /* The accepted one is `good`: a byte from it arrives. */
    assert_int_equal(write(good, "!", 1), 1);
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    assert_int_equal(c, '!');
    /* Nobody else: the wait ends with an error. */
    assert_true(xlmig_tcp_accept(lfd, 200, tok, &err) < 0);
    close(fd);
    close(bad);
    close(good);
    close(lfd);
}

/* No address (the xl data channel's default): every local address, over
 * IPv4 and, where the host has it, IPv6 on the same port. */
static void test_listen_any(void **state)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char port[16];
    struct xlmig_error err;
    int lfd, p, c4, c6, a;

    (void)state;
    for (int i = 0; i < 2; i++) {
        lfd = xlmig_tcp_listen(i ? "" : NULL, "0", &p, &err);
        assert_true(lfd >= 0);
        assert_true(p > 0);
        snprintf(port, sizeof(port), "%d", p);
        c4 = xlmig_tcp_connect("127.0.0.1", port, &err);
        assert_true(c4 >= 0);
        a = accept(lfd, NULL, NULL);
        assert_true(a >= 0);
        close(a);
        close(c4);
        assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &sl), 0);
        if (ss.ss_family == AF_INET6) {
            c6 = xlmig_tcp_connect("::1", port, &err);
            assert_true(c6 >= 0);
            a = accept(lfd, NULL, NULL);
            assert_true(a >= 0);
            close(a);
            close(c6);
        }
        close(lfd);
    }
}

static void test_janitor(void **state)
{
    char a[] = "/tmp/xlmig-jan-XXXXXX", b[] = "/tmp/xlmig-jan-XXXXXX";
    struct xlmig_janitor j;
    struct stat st;
    pid_t child;
    int status;

    (void)state;
    close(mkstemp(a));
    close(mkstemp(b));
    /* Kept: nothing happens. */
    assert_int_equal(xlmig_janitor_start(&j), 0);
    assert_int_equal(xlmig_janitor_add_file(&j, a), 0);
    xlmig_janitor_keep(&j);
    assert_int_equal(stat(a, &st), 0);
    /* Its owner dies: the file and the process go. */
    child = fork();
    if (child == 0) {
        struct xlmig_janitor k;
        pid_t victim = fork();
        if (victim == 0) {
            pause();
            _exit(0);
        }
        if (xlmig_janitor_start(&k) || xlmig_janitor_add_file(&k, b) ||
            xlmig_janitor_add_pid(&k, victim))
            _exit(2);
        printf("%d\n", (int)victim);
        fflush(stdout);
        _exit(0);               /* dies without keep */
    }
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 0; i < 200 && stat(b, &st) == 0; i++)
        usleep(10000);
    assert_int_not_equal(stat(b, &st), 0);
    unlink(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_listen_any),
        cmocka_unit_test(test_janitor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
