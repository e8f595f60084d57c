/* The peer's guest workload; see guest.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"
#include "qmp.h"
#include "tag.h"

/* After a stall the schedule catches up on at most this much (as the sim). */
#define MAX_LAG_NS (100ULL * 1000000)
#define PICK_TRIES 8
#define MAX_QD 64

struct sample {
    uint64_t t_submit_ns;
    uint32_t lat_us;
};

struct req {
    struct guest *g;
    bool in_use;
    uint64_t block;
    uint32_t gen;
    uint64_t t_submit_ns;
    unsigned char *buf;
};

struct guest {
    struct guest_cfg cfg;
    struct nbd_handle *nbd;
    uint64_t nblocks;
    uint32_t *gen;          /* newest acknowledged generation per block */
    uint8_t *busy;          /* a write is in flight on the block */
    struct req reqs[MAX_QD];
    uint32_t inflight;
    uint64_t rng;
    struct sample *samples;
    size_t nsamples, cap;
    uint64_t errors;
    char first_error[160];
    char fatal[200];        /* why the loop ended early */
    pthread_t thread;
    bool running;
    atomic_bool stop;
    int stopfd;             /* eventfd: wakes the loop to stop */
    uint64_t t_stop_ns;
    unsigned drain_ms;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct guest *guest_open(const struct guest_cfg *cfg, char *err,
                         size_t errlen)
{
    struct guest *g = calloc(1, sizeof(*g));
    int64_t size;

    if (!g) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    g->stopfd = -1;
    if (!cfg->qd || cfg->qd > MAX_QD) {
        fail(err, errlen, "queue depth %" PRIu32 " not in 1..%d", cfg->qd,
             MAX_QD);
        goto bad;
    }
    g->nbd = nbd_create();
    if (!g->nbd || nbd_set_export_name(g->nbd, cfg->export) ||
        nbd_connect_unix(g->nbd, cfg->socket)) {
        fail(err, errlen, "NBD %s (export %s): %s", cfg->socket, cfg->export,
             nbd_get_error());
        goto bad;
    }
    size = nbd_get_size(g->nbd);
    if (size < 0) {
        fail(err, errlen, "NBD size: %s", nbd_get_error());
        goto bad;
    }
    if (size % PEER_BLOCK || size < 2 * (int64_t)PEER_BLOCK) {
        fail(err, errlen, "export size %" PRId64 " is not a multiple of 4 KiB"
             " of at least 2 blocks", size);
        goto bad;
    }
    g->nblocks = (uint64_t)size / PEER_BLOCK;
    g->gen = calloc(g->nblocks, sizeof(*g->gen));
    g->busy = calloc(g->nblocks, 1);
    g->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!g->gen || !g->busy || g->stopfd < 0) {
        fail(err, errlen, "out of memory for the model");
        goto bad;
    }
    for (uint32_t i = 0; i < cfg->qd; i++) {
        g->reqs[i].g = g;
        if (posix_memalign((void **)&g->reqs[i].buf, 4096, PEER_BLOCK)) {
            fail(err, errlen, "out of memory");
            goto bad;
        }
    }
    g->rng = cfg->seed ^ 0x6775657374ULL;
    return g;
bad:
    guest_close(g);
    return NULL;
}

static void add_sample(struct guest *g, uint64_t t_submit, uint64_t lat_ns)
{
    if (g->nsamples == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 65536;
        struct sample *s = realloc(g->samples, cap * sizeof(*s));

        if (!s)
            return;         /* statistics only: drop the sample */
        g->samples = s;
        g->cap = cap;
    }
    g->samples[g->nsamples++] = (struct sample){
        .t_submit_ns = t_submit,
        .lat_us = (uint32_t)(lat_ns / 1000 > UINT32_MAX ? UINT32_MAX
                                                       : lat_ns / 1000),
    };
}

