/*
 * The send pipeline: records leave in the order they were queued (a block
 * re-sent by a later pass must never be overtaken by its older copy), zero
 * blocks are skipped or sent as zero records, compressed extents inflate to
 * what was read, and batching many small extents keeps them all.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "compress.h"
#include "digest.h"
#include "sendq.h"

#define BS 4096
/* Blocks per compressed record. */
#define PIECE (XLMIG_SENDQ_Z_PIECE / BS)
#define NBLOCKS 4096            /* 16 stripes of 1 MiB */
#define NCONN 4

struct seen {
    uint32_t type;
    struct xlmig_data d;
    uint8_t block0[BS];         /* the first block's plain content */
    uint8_t *fills;             /* each block's last byte (DATA) */
    uint64_t seq;               /* SYNC records: their number */
    uint8_t dig0[XLMIG_DIGEST_LEN];     /* DIGEST: the first grain's;
                                         * raw DATA: computed here */
    uint32_t dig_n;
};

struct collector {
    struct xlmig_conn conn;
    struct seen *recs;
    size_t n, cap;
    pthread_t th;
};

static void *collect_main(void *arg)
{
    struct collector *c = arg;
    struct xlmig_inflater inf = { .d = NULL };
    uint8_t *plain = malloc(XLMIG_MAX_DATA);
    struct xlmig_rec r;
    struct xlmig_error err;

    while (xlmig_conn_recv(&c->conn, &r) == 1) {
        struct seen s = { .type = r.type };

        if (r.type == XLMIG_REC_DATA) {
            assert_int_equal(xlmig_dec_data(&r, &s.d, &err), 0);
            s.fills = calloc(s.d.count, 1);
            if (s.d.encoding == XLMIG_ENC_ZLIB) {
                assert_int_equal(xlmig_inflate(&inf, s.d.payload,
                                               s.d.payload_len, plain,
                                               (size_t)s.d.count * BS, &err),
                                 0);
                memcpy(s.block0, plain, BS);
            } else if (s.d.encoding == XLMIG_ENC_RAW) {
                size_t g = s.d.payload_len < 16 * BS ? s.d.payload_len
                                                     : 16 * BS;

                memcpy(plain, s.d.payload, s.d.payload_len);
                memcpy(s.block0, plain, BS);
                assert_int_equal(xlmig_sha256(plain, g, s.dig0), 0);
            }
            if (s.d.encoding != XLMIG_ENC_ZERO)
                for (uint32_t k = 0; k < s.d.count; k++)
                    s.fills[k] = plain[(size_t)k * BS + BS - 1];
            s.d.payload = NULL;
        } else if (r.type == XLMIG_REC_SYNC) {
            xlmig_dec_u64(&r, &s.seq, &err);
        } else if (r.type == XLMIG_REC_DIGEST) {
            struct xlmig_digest dg;

            assert_int_equal(xlmig_dec_digest(&r, &dg, &err), 0);
            s.d.disk = dg.disk;
            s.d.first = dg.first;
            s.d.count = dg.count;
            s.dig_n = dg.n;
            memcpy(s.dig0, dg.d, XLMIG_DIGEST_LEN);
        }
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 256;
            c->recs = realloc(c->recs, c->cap * sizeof(*c->recs));
        }
        c->recs[c->n++] = s;
    }
    xlmig_inflater_end(&inf);
    free(plain);
    return NULL;
}

struct fixture {
    char path[64];
    struct xlmig_image img;
    struct xlmig_sq_disk disk;
    struct xlmig_conn out[NCONN];
    struct xlmig_conn *outs[NCONN];
    struct collector col[NCONN];
    int sv[NCONN][2];
};

static void write_block(struct fixture *f, uint64_t b, int fill)
{
    uint8_t buf[BS];
    struct xlmig_error err;

    memset(buf, fill, sizeof(buf));
    snprintf((char *)buf, 32, "block %llu fill %d", (unsigned long long)b,
             fill);
    assert_int_equal(xlmig_image_write(&f->img, buf, BS, b * BS, &err), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct xlmig_error err;
    int fd;

    strcpy(f->path, "/tmp/xlmig-sendq-XXXXXX");
    fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, NBLOCKS * BS), 0);
    close(fd);
    assert_int_equal(xlmig_image_open(&f->img, f->path, true, &err), 0);
    f->disk = (struct xlmig_sq_disk){ .id = 3, .block_size = BS,
                                      .size = NBLOCKS * BS, .img = &f->img };
    for (int c = 0; c < NCONN; c++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv[c]), 0);
        assert_int_equal(xlmig_conn_init(&f->out[c], f->sv[c][0],
                                         f->sv[c][0]), 0);
        assert_int_equal(xlmig_conn_init(&f->col[c].conn, f->sv[c][1],
                                         f->sv[c][1]), 0);
        f->outs[c] = &f->out[c];
        pthread_create(&f->col[c].th, NULL, collect_main, &f->col[c]);
    }
    *state = f;
    return 0;
}

