#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "compress.h"
#include "conn.h"
#include "digest.h"
#include "linkrate.h"
#include "sendq.h"
#include "zpolicy.h"

#define MAX_JOBS 12
#define EXTENT_BYTES (1u << 20)
#define MAX_JOB_EXTENTS 256
#define REC_OVERHEAD (XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN)
/* Worst case: every other block zero, one record header per block, and
 * with --verify a DIGEST record (one or two digests) before each. */
#define MAX_RECS (EXTENT_BYTES / 512 + 2)
#define DIGEST_OVERHEAD (XLMIG_HDR_LEN + XLMIG_DIGEST_HDR_LEN + \
                         2 * XLMIG_DIGEST_LEN)
#define OUT_CAP (EXTENT_BYTES + MAX_RECS * (REC_OVERHEAD + DIGEST_OVERHEAD) + \
                 (EXTENT_BYTES / (64u << 10)) * XLMIG_DIGEST_LEN)
/* Raw payloads are sent from where they were read: a header and a
 * payload piece per record at most (a DIGEST lies in out right before its
 * DATA header: one piece with it). */
#define MAX_IOV (2 * MAX_RECS + 1)

_Static_assert(EXTENT_BYTES == XLMIG_STRIPE_BYTES,
               "a job holds at most one stripe's blocks");

enum job_state { JOB_FREE, JOB_FILLING, JOB_QUEUED, JOB_BUSY, JOB_DONE };

struct job {
    enum job_state state;
    uint64_t seq;
    unsigned conn;              /* the connection that carries it */
    bool is_record;
    struct xlmig_sq_disk disk;
    /* A scatter list: extents of one disk, read one after the other. */
    struct xlmig_extent ext[MAX_JOB_EXTENTS];
    unsigned next;
    uint64_t blocks;
    uint8_t origin;
    bool skip_zero;
    bool z_on;                  /* the compression mode it was encoded in */
    uint8_t *raw;               /* EXTENT_BYTES, aligned for O_DIRECT */
    uint8_t *out;               /* headers, compressed payloads, records */
    size_t out_len, out_cap;
    struct iovec *iov;          /* what goes on the wire, in order */
    int niov;
    size_t wire_len;
    /* per-job accounting, folded into the stats by the writer */
    uint64_t data_bytes, zero_bytes, skipped_bytes, zlib_in, zlib_out,
             records;
    uint64_t zlib_cpu_ns, zlib_wall_ns;     /* spent deflating */
    uint64_t inflate_bytes, inflate_cpu_ns;     /* timed inflates */
};

struct xlmig_sendq {
    struct xlmig_conn *conns[XLMIG_MAX_CONNS];
    unsigned nconns;            /* writers started */
    unsigned route;             /* data goes to conns [0, route) */
    bool wstop[XLMIG_MAX_CONNS];        /* narrowed away */
    pthread_t writers[XLMIG_MAX_CONNS];
    bool writer_running[XLMIG_MAX_CONNS];
    enum xlmig_compress mode;
    uint64_t features;
    bool verify;                /* a DIGEST before every DATA */
    bool no_yield;              /* the guest is stopped: no yield points */
    unsigned nworkers;
    pthread_t workers[8];

    pthread_mutex_t lock;
    pthread_cond_t cv_work, cv_done, cv_free;
    struct job jobs[MAX_JOBS];
    int open[XLMIG_MAX_CONNS];  /* the job each connection fills, or -1 */
    uint64_t next_seq;
    unsigned used;              /* jobs not free */
    unsigned depth;
    bool stop;
    bool failed;
    bool channel;               /* a writer failed, not a worker */
    struct xlmig_error err;

    struct xlmig_sendq_stats stats;
    struct xlmig_linkrate link;
    uint64_t blocked_total;     /* writers' time waiting on the channels,
                                   divided by their number */
    struct xlmig_zpolicy zp;    /* --compress auto */
    uint64_t busy_ns;           /* start of the busy time not yet counted */
};

uint32_t xlmig_sendq_max_blocks(uint32_t block_size)
{
    uint32_t n = EXTENT_BYTES / block_size;
    return n ? n : 1;
}

