/*
 * The memory stream's relay: see mrelay.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mrelay.h"

#define MRELAY_BUF (64 * 1024)

struct mrelay {
    enum mrelay_dir dir;
    int peer_fd, peer_flags;
    int stall_ms;
    int lx[2];                  /* the pipe: libxl has one end */
    int stop[2];                /* destination: wakes the thread */
    pthread_t th;
    _Atomic uint64_t bytes;
    size_t held;                /* destination: read, not given to libxl */
    struct xlmig_error err;     /* the thread's error, if any */
    char buf[MRELAY_BUF];
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Waits for fd (events) or stop; 1 ready, 0 stopped, -1 timed out. */
static int wait_fd(struct mrelay *r, int fd, short events, int ms)
{
    struct pollfd p[2] = { { .fd = fd, .events = events },
                           { .fd = r->stop[0], .events = POLLIN } };
    int n;

    do
        n = poll(p, r->stop[0] >= 0 ? 2 : 1, ms);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return xlmig_fail(&r->err, errno, "memory stream: poll: %s",
                          strerror(errno)), -2;
    if (n == 0)
        return -1;
    return p[1].revents ? 0 : 1;
}

/* Source: what libxl wrote goes to the peer; a peer that does not take
 * any of it for stall_ms has stalled. */
static void to_peer(struct mrelay *r)
{
    for (;;) {
        ssize_t n = read(r->lx[0], r->buf, sizeof(r->buf));
        size_t off = 0;

        if (n == 0)
            return;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            xlmig_fail(&r->err, errno, "memory stream: read: %s",
                       strerror(errno));
            return;
        }
        while (off < (size_t)n) {
            ssize_t w = write(r->peer_fd, r->buf + off, (size_t)n - off);

            if (w > 0) {
                off += (size_t)w;
                r->bytes += (uint64_t)w;
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                xlmig_fail(&r->err, errno, "memory stream: sending to the "
                           "destination: %s", strerror(errno));
                return;
            }
            if (w < 0 && errno == EINTR)
                continue;
            int ok = wait_fd(r, r->peer_fd, POLLOUT, r->stall_ms);

            if (ok == -1)
                xlmig_fail(&r->err, ETIMEDOUT, "memory stream: the "
                           "destination took nothing for %d s",
                           r->stall_ms / 1000);
            if (ok < 0)
                return;
        }
    }
}

/* Destination: what the peer sends goes to libxl; a peer that sends
 * nothing for stall_ms has stalled. */
static void from_peer(struct mrelay *r)
{
    for (;;) {
        int ok = wait_fd(r, r->peer_fd, POLLIN, r->stall_ms);
        ssize_t n;
        size_t off = 0;

        if (ok == 0)
            return;
        if (ok == -1)
            xlmig_fail(&r->err, ETIMEDOUT, "memory stream: the source "
                       "sent nothing for %d s", r->stall_ms / 1000);
        if (ok < 0)
            return;
        n = read(r->peer_fd, r->buf, sizeof(r->buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            xlmig_fail(&r->err, errno, "memory stream: %s", strerror(errno));
            return;
        }
        if (n == 0)
            return;     /* end of xl's channel: libxl sees it as its end */
        r->held = (size_t)n;
        while (off < (size_t)n) {
            ssize_t w = write(r->lx[1], r->buf + off, (size_t)n - off);

            if (w > 0) {
                off += (size_t)w;
                r->held -= (size_t)w;
                r->bytes += (uint64_t)w;
                continue;
            }
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && errno != EAGAIN) {
                xlmig_fail(&r->err, errno, "memory stream: %s",
                           strerror(errno));
                return;
            }
            /* libxl reads at its own pace: not the peer's stall */
            if (wait_fd(r, r->lx[1], POLLOUT, -1) <= 0)
                return;
        }
    }
}

static void *relay_main(void *opaque)
{
    struct mrelay *r = opaque;

    if (r->dir == MRELAY_TO_PEER) {
        to_peer(r);
        /* libxl's writes fail at once (EPIPE) from now on */
        close_fd(&r->lx[0]);
    } else {
        from_peer(r);
        /* libxl reads the end of the stream from now on */
        close_fd(&r->lx[1]);
    }
    return NULL;
}

int mrelay_start(struct mrelay **rp, enum mrelay_dir dir, int peer_fd,
                 int stall_ms, int *libxl_fd, struct xlmig_error *err)
{
    struct mrelay *r = calloc(1, sizeof(*r));
    int rc;

    if (!r)
        return xlmig_fail(err, ENOMEM, "out of memory");
    r->dir = dir;
    r->peer_fd = peer_fd;
    r->stall_ms = stall_ms > 0 ? stall_ms : 30000;
    r->lx[0] = r->lx[1] = r->stop[0] = r->stop[1] = -1;
    r->peer_flags = fcntl(peer_fd, F_GETFL);
    if (r->peer_flags < 0 || pipe2(r->lx, O_CLOEXEC) < 0 ||
        (dir == MRELAY_FROM_PEER &&
         (pipe2(r->stop, O_CLOEXEC) < 0 ||
          fcntl(r->lx[1], F_SETFL, O_NONBLOCK) < 0)) ||
        fcntl(peer_fd, F_SETFL, r->peer_flags | O_NONBLOCK) < 0) {
        rc = xlmig_fail(err, errno, "memory stream relay: %s",
                        strerror(errno));
        goto fail;
    }
    rc = pthread_create(&r->th, NULL, relay_main, r);
    if (rc) {
        rc = xlmig_fail(err, rc, "memory stream relay: %s", strerror(rc));
        fcntl(peer_fd, F_SETFL, r->peer_flags);
        goto fail;
    }
    *libxl_fd = dir == MRELAY_TO_PEER ? r->lx[1] : r->lx[0];
    *rp = r;
    return 0;
fail:
    close_fd(&r->lx[0]);
    close_fd(&r->lx[1]);
    close_fd(&r->stop[0]);
    close_fd(&r->stop[1]);
    free(r);
    return rc;
}

int mrelay_finish(struct mrelay *r, struct xlmig_error *err)
{
    int unread = 0, rc = 0;

    if (r->dir == MRELAY_TO_PEER) {
        close_fd(&r->lx[1]);    /* the thread sends the rest, sees EOF */
    } else {
        if (write(r->stop[1], "", 1) < 0)
            rc = xlmig_fail(err, errno, "memory stream relay: %s",
                            strerror(errno));
    }
    pthread_join(r->th, NULL);
    if (r->dir == MRELAY_FROM_PEER && r->lx[0] >= 0 &&
        ioctl(r->lx[0], FIONREAD, &unread) < 0)
        unread = 0;
    fcntl(r->peer_fd, F_SETFL, r->peer_flags);
    if (rc == 0 && r->err.code)
        rc = xlmig_fail_from(err, &r->err, NULL);
    else if (rc == 0 && (r->held || unread > 0))
        rc = xlmig_fail(err, EPROTO, "memory stream: %zu bytes past its "
                        "end", r->held + (size_t)unread);
    close_fd(&r->lx[0]);
    close_fd(&r->lx[1]);
    close_fd(&r->stop[0]);
    close_fd(&r->stop[1]);
    free(r);
    return rc;
}

uint64_t mrelay_bytes(const struct mrelay *r)
{
    return r->bytes;
}