/* The queue on the first n connections. */
static struct xlmig_sendq *new_q(struct fixture *f, unsigned n,
                                 unsigned workers, enum xlmig_compress mode,
                                 uint64_t features)
{
    struct xlmig_sendq *q = xlmig_sendq_new(f->outs, n, workers, mode,
                                            features);

    assert_non_null(q);
    return q;
}

static void finish(struct fixture *f)
{
    for (int c = 0; c < NCONN; c++) {
        shutdown(f->sv[c][0], SHUT_WR);
        pthread_join(f->col[c].th, NULL);
    }
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    for (int c = 0; c < NCONN; c++) {
        xlmig_conn_destroy(&f->out[c]);
        xlmig_conn_destroy(&f->col[c].conn);
        close(f->sv[c][0]);
        close(f->sv[c][1]);
        for (size_t i = 0; i < f->col[c].n; i++)
            free(f->col[c].recs[i].fills);
        free(f->col[c].recs);
    }
    xlmig_image_close(&f->img);
    unlink(f->path);
    free(f);
    return 0;
}

static void queue_sync(struct xlmig_sendq *q, uint64_t seq)
{
    uint8_t rec[XLMIG_HDR_LEN + 8];

    assert_int_equal(xlmig_sendq_record(q, rec,
                                        xlmig_enc_u64(rec, XLMIG_REC_SYNC,
                                                      seq)), 0);
}

/*
 * Pass 1 sends blocks 0..99 one by one (batched into jobs); the blocks are
 * then rewritten and pass 2 sends them again.  Whatever order the workers
 * run in, every block's pass-2 record arrives after its pass-1 record, and
 * the last copy of each block is the new content.
 */
static void test_order_is_kept(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, 1, 4, XLMIG_COMPRESS_NEVER, XLMIG_F_ALL);
    int last_fill[NBLOCKS];

    for (uint64_t b = 0; b < 100; b++)
        write_block(f, b, 1);
    for (uint64_t b = 0; b < 100; b++)
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 1,
                                            XLMIG_ORIGIN_PUSH, false), 0);
    queue_sync(q, 1);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    for (uint64_t b = 0; b < 100; b++)
        write_block(f, b, 2);
    /* Every other block, so that extents stay separate. */
    for (uint64_t b = 0; b < 100; b += 2)
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 1,
                                            XLMIG_ORIGIN_PUSH, false), 0);
    queue_sync(q, 2);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);

    int syncs = 0;
    for (int b = 0; b < NBLOCKS; b++)
        last_fill[b] = 0;
    for (size_t i = 0; i < f->col[0].n; i++) {
        struct seen *s = &f->col[0].recs[i];
        if (s->type == XLMIG_REC_SYNC) {
            assert_int_equal(s->seq, ++syncs);
            continue;
        }
        assert_int_equal(s->type, XLMIG_REC_DATA);
        assert_int_equal(s->d.disk, 3);
        for (uint32_t k = 0; k < s->d.count; k++) {
            uint64_t b = s->d.first + k;
            /* Pass-2 data only after the first SYNC, pass-1 only before. */
            if (k == 0)
                assert_int_equal(s->block0[BS - 1], syncs ? 2 : 1);
            last_fill[b] = syncs ? 2 : 1;
        }
    }
    assert_int_equal(syncs, 2);
    for (int b = 0; b < 100; b++)
        assert_int_equal(last_fill[b], b % 2 ? 1 : 2);
}

/*
 * No flush between the passes: each block is queued, rewritten at once
 * (perhaps before a worker has read the first copy), and queued again.
 * Whatever the first record carries, the last record of every block must
 * be the new content.
 */
