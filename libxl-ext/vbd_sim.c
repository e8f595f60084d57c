/*
 * struct xlmig_vbd_ops over the simulated VBD daemon's control socket
 * (protocol: sim/sim_proto.h), plus the simulated guest's controls
 * (sim/sim_client.h).  A handle is safe to use from several threads:
 * requests are serialised on its one connection.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vbd.h"
#include "sim/sim_client.h"
#include "sim/sim_proto.h"
#include "sim/sim_wire.h"

#define SUSPEND_TIMEOUT_MS 30000u

struct sim_priv {
    int fd;
    int wanted_fd;              /* -1 until asked for */
    pthread_mutex_t lock;       /* one request at a time on fd */
};

static const struct xlmig_vbd_ops sim_ops;

static int seterr(struct xlmig_vbd *v, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int seterr(struct xlmig_vbd *v, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rc = xlmig_vfail(&v->err, rc, fmt, ap);
    va_end(ap);
    return rc;
}

static struct sim_priv *priv(struct xlmig_vbd *v)
{
    return v->priv;
}

/* The daemon's error text, made safe to print. */
static int daemon_error(struct xlmig_vbd *v, const struct sim_hdr *h,
                        const char *msg, size_t len)
{
    char text[256];
    size_t n = 0;

    for (; msg && n < len && n < sizeof(text) - 1 && msg[n]; n++)
        text[n] = (msg[n] >= 32 && msg[n] < 127) ? msg[n] : '?';
    text[n] = '\0';
    return seterr(v, h->status, "simulated VBD: %s",
                  n ? text : strerror(-h->status));
}

/* Lock held: sends a request and checks the reply's first header. */
static int send_req(struct xlmig_vbd *v, uint16_t type, const void *req,
                    size_t len)
{
    int rc = sim_wire_send(priv(v)->fd, type, 0, req, len, -1);

    return rc ? seterr(v, rc, "simulated VBD: cannot send a request: %s",
                       strerror(-rc))
              : 0;
}

static int recv_failed(struct xlmig_vbd *v, int rc)
{
    if (rc == 0)
        return seterr(v, -ECONNRESET, "simulated VBD: the daemon closed the "
                      "connection");
    return seterr(v, rc, "simulated VBD: bad reply: %s", strerror(-rc));
}

/*
 * One request, one whole reply.  *reply (malloc'd, may be NULL) must be
 * freed by the caller on success.
 */
static int call(struct xlmig_vbd *v, uint16_t type, const void *req,
                size_t len, void **reply, size_t *rlen, int *fd_out)
{
    struct sim_priv *p = priv(v);
    struct sim_hdr h;
    void *msg = NULL;
    size_t mlen = 0;
    int rc;

    *reply = NULL;
    *rlen = 0;
    pthread_mutex_lock(&p->lock);
    rc = send_req(v, type, req, len);
    if (!rc) {
        rc = sim_wire_recv(p->fd, &h, &msg, &mlen, SIM_MAX_MESSAGE, fd_out);
        rc = rc == 1 ? 0 : recv_failed(v, rc);
    }
    pthread_mutex_unlock(&p->lock);
    if (rc)
        return rc;
    if (h.type != type) {
        free(msg);
        if (fd_out && *fd_out >= 0)
            close(*fd_out);
        return seterr(v, -EPROTO, "simulated VBD: reply of type %u to a "
                      "request of type %u", h.type, type);
    }
    if (h.status < 0) {
        rc = daemon_error(v, &h, msg, mlen);
        free(msg);
        if (fd_out && *fd_out >= 0) {
            close(*fd_out);
            *fd_out = -1;
        }
        return rc;
    }
    *reply = msg;
    *rlen = mlen;
    return 0;
}

/* A request whose reply has exactly `want` bytes, copied to out. */
static int call_fixed(struct xlmig_vbd *v, uint16_t type, const void *req,
                      size_t len, void *out, size_t want)
{
    void *reply;
    size_t rlen;
    int rc = call(v, type, req, len, &reply, &rlen, NULL);

    if (rc)
        return rc;
    if (rlen != want) {
        free(reply);
        return seterr(v, -EPROTO, "simulated VBD: reply of %zu bytes, want "
                      "%zu", rlen, want);
    }
    if (want)
        memcpy(out, reply, want);
    free(reply);
    return 0;
}

static int call_u32(struct xlmig_vbd *v, uint16_t type, uint32_t value)
{
    struct sim_u32 u = { .value = value };

    return call_fixed(v, type, &u, sizeof(u), NULL, 0);
}

/*
 * A request whose reply streams extents, packet by packet: each is handed
 * to fn; the whole stream is always consumed, so the connection stays in
 * step even when fn rejects an extent.
 */
static int call_extents(struct xlmig_vbd *v, uint16_t type,
                        int (*fn)(struct xlmig_vbd *v, void *ctx,
                                  const struct xlmig_extent *e),
                        void *ctx)
{
    struct sim_priv *p = priv(v);
    char *buf = malloc(SIM_MAX_PAYLOAD);
    struct sim_hdr h;
    size_t len;
    int rc, bad = 0;

    if (!buf)
        return seterr(v, -ENOMEM, "out of memory");
    pthread_mutex_lock(&p->lock);
    rc = send_req(v, type, NULL, 0);
    while (!rc) {
        rc = sim_wire_recv_packet(p->fd, &h, buf, &len, NULL);
        if (rc != 1) {
            rc = recv_failed(v, rc);
            break;
        }
        rc = 0;
        if (h.type != type) {
            rc = seterr(v, -EPROTO, "simulated VBD: reply of type %u to a "
                        "request of type %u", h.type, type);
            break;      /* out of step: nothing sensible to drain */
        }
        if (h.status < 0) {
            rc = daemon_error(v, &h, buf, len);
            break;
        }
        if (len % sizeof(struct xlmig_extent)) {
            rc = seterr(v, -EPROTO, "simulated VBD: extent list of %zu "
                        "bytes", len);
            break;
        }
        for (size_t i = 0; !bad && i < len / sizeof(struct xlmig_extent);
             i++) {
            struct xlmig_extent e;

            memcpy(&e, buf + i * sizeof(e), sizeof(e));
            bad = fn(v, ctx, &e);
        }
        if (!(h.flags & SIM_F_MORE))
            break;
    }
    pthread_mutex_unlock(&p->lock);
    free(buf);
    return rc ? rc : bad;
}

struct merge_ctx {
    struct xlmig_bitmap *out;
    uint64_t count;
};

static int merge_extent(struct xlmig_vbd *v, void *ctx,
                        const struct xlmig_extent *e)
{
    struct merge_ctx *m = ctx;
    uint64_t size = xlmig_bitmap_size(m->out);

    if (!e->count || e->start >= size || e->count > size - e->start)
        return seterr(v, -ERANGE, "simulated VBD: extent %" PRIu64 "+%"
                      PRIu64 " beyond the bitmap's %" PRIu64 " blocks "
                      "(sized for another block size?)", e->start, e->count,
                      size);
    xlmig_bitmap_set_range(m->out, e->start, e->count);
    m->count += e->count;
    return 0;
}

/* ---- struct xlmig_vbd_ops ---------------------------------------------- */

static int sim_track_start(struct xlmig_vbd *v, uint32_t block_size)
{
    return call_u32(v, SIM_TRACK_START, block_size);
}

static int sim_track_stop(struct xlmig_vbd *v)
{
    return call_fixed(v, SIM_TRACK_STOP, NULL, 0, NULL, 0);
}

static int sim_snapshot(struct xlmig_vbd *v, struct xlmig_bitmap *out,
                        uint64_t *count)
{
    struct merge_ctx m = { .out = out };
    int rc = call_extents(v, SIM_SNAPSHOT, merge_extent, &m);

    *count = m.count;
    return rc;
}

static int sim_quiesce(struct xlmig_vbd *v, int timeout_ms)
{
    if (timeout_ms <= 0 || (unsigned)timeout_ms > SIM_MAX_TIMEOUT_MS)
        return seterr(v, -EINVAL, "quiesce timeout %d ms not in 1..%u",
                      timeout_ms, SIM_MAX_TIMEOUT_MS);
    return call_u32(v, SIM_QUIESCE, (uint32_t)timeout_ms);
}

static int sim_unquiesce(struct xlmig_vbd *v)
{
    return call_fixed(v, SIM_UNQUIESCE, NULL, 0, NULL, 0);
}

static int sim_gate_start(struct xlmig_vbd *v, uint32_t block_size)
{
    return call_u32(v, SIM_GATE_START, block_size);
}

static int sim_gate_add_stale(struct xlmig_vbd *v,
                              const struct xlmig_extent *e, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i += SIM_MAX_EXTENTS) {
        size_t k = n - i < SIM_MAX_EXTENTS ? n - i : SIM_MAX_EXTENTS;

        rc = call_fixed(v, SIM_GATE_ADD_STALE, e + i, k * sizeof(*e), NULL,
                        0);
    }
    return rc;
}