static void set_failed(struct xlmig_sendq *q, const struct xlmig_error *e)
{
    if (!q->failed) {
        q->failed = true;
        q->err = *e;
    }
    pthread_cond_broadcast(&q->cv_work);
    pthread_cond_broadcast(&q->cv_done);
    pthread_cond_broadcast(&q->cv_free);
}

/* Closes the job connection c is filling: the workers may take it.  Lock
 * held. */
static void seal(struct xlmig_sendq *q, unsigned c)
{
    if (q->open[c] >= 0) {
        struct job *j = &q->jobs[q->open[c]];

        if (j->state == JOB_FILLING) {
            j->state = JOB_QUEUED;
            pthread_cond_broadcast(&q->cv_work);
        }
        q->open[c] = -1;
    }
}

static void seal_all(struct xlmig_sendq *q)
{
    for (unsigned c = 0; c < XLMIG_MAX_CONNS; c++)
        seal(q, c);
}

/* The oldest job in state st (any connection), or NULL.  Lock held. */
static struct job *oldest(struct xlmig_sendq *q, enum job_state st)
{
    struct job *best = NULL;

    for (unsigned i = 0; i < MAX_JOBS; i++)
        if (q->jobs[i].state == st && (!best || q->jobs[i].seq < best->seq))
            best = &q->jobs[i];
    return best;
}

/* The next job connection c must write (its oldest), or NULL. */
static struct job *next_for(struct xlmig_sendq *q, unsigned c)
{
    struct job *best = NULL;

    for (unsigned i = 0; i < MAX_JOBS; i++) {
        struct job *j = &q->jobs[i];

        if (j->state != JOB_FREE && j->conn == c &&
            (!best || j->seq < best->seq))
            best = j;
    }
    return best;
}

/* ---- what a job puts on the wire ---- */

static uint8_t *reserve(struct job *j, size_t n)
{
    if (j->out_len + n > j->out_cap)
        return NULL;            /* sized so that this cannot happen */
    return j->out + j->out_len;
}

/* n bytes just written at the end of out: sent next. */
static int push_out(struct job *j, size_t n)
{
    uint8_t *p = j->out + j->out_len;
    struct iovec *last = j->niov ? &j->iov[j->niov - 1] : NULL;

    j->out_len += n;
    j->wire_len += n;
    if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
        last->iov_len += n;
        return 0;
    }
    if (j->niov == MAX_IOV)
        return -1;
    j->iov[j->niov++] = (struct iovec){ .iov_base = p, .iov_len = n };
    return 0;
}

/* A payload sent from where it lies (the job's read buffer). */
static int push_ref(struct job *j, const uint8_t *p, size_t n)
{
    if (j->niov == MAX_IOV)
        return -1;
    j->iov[j->niov++] = (struct iovec){ .iov_base = (void *)p,
                                        .iov_len = n };
    j->wire_len += n;
    return 0;
}

/* ---- encoding one extent ---- */

static int emit_zero(struct job *j, uint64_t first, uint32_t count)
{
    struct xlmig_data d = { .disk = j->disk.id, .encoding = XLMIG_ENC_ZERO,
                            .origin = j->origin, .first = first,
                            .count = count };
    uint8_t *p = reserve(j, REC_OVERHEAD);

    if (!p || push_out(j, xlmig_enc_data(p, &d)) < 0)
        return -1;
    j->records++;
    return 0;
}

/* A worker's compressors and a scratch buffer. */
struct wctx {
    struct xlmig_deflater z;
    struct xlmig_inflater f;
    uint8_t *scratch;           /* EXTENT_BYTES, for timed inflates */
};

/* Times the receiver's side of a compressed extent: inflating it. */
static void time_inflate(struct job *j, struct wctx *w, const uint8_t *z,
                         size_t z_len, size_t len)
{
    struct xlmig_error err;
    uint64_t t0;

    if (!w->scratch && !(w->scratch = malloc(EXTENT_BYTES)))
        return;
    t0 = xlmig_thread_cpu_ns();
    if (xlmig_inflate(&w->f, z, z_len, w->scratch, len, &err) == 0)
        j->inflate_cpu_ns += xlmig_thread_cpu_ns() - t0;
    j->inflate_bytes += len;
}

