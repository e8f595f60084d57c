#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlmsg.h"
#include "datachan.h"
#include "err.h"

static int session_path(const char *rundir, const char *session, char *path,
                        size_t len, struct xlmig_error *err)
{
    if (!xctl_session_ok(session))
        return xlmig_fail(err, EINVAL, "bad data channel session id");
    if ((size_t)snprintf(path, len, "%s/%s.sock", rundir, session) >= len)
        return xlmig_fail(err, ENAMETOOLONG, "session path too long");
    return 0;
}

int dch_session_listen(const char *rundir, const char *session, char *path,
                       size_t len, struct xlmig_error *err)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (session_path(rundir, session, path, len, err) < 0)
        return -err->code;
    if (mkdir(rundir, 0700) < 0 && errno != EEXIST)
        return xlmig_fail(err, errno, "%s: %s", rundir, strerror(errno));
    /* Only root may hand us a channel: the directory says so. */
    if (stat(rundir, &st) < 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077))
        return xlmig_fail(err, EPERM, "%s must be a directory owned by us, "
                          "mode 0700", rundir);
    if (strlen(path) >= sizeof(a.sun_path))
        return xlmig_fail(err, EIO, "session path too long");
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return xlmig_fail(err, errno, "socket: %s", strerror(errno));
    unlink(path);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(fd, 4) < 0) {
        xlmig_fail(err, errno, "%s: %s", path, strerror(errno));
        close(fd);
        return -err->code;
    }
    return fd;
}

int dch_send_fds(int sock, const void *msg, size_t len, const int *fds,
                 int nfds)
{
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = { (void *)msg, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    if (nfds > 4)
        return -EINVAL;
    if (nfds) {
        struct cmsghdr *c;
        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

ssize_t dch_recv_fds(int sock, void *msg, size_t len, int *fds, int *nfds)
{
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = { msg, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = cbuf,
                         .msg_controllen = sizeof(cbuf) };
    int want = *nfds;
    ssize_t n;

    *nfds = 0;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
         c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *p = (int *)CMSG_DATA(c);
        for (int i = 0; i < got; i++) {
            if (*nfds < want)
                fds[(*nfds)++] = p[i];
            else
                close(p[i]);    /* more than we take: never leak them */
        }
    }
    return n;
}

int dch_session_accept(int lfd, int timeout_ms, int *rfd, int *wfd,
                       int *hold, struct xlmig_error *err)
{
    struct pollfd p = { .fd = lfd, .events = POLLIN };
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    int c, fds[2], nfds = 2;
    char tag[8];

    for (;;) {
        int rc = poll(&p, 1, timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return xlmig_fail(err, EIO, "the data channel did not arrive within %d s (did "
                       "the source's second ssh session start?)",
                       timeout_ms / 1000);
        c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
            cred.uid != 0) {
            close(c);
            continue;
        }
        if (dch_recv_fds(c, tag, sizeof(tag), fds, &nfds) != 4 ||
            memcmp(tag, "XDCH", 4) || nfds != 2) {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            nfds = 2;
            close(c);
            continue;
        }
        *rfd = fds[0];
        *wfd = fds[1];
        *hold = c;
        return 0;
    }
}

int dch_helper(const char *rundir, const char *session,
               struct xlmig_error *err)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    char path[108], b;
    int fd, fds[2] = { 0, 1 };

    if (session_path(rundir, session, path, sizeof(path), err) < 0)
        return -err->code;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        return xlmig_fail(err, errno, "data channel: no migration waits for "
                          "session %s here (%s)", session, strerror(errno));
    if (dch_send_fds(fd, "XDCH", 4, fds, 2) < 0)
        return xlmig_fail(err, errno, "data channel: handing over: %s",
                          strerror(errno));
    /* Our stdin/stdout now belong to the receiver; ssh keeps the session
     * while we live, so wait until the receiver lets go. */
    close(0);
    close(1);
    while (read(fd, &b, 1) > 0)
        ;
    return 0;
}