static int sim_wanted_fd(struct xlmig_vbd *v)
{
    struct sim_priv *p = priv(v);
    void *reply;
    size_t rlen;
    int fd = -1, rc;

    if (p->wanted_fd >= 0)
        return p->wanted_fd;
    rc = call(v, SIM_WANTED_FD, NULL, 0, &reply, &rlen, &fd);
    if (rc)
        return rc;
    free(reply);
    if (fd < 0)
        return seterr(v, -EPROTO, "simulated VBD: no fd in the reply");
    p->wanted_fd = fd;
    return fd;
}

static int sim_wanted_pop(struct xlmig_vbd *v, struct xlmig_extent *out,
                          size_t max)
{
    struct sim_priv *p = priv(v);
    uint64_t drained;
    void *reply;
    size_t rlen;
    int rc;

    if (!max)
        return 0;
    if (max > SIM_MAX_EXTENTS)
        max = SIM_MAX_EXTENTS;
    /* Reset the notification first: what arrives later signals again. */
    if (p->wanted_fd >= 0 &&
        read(p->wanted_fd, &drained, sizeof(drained)) < 0) {
        /* EAGAIN: it was not signalled */
    }
    {
        struct sim_u32 u = { .value = (uint32_t)max };

        rc = call(v, SIM_WANTED_POP, &u, sizeof(u), &reply, &rlen, NULL);
    }
    if (rc)
        return rc;
    if (rlen % sizeof(*out) || rlen / sizeof(*out) > max) {
        free(reply);
        return seterr(v, -EPROTO, "simulated VBD: bad wanted list (%zu "
                      "bytes)", rlen);
    }
    if (rlen)
        memcpy(out, reply, rlen);
    free(reply);
    return (int)(rlen / sizeof(*out));
}