static int emit_data(struct xlmig_sendq *q, struct job *j, struct wctx *w,
                     enum xlmig_zdecision how, uint64_t first,
                     uint32_t count, const uint8_t *src, size_t len)
{
    struct xlmig_data d = { .disk = j->disk.id, .encoding = XLMIG_ENC_RAW,
                            .origin = j->origin, .first = first,
                            .count = count, .payload_len = (uint32_t)len };
    uint8_t *p = reserve(j, REC_OVERHEAD + len);
    size_t z_len = 0;

    (void)q;
    if (!p)
        return -1;
    if (how != XLMIG_Z_RAW) {
        uint64_t t0 = xlmig_thread_cpu_ns(), w0 = xlmig_now_ns();

        /* Only worth it if it fits well below the raw size. */
        z_len = xlmig_deflate(&w->z, src, len, p + REC_OVERHEAD,
                              len - len / 16);
        j->zlib_cpu_ns += xlmig_thread_cpu_ns() - t0;
        j->zlib_wall_ns += xlmig_now_ns() - w0;
        if (z_len && how == XLMIG_Z_MEASURE)
            time_inflate(j, w, p + REC_OVERHEAD, z_len, len);
    }
    if (z_len) {
        d.encoding = XLMIG_ENC_ZLIB;
        d.payload_len = (uint32_t)z_len;
        j->zlib_in += len;
        j->zlib_out += z_len;
        if (push_out(j, xlmig_enc_data(p, &d)) < 0)
            return -1;
    } else if (push_out(j, xlmig_enc_data_hdr(p, &d, src)) < 0 ||
               push_ref(j, src, len) < 0) {
        /* The payload goes from the read buffer itself: no copy. */
        return -1;
    }
    j->data_bytes += len;
    j->records++;
    return 0;
}

/* --verify: the digests of a run as read, ahead of its DATA record. */
static int emit_digest(struct job *j, uint64_t first, uint32_t count,
                       const uint8_t *src, size_t len)
{
    uint8_t dig[XLMIG_MAX_DIGESTS * XLMIG_DIGEST_LEN];
    uint32_t bs = j->disk.block_size, grain = xlmig_digest_grain(bs);
    uint32_t n = xlmig_digest_count(count, grain);
    uint8_t *p = reserve(j, XLMIG_HDR_LEN + XLMIG_DIGEST_HDR_LEN +
                            (size_t)n * XLMIG_DIGEST_LEN);

    if (!p || n > XLMIG_MAX_DIGESTS ||
        xlmig_digest_run(src, len, bs, count, grain, dig) < 0)
        return -1;
    return push_out(j, xlmig_enc_digest(p, j->disk.id, first, count, grain,
                                        dig));
}

/* Between units of work: let the guest's threads have the CPU (conn.h). */
static void yield_point(struct xlmig_sendq *q)
{
    if (!__atomic_load_n(&q->no_yield, __ATOMIC_RELAXED))
        xlmig_thread_yield_point();
}

/*
 * A run of data blocks (each with its DIGEST under --verify): one DATA
 * record, or when it may be compressed, one per XLMIG_SENDQ_Z_PIECE with a
 * yield point between them.  libdeflate compresses a buffer in one call:
 * a whole 1 MiB extent of text is ~4.5 ms of CPU with no point where the
 * guest's I/O thread waiting for this CPU gets it (conn.h).
 */
static int emit_run(struct xlmig_sendq *q, struct job *j, struct wctx *w,
                    enum xlmig_zdecision how, uint64_t first, uint32_t count,
                    const uint8_t *src, size_t len)
{
    uint32_t bs = j->disk.block_size;
    uint32_t step = count;

    if (how != XLMIG_Z_RAW && bs < XLMIG_SENDQ_Z_PIECE)
        step = XLMIG_SENDQ_Z_PIECE / bs;
    for (uint32_t k = 0; k < count; k += step) {
        uint32_t n = count - k < step ? count - k : step;
        size_t off = (size_t)k * bs;
        size_t l = len - off < (size_t)n * bs ? len - off : (size_t)n * bs;

        if (k)
            yield_point(q);
        if (q->verify && emit_digest(j, first + k, n, src + off, l) < 0)
            return -1;
        if (emit_data(q, j, w, how, first + k, n, src + off, l) < 0)
            return -1;
    }
    return 0;
}