static void test_last_copy_wins(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, 1, 4, XLMIG_COMPRESS_NEVER, XLMIG_F_ALL);
    int last[NBLOCKS];

    for (uint64_t b = 0; b < 300; b++) {
        write_block(f, b, 1);
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 1,
                                            XLMIG_ORIGIN_PUSH, false), 0);
        /* A record in between seals the batch: the copies are separate
         * jobs that workers can run in any order. */
        queue_sync(q, b);
        write_block(f, b, 2);
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 1,
                                            XLMIG_ORIGIN_PUSH, false), 0);
    }
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);
    memset(last, 0, sizeof(last));
    for (size_t i = 0; i < f->col[0].n; i++)
        if (f->col[0].recs[i].type == XLMIG_REC_DATA)
            last[f->col[0].recs[i].d.first] = f->col[0].recs[i].block0[BS - 1];
    for (int b = 0; b < 300; b++)
        assert_int_equal(last[b], 2);
}

static void test_zero_blocks(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, 1, 2, XLMIG_COMPRESS_NEVER, XLMIG_F_ALL);
    struct xlmig_sendq_stats st;

    /* Blocks 10 and 13 have data; 11, 12 are zero. */
    write_block(f, 10, 7);
    write_block(f, 13, 7);
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 10, 4,
                                        XLMIG_ORIGIN_PUSH, true), 0);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 10, 4,
                                        XLMIG_ORIGIN_PUSH, false), 0);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_get_stats(q, &st);
    xlmig_sendq_free(q);
    finish(f);
    assert_int_equal(st.skipped_bytes, 2 * BS);
    assert_int_equal(st.zero_bytes, 2 * BS);
    /* skip: DATA 10, DATA 13; then DATA 10, ZERO 11-12, DATA 13. */
    assert_int_equal(f->col[0].n, 5);
    assert_int_equal(f->col[0].recs[0].d.first, 10);
    assert_int_equal(f->col[0].recs[1].d.first, 13);
    assert_int_equal(f->col[0].recs[3].d.encoding, XLMIG_ENC_ZERO);
    assert_int_equal(f->col[0].recs[3].d.first, 11);
    assert_int_equal(f->col[0].recs[3].d.count, 2);
}

/* Blocks 0..n-1 (fills a, b, c, a...) sent as one extent and collected. */
static void send_abc(struct fixture *f, enum xlmig_compress mode,
                     uint64_t features, uint32_t n,
                     struct xlmig_sendq_stats *st)
{
    struct xlmig_sendq *q = new_q(f, 1, 2, mode, features);

    for (uint64_t b = 0; b < n; b++)
        write_block(f, b, 'a' + (int)(b % 3));
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 0, n,
                                        XLMIG_ORIGIN_PUSH, false), 0);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_get_stats(q, st);
    xlmig_sendq_free(q);
    finish(f);
}

static void test_compression_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq_stats st;

    send_abc(f, XLMIG_COMPRESS_ALWAYS, XLMIG_F_ALL, 64, &st);
    assert_true(st.zlib_in == 64 * BS);
    assert_true(st.zlib_out < st.zlib_in / 10);
    /* Compressed in pieces of XLMIG_SENDQ_Z_PIECE, in order, each
     * inflated by the collector to exactly its blocks. */
    assert_int_equal(f->col[0].n, 64 / PIECE);
    for (unsigned i = 0; i < 64 / PIECE; i++) {
        struct seen *r = &f->col[0].recs[i];

        assert_int_equal(r->d.encoding, XLMIG_ENC_ZLIB);
        assert_int_equal(r->d.first, PIECE * i);
        assert_int_equal(r->d.count, PIECE);
        assert_int_equal(r->block0[BS - 1], 'a' + (int)(PIECE * i % 3));
        for (unsigned k = 0; k < PIECE; k++)
            assert_int_equal(r->fills[k], 'a' + (int)((PIECE * i + k) % 3));
    }
}

/* Raw runs stay whole: one record for the same 64 blocks. */
static void test_raw_run_whole(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq_stats st;

    send_abc(f, XLMIG_COMPRESS_NEVER, XLMIG_F_ALL, 64, &st);
    assert_int_equal(st.zlib_in, 0);
    assert_int_equal(f->col[0].n, 1);
    assert_int_equal(f->col[0].recs[0].d.encoding, XLMIG_ENC_RAW);
    assert_int_equal(f->col[0].recs[0].d.count, 64);
}