static int sim_claim(struct xlmig_vbd *v, uint64_t start, uint32_t count,
                     unsigned long *mask)
{
    struct sim_range r = { .start = start, .count = count };
    size_t words = ((size_t)count + 63) / 64;
    struct sim_claim_reply *rep;
    void *reply;
    size_t rlen;
    int rc;

    _Static_assert(sizeof(unsigned long) == sizeof(uint64_t),
                   "the claim mask is passed as 64-bit words");
    if (!count || count > SIM_MAX_CLAIM)
        return seterr(v, -EINVAL, "claim of %" PRIu32 " blocks (1..%u)",
                      count, SIM_MAX_CLAIM);
    rc = call(v, SIM_CLAIM, &r, sizeof(r), &reply, &rlen, NULL);
    if (rc)
        return rc;
    rep = reply;
    if (rlen != sizeof(*rep) + words * sizeof(uint64_t) ||
        rep->claimed < 0 || rep->claimed > count) {
        free(reply);
        return seterr(v, -EPROTO, "simulated VBD: bad claim reply");
    }
    memcpy(mask, rep->mask, words * sizeof(uint64_t));
    rc = (int)rep->claimed;
    free(reply);
    return rc;
}

static int sim_commit(struct xlmig_vbd *v, uint64_t start, uint32_t count)
{
    struct sim_range r = { .start = start, .count = count };

    return call_fixed(v, SIM_COMMIT, &r, sizeof(r), NULL, 0);
}

static int sim_unclaim(struct xlmig_vbd *v, uint64_t start, uint32_t count)
{
    struct sim_range r = { .start = start, .count = count };

    return call_fixed(v, SIM_UNCLAIM, &r, sizeof(r), NULL, 0);
}

static int sim_gate_stop(struct xlmig_vbd *v)
{
    return call_fixed(v, SIM_GATE_STOP, NULL, 0, NULL, 0);
}

static int sim_stats(struct xlmig_vbd *v, struct xlmig_vbd_stats *out)
{
    struct sim_stats st;
    int rc = call_fixed(v, SIM_STATS, NULL, 0, &st, sizeof(st));

    if (rc)
        return rc;
    xlmig_vbd_stats_from_mig(out, &st.mig);
    return 0;
}