static int write_done(void *user_data, int *error)
{
    struct req *r = user_data;
    struct guest *g = r->g;

    add_sample(g, r->t_submit_ns, qmp_now_ns() - r->t_submit_ns);
    if (*error) {
        if (!g->errors++)
            snprintf(g->first_error, sizeof(g->first_error), "write of "
                     "block %" PRIu64 " failed: %s", r->block,
                     strerror(*error));
    } else {
        g->gen[r->block] = r->gen;
    }
    g->busy[r->block] = 0;
    r->in_use = false;
    g->inflight--;
    return 1;               /* retire the command */
}

/* Issues one write; false if every pick was busy or submission failed. */
static bool submit(struct guest *g)
{
    struct req *r = NULL;
    uint64_t b = 0;
    int t;

    for (uint32_t i = 0; i < g->cfg.qd && !r; i++)
        if (!g->reqs[i].in_use)
            r = &g->reqs[i];
    if (!r)
        return false;
    for (t = 0; t < PICK_TRIES; t++) {
        b = 1 + rng_next(&g->rng) % (g->nblocks - 1);
        if (!g->busy[b])
            break;
    }
    if (t == PICK_TRIES)
        return false;
    r->block = b;
    r->gen = g->gen[b] + 1;
    peer_tag_fill(r->buf, g->cfg.seed, b, r->gen);
    r->in_use = true;
    g->busy[b] = 1;
    g->inflight++;
    r->t_submit_ns = qmp_now_ns();
    if (nbd_aio_pwrite(g->nbd, r->buf, PEER_BLOCK, b * PEER_BLOCK,
                       (nbd_completion_callback){ .callback = write_done,
                                                  .user_data = r },
                       0) < 0) {
        snprintf(g->fatal, sizeof(g->fatal), "nbd_aio_pwrite: %s",
                 nbd_get_error());
        r->in_use = false;
        g->busy[b] = 0;
        g->inflight--;
        return false;
    }
    return true;
}

static void *guest_main(void *arg)
{
    struct guest *g = arg;
    const uint64_t interval = (uint64_t)(PEER_BLOCK * 1e9 /
                                         (double)g->cfg.rate);
    uint64_t next_due = qmp_now_ns(), drain_deadline = 0;
    bool stopping = false;

    for (;;) {
        uint64_t now = qmp_now_ns(), wait_ns;

        if (!stopping && atomic_load(&g->stop)) {
            stopping = true;
            g->t_stop_ns = now;
            drain_deadline = now + (uint64_t)g->drain_ms * 1000000;
        }
        if (stopping && !g->inflight)
            break;
        if (stopping && now >= drain_deadline) {
            snprintf(g->fatal, sizeof(g->fatal), "%" PRIu32 " writes still "
                     "in flight %u ms after the stop", g->inflight,
                     g->drain_ms);
            break;
        }
        while (!stopping && !g->fatal[0] && g->inflight < g->cfg.qd &&
               now >= next_due && submit(g)) {
            next_due += interval;
            if (next_due + MAX_LAG_NS < now)
                next_due = now - MAX_LAG_NS;
        }
        if (g->fatal[0])
            break;
        if (stopping)
            wait_ns = drain_deadline - now;
        else if (g->inflight < g->cfg.qd && next_due > now)
            wait_ns = next_due - now;
        else if (g->inflight < g->cfg.qd)
            wait_ns = 1000000;      /* every pick was busy: retry soon */
        else
            wait_ns = 100000000;
        if (wait_ns > 100000000)
            wait_ns = 100000000;

        unsigned dir = nbd_aio_get_direction(g->nbd);
        struct pollfd p[2] = {
            { .fd = nbd_aio_get_fd(g->nbd),
              .events = (short)((dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
                                (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT
                                                                  : 0)) },
            { .fd = g->stopfd, .events = POLLIN },
        };
        struct timespec ts = {
            .tv_sec = (time_t)(wait_ns / 1000000000),
            .tv_nsec = (long)(wait_ns % 1000000000),
        };

        if (ppoll(p, 2, &ts, NULL) < 0 && errno != EINTR) {
            snprintf(g->fatal, sizeof(g->fatal), "poll: %s", strerror(errno));
            break;
        }
        if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
            nbd_aio_notify_read(g->nbd) < 0) {
            snprintf(g->fatal, sizeof(g->fatal), "NBD: %s", nbd_get_error());
            break;
        }
        if ((p[0].revents & POLLOUT) && nbd_aio_notify_write(g->nbd) < 0) {
            snprintf(g->fatal, sizeof(g->fatal), "NBD: %s", nbd_get_error());
            break;
        }
    }
    return NULL;
}