/* --verify with compression: each piece has its own DIGEST ahead. */
static void test_digest_per_piece(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq_stats st;

    send_abc(f, XLMIG_COMPRESS_ALWAYS, XLMIG_F_ALL | XLMIG_F_VERIFY,
             2 * PIECE + PIECE / 2, &st);
    assert_int_equal(st.zlib_in, (2 * PIECE + PIECE / 2) * BS);
    /* DIGEST, DATA for two whole pieces and a half one. */
    assert_int_equal(f->col[0].n, 6);
    for (unsigned i = 0; i < 3; i++) {
        struct seen *d = &f->col[0].recs[2 * i], *r = &f->col[0].recs[2 * i + 1];

        assert_int_equal(d->type, XLMIG_REC_DIGEST);
        assert_int_equal(r->type, XLMIG_REC_DATA);
        assert_int_equal(r->d.encoding, XLMIG_ENC_ZLIB);
        assert_int_equal(d->d.first, PIECE * i);
        assert_int_equal(r->d.first, PIECE * i);
        assert_int_equal(d->d.count, i < 2 ? PIECE : PIECE / 2);
        assert_int_equal(r->d.count, i < 2 ? PIECE : PIECE / 2);
        assert_int_equal(d->dig_n, 1);
    }
}

/*
 * --verify: every DATA record, zero extents included, comes right after a
 * DIGEST of the same blocks, whose first digest is the SHA-256 of the
 * first 16 blocks as read; skipped zero blocks get neither.
 */
static void test_digest_before_data(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, 1, 2, XLMIG_COMPRESS_NEVER,
                                  XLMIG_F_ALL | XLMIG_F_VERIFY);
    size_t ndata = 0;

    for (uint64_t b = 0; b < 40; b++)
        write_block(f, b, 'a' + (int)(b % 5));
    write_block(f, 50, 1);      /* 40..49 zero, sent as zeros */
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 0, 51,
                                        XLMIG_ORIGIN_PUSH, false), 0);
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 60, 4,
                                        XLMIG_ORIGIN_PUSH, true), 0);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);
    for (size_t i = 0; i < f->col[0].n; i++) {
        struct seen *r = &f->col[0].recs[i];

        if (r->type != XLMIG_REC_DATA)
            continue;
        ndata++;
        assert_true(i > 0);
        assert_int_equal(f->col[0].recs[i - 1].type, XLMIG_REC_DIGEST);
        assert_int_equal(f->col[0].recs[i - 1].d.first, r->d.first);
        assert_int_equal(f->col[0].recs[i - 1].d.count, r->d.count);
        assert_int_equal(f->col[0].recs[i - 1].dig_n, (r->d.count + 15) / 16);
        if (r->d.encoding == XLMIG_ENC_RAW)
            assert_memory_equal(f->col[0].recs[i - 1].dig0, r->dig0,
                                XLMIG_DIGEST_LEN);
    }
    /* 0..39 data, 40..49 zeros, 50 data; 60..63 skipped. */
    assert_int_equal(ndata, 3);
    assert_int_equal(f->col[0].n, 6);
}

/* Without the zlib feature, ALWAYS still sends raw: the peer refused it. */
static void test_no_zlib_feature(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, 1, 1, XLMIG_COMPRESS_ALWAYS, XLMIG_F_ZERO);

    for (uint64_t b = 0; b < 8; b++)
        write_block(f, b, 'x');
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 0, 8,
                                        XLMIG_ORIGIN_PUSH, false), 0);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);
    assert_int_equal(f->col[0].n, 1);
    assert_int_equal(f->col[0].recs[0].d.encoding, XLMIG_ENC_RAW);
}

/* ---- several connections ---- */

