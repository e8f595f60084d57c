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
#define NBLOCKS 512

struct seen {
    uint32_t type;
    struct xlmig_data d;
    uint8_t block0[BS];         /* the first block's plain content */
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
    struct xlmig_inflater inf = { .ready = false };
    static uint8_t plain[XLMIG_MAX_DATA];
    struct xlmig_rec r;
    struct xlmig_error err;

    while (xlmig_conn_recv(&c->conn, &r) == 1) {
        struct seen s = { .type = r.type };

        if (r.type == XLMIG_REC_DATA) {
            assert_int_equal(xlmig_dec_data(&r, &s.d, &err), 0);
            if (s.d.encoding == XLMIG_ENC_ZLIB) {
                assert_int_equal(xlmig_inflate(&inf, s.d.payload,
                                               s.d.payload_len, plain,
                                               (size_t)s.d.count * BS, &err),
                                 0);
                memcpy(s.block0, plain, BS);
            } else if (s.d.encoding == XLMIG_ENC_RAW) {
                size_t g = s.d.payload_len < 16 * BS ? s.d.payload_len
                                                     : 16 * BS;
                memcpy(s.block0, s.d.payload, BS);
                assert_int_equal(xlmig_sha256(s.d.payload, g, s.dig0), 0);
            }
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
    return NULL;
}

struct fixture {
    char path[64];
    struct xlmig_image img;
    struct xlmig_sq_disk disk;
    struct xlmig_conn out;
    struct collector col;
    int sv[2];
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
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    assert_int_equal(xlmig_conn_init(&f->out, f->sv[0], f->sv[0]), 0);
    assert_int_equal(xlmig_conn_init(&f->col.conn, f->sv[1], f->sv[1]), 0);
    pthread_create(&f->col.th, NULL, collect_main, &f->col);
    *state = f;
    return 0;
}

static void finish(struct fixture *f)
{
    shutdown(f->sv[0], SHUT_WR);
    pthread_join(f->col.th, NULL);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    xlmig_conn_destroy(&f->out);
    xlmig_conn_destroy(&f->col.conn);
    close(f->sv[0]);
    close(f->sv[1]);
    xlmig_image_close(&f->img);
    unlink(f->path);
    free(f->col.recs);
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
    struct xlmig_sendq *q = xlmig_sendq_new(&f->out, 4, XLMIG_COMPRESS_NEVER,
                                            XLMIG_F_ALL);
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
    for (size_t i = 0; i < f->col.n; i++) {
        struct seen *s = &f->col.recs[i];
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
    struct xlmig_sendq *q = xlmig_sendq_new(&f->out, 4, XLMIG_COMPRESS_NEVER,
                                            XLMIG_F_ALL);
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
    for (size_t i = 0; i < f->col.n; i++)
        if (f->col.recs[i].type == XLMIG_REC_DATA)
            last[f->col.recs[i].d.first] = f->col.recs[i].block0[BS - 1];
    for (int b = 0; b < 300; b++)
        assert_int_equal(last[b], 2);
}

static void test_zero_blocks(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = xlmig_sendq_new(&f->out, 2, XLMIG_COMPRESS_NEVER,
                                            XLMIG_F_ALL);
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
    assert_int_equal(f->col.n, 5);
    assert_int_equal(f->col.recs[0].d.first, 10);
    assert_int_equal(f->col.recs[1].d.first, 13);
    assert_int_equal(f->col.recs[3].d.encoding, XLMIG_ENC_ZERO);
    assert_int_equal(f->col.recs[3].d.first, 11);
    assert_int_equal(f->col.recs[3].d.count, 2);
}

static void test_compression_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = xlmig_sendq_new(&f->out, 2, XLMIG_COMPRESS_ALWAYS,
                                            XLMIG_F_ALL);
    struct xlmig_sendq_stats st;

    for (uint64_t b = 0; b < 64; b++)
        write_block(f, b, 'a' + (int)(b % 3));
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 0, 64,
                                        XLMIG_ORIGIN_PUSH, false), 0);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_get_stats(q, &st);
    xlmig_sendq_free(q);
    finish(f);
    assert_true(st.zlib_in == 64 * BS);
    assert_true(st.zlib_out < st.zlib_in / 10);
    assert_int_equal(f->col.n, 1);
    assert_int_equal(f->col.recs[0].d.encoding, XLMIG_ENC_ZLIB);
    /* The collector inflated it to exactly 64 blocks; check block 0. */
    assert_int_equal(f->col.recs[0].block0[BS - 1], 'a');
}

/*
 * --verify: every DATA record, zero extents included, comes right after a
 * DIGEST of the same blocks, whose first digest is the SHA-256 of the
 * first 16 blocks as read; skipped zero blocks get neither.
 */
static void test_digest_before_data(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = xlmig_sendq_new(&f->out, 2, XLMIG_COMPRESS_NEVER,
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
    for (size_t i = 0; i < f->col.n; i++) {
        struct seen *r = &f->col.recs[i];

        if (r->type != XLMIG_REC_DATA)
            continue;
        ndata++;
        assert_true(i > 0);
        assert_int_equal(f->col.recs[i - 1].type, XLMIG_REC_DIGEST);
        assert_int_equal(f->col.recs[i - 1].d.first, r->d.first);
        assert_int_equal(f->col.recs[i - 1].d.count, r->d.count);
        assert_int_equal(f->col.recs[i - 1].dig_n, (r->d.count + 15) / 16);
        if (r->d.encoding == XLMIG_ENC_RAW)
            assert_memory_equal(f->col.recs[i - 1].dig0, r->dig0,
                                XLMIG_DIGEST_LEN);
    }
    /* 0..39 data, 40..49 zeros, 50 data; 60..63 skipped. */
    assert_int_equal(ndata, 3);
    assert_int_equal(f->col.n, 6);
}

/* Without the zlib feature, ALWAYS still sends raw: the peer refused it. */
static void test_no_zlib_feature(void **state)
{
    struct fixture *f = *state;
    struct xlmig_sendq *q = xlmig_sendq_new(&f->out, 1, XLMIG_COMPRESS_ALWAYS,
                                            XLMIG_F_ZERO);

    for (uint64_t b = 0; b < 8; b++)
        write_block(f, b, 'x');
    assert_int_equal(xlmig_sendq_extent(q, &f->disk, 0, 8,
                                        XLMIG_ORIGIN_PUSH, false), 0);
    assert_int_equal(xlmig_sendq_flush(q), 0);
    xlmig_sendq_free(q);
    finish(f);
    assert_int_equal(f->col.n, 1);
    assert_int_equal(f->col.recs[0].d.encoding, XLMIG_ENC_RAW);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_copy_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compression_roundtrip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_digest_before_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_zlib_feature, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
