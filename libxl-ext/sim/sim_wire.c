/* Packet framing of the simulated VBD's control protocol (sim_proto.h). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sim/sim_wire.h"

static int send_packet(int fd, const struct sim_hdr *h, const void *data,
                       size_t len, int fd_pass)
{
    struct iovec iov[2] = {
        { .iov_base = (void *)h, .iov_len = sizeof(*h) },
        { .iov_base = (void *)data, .iov_len = len },
    };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } cbuf;
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    ssize_t n;

    if (fd_pass >= 0) {
        struct cmsghdr *c;

        memset(&cbuf, 0, sizeof(cbuf));
        msg.msg_control = cbuf.buf;
        msg.msg_controllen = sizeof(cbuf.buf);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd_pass, sizeof(int));
    }
    do
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == sizeof(*h) + len ? 0 : -EIO;
}

int sim_wire_send(int fd, uint16_t type, int32_t status, const void *payload,
                  size_t len, int fd_pass)
{
    const char *p = payload;
    struct sim_hdr h = {
        .magic = SIM_MAGIC, .version = SIM_VERSION, .type = type,
        .status = status,
    };
    int rc;

    do {
        size_t n = len < SIM_MAX_PAYLOAD ? len : SIM_MAX_PAYLOAD;

        h.flags = len > n ? SIM_F_MORE : 0;
        rc = send_packet(fd, &h, p, n, fd_pass);
        if (rc)
            return rc;
        fd_pass = -1;
        if (n) {                /* p may be NULL when len is 0 */
            p += n;
            len -= n;
        }
    } while (len);
    return 0;
}

int sim_wire_send_error(int fd, uint16_t type, int status, const char *msg)
{
    size_t n = strlen(msg);

    if (n > 1023)
        n = 1023;
    {
        char buf[1024];

        memcpy(buf, msg, n);
        buf[n] = '\0';
        return sim_wire_send(fd, type, status < 0 ? status : -EIO, buf, n + 1,
                             -1);
    }
}

int sim_wire_recv_packet(int fd, struct sim_hdr *h, void *buf, size_t *len,
                         int *fd_passed)
{
    struct iovec iov[2] = {
        { .iov_base = h, .iov_len = sizeof(*h) },
        { .iov_base = buf, .iov_len = SIM_MAX_PAYLOAD },
    };
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } cbuf;
    struct msghdr msg = {
        .msg_iov = iov, .msg_iovlen = 2,
        .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
    };
    struct cmsghdr *c;
    ssize_t n;
    int got_fd = -1;

    memset(h, 0, sizeof(*h));
    *len = 0;
    if (fd_passed)
        *fd_passed = -1;
    do
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == ECONNRESET ? 0 : -errno;
    for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
             i++) {
            int pfd;

            memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (got_fd < 0 && fd_passed)
                got_fd = pfd;
            else
                close(pfd);     /* unexpected: do not leak it */
        }
    }
    if (n == 0)
        goto eof;
    if (msg.msg_flags & MSG_TRUNC) {
        if (got_fd >= 0)
            close(got_fd);
        return -EMSGSIZE;
    }
    if ((size_t)n < sizeof(*h) || h->magic != SIM_MAGIC ||
        h->version != SIM_VERSION) {
        if (got_fd >= 0)
            close(got_fd);
        return -EBADMSG;
    }
    *len = (size_t)n - sizeof(*h);
    if (fd_passed)
        *fd_passed = got_fd;
    return 1;
eof:
    if (got_fd >= 0)
        close(got_fd);
    return 0;
}

int sim_wire_recv(int fd, struct sim_hdr *h, void **out, size_t *len,
                  size_t max, int *fd_passed)
{
    char *pkt, *msg = NULL;
    size_t total = 0, n;
    struct sim_hdr ph;
    int rc, first = 1, over = 0, bad = 0, pfd;

    *out = NULL;
    *len = 0;
    if (fd_passed)
        *fd_passed = -1;
    pkt = malloc(SIM_MAX_PAYLOAD);
    if (!pkt)
        return -ENOMEM;
    for (;;) {
        rc = sim_wire_recv_packet(fd, &ph, pkt, &n, &pfd);
        if (rc <= 0)
            break;
        if (first) {
            *h = ph;
            first = 0;
        } else if (ph.type != h->type || ph.status != h->status) {
            bad = 1;    /* fragments of one message must agree */
        }
        if (pfd >= 0) {
            if (fd_passed && *fd_passed < 0)
                *fd_passed = pfd;
            else
                close(pfd);
        }
        if (!over && !bad && n) {
            if (total + n > max) {
                over = 1;
            } else {
                char *grown = realloc(msg, total + n);

                if (!grown) {
                    over = 1;
                } else {
                    msg = grown;
                    memcpy(msg + total, pkt, n);
                    total += n;
                }
            }
        }
        if (!(ph.flags & SIM_F_MORE))
            break;
    }
    free(pkt);
    if (rc == 1 && (over || bad))
        rc = over ? -EMSGSIZE : -EBADMSG;
    if (rc != 1) {
        free(msg);
        if (fd_passed && *fd_passed >= 0) {
            close(*fd_passed);
            *fd_passed = -1;
        }
        /* A stream that ends mid-message is an error, not a clean end. */
        return rc == 0 && !first ? -EBADMSG : rc;
    }
    *out = msg;
    *len = total;
    return 1;
}