static enum xlmig_zdecision want_compress(struct xlmig_sendq *q,
                                          struct wctx *w, struct job *j,
                                          const uint8_t *buf, size_t len)
{
    struct xlmig_sample s;
    enum xlmig_zdecision d;

    if (q->mode == XLMIG_COMPRESS_NEVER || !(q->features & XLMIG_F_ZLIB))
        return XLMIG_Z_RAW;
    if (q->mode == XLMIG_COMPRESS_AUTO) {
        bool sample;

        pthread_mutex_lock(&q->lock);
        sample = xlmig_zpolicy_wants_sample(&q->zp, &j->z_on);
        pthread_mutex_unlock(&q->lock);
        if (!sample)
            return XLMIG_Z_RAW;
    }
    /* Whole extents are timed for the inflate (XLMIG_Z_MEASURE). */
    xlmig_sample(&w->z, NULL, buf, len, &s);
    if (q->mode == XLMIG_COMPRESS_ALWAYS)
        return s.ratio < 0.95 ? XLMIG_Z_COMPRESS : XLMIG_Z_RAW;
    pthread_mutex_lock(&q->lock);
    d = xlmig_zpolicy_decide(&q->zp, &s, &j->z_on);
    pthread_mutex_unlock(&q->lock);
    return d;
}

/*
 * Reads one extent into raw and encodes it as runs of zero and non-zero
 * blocks.  *sampled / *how carry the compression decision across the
 * extents of a job: one sample per job.
 */
static int encode_one(struct xlmig_sendq *q, struct job *j,
                      struct wctx *w, uint64_t first,
                      uint32_t count, uint8_t *raw, bool *sampled,
                      enum xlmig_zdecision *how, struct xlmig_error *err)
{
    uint32_t bs = j->disk.block_size;
    uint64_t off = first * bs;
    size_t len = (size_t)count * bs;
    bool zero_ok = q->features & XLMIG_F_ZERO;
    uint32_t i = 0;

    if (off + len > j->disk.size)
        len = (size_t)(j->disk.size - off);
    if (xlmig_image_read(j->disk.img, raw, len, off, err) < 0)
        return -1;
    yield_point(q);
    while (i < count) {
        size_t boff = (size_t)i * bs;
        size_t blen = boff + bs <= len ? bs : len - boff;
        bool zero = zero_ok && xlmig_is_zero(raw + boff, blen);
        uint32_t start = i;
        size_t run_len = 0;

        /* Extend the run while blocks stay of the same kind. */
        while (i < count) {
            size_t o = (size_t)i * bs;
            size_t l = o + bs <= len ? bs : len - o;
            if (zero_ok && xlmig_is_zero(raw + o, l) != zero)
                break;
            run_len += l;
            i++;
        }
        if (zero) {
            if (j->skip_zero)
                j->skipped_bytes += run_len;
            else if ((q->verify &&
                      emit_digest(j, first + start, i - start, raw + boff,
                                  run_len) < 0) ||
                     emit_zero(j, first + start, i - start) < 0)
                goto overflow;
            else
                j->zero_bytes += run_len;
            continue;
        }
        if (!*sampled) {
            *how = want_compress(q, w, j, raw + boff, run_len);
            *sampled = true;
        }
        if (emit_run(q, j, w, *how, first + start, i - start, raw + boff,
                     run_len) < 0)
            goto overflow;
    }
    return 0;
overflow:
    xlmig_fail(err, EOVERFLOW, "internal error: extent encoding "
               "overflow (or no digest from libcrypto)");
    return -1;
}

static int encode_extents(struct xlmig_sendq *q, struct job *j,
                          struct wctx *w, struct xlmig_error *err)
{
    enum xlmig_zdecision how = XLMIG_Z_RAW;
    bool sampled = false;
    size_t used = 0;
    int rc = 0;

