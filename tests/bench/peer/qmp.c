/* A minimal QMP client; see qmp.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "qmp.h"

#define QMP_MAX_LINE (1 << 20)
#define QMP_MAX_QUEUED 64

struct qmp {
    int fd;
    char *buf;              /* bytes read but not yet consumed */
    size_t len;
    struct qmp_event queue[QMP_MAX_QUEUED];
    size_t queued;
    bool trace;
    uint64_t t_open_ns;
};

void qmp_set_trace(struct qmp *q, bool trace)
{
    q->trace = trace;
}

static void trace(const struct qmp *q, const char *dir, const char *msg)
{
    if (q->trace)
        fprintf(stderr, "qmp %10.6f %s %s\n",
                (double)(qmp_now_ns() - q->t_open_ns) / 1e9, dir, msg);
}

uint64_t qmp_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads one line (without CR/LF) into a malloc'ed string; NULL on error. */
static char *read_line(struct qmp *q, uint64_t deadline_ns, char *err,
                       size_t errlen)
{
    for (;;) {
        char *nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;

        if (nl) {
            size_t n = (size_t)(nl - q->buf);
            char *line = malloc(n + 1);

            if (!line) {
                fail(err, errlen, "out of memory");
                return NULL;
            }
            memcpy(line, q->buf, n);
            line[n] = '\0';
            if (n && line[n - 1] == '\r')
                line[n - 1] = '\0';
            q->len -= n + 1;
            memmove(q->buf, nl + 1, q->len);
            return line;
        }
        if (q->len >= QMP_MAX_LINE) {
            fail(err, errlen, "QMP line longer than %d bytes", QMP_MAX_LINE);
            return NULL;
        }
        uint64_t now = qmp_now_ns();
        if (now >= deadline_ns) {
            fail(err, errlen, "timed out waiting for QMP");
            return NULL;
        }
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        int ms = (int)((deadline_ns - now + 999999) / 1000000);
        int rc = poll(&p, 1, ms);

        if (rc < 0 && errno != EINTR) {
            fail(err, errlen, "poll: %s", strerror(errno));
            return NULL;
        }
        if (rc <= 0)
            continue;
        ssize_t got = read(q->fd, q->buf + q->len, QMP_MAX_LINE - q->len);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            fail(err, errlen, "QMP connection closed%s%s", got ? ": " : "",
                 got ? strerror(errno) : "");
            return NULL;
        }
        q->len += (size_t)got;
    }
}