static void sim_close(struct xlmig_vbd *v)
{
    struct sim_priv *p;

    if (!v)
        return;
    p = priv(v);
    if (p) {
        if (p->wanted_fd >= 0)
            close(p->wanted_fd);
        if (p->fd >= 0)
            close(p->fd);
        pthread_mutex_destroy(&p->lock);
        free(p);
    }
    free(v->data_path);
    free(v);
}

static const struct xlmig_vbd_ops sim_ops = {
    .name = "sim",
    .track_start = sim_track_start,
    .track_stop = sim_track_stop,
    .snapshot = sim_snapshot,
    .quiesce = sim_quiesce,
    .unquiesce = sim_unquiesce,
    .gate_start = sim_gate_start,
    .gate_add_stale = sim_gate_add_stale,
    .wanted_fd = sim_wanted_fd,
    .wanted_pop = sim_wanted_pop,
    .claim = sim_claim,
    .commit = sim_commit,
    .unclaim = sim_unclaim,
    .gate_stop = sim_gate_stop,
    .stats = sim_stats,
    .close = sim_close,
};

int xlmig_vbd_sim_open(const char *socket_path, struct xlmig_vbd **out,
                       struct xlmig_error *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct xlmig_vbd *v = calloc(1, sizeof(*v));
    struct sim_priv *p = calloc(1, sizeof(*p));
    struct sim_hello hello;
    char *reply = NULL;
    size_t rlen;
    int rc;

    if (!v || !p) {
        free(v);
        free(p);
        *out = NULL;
        return xlmig_fail(err, ENOMEM, "out of memory");
    }
    p->fd = p->wanted_fd = -1;
    pthread_mutex_init(&p->lock, NULL);
    v->ops = &sim_ops;
    v->priv = p;
    if (strlen(socket_path) >= sizeof(sa.sun_path)) {
        xlmig_fail(err, ENAMETOOLONG, "socket path too long: %s",
                   socket_path);
        goto fail;
    }
    strcpy(sa.sun_path, socket_path);
    p->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        xlmig_fail(err, errno, "cannot connect to the simulated VBD at %s: "
                   "%s", socket_path, strerror(errno));
        goto fail;
    }
    rc = call(v, SIM_HELLO, NULL, 0, (void **)&reply, &rlen, NULL);
    if (rc) {
        xlmig_fail_from(err, &v->err, NULL);
        goto fail;
    }
    if (rlen < sizeof(hello) + 2 || reply[rlen - 1] != '\0' ||
        strlen(reply + sizeof(hello)) != rlen - sizeof(hello) - 1) {
        xlmig_fail(err, EPROTO, "simulated VBD at %s: bad hello",
                   socket_path);
        free(reply);
        goto fail;
    }
    memcpy(&hello, reply, sizeof(hello));
    v->size = hello.size;
    v->data_path = strdup(reply + sizeof(hello));
    free(reply);
    if (!v->data_path) {
        xlmig_fail(err, ENOMEM, "out of memory");
        goto fail;
    }
    *out = v;
    return 0;
fail:
    sim_close(v);
    *out = NULL;
    return -err->code;
}

/* ---- guest controls (sim_client.h) ------------------------------------- */

static int check_sim(struct xlmig_vbd *v)
{
    if (!v || v->ops != &sim_ops)
        return -EINVAL;
    return 0;
}

int xlmig_sim_guest_suspend(struct xlmig_vbd *v, void **blob, size_t *len)
{
    struct sim_u32 u = { .value = SUSPEND_TIMEOUT_MS };

    *blob = NULL;
    *len = 0;
    if (check_sim(v))
        return -EINVAL;
    return call(v, SIM_GUEST_SUSPEND, &u, sizeof(u), blob, len, NULL);
}

int xlmig_sim_guest_resume(struct xlmig_vbd *v)
{
    if (check_sim(v))
        return -EINVAL;
    return call_fixed(v, SIM_GUEST_RESUME, NULL, 0, NULL, 0);
}

int xlmig_sim_guest_handoff(struct xlmig_vbd *v)
{
    if (check_sim(v))
        return -EINVAL;
    return call_fixed(v, SIM_GUEST_HANDOFF, NULL, 0, NULL, 0);
}

