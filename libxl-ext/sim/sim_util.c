/* Small helpers shared by the simulated VBD daemon, its client and tools. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "sim/sim_util.h"

int sim_verbose;

bool sim_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool sim_parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v;
    unsigned shift = 0;

    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    /* Integers exactly (doubles lose precision above 2^53). */
    if (sim_parse_uint(s, 0, UINT64_MAX, out))
        return true;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return false;
    switch (*end) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    case '\0': break;
    default: return false;
    }
    if (*end && end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B"))
        return false;
    v *= (double)(1ULL << shift);
    if (v >= 18446744073709551616.0 || v != v)
        return false;
    *out = (uint64_t)v;
    return true;
}

uint64_t sim_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t sim_realtime_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

struct timespec sim_ns_to_timespec(uint64_t ns)
{
    struct timespec ts = {
        .tv_sec = (time_t)(ns / 1000000000ULL),
        .tv_nsec = (long)(ns % 1000000000ULL),
    };
    return ts;
}

struct timespec sim_deadline_ms(long ms)
{
    return sim_ns_to_timespec(sim_now_ns() + (uint64_t)ms * 1000000ULL);
}

int sim_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;

    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)             /* past the end of the file */
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int sim_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;

    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int sim_open_image(const char *path, int *fd, uint64_t *size, struct xlmig_error *err)
{
    struct stat st;
    int rc;

    *fd = open(path, O_RDWR | O_CLOEXEC);
    if (*fd < 0)
        return xlmig_fail(err, errno, "cannot open %s: %s", path,
                       strerror(errno));
    /* One daemon per image (the engine's own access does not lock). */
    if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
        rc = xlmig_fail(err, errno == EWOULDBLOCK ? EBUSY : errno,
                     "%s: %s", path, errno == EWOULDBLOCK
                     ? "another simulated VBD is serving this image"
                     : strerror(errno));
        close(*fd);
        *fd = -1;
        return rc;
    }
    if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size % 4096) {
        rc = xlmig_fail(err, EINVAL, "%s: not a regular file whose size "
                     "is a positive multiple of 4 KiB", path);
        close(*fd);
        *fd = -1;
        return rc;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

void sim_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "xlmig-vbdsim[%ld]: ", (long)getpid());
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent threads do not interleave. */
    n = (int)strlen(line);
    if (n < (int)sizeof(line) - 1)
        line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere to report it */
    }
}