/* SYNC as the source sends it: on every connection. */
static void queue_barrier(struct xlmig_sendq *q, uint64_t seq)
{
    uint8_t rec[XLMIG_HDR_LEN + 8];

    assert_int_equal(xlmig_sendq_barrier(q, rec,
                                         xlmig_enc_u64(rec, XLMIG_REC_SYNC,
                                                       seq)), 0);
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Every DATA record is on its stripe's connection, within one stripe. */
static void check_stripes(struct fixture *f, unsigned n)
{
    for (unsigned c = 0; c < NCONN; c++)
        for (size_t i = 0; i < f->col[c].n; i++) {
            struct seen *r = &f->col[c].recs[i];
            uint64_t last;

            if (r->type != XLMIG_REC_DATA)
                continue;
            last = r->d.first + r->d.count - 1;
            assert_true(c < n);
            assert_int_equal(r->d.first / 256, last / 256);
            assert_int_equal(xlmig_stripe_conn(r->d.first, BS, n), c);
        }
}

/*
 * What a receiver makes of the streams: each connection's records in
 * order, but the connections in any interleaving between two barriers
 * (SYNC k is on every connection).  Here the most hostile ones: between
 * barriers all of one connection before the next, first in one order,
 * then in the reverse order.  Returns the content (fill) of each block.
 */
static void replay(struct fixture *f, unsigned n, bool reverse,
                   uint8_t *model)
{
    size_t pos[NCONN] = { 0 };
    bool more = true;

    memset(model, 0, NBLOCKS);
    while (more) {
        more = false;
        for (unsigned i = 0; i < n; i++) {
            unsigned c = reverse ? n - 1 - i : i;
            struct collector *col = &f->col[c];

            /* Up to and including the next SYNC. */
            while (pos[c] < col->n) {
                struct seen *r = &col->recs[pos[c]++];

                if (r->type == XLMIG_REC_SYNC)
                    break;
                if (r->type == XLMIG_REC_DATA)
                    for (uint32_t k = 0; k < r->d.count; k++)
                        model[r->d.first + k] =
                            r->d.encoding == XLMIG_ENC_ZERO ? 0
                                                            : r->fills[k];
            }
            more |= pos[c] < col->n;
        }
    }
}

/*
 * Four connections, passes of random extents (single blocks and runs
 * across stripe boundaries), each block rewritten with a new generation
 * right after it is queued, barriers now and then, no flush between
 * passes: whatever the workers and writers do, every record travels on
 * its stripe's connection, every barrier reaches every connection, and
 * a receiver that applies the connections in any interleaving between
 * barriers ends with every block's newest content.
 */
static void test_multi_last_copy_wins(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, NCONN, 3, XLMIG_COMPRESS_ALWAYS,
                                  XLMIG_F_ALL);
    static uint8_t gen[NBLOCKS], model[NBLOCKS];
    uint64_t syncs = 0;

    for (uint64_t b = 0; b < NBLOCKS; b++)
        write_block(f, b, gen[b] = 1);
    for (int pass = 0; pass < 12; pass++) {
        for (int e = 0; e < 150; e++) {
            uint64_t first = next_rand() % NBLOCKS;
            uint64_t count = next_rand() % 4 ? 1 : 1 + next_rand() % 200;

            if (first + count > NBLOCKS)
                count = NBLOCKS - first;
            assert_int_equal(xlmig_sendq_extent(q, &f->disk, first,
                                                (uint32_t)count,
                                                XLMIG_ORIGIN_PUSH, false), 0);
            /* The guest writes again: a later copy must carry it. */
            for (uint64_t b = first; b < first + count; b++)
                if (next_rand() % 2)
                    write_block(f, b, gen[b] = (uint8_t)(gen[b] % 250 + 1));
            if (next_rand() % 40 == 0)
                queue_barrier(q, ++syncs);
        }
        /* A pass ends: what is dirty now is queued again. */
        for (uint64_t b = 0; b < NBLOCKS; b++)
            if (gen[b] != 1 && next_rand() % 3 == 0)
                assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 1,
                                                    XLMIG_ORIGIN_PUSH, false),
                                 0);
    }
    /* The last pass: every block whose newest copy may not have gone. */
    for (uint64_t b = 0; b < NBLOCKS; b += 64)
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 64,
                                            XLMIG_ORIGIN_PUSH, false), 0);
    queue_barrier(q, ++syncs);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);

    check_stripes(f, NCONN);
    for (unsigned c = 0; c < NCONN; c++) {
        uint64_t seen = 0;

        for (size_t i = 0; i < f->col[c].n; i++)
            if (f->col[c].recs[i].type == XLMIG_REC_SYNC)
                assert_int_equal(f->col[c].recs[i].seq, ++seen);
        assert_int_equal(seen, syncs);
    }
    for (int reverse = 0; reverse < 2; reverse++) {
        replay(f, NCONN, reverse, model);
        for (uint64_t b = 0; b < NBLOCKS; b++)
            if (model[b] != gen[b])
                fail_msg("block %llu: generation %u at the receiver, %u "
                         "written last (%s interleaving)",
                         (unsigned long long)b, model[b], gen[b],
                         reverse ? "reverse" : "forward");
    }
}

