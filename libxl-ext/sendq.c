#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "compress.h"
#include "linkrate.h"
#include "sendq.h"
#include "zpolicy.h"

#define MAX_JOBS 12
#define EXTENT_BYTES (1u << 20)
#define MAX_JOB_EXTENTS 256
#define REC_OVERHEAD (XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN)
/* Worst case: every other block zero, one record header per block. */
#define OUT_CAP (EXTENT_BYTES + (EXTENT_BYTES / 512 + 2) * REC_OVERHEAD)

enum job_state { JOB_FREE, JOB_FILLING, JOB_QUEUED, JOB_BUSY, JOB_DONE };

struct job {
    enum job_state state;
    uint64_t seq;
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
    uint8_t *out;               /* encoded records */
    size_t out_len, out_cap;
    /* per-job accounting, folded into the stats by the writer */
    uint64_t data_bytes, zero_bytes, skipped_bytes, zlib_in, zlib_out,
             records;
    uint64_t zlib_cpu_ns, zlib_wall_ns;     /* spent deflating */
    uint64_t inflate_bytes, inflate_cpu_ns;     /* timed inflates */
};

struct xlmig_sendq {
    struct xlmig_conn *conn;
    enum xlmig_compress mode;
    uint64_t features;
    unsigned nworkers;
    pthread_t workers[8];
    pthread_t writer;

    pthread_mutex_t lock;
    pthread_cond_t cv_work, cv_done, cv_free;
    struct job jobs[MAX_JOBS];
    uint64_t next_seq, next_work, next_write;
    unsigned depth;
    bool filling;               /* the newest job still takes extents */
    bool stop;
    bool failed;
    bool channel;               /* the writer failed, not a worker */
    struct xlmig_error err;

    struct xlmig_sendq_stats stats;
    struct xlmig_linkrate link;
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

/* The job being filled by xlmig_sendq_extent(), if any (lock held). */
static struct job *open_job(struct xlmig_sendq *q)
{
    return q->filling ? &q->jobs[(q->next_seq - 1) % MAX_JOBS] : NULL;
}

/* Closes the job being filled: the workers may take it.  Lock held. */
static void seal_open_job(struct xlmig_sendq *q)
{
    struct job *j = open_job(q);

    if (j && j->state == JOB_FILLING) {
        j->state = JOB_QUEUED;
        pthread_cond_broadcast(&q->cv_work);
    }
    q->filling = false;
}

/* ---- encoding one extent ---- */

static uint8_t *reserve(struct job *j, size_t n)
{
    if (j->out_len + n > j->out_cap)
        return NULL;            /* sized so that this cannot happen */
    return j->out + j->out_len;
}

static int emit_zero(struct job *j, uint64_t first, uint32_t count)
{
    struct xlmig_data d = { .disk = j->disk.id, .encoding = XLMIG_ENC_ZERO,
                            .origin = j->origin, .first = first,
                            .count = count };
    uint8_t *p = reserve(j, REC_OVERHEAD);

    if (!p)
        return -1;
    j->out_len += xlmig_enc_data(p, &d);
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
    } else {
        memcpy(p + REC_OVERHEAD, src, len);
    }
    j->out_len += xlmig_enc_data(p, &d);
    j->data_bytes += len;
    j->records++;
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
            else if (emit_zero(j, first + start, i - start) < 0)
                goto overflow;
            else
                j->zero_bytes += run_len;
            continue;
        }
        if (!*sampled) {
            *how = want_compress(q, w, j, raw + boff, run_len);
            *sampled = true;
        }
        if (emit_data(q, j, w, *how, first + start, i - start,
                      raw + boff, run_len) < 0)
            goto overflow;
    }
    return 0;
overflow:
    xlmig_fail(err, EOVERFLOW, "internal error: extent encoding "
               "overflow");
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

static void *worker_main(void *arg)
{
    struct xlmig_sendq *q = arg;
    struct wctx w = { .z = { .ready = false }, .f = { .ready = false } };
    struct xlmig_error err;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        struct job *j;

        for (;;) {
            if (q->stop || q->failed)
                break;
            if (q->next_work < q->next_seq) {
                j = &q->jobs[q->next_work % MAX_JOBS];
                /* Idle workers do not wait for a job to fill up. */
                if (j->state == JOB_FILLING && q->next_work + 1 == q->next_seq)
                    seal_open_job(q);
                if (j->state == JOB_QUEUED)
                    break;
            }
            pthread_cond_wait(&q->cv_work, &q->lock);
        }
        if (q->stop || q->failed)
            break;
        j = &q->jobs[q->next_work % MAX_JOBS];
        q->next_work++;
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
    q->stats.wire_bytes += j->out_len;
}