static const char *str_at(yajl_val v, const char *a, const char *b)
{
    const char *path[] = { a, b, NULL };

    return YAJL_GET_STRING(yajl_tree_get(v, path, yajl_t_string));
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/*
 * Reads one message.  Returns 1 for an answer (with *error set if it was
 * an error, else ""), 0 after queueing an event, -1 on failure.
 */
static int read_message(struct qmp *q, uint64_t deadline_ns, char *error,
                        size_t errorlen, char *err, size_t errlen)
{
    char perr[128];
    char *line = read_line(q, deadline_ns, err, errlen);
    yajl_val v;
    int rc = -1;

    if (!line)
        return -1;
    trace(q, "<", line);
    v = yajl_tree_parse(line, perr, sizeof(perr));
    if (!v || !YAJL_IS_OBJECT(v)) {
        fail(err, errlen, "bad QMP message (%s): %.80s", perr, line);
        goto out;
    }
    const char *path_ev[] = { "event", NULL };
    const char *path_ret[] = { "return", NULL };
    const char *path_err[] = { "error", NULL };
    const char *path_greet[] = { "QMP", NULL };
    const char *ev = YAJL_GET_STRING(yajl_tree_get(v, path_ev, yajl_t_string));

    if (ev) {
        if (q->queued == QMP_MAX_QUEUED) {
            /* Oldest first out: keep the newest events. */
            memmove(q->queue, q->queue + 1,
                    (QMP_MAX_QUEUED - 1) * sizeof(q->queue[0]));
            q->queued--;
        }
        struct qmp_event *e = &q->queue[q->queued++];

        copy(e->name, sizeof(e->name), ev);
        copy(e->device, sizeof(e->device), str_at(v, "data", "device"));
        if (!e->device[0])
            copy(e->device, sizeof(e->device), str_at(v, "data", "id"));
        copy(e->error, sizeof(e->error), str_at(v, "data", "error"));
        e->t_ns = qmp_now_ns();
        rc = 0;
    } else if (yajl_tree_get(v, path_ret, yajl_t_any) ||
               yajl_tree_get(v, path_greet, yajl_t_any)) {
        error[0] = '\0';
        rc = 1;
    } else if (yajl_tree_get(v, path_err, yajl_t_any)) {
        const char *d = str_at(v, "error", "desc");

        copy(error, errorlen, d ? d : "unknown QMP error");
        rc = 1;
    } else {
        fail(err, errlen, "unexpected QMP message: %.80s", line);
    }
out:
    yajl_tree_free(v);
    free(line);
    return rc;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int qmp_exec(struct qmp *q, const char *json, uint64_t deadline_ns, char *err,
             size_t errlen)
{
    char error[256];

    trace(q, ">", json);
    if (write_all(q->fd, json, strlen(json)) || write_all(q->fd, "\n", 1))
        return fail(err, errlen, "QMP write: %s", strerror(errno));
    for (;;) {
        int rc = read_message(q, deadline_ns, error, sizeof(error), err,
                              errlen);

        if (rc < 0)
            return -1;
        if (rc == 1)
            return error[0] ? fail(err, errlen, "%s", error) : 0;
    }
}

int qmp_wait_event(struct qmp *q, const char *const *names, const char *device,
                   uint64_t deadline_ns, struct qmp_event *ev, char *err,
                   size_t errlen)
{
    char error[256];

    for (;;) {
        for (size_t i = 0; i < q->queued; i++) {
            struct qmp_event *e = &q->queue[i];
            bool match = false;

            for (const char *const *n = names; *n; n++)
                match |= !strcmp(e->name, *n);
            if (!match || strcmp(e->device, device))
                continue;
            *ev = *e;
            memmove(e, e + 1, (q->queued - i - 1) * sizeof(*e));
            q->queued--;
            return 0;
        }
        int rc = read_message(q, deadline_ns, error, sizeof(error), err,
                              errlen);

        if (rc < 0)
            return -1;
        if (rc == 1)
            return fail(err, errlen, "unexpected QMP answer while waiting "
                        "for an event");
    }
}

struct qmp *qmp_open(const char *path, uint64_t deadline_ns, char *err,
                     size_t errlen)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    struct qmp *q = calloc(1, sizeof(*q));
    char error[256];

    if (q) {
        q->fd = -1;
        q->t_open_ns = qmp_now_ns();
    }
    if (!q || !(q->buf = malloc(QMP_MAX_LINE))) {
        free(q);
        fail(err, errlen, "out of memory");
        return NULL;
    }
    if (strlen(path) >= sizeof(a.sun_path)) {
        fail(err, errlen, "QMP socket path too long: %s", path);
        goto bad;
    }
    strcpy(a.sun_path, path);
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&a, sizeof(a))) {
        fail(err, errlen, "QMP connect %s: %s", path, strerror(errno));
        goto bad;
    }
    /* The greeting, then capabilities negotiation. */
    if (read_message(q, deadline_ns, error, sizeof(error), err, errlen) != 1)
        goto bad;
    if (qmp_exec(q, "{\"execute\":\"qmp_capabilities\"}", deadline_ns, err,
                 errlen))
        goto bad;
    return q;
bad:
    qmp_close(q);
    return NULL;
}

void qmp_close(struct qmp *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    free(q->buf);
    free(q);
}