/*
 * A barrier is a cut: on each connection, the data queued before it is
 * before it, the data queued after it after it.
 */
static void test_multi_barrier_cut(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, NCONN, 2, XLMIG_COMPRESS_NEVER,
                                  XLMIG_F_ALL);

    for (uint64_t b = 0; b < NBLOCKS; b++)
        write_block(f, b, 1);
    for (uint64_t b = 0; b < NBLOCKS; b += 8)
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 8,
                                            XLMIG_ORIGIN_PUSH, false), 0);
    queue_barrier(q, 1);
    for (uint64_t b = 4; b < NBLOCKS; b += 8)
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 1,
                                            XLMIG_ORIGIN_STOPCOPY, false), 0);
    queue_barrier(q, 2);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);
    check_stripes(f, NCONN);
    for (unsigned c = 0; c < NCONN; c++) {
        uint64_t at = 0, blocks[3] = { 0 };

        for (size_t i = 0; i < f->col[c].n; i++) {
            struct seen *r = &f->col[c].recs[i];

            if (r->type == XLMIG_REC_SYNC) {
                assert_int_equal(r->seq, ++at);
                continue;
            }
            assert_int_equal(r->d.origin, at ? XLMIG_ORIGIN_STOPCOPY
                                             : XLMIG_ORIGIN_PUSH);
            blocks[at] += r->d.count;
        }
        assert_int_equal(at, 2);
        /* Each connection has its 4 stripes of the 16. */
        assert_int_equal(blocks[0], NBLOCKS / NCONN);
        assert_int_equal(blocks[1], NBLOCKS / NCONN / 8);
        assert_int_equal(blocks[2], 0);
    }
}

/* After narrowing, everything goes on the first connection; the others
 * get nothing more (their writers are gone). */
static void test_multi_narrow(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = new_q(f, NCONN, 2, XLMIG_COMPRESS_NEVER,
                                  XLMIG_F_ALL);
    size_t before[NCONN];

    for (uint64_t b = 0; b < NBLOCKS; b++)
        write_block(f, b, 5);
    for (uint64_t b = 0; b < NBLOCKS; b += 256)
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 256,
                                            XLMIG_ORIGIN_PUSH, false), 0);
    queue_barrier(q, 1);
    assert_int_equal(xlmig_sendq_narrow(q), 0);
    assert_int_equal(xlmig_sendq_connections(q), 1);
    for (int c = 1; c < NCONN; c++)
        shutdown(f->sv[c][0], SHUT_WR);     /* nothing may come any more */
    for (uint64_t b = 0; b < NBLOCKS; b += 300)
        assert_int_equal(xlmig_sendq_extent(q, &f->disk, b, 3,
                                            XLMIG_ORIGIN_BACKGROUND, false),
                         0);
    queue_barrier(q, 2);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);
    for (int c = 0; c < NCONN; c++) {
        before[c] = 0;
        for (size_t i = 0; i < f->col[c].n; i++)
            before[c] += f->col[c].recs[i].type == XLMIG_REC_DATA &&
                         f->col[c].recs[i].d.origin == XLMIG_ORIGIN_PUSH;
        assert_int_equal(before[c], NBLOCKS / 256 / NCONN);
    }
    for (int c = 1; c < NCONN; c++)
        for (size_t i = 0; i < f->col[c].n; i++)
            assert_int_not_equal(f->col[c].recs[i].d.origin,
                                 XLMIG_ORIGIN_BACKGROUND);
    {
        size_t bg = 0;

        for (size_t i = 0; i < f->col[0].n; i++)
            if (f->col[0].recs[i].type == XLMIG_REC_DATA &&
                f->col[0].recs[i].d.origin == XLMIG_ORIGIN_BACKGROUND)
                bg += f->col[0].recs[i].d.count;
        assert_int_equal(bg, 3 * ((NBLOCKS + 299) / 300));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_copy_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compression_roundtrip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_raw_run_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_per_piece, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_digest_before_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_zlib_feature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_last_copy_wins, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_multi_barrier_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_multi_narrow, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
