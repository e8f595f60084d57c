#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "err.h"
#include "xlproto.h"

const char xlp_banner[] =
    "xl migration receiver ready, send binary domain data.\n";
const char xlp_ready[] = "domain received, ready to unpause";
const char xlp_go[] = "domain is yours, you are cleared to unpause";
const char xlp_report[] = "my copy unpause results are as follows";
const size_t xlp_banner_len = sizeof(xlp_banner) - 1;
const size_t xlp_ready_len = sizeof(xlp_ready);
const size_t xlp_go_len = sizeof(xlp_go);
const size_t xlp_report_len = sizeof(xlp_report);

/* 32 bytes, with an embedded NUL: compared with memcmp, never as a string. */
static const char magic[XLP_MAGIC_LEN] = "Xen saved domain, xl format\n \0 \r";


/* Waits until fd is ready for events before end (ns); 0, or -errno. */
static int wait_ready(int fd, short events, uint64_t end)
{
    for (;;) {
        uint64_t now = xlmig_now_ns();
        struct pollfd pf = { .fd = fd, .events = events };
        int rc = now >= end ? 0
                            : poll(&pf, 1, (int)((end - now) / 1000000ull));

        if (rc > 0)
            return 0;
        if (rc == 0)
            return -(errno = ETIMEDOUT);
        if (errno != EINTR)
            return -errno;
    }
}

int xlp_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    uint64_t end = xlmig_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms)
                                    * 1000000ull;
    int flags = fcntl(fd, F_GETFL), rc = 0;
    const char *p = buf;

    /* Non-blocking while we write, so that a full pipe or socket (a peer
     * that stopped reading) cannot hold a write past the bound. */
    if (flags < 0 || (timeout_ms >= 0 &&
                      fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
        return -errno;
    while (len && rc == 0) {
        ssize_t n = write(fd, p, len);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && errno == EAGAIN && timeout_ms >= 0) {
            rc = wait_ready(fd, POLLOUT, end);
        } else if (n < 0 && errno != EINTR) {
            rc = -errno;
        } else if (n == 0) {
            rc = -(errno = EIO);
        }
    }
    if (timeout_ms >= 0)
        fcntl(fd, F_SETFL, flags);
    if (rc)
        errno = -rc;
    return rc;
}

int xlp_read_all(int fd, void *buf, size_t len, int timeout_ms)
{
    uint64_t end = xlmig_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms)
                                    * 1000000ull;
    char *p = buf;

    while (len) {
        ssize_t n;

        if (timeout_ms >= 0) {
            int rc = wait_ready(fd, POLLIN, end);

            if (rc < 0)
                return rc;
        }
        n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            errno = ECONNRESET;
        if (n <= 0)
            return errno ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int xlp_expect(int fd, const char *msg, size_t len, const char *what,
               int timeout_ms, struct xlmig_error *err)
{
    char buf[128];
    int rc;

    if (len > sizeof(buf))
        return xlmig_fail(err, EIO, "internal: message too long");
    if ((rc = xlp_read_all(fd, buf, len, timeout_ms)) < 0)
        return xlmig_fail(err, -rc, "migration stream: reading the %s: %s",
                          what, rc == -ECONNRESET
                                ? "the peer closed the stream"
                                : rc == -ETIMEDOUT
                                ? "nothing came in time" : strerror(-rc));
    if (memcmp(buf, msg, len))
        return xlmig_fail(err, EIO, "migration stream contained unexpected data instead of "
                   "the %s", what);
    return 0;
}

static void put_host32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);           /* xl writes host order; byteorder tells */
}

static uint32_t get_host32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

int xlp_write_header(int fd, const char *json, int timeout_ms,
                     struct xlmig_error *err)
{
    size_t clen = strlen(json) + 1;
    uint8_t hdr[XLP_HDR_LEN + 4];

    if (clen > XLP_MAX_CONFIG)
        return xlmig_fail(err, EIO, "domain configuration too large (%zu bytes)", clen);
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, magic, XLP_MAGIC_LEN);
    put_host32(hdr + 32, XLP_BYTEORDER);
    put_host32(hdr + 36, XLP_FLAG_STREAMV2 | XLP_FLAG_JSON);
    put_host32(hdr + 40, 0);
    put_host32(hdr + 44, (uint32_t)(4 + clen));
    put_host32(hdr + 48, (uint32_t)clen);
    if (xlp_write_all(fd, hdr, sizeof(hdr), timeout_ms) < 0 ||
        xlp_write_all(fd, json, clen, timeout_ms) < 0)
        return xlmig_fail(err, errno, "migration stream: writing the header: %s",
                   strerror(errno));
    return 0;
}

int xlp_parse_header(const uint8_t *hdr, size_t hlen, uint32_t *flags,
                     uint32_t *optlen, struct xlmig_error *err)
{
    if (hlen < XLP_HDR_LEN)
        return xlmig_fail(err, EIO, "save header truncated");
    if (memcmp(hdr, magic, XLP_MAGIC_LEN))
        return xlmig_fail(err, EIO, "stream has the wrong magic number: not an xl stream");
    if (get_host32(hdr + 32) != XLP_BYTEORDER)
        return xlmig_fail(err, EIO, "stream has the wrong byte order");
    *flags = get_host32(hdr + 36);
    if (*flags & ~(XLP_FLAG_JSON | XLP_FLAG_STREAMV2))
        return xlmig_fail(err, EIO, "stream has unsupported mandatory flags 0x%x",
                   *flags & ~(XLP_FLAG_JSON | XLP_FLAG_STREAMV2));
    if (!(*flags & XLP_FLAG_JSON) || !(*flags & XLP_FLAG_STREAMV2))
        return xlmig_fail(err, EIO, "stream must carry a JSON config and a v2 stream "
                   "(flags 0x%x)", *flags);
    if (get_host32(hdr + 40))
        return xlmig_fail(err, EIO, "stream has unsupported optional flags");
    *optlen = get_host32(hdr + 44);
    if (*optlen < 4 || *optlen > XLP_MAX_CONFIG + 4)
        return xlmig_fail(err, EIO, "stream's optional data length %u is out of range",
                   *optlen);
    return 0;
}

int xlp_read_header(int fd, char **json, uint32_t *flags, int timeout_ms,
                    struct xlmig_error *err)
{
    uint8_t hdr[XLP_HDR_LEN];
    uint32_t optlen, clen;
    uint8_t *opt;
    int rc;

    *json = NULL;
    if ((rc = xlp_read_all(fd, hdr, sizeof(hdr), timeout_ms)) < 0)
        return xlmig_fail(err, -rc, "migration stream: reading the header: "
                          "%s", strerror(-rc));
    if (xlp_parse_header(hdr, sizeof(hdr), flags, &optlen, err) < 0)
        return -err->code;
    opt = malloc(optlen + 1);
    if (!opt)
        return xlmig_fail(err, EIO, "out of memory");
    if ((rc = xlp_read_all(fd, opt, optlen, timeout_ms)) < 0) {
        free(opt);
        return xlmig_fail(err, -rc, "migration stream: reading the config: "
                          "%s", strerror(-rc));
    }
    clen = get_host32(opt);
    /* The config must fill the optional data and end with its NUL. */
    if (clen < 2 || clen != optlen - 4 || opt[4 + clen - 1] != '\0' ||
        memchr(opt + 4, '\0', clen - 1)) {
        free(opt);
        return xlmig_fail(err, EIO, "stream's config is malformed (%u bytes in %u)", clen,
                   optlen);
    }
    memmove(opt, opt + 4, clen);
    *json = (char *)opt;
    return 0;
}