static void *writer_main(void *arg)
{
    struct xlmig_sendq *q = arg;
    uint64_t now;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        struct job *j = &q->jobs[q->next_write % MAX_JOBS];

        while (!q->stop && !q->failed &&
               !(q->next_write < q->next_seq && j->state == JOB_DONE)) {
            /* Idle: let the link estimate know we are not link-bound. */
            pthread_cond_wait(&q->cv_done, &q->lock);
        }
        if (q->stop || q->failed)
            break;
        pthread_mutex_unlock(&q->lock);

        int rc = j->out_len ? xlmig_conn_send(q->conn, j->out, j->out_len)
                            : 0;

        pthread_mutex_lock(&q->lock);
        if (rc < 0) {
            if (!q->failed)
                q->channel = true;
            set_failed(q, &q->conn->err);
            break;
        }
        fold_stats(q, j);
        now = xlmig_now_ns();
        xlmig_linkrate_sample(&q->link, now, q->conn->bytes_out,
                              q->conn->blocked_ns, q->stats.data_bytes +
                              q->stats.zero_bytes + q->stats.skipped_bytes);
        if (q->mode == XLMIG_COMPRESS_AUTO) {
            /* The pipeline was busy since busy_ns (work was queued). */
            xlmig_zpolicy_link(&q->zp, q->link.est_Bps);
            xlmig_zpolicy_job_done(&q->zp, now, now - q->busy_ns, j->z_on,
                                   j->data_bytes - j->zlib_in, j->zlib_in);
            q->busy_ns = now;
        }
        j->state = JOB_FREE;
        q->next_write++;
        pthread_cond_broadcast(&q->cv_free);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- API ---- */

struct xlmig_sendq *xlmig_sendq_new(struct xlmig_conn *c, unsigned workers,
                                    enum xlmig_compress mode,
                                    uint64_t features)
{
    struct xlmig_sendq *q = calloc(1, sizeof(*q));

    if (!q)
        return NULL;
    if (workers < 1)
        workers = 1;
    if (workers > 8)
        workers = 8;
    q->conn = c;
    q->mode = mode;
    q->features = features;
    q->nworkers = workers;
    q->depth = MAX_JOBS;
    xlmig_linkrate_init(&q->link, (double)c->limit_Bps);
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
        if (!j->raw || !j->out) {
            xlmig_sendq_free(q);
            return NULL;
        }
    }
    for (unsigned i = 0; i < workers; i++)
        pthread_create(&q->workers[i], NULL, worker_main, q);
    pthread_create(&q->writer, NULL, writer_main, q);
    return q;
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
        if (q->workers[i])
            pthread_join(q->workers[i], NULL);
    if (q->writer)
        pthread_join(q->writer, NULL);
    for (unsigned i = 0; i < MAX_JOBS; i++) {
        free(q->jobs[i].raw);
        free(q->jobs[i].out);
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
    struct job *j;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->failed || q->stop) {
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
        j = &q->jobs[q->next_seq % MAX_JOBS];
        if (j->state == JOB_FREE && q->next_seq - q->next_write < q->depth)
            return j;
        pthread_cond_wait(&q->cv_free, &q->lock);
    }
}

/*
 * Hands a claimed slot over (lock held on entry, released).  A filling job
 * still takes extents; it is queued for the workers when the next job is
 * published, on a flush, or as soon as a worker is idle.
 */
static void publish(struct xlmig_sendq *q, struct job *j, bool filling)
{
    /* Work arrives in an empty pipeline: busy from now on. */
    if (q->next_write == q->next_seq)
        q->busy_ns = xlmig_now_ns();
    seal_open_job(q);
    j->seq = q->next_seq++;
    j->state = filling ? JOB_FILLING : JOB_QUEUED;
    q->filling = filling;
    j->data_bytes = j->zero_bytes = j->skipped_bytes = 0;
    j->zlib_in = j->zlib_out = j->records = 0;
    j->zlib_cpu_ns = j->zlib_wall_ns = 0;
    j->inflate_bytes = j->inflate_cpu_ns = 0;
    pthread_cond_broadcast(&q->cv_work);
    pthread_mutex_unlock(&q->lock);
}

int xlmig_sendq_extent(struct xlmig_sendq *q, const struct xlmig_sq_disk *d,
                       uint64_t first, uint32_t count, uint8_t origin,
                       bool skip_zero)
{
    uint64_t bytes = (uint64_t)count * d->block_size;
    struct job *j;

    if (!count || bytes > EXTENT_BYTES)
        return -1;
    /*
     * Small extents join the job still being filled, if it is of the same
     * kind, has room, and no worker has taken it yet: thousands of single
     * blocks would otherwise cost a job each.
     */
    pthread_mutex_lock(&q->lock);
    j = open_job(q);
    if (j && j->state == JOB_FILLING && j->disk.id == d->id &&
        j->origin == origin && j->skip_zero == skip_zero &&
        j->next < MAX_JOB_EXTENTS &&
        (j->blocks + count) * d->block_size <= EXTENT_BYTES) {
        j->ext[j->next++] = (struct xlmig_extent){ first, count };
        j->blocks += count;
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    seal_open_job(q);
    pthread_mutex_unlock(&q->lock);
    j = claim_slot(q);
    if (!j)
        return -1;
    j->is_record = false;
    j->disk = *d;
    j->ext[0] = (struct xlmig_extent){ first, count };
    j->next = 1;
    j->blocks = count;
    j->origin = origin;
    j->skip_zero = skip_zero;
    j->out_len = 0;
    publish(q, j, true);
    return 0;
}

int xlmig_sendq_record(struct xlmig_sendq *q, const void *rec, size_t len)
{
    struct job *j;

    if (len > XLMIG_SENDQ_MAX_RECORD)
        return -1;
    j = claim_slot(q);
    if (!j)
        return -1;
    j->is_record = true;
    memcpy(j->out, rec, len);
    j->out_len = len;
    publish(q, j, false);
    return 0;
}

int xlmig_sendq_flush(struct xlmig_sendq *q)
{
    int rc;

    pthread_mutex_lock(&q->lock);
    seal_open_job(q);
    while (!q->failed && !q->stop && q->next_write < q->next_seq)
        pthread_cond_wait(&q->cv_free, &q->lock);
    rc = q->failed ? -1 : 0;
    pthread_mutex_unlock(&q->lock);
    return rc;
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
    n = (unsigned)(q->next_seq - q->next_write);
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
