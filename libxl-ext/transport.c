#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"
#include "wire.h"

/* A decimal port number 0..65535 (0: any, for listening). */
static bool port_ok(const char *p)
{
    unsigned long v = 0;

    if (!*p || strlen(p) > 5)
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    return v <= 65535;
}

static int split_host_port(const char *s, struct xlmig_endpoint *ep,
                           struct xlmig_error *err)
{
    const char *colon = strrchr(s, ':');
    size_t hl;

    if (!colon || colon == s || !colon[1])
        return xlmig_fail(err, EINVAL, "'%s': expected HOST:PORT", s);
    hl = (size_t)(colon - s);
    /* [v6addr]:port */
    if (s[0] == '[' && hl > 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof(ep->host) || strlen(colon + 1) >= sizeof(ep->port))
        return xlmig_fail(err, EINVAL, "'%s': host or port too long", s);
    if (!port_ok(colon + 1))
        return xlmig_fail(err, EINVAL, "'%s': the port must be a number "
                          "from 0 to 65535", s);
    memcpy(ep->host, s, hl);
    ep->host[hl] = '\0';
    snprintf(ep->port, sizeof(ep->port), "%s", colon + 1);
    return 0;
}

int xlmig_endpoint_parse(const char *spec, struct xlmig_endpoint *ep,
                         struct xlmig_error *err)
{
    memset(ep, 0, sizeof(*ep));
    ep->rfd = ep->wfd = -1;
    if (!strcmp(spec, "-")) {
        ep->kind = XLMIG_EP_STDIO;
        ep->rfd = 0;
        ep->wfd = 1;
        return 0;
    }
    if (!strncmp(spec, "tcp:", 4)) {
        ep->kind = XLMIG_EP_TCP;
        return split_host_port(spec + 4, ep, err);
    }
    if (!strncmp(spec, "tcp-listen:", 11)) {
        ep->kind = XLMIG_EP_LISTEN;
        return split_host_port(spec + 11, ep, err);
    }
    if (!strncmp(spec, "cmd:", 4) && spec[4]) {
        ep->kind = XLMIG_EP_CMD;
        ep->cmd = spec + 4;
        return 0;
    }
    if (!strncmp(spec, "fd:", 3) &&
        sscanf(spec + 3, "%d,%d", &ep->rfd, &ep->wfd) == 2 &&
        ep->rfd >= 0 && ep->wfd >= 0) {
        ep->kind = XLMIG_EP_FD;
        return 0;
    }
    return xlmig_fail(err, EINVAL, "bad endpoint '%s': use tcp:HOST:PORT, "
                      "tcp-listen:ADDR:PORT, cmd:COMMAND, fd:R,W or -", spec);
}