    j->out_len = 0;
    j->niov = 0;
    j->wire_len = 0;
    j->z_on = false;
    for (unsigned e = 0; e < j->next && !rc; e++) {
        uint32_t n = (uint32_t)j->ext[e].count;

        rc = encode_one(q, j, w, j->ext[e].start, n, j->raw + used,
                        &sampled, &how, err);
        used += (size_t)n * j->disk.block_size;
    }
    if (q->mode == XLMIG_COMPRESS_AUTO && (j->zlib_in || j->inflate_bytes)) {
        pthread_mutex_lock(&q->lock);
        if (j->zlib_in)
            xlmig_zpolicy_deflated(&q->zp, j->zlib_in, j->zlib_cpu_ns,
                                   j->zlib_wall_ns);
        if (j->inflate_bytes)
            xlmig_zpolicy_inflated(&q->zp, j->inflate_bytes,
                                   j->inflate_cpu_ns);
        pthread_mutex_unlock(&q->lock);
    }
    return rc;
}

/* ---- threads ---- */

/*
 * The next job for a worker: the oldest queued one; when there is none,
 * the oldest one still being filled (idle workers do not wait for a job
 * to fill up).  Lock held.
 */
static struct job *take_work(struct xlmig_sendq *q)
{
    struct job *j = oldest(q, JOB_QUEUED);

    if (!j && (j = oldest(q, JOB_FILLING)) != NULL)
        seal(q, j->conn);
    return j;
}

static void *worker_main(void *arg)
{
    struct xlmig_sendq *q = arg;
    struct wctx w = { .z = { .c = NULL }, .f = { .d = NULL } };
    struct xlmig_error err;

    xlmig_thread_bulk();
    pthread_mutex_lock(&q->lock);
    for (;;) {
        struct job *j = NULL;

        while (!q->stop && !q->failed && !(j = take_work(q)))
            pthread_cond_wait(&q->cv_work, &q->lock);
        if (q->stop || q->failed)
            break;
        j->state = JOB_BUSY;
        pthread_mutex_unlock(&q->lock);

        int rc = j->is_record ? 0 : encode_extents(q, j, &w, &err);

        pthread_mutex_lock(&q->lock);
        if (rc < 0) {
            set_failed(q, &err);
            break;
        }
        j->state = JOB_DONE;
        pthread_cond_broadcast(&q->cv_done);
    }
    pthread_mutex_unlock(&q->lock);
    xlmig_deflater_end(&w.z);
    xlmig_inflater_end(&w.f);
    free(w.scratch);
    return NULL;
}

static void fold_stats(struct xlmig_sendq *q, struct job *j)
{
    q->stats.data_bytes += j->data_bytes;
    q->stats.zero_bytes += j->zero_bytes;
    q->stats.skipped_bytes += j->skipped_bytes;
    q->stats.zlib_in += j->zlib_in;
    q->stats.zlib_out += j->zlib_out;
    q->stats.records += j->records;
    q->stats.wire_bytes += j->wire_len;
}

struct writer_arg {
    struct xlmig_sendq *q;
    unsigned c;
};