int guest_start(struct guest *g, char *err, size_t errlen)
{
    if (!g->cfg.rate)
        return 0;
    if (pthread_create(&g->thread, NULL, guest_main, g))
        return fail(err, errlen, "cannot start the guest thread");
    g->running = true;
    return 0;
}

int guest_stop(struct guest *g, unsigned timeout_ms, uint64_t *t_stop_ns,
               char *err, size_t errlen)
{
    uint64_t one = 1;

    if (!g->running) {
        *t_stop_ns = qmp_now_ns();
        return 0;
    }
    g->drain_ms = timeout_ms;
    atomic_store(&g->stop, true);
    if (write(g->stopfd, &one, sizeof(one)) != sizeof(one))
        return fail(err, errlen, "eventfd: %s", strerror(errno));
    pthread_join(g->thread, NULL);
    g->running = false;
    *t_stop_ns = g->t_stop_ns;
    if (g->fatal[0])
        return fail(err, errlen, "guest: %s", g->fatal);
    if (g->errors)
        return fail(err, errlen, "guest: %" PRIu64 " writes failed; first: %s",
                    g->errors, g->first_error);
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

void guest_stats(const struct guest *g, uint64_t from_ns, uint64_t to_ns,
                 struct guest_stats *st)
{
    uint32_t *lat = malloc((g->nsamples ? g->nsamples : 1) * sizeof(*lat));
    size_t n = 0;

    memset(st, 0, sizeof(*st));
    if (!lat)
        return;
    for (size_t i = 0; i < g->nsamples; i++)
        if (g->samples[i].t_submit_ns >= from_ns &&
            g->samples[i].t_submit_ns < to_ns)
            lat[n++] = g->samples[i].lat_us;
    st->writes = n;
    if (to_ns > from_ns)
        st->mib_s = (double)n * PEER_BLOCK / 1048576.0 /
                    ((double)(to_ns - from_ns) / 1e9);
    if (n) {
        qsort(lat, n, sizeof(*lat), cmp_u32);
        st->p50_us = lat[(n - 1) / 2];
        st->p99_us = lat[(size_t)((double)(n - 1) * 0.99)];
        st->max_us = lat[n - 1];
    }
    free(lat);
}

int guest_save_model(const struct guest *g, const char *path, char *err,
                     size_t errlen)
{
    struct peer_model_header h = { .seed = g->cfg.seed,
                                   .nblocks = g->nblocks };
    FILE *f = fopen(path, "wbx");
    bool ok;

    memcpy(h.magic, PEER_MODEL_MAGIC, sizeof(h.magic));
    if (!f)
        return fail(err, errlen, "%s: %s", path, strerror(errno));
    ok = fwrite(&h, sizeof(h), 1, f) == 1 &&
         fwrite(g->gen, sizeof(*g->gen), g->nblocks, f) == g->nblocks;
    if (fclose(f) || !ok)
        return fail(err, errlen, "%s: write failed", path);
    return 0;
}

void guest_close(struct guest *g)
{
    uint64_t t;
    char err[8];

    if (!g)
        return;
    if (g->running)
        guest_stop(g, 10000, &t, err, sizeof(err));
    if (g->nbd)
        nbd_close(g->nbd);
    for (uint32_t i = 0; i < MAX_QD; i++)
        free(g->reqs[i].buf);
    if (g->stopfd >= 0)
        close(g->stopfd);
    free(g->gen);
    free(g->busy);
    free(g->samples);
    free(g);
}