static void tune(int fd)
{
    int one = 1;

    /* Small control records (PULL_REQ, SYNC_ACK) must not wait. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    int idle = 10, intvl = 5, cnt = 3;
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

int xlmig_tcp_connect(const char *host, const char *port,
                      struct xlmig_error *err)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
    int fd = -1, rc = getaddrinfo(host, port, &hints, &res), last = 0;

    if (rc)
        return xlmig_fail(err, EHOSTUNREACH, "%s:%s: %s", host, port,
                          gai_strerror(rc));
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        last = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return xlmig_fail(err, last ? last : ECONNREFUSED, "connecting to "
                          "%s:%s: %s", host, port,
                          strerror(last ? last : ECONNREFUSED));
    tune(fd);
    return fd;
}

int xlmig_tcp_listen(const char *addr, const char *port, int *bound_port,
                     struct xlmig_error *err)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE }, *res, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd, one = 1, zero = 0, rc;

    if (!addr || !addr[0])
        addr = NULL;            /* every local address */
    rc = getaddrinfo(addr, port, &hints, &res);
    if (rc)
        return xlmig_fail(err, EADDRNOTAVAIL, "%s:%s: %s", addr ? addr : "*",
                          port, gai_strerror(rc));
    /* Every address: one dual-stack IPv6 socket takes IPv4 too, whichever
     * family the peer's name for us resolves to. */
    ai = res;
    if (!addr)
        for (struct addrinfo *a = res; a; a = a->ai_next)
            if (a->ai_family == AF_INET6) {
                ai = a;
                break;
            }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
        freeaddrinfo(res);
        return xlmig_fail(err, errno, "socket: %s", strerror(errno));
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (!addr && ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        return xlmig_fail(err, e, "listening on %s:%s: %s",
                          addr ? addr : "*", port, strerror(e));
    }
    freeaddrinfo(res);
    if (bound_port && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound_port = ntohs(ss.ss_family == AF_INET6
                                ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int read_full_timeout(int fd, uint8_t *p, size_t n, int timeout_ms)
{
    while (n) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        ssize_t r;

        if (poll(&pf, 1, timeout_ms) <= 0)
            return -1;
        r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int xlmig_tcp_accept(int lfd, int timeout_ms, const uint8_t *token,
                     struct xlmig_error *err)
{
    for (;;) {
        struct pollfd pf = { .fd = lfd, .events = POLLIN };
        uint8_t got[XLMIG_TOKEN_LEN];
        int fd, rc;

        rc = poll(&pf, 1, timeout_ms);
        if (rc == 0)
            return xlmig_fail(err, ETIMEDOUT, "no connection from the "
                              "source within %d s", timeout_ms / 1000);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return xlmig_fail(err, errno, "poll: %s", strerror(errno));
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        tune(fd);
        if (!token)
            return fd;
        /* Constant-time compare of a one-time secret. */
        if (read_full_timeout(fd, got, sizeof(got), 5000) == 0) {
            uint8_t diff = 0;
            for (size_t i = 0; i < sizeof(got); i++)
                diff |= (uint8_t)(got[i] ^ token[i]);
            if (!diff)
                return fd;
        }
        /* Not our source: drop it and wait on. */
        close(fd);
    }
}

int xlmig_tcp_send_token(int fd, const uint8_t *token,
                         struct xlmig_error *err)
{
    size_t off = 0;

    while (off < XLMIG_TOKEN_LEN) {
        ssize_t n = write(fd, token + off, XLMIG_TOKEN_LEN - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return xlmig_fail(err, errno ? errno : EIO, "sending the session "
                              "secret: %s", strerror(errno));
        off += (size_t)n;
    }
    return 0;
}

/* The two ends the child's stdin and stdout get, and ours. */
static int make_ends(bool one_socket, int ours[2], int theirs[2],
                     struct xlmig_error *err)
{
    int a[2], b[2];

    if (one_socket) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0)
            return xlmig_fail(err, errno, "socketpair: %s", strerror(errno));
        ours[0] = ours[1] = a[0];
        theirs[0] = theirs[1] = a[1];
        return 0;
    }
    if (pipe2(a, O_CLOEXEC) < 0)
        return xlmig_fail(err, errno, "pipe: %s", strerror(errno));
    if (pipe2(b, O_CLOEXEC) < 0) {
        close(a[0]);
        close(a[1]);
        return xlmig_fail(err, errno, "pipe: %s", strerror(errno));
    }
    ours[0] = b[0];             /* we read the child's stdout */
    ours[1] = a[1];             /* we write its stdin */
    theirs[0] = a[0];
    theirs[1] = b[1];
    return 0;
}

static void close_ends(int e[2])
{
    close(e[0]);
    if (e[1] != e[0])
        close(e[1]);
}

pid_t xlmig_spawn(const char *cmd, int *rfd, int *wfd, bool one_socket,
                  struct xlmig_error *err)
{
    int ours[2] = { -1, -1 }, theirs[2] = { -1, -1 }, rc;
    pid_t pid;

    if ((rc = make_ends(one_socket, ours, theirs, err)) < 0)
        return rc;
    pid = fork();
    if (pid < 0) {
        xlmig_fail(err, errno, "fork: %s", strerror(errno));
        close_ends(ours);
        close_ends(theirs);
        return -err->code;
    }
    if (pid == 0) {
        dup2(theirs[0], 0);
        dup2(theirs[1], 1);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close_ends(theirs);
    *rfd = ours[0];
    *wfd = ours[1];
    return pid;
}

int xlmig_endpoint_listen(const struct xlmig_endpoint *ep,
                          const char *port_file, struct xlmig_error *err)
{
    int lfd, port = 0;

    if (ep->kind != XLMIG_EP_LISTEN)
        return xlmig_fail(err, EINVAL, "not a tcp-listen endpoint");
    lfd = xlmig_tcp_listen(ep->host, ep->port, &port, err);
    if (lfd < 0)
        return lfd;
    if (port_file) {
        FILE *f = fopen(port_file, "w");

        if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f)) {
            close(lfd);
            return xlmig_fail(err, errno ? errno : EIO, "writing %s: %s",
                              port_file, strerror(errno));
        }
    }
    return lfd;
}

int xlmig_endpoint_open(const struct xlmig_endpoint *ep, int *rfd, int *wfd,
                        pid_t *child, int accept_timeout_ms,
                        const char *port_file, struct xlmig_error *err)
{
    int fd, lfd;

    *child = -1;
    switch (ep->kind) {
    case XLMIG_EP_STDIO:
    case XLMIG_EP_FD:
        *rfd = ep->rfd;
        *wfd = ep->wfd;
        return 0;
    case XLMIG_EP_TCP:
        fd = xlmig_tcp_connect(ep->host, ep->port, err);
        if (fd < 0)
            return fd;
        *rfd = *wfd = fd;
        return 0;
    case XLMIG_EP_CMD:
        *child = xlmig_spawn(ep->cmd, rfd, wfd, false, err);
        return *child < 0 ? *child : 0;
    case XLMIG_EP_LISTEN:
        lfd = xlmig_endpoint_listen(ep, port_file, err);
        if (lfd < 0)
            return lfd;
        fd = xlmig_tcp_accept(lfd, accept_timeout_ms, NULL, err);
        close(lfd);
        if (fd < 0)
            return fd;
        *rfd = *wfd = fd;
        return 0;
    }
    return xlmig_fail(err, EINVAL, "unknown endpoint");
}

int xlmig_random_token(uint8_t *token, struct xlmig_error *err)
{
    if (getrandom(token, XLMIG_TOKEN_LEN, 0) != XLMIG_TOKEN_LEN)
        return xlmig_fail(err, errno, "getrandom: %s", strerror(errno));
    return 0;
}

int xlmig_parse_rate(const char *s, uint64_t *bytes_per_sec)
{
    char *end;
    double v = strtod(s, &end);
    double mul = 1;

    if (end == s || !(v >= 0) || v > 1e15)
        return -EINVAL;
    if (!strcasecmp(end, "") || !strcasecmp(end, "b"))
        mul = 1;
    else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb"))
        mul = 1e3;
    else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb"))
        mul = 1e6;
    else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb"))
        mul = 1e9;
    else if (!strcasecmp(end, "kbit"))
        mul = 1e3 / 8;
    else if (!strcasecmp(end, "mbit"))
        mul = 1e6 / 8;
    else if (!strcasecmp(end, "gbit"))
        mul = 1e9 / 8;
    else
        return -EINVAL;
    *bytes_per_sec = (uint64_t)(v * mul);
    return 0;
}