/* One per connection: its jobs, in the order they were queued. */
static void *writer_main(void *arg)
{
    struct writer_arg *wa = arg;
    struct xlmig_sendq *q = wa->q;
    unsigned c = wa->c;
    struct xlmig_conn *conn = q->conns[c];
    uint64_t now;

    free(wa);
    xlmig_thread_bulk();
    pthread_mutex_lock(&q->lock);
    for (;;) {
        struct job *j;
        uint64_t b0;
        int rc = 0;

        while (!q->stop && !q->failed) {
            j = next_for(q, c);
            if (j && j->state == JOB_DONE)
                break;
            if (!j && q->wstop[c])
                break;
            pthread_cond_wait(&q->cv_done, &q->lock);
        }
        if (q->stop || q->failed || (q->wstop[c] && !next_for(q, c)))
            break;
        j = next_for(q, c);
        pthread_mutex_unlock(&q->lock);

        b0 = xlmig_conn_blocked_ns(conn);
        if (j->wire_len)
            rc = xlmig_conn_sendv(conn, j->iov, j->niov);

        pthread_mutex_lock(&q->lock);
        if (rc < 0) {
            if (!q->failed)
                q->channel = true;
            set_failed(q, &conn->err);
            break;
        }
        fold_stats(q, j);
        q->blocked_total += (xlmig_conn_blocked_ns(conn) - b0) /
                            (q->route ? q->route : 1);
        now = xlmig_now_ns();
        xlmig_linkrate_sample(&q->link, now, q->stats.wire_bytes,
                              q->blocked_total, q->stats.data_bytes +
                              q->stats.zero_bytes + q->stats.skipped_bytes);
        if (q->mode == XLMIG_COMPRESS_AUTO) {
            /* The pipeline was busy since busy_ns (work was queued). */
            xlmig_zpolicy_link(&q->zp, q->link.est_Bps);
            xlmig_zpolicy_job_done(&q->zp, now, now - q->busy_ns, j->z_on,
                                   j->data_bytes - j->zlib_in, j->zlib_in);
            q->busy_ns = now;
        }
        j->state = JOB_FREE;
        q->used--;
        pthread_cond_broadcast(&q->cv_free);
        pthread_cond_broadcast(&q->cv_done);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- API ---- */

static int start_writer(struct xlmig_sendq *q, unsigned c)
{
    struct writer_arg *wa = malloc(sizeof(*wa));

    if (!wa)
        return -1;
    *wa = (struct writer_arg){ q, c };
    if (pthread_create(&q->writers[c], NULL, writer_main, wa)) {
        free(wa);
        return -1;
    }
    q->writer_running[c] = true;
    return 0;
}

struct xlmig_sendq *xlmig_sendq_new(struct xlmig_conn *const *conns,
                                    unsigned nconns, unsigned workers,
                                    enum xlmig_compress mode,
                                    uint64_t features)
{
    struct xlmig_sendq *q;

    if (nconns < 1 || nconns > XLMIG_MAX_CONNS)
        return NULL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    if (workers < 1)
        workers = 1;
    if (workers > 8)
        workers = 8;
    for (unsigned c = 0; c < nconns; c++)
        q->conns[c] = conns[c];
    for (unsigned c = 0; c < XLMIG_MAX_CONNS; c++)
        q->open[c] = -1;
    q->nconns = q->route = nconns;
    q->mode = mode;
    q->features = features;
    q->verify = features & XLMIG_F_VERIFY;
    q->depth = MAX_JOBS;
    xlmig_linkrate_init(&q->link, (double)xlmig_conn_limit(conns[0]));
    {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        xlmig_zpolicy_init(&q->zp, workers, cpus > 0 ? (unsigned)cpus : 0);
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cv_work, NULL);
    pthread_cond_init(&q->cv_done, NULL);
    pthread_cond_init(&q->cv_free, NULL);
    for (unsigned i = 0; i < MAX_JOBS; i++) {
        struct job *j = &q->jobs[i];
        j->raw = xlmig_alloc_io(EXTENT_BYTES);
        j->out_cap = OUT_CAP;
        j->out = malloc(j->out_cap);
        j->iov = malloc(MAX_IOV * sizeof(*j->iov));
        if (!j->raw || !j->out || !j->iov) {
            xlmig_sendq_free(q);
            return NULL;
        }
    }
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&q->workers[i], NULL, worker_main, q)) {
            xlmig_sendq_free(q);
            return NULL;
        }
        q->nworkers = i + 1;
    }
    for (unsigned c = 0; c < nconns; c++)
        if (start_writer(q, c) < 0) {
            xlmig_sendq_free(q);
            return NULL;
        }
    return q;
}

static void join_writers(struct xlmig_sendq *q, unsigned from)
{
    for (unsigned c = from; c < q->nconns; c++)
        if (q->writer_running[c]) {
            pthread_join(q->writers[c], NULL);
            q->writer_running[c] = false;
        }
}

void xlmig_sendq_free(struct xlmig_sendq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->cv_work);
    pthread_cond_broadcast(&q->cv_done);
    pthread_cond_broadcast(&q->cv_free);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->nworkers; i++)
        pthread_join(q->workers[i], NULL);
    join_writers(q, 0);
    for (unsigned i = 0; i < MAX_JOBS; i++) {
        free(q->jobs[i].raw);
        free(q->jobs[i].out);
        free(q->jobs[i].iov);
    }
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cv_work);
    pthread_cond_destroy(&q->cv_done);
    pthread_cond_destroy(&q->cv_free);
    free(q);
}