int xlmig_sim_guest_load(struct xlmig_vbd *v, const void *blob, size_t len)
{
    if (check_sim(v))
        return -EINVAL;
    if (!len || len > SIM_MAX_MESSAGE)
        return seterr(v, -EINVAL, "guest state of %zu bytes", len);
    return call_fixed(v, SIM_GUEST_LOAD, blob, len, NULL, 0);
}

int xlmig_sim_guest_unpause(struct xlmig_vbd *v)
{
    if (check_sim(v))
        return -EINVAL;
    return call_fixed(v, SIM_GUEST_UNPAUSE, NULL, 0, NULL, 0);
}

static void terminate(struct xlmig_sim_report *r)
{
    r->detail[sizeof(r->detail) - 1] = '\0';
}

int xlmig_sim_guest_report(struct xlmig_vbd *v, struct xlmig_sim_report *r)
{
    int rc;

    if (check_sim(v))
        return -EINVAL;
    rc = call_fixed(v, SIM_GUEST_REPORT, NULL, 0, r, sizeof(*r));
    if (!rc)
        terminate(r);
    return rc;
}

int xlmig_sim_guest_stop_and_verify(struct xlmig_vbd *v,
                                    struct xlmig_sim_report *r)
{
    int rc;

    if (check_sim(v))
        return -EINVAL;
    rc = call_fixed(v, SIM_GUEST_VERIFY, NULL, 0, r, sizeof(*r));
    if (!rc)
        terminate(r);
    return rc;
}

int xlmig_sim_shutdown(struct xlmig_vbd *v)
{
    int rc;

    if (check_sim(v))
        return -EINVAL;
    rc = call_fixed(v, SIM_SHUTDOWN, NULL, 0, NULL, 0);
    /* Gone before the reply arrived is just as good. */
    return rc == -ECONNRESET ? 0 : rc;
}

int xlmig_sim_test_written(struct xlmig_vbd *v, struct xlmig_bitmap *out,
                           uint64_t *count)
{
    struct merge_ctx m = { .out = out };
    int rc;

    if (check_sim(v))
        return -EINVAL;
    rc = call_extents(v, SIM_TEST_WRITTEN, merge_extent, &m);
    *count = m.count;
    return rc;
}

bool xlmig_sim_report_ok(const struct xlmig_sim_report *r)
{
    return !r->verify_failures && !r->io_errors &&
           (!r->verified || !r->mismatches);
}

static const char *state_name(uint64_t s)
{
    static const char *const names[] = {
        "empty", "paused", "running", "suspended", "stopped",
    };

    return s < 5 ? names[s] : "?";
}

void xlmig_sim_report_format(const struct xlmig_sim_report *r, char *buf,
                             size_t len)
{
    int n = snprintf(buf, len,
        "guest: %s\n"
        "writes: %" PRIu64 " (%" PRIu64 " bytes), reads: %" PRIu64
        " (%" PRIu64 " bytes)\n"
        "blocks read and verified: %" PRIu64 ", wrong: %" PRIu64
        ", I/O errors: %" PRIu64 "\n"
        "write rate here: %.2f MiB/s over %.1f s\n"
        "write latency us: p50 %" PRIu64 " p99 %" PRIu64 " max %" PRIu64 "\n"
        "read latency us: p50 %" PRIu64 " p99 %" PRIu64 " max %" PRIu64 "\n"
        "largest gap between writes: %.1f ms\n",
        state_name(r->state), r->writes, r->write_bytes, r->reads,
        r->read_bytes, r->reads_verified, r->verify_failures, r->io_errors,
        (double)r->write_rate / 1048576.0, (double)r->run_us / 1e6,
        r->write_p50_us, r->write_p99_us, r->write_max_us, r->read_p50_us,
        r->read_p99_us, r->read_max_us, (double)r->max_gap_us / 1e3);

    if (n < 0 || (size_t)n >= len)
        return;
    if (r->verified)
        n += snprintf(buf + n, len - (size_t)n,
                      "image check: %" PRIu64 " blocks, %" PRIu64 " wrong, %"
                      PRIu64 " unknown\n", r->blocks_checked, r->mismatches,
                      r->unknown);
    if (n >= 0 && (size_t)n < len && r->detail[0])
        n += snprintf(buf + n, len - (size_t)n, "detail: %s\n", r->detail);
    if (n >= 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "result: %s\n",
                 xlmig_sim_report_ok(r) ? "PASS" : "FAIL");
}