/* Waits for a free slot; returns it with the lock held, or NULL. */
static struct job *claim_slot(struct xlmig_sendq *q)
{
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->failed || q->stop) {
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
        if (q->used < q->depth)
            for (unsigned i = 0; i < MAX_JOBS; i++)
                if (q->jobs[i].state == JOB_FREE)
                    return &q->jobs[i];
        pthread_cond_wait(&q->cv_free, &q->lock);
    }
}

/*
 * Hands a claimed slot over to connection c (lock held on entry,
 * released).  A new job on c closes the one c was filling: c's jobs stay
 * in order.  A filling job still takes extents; it is queued for the
 * workers when c's next job is published, on a flush, or as soon as a
 * worker is idle.
 */
static void publish(struct xlmig_sendq *q, struct job *j, unsigned c,
                    bool filling)
{
    /* Work arrives in an empty pipeline: busy from now on. */
    if (!q->used)
        q->busy_ns = xlmig_now_ns();
    seal(q, c);
    j->seq = q->next_seq++;
    j->conn = c;
    j->state = filling ? JOB_FILLING : JOB_QUEUED;
    if (filling)
        q->open[c] = (int)(j - q->jobs);
    q->used++;
    j->data_bytes = j->zero_bytes = j->skipped_bytes = 0;
    j->zlib_in = j->zlib_out = j->records = 0;
    j->zlib_cpu_ns = j->zlib_wall_ns = 0;
    j->inflate_bytes = j->inflate_cpu_ns = 0;
    pthread_cond_broadcast(&q->cv_work);
    pthread_mutex_unlock(&q->lock);
}

/* One stripe's part of an extent (it fits a job). */
static int queue_piece(struct xlmig_sendq *q, const struct xlmig_sq_disk *d,
                       uint64_t first, uint32_t count, uint8_t origin,
                       bool skip_zero)
{
    struct job *j;
    unsigned c;

    /*
     * Small extents join the job their connection is filling, if it is
     * of the same kind, has room, and no worker has taken it yet:
     * thousands of single blocks would otherwise cost a job each.
     */
    pthread_mutex_lock(&q->lock);
    c = xlmig_stripe_conn(first, d->block_size, q->route);
    j = q->open[c] >= 0 ? &q->jobs[q->open[c]] : NULL;
    if (j && j->state == JOB_FILLING && j->disk.id == d->id &&
        j->origin == origin && j->skip_zero == skip_zero &&
        j->next < MAX_JOB_EXTENTS &&
        (j->blocks + count) * d->block_size <= EXTENT_BYTES) {
        j->ext[j->next++] = (struct xlmig_extent){ first, count };
        j->blocks += count;
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    seal(q, c);
    pthread_mutex_unlock(&q->lock);
    j = claim_slot(q);
    if (!j)
        return -1;
    /* The route may have changed while we waited. */
    c = xlmig_stripe_conn(first, d->block_size, q->route);
    j->is_record = false;
    j->disk = *d;
    j->ext[0] = (struct xlmig_extent){ first, count };
    j->next = 1;
    j->blocks = count;
    j->origin = origin;
    j->skip_zero = skip_zero;
    j->out_len = 0;
    j->niov = 0;
    j->wire_len = 0;
    publish(q, j, c, true);
    return 0;
}

int xlmig_sendq_extent(struct xlmig_sendq *q, const struct xlmig_sq_disk *d,
                       uint64_t first, uint32_t count, uint8_t origin,
                       bool skip_zero)
{
    uint64_t bytes = (uint64_t)count * d->block_size;
    uint64_t stripe = xlmig_stripe_blocks(d->block_size);

    if (!count || bytes > EXTENT_BYTES)
        return -1;
    /* Cut at stripe boundaries: each part on its connection. */
    while (count) {
        uint64_t room = stripe - first % stripe;
        uint32_t n = count < room ? count : (uint32_t)room;

        if (queue_piece(q, d, first, n, origin, skip_zero) < 0)
            return -1;
        first += n;
        count -= n;
    }
    return 0;
}

static int queue_record(struct xlmig_sendq *q, unsigned c, const void *rec,
                        size_t len)
{
    struct job *j;

    j = claim_slot(q);
    if (!j)
        return -1;
    j->is_record = true;
    memcpy(j->out, rec, len);
    j->out_len = len;
    j->iov[0] = (struct iovec){ .iov_base = j->out, .iov_len = len };
    j->niov = 1;
    j->wire_len = len;
    publish(q, j, c, false);
    return 0;
}

int xlmig_sendq_record(struct xlmig_sendq *q, const void *rec, size_t len)
{
    if (len > XLMIG_SENDQ_MAX_RECORD)
        return -1;
    return queue_record(q, 0, rec, len);
}

int xlmig_sendq_barrier(struct xlmig_sendq *q, const void *rec, size_t len)
{
    unsigned route;

    if (len > XLMIG_SENDQ_MAX_RECORD)
        return -1;
    pthread_mutex_lock(&q->lock);
    route = q->route;
    pthread_mutex_unlock(&q->lock);
    for (unsigned c = 0; c < route; c++)
        if (queue_record(q, c, rec, len) < 0)
            return -1;
    return 0;
}

int xlmig_sendq_flush(struct xlmig_sendq *q)
{
    int rc;

    pthread_mutex_lock(&q->lock);
    seal_all(q);
    while (!q->failed && !q->stop && q->used)
        pthread_cond_wait(&q->cv_free, &q->lock);
    rc = q->failed ? -1 : 0;
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int xlmig_sendq_narrow(struct xlmig_sendq *q)
{
    unsigned from;

    if (xlmig_sendq_flush(q) < 0)
        return -1;
    pthread_mutex_lock(&q->lock);
    from = q->route;
    q->route = 1;
    for (unsigned c = 1; c < from; c++)
        q->wstop[c] = true;
    pthread_cond_broadcast(&q->cv_done);
    pthread_mutex_unlock(&q->lock);
    for (unsigned c = 1; c < from; c++)
        if (q->writer_running[c]) {
            pthread_join(q->writers[c], NULL);
            q->writer_running[c] = false;
        }
    return q->failed ? -1 : 0;
}

unsigned xlmig_sendq_connections(struct xlmig_sendq *q)
{
    unsigned n;

    pthread_mutex_lock(&q->lock);
    n = q->route;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void xlmig_sendq_set_yield(struct xlmig_sendq *q, bool yield)
{
    __atomic_store_n(&q->no_yield, !yield, __ATOMIC_RELAXED);
}

void xlmig_sendq_set_depth(struct xlmig_sendq *q, unsigned depth)
{
    pthread_mutex_lock(&q->lock);
    q->depth = depth < 1 ? 1 : depth > MAX_JOBS ? MAX_JOBS : depth;
    pthread_cond_broadcast(&q->cv_free);
    pthread_mutex_unlock(&q->lock);
}

unsigned xlmig_sendq_pending(struct xlmig_sendq *q)
{
    unsigned n;

    pthread_mutex_lock(&q->lock);
    n = q->used;
    pthread_mutex_unlock(&q->lock);
    return n;
}

void xlmig_sendq_get_stats(struct xlmig_sendq *q, struct xlmig_sendq_stats *s)
{
    pthread_mutex_lock(&q->lock);
    *s = q->stats;
    s->link_Bps = q->link.est_Bps;
    s->send_Bps = q->link.input_Bps;
    pthread_mutex_unlock(&q->lock);
}

bool xlmig_sendq_failed_on_channel(struct xlmig_sendq *q)
{
    bool c;

    pthread_mutex_lock(&q->lock);
    c = q->failed && q->channel;
    pthread_mutex_unlock(&q->lock);
    return c;
}

void xlmig_sendq_describe_compression(struct xlmig_sendq *q, char *buf,
                                      size_t len)
{
    if (q->mode == XLMIG_COMPRESS_NEVER || !(q->features & XLMIG_F_ZLIB)) {
        snprintf(buf, len, "off (%s)", q->mode == XLMIG_COMPRESS_NEVER
                                           ? "--compress never"
                                           : "the receiver does not inflate");
        return;
    }
    if (q->mode == XLMIG_COMPRESS_ALWAYS) {
        snprintf(buf, len, "every extent that shrinks (--compress always)");
        return;
    }
    pthread_mutex_lock(&q->lock);
    xlmig_zpolicy_describe(&q->zp, buf, len);
    pthread_mutex_unlock(&q->lock);
}

const char *xlmig_sendq_error(struct xlmig_sendq *q)
{
    return q->failed ? q->err.msg : NULL;
}
