/*
 * Unit tests for the simulated guest's block contents (sim_pattern.c),
 * image layout (sim_layout.c) and small helpers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "sim/sim_latency.h"
#include "sim/sim_layout.h"
#include "sim/sim_pattern.h"
#include "sim/sim_util.h"

#define BS SIM_BLOCK_SIZE

static void test_fill_is_deterministic_and_distinct(void **state)
{
    unsigned char a[BS], b[BS];

    (void)state;
    sim_pattern_fill(a, 7, 100, 3, SIM_FILL_TEXT);
    sim_pattern_fill(b, 7, 100, 3, SIM_FILL_TEXT);
    assert_memory_equal(a, b, BS);
    /* Any input changes the content. */
    sim_pattern_fill(b, 8, 100, 3, SIM_FILL_TEXT);
    assert_memory_not_equal(a, b, BS);
    sim_pattern_fill(b, 7, 101, 3, SIM_FILL_TEXT);
    assert_memory_not_equal(a, b, BS);
    sim_pattern_fill(b, 7, 100, 4, SIM_FILL_TEXT);
    assert_memory_not_equal(a, b, BS);
    sim_pattern_fill(b, 7, 100, 3, SIM_FILL_RANDOM);
    assert_memory_not_equal(a, b, BS);
    /* And not just in the tag: the filler differs too. */
    sim_pattern_fill(b, 7, 100, 4, SIM_FILL_TEXT);
    assert_memory_not_equal(a + 32, b + 32, BS - 32);
}

/*
 * Images made by one build are verified by another: the generators must
 * never change.  These CRCs pin them.
 */
#define GOLDEN_TEXT 0x690633a3u
#define GOLDEN_RANDOM 0x50bec8eau

static void test_fill_golden(void **state)
{
    unsigned char a[BS];

    (void)state;
    sim_pattern_fill(a, 1, 12345, 0, SIM_FILL_TEXT);
    assert_int_equal(crc32(0, a, BS), GOLDEN_TEXT);
    sim_pattern_fill(a, 1, 12345, 9, SIM_FILL_RANDOM);
    assert_int_equal(crc32(0, a, BS), GOLDEN_RANDOM);
}

static void test_tag_and_inspect(void **state)
{
    unsigned char a[BS];
    struct sim_tag t;

    (void)state;
    sim_pattern_fill(a, 42, 77, 5, SIM_FILL_RANDOM);
    assert_int_equal(sim_pattern_inspect(a, &t), SIM_FOUND_TAGGED);
    assert_int_equal(t.magic, SIM_TAG_MAGIC);
    assert_int_equal(t.seed, 42);
    assert_int_equal(t.block, 77);
    assert_int_equal(t.gen, 5);
    assert_int_equal(t.fill, SIM_FILL_RANDOM);
    /* One flipped bit anywhere is corruption. */
    a[BS - 1] ^= 0x10;
    assert_int_equal(sim_pattern_inspect(a, &t), SIM_FOUND_CORRUPT);
    memset(a, 0, BS);
    assert_int_equal(sim_pattern_inspect(a, &t), SIM_FOUND_ZEROS);
    sim_pattern_fill(a, 0, 0, 0, SIM_FILL_ZERO);
    assert_int_equal(sim_pattern_inspect(a, &t), SIM_FOUND_ZEROS);
    memset(a, 0xab, BS);
    assert_int_equal(sim_pattern_inspect(a, &t), SIM_FOUND_UNTAGGED);
}

static void test_text_compresses_random_does_not(void **state)
{
    enum { N = 64 };
    unsigned char *buf = malloc(N * BS), *z = malloc(2 * N * BS);
    uLongf zlen;

    (void)state;
    for (int i = 0; i < N; i++)
        sim_pattern_fill(buf + i * BS, 3, (uint64_t)i, 0, SIM_FILL_TEXT);
    for (size_t i = 32; i < BS; i++)
        if (buf[i] != '\n')
            assert_true(buf[i] >= 32 && buf[i] < 127);
    zlen = 2 * N * BS;
    assert_int_equal(compress2(z, &zlen, buf, N * BS, 1), Z_OK);
    assert_true(zlen * 2 < N * BS);             /* better than 2:1 */
    for (int i = 0; i < N; i++)
        sim_pattern_fill(buf + i * BS, 3, (uint64_t)i, 0, SIM_FILL_RANDOM);
    zlen = 2 * N * BS;
    assert_int_equal(compress2(z, &zlen, buf, N * BS, 1), Z_OK);
    assert_true(zlen * 100 > N * BS * 99);      /* no gain */
    free(buf);
    free(z);
}

static void assert_explains(const void *got, const void *want, uint64_t seed,
                            uint64_t block, uint32_t gen, const char *needle)
{
    char msg[256];

    sim_pattern_explain(got, want, seed, block, gen, msg, sizeof(msg));
    if (!strstr(msg, needle))
        fail_msg("explanation '%s' lacks '%s'", msg, needle);
}

static void test_explain(void **state)
{
    unsigned char got[BS], want[BS];

    (void)state;
    sim_pattern_fill(want, 5, 10, 4, SIM_FILL_TEXT);
    sim_pattern_fill(got, 5, 10, 3, SIM_FILL_TEXT);
    assert_explains(got, want, 5, 10, 4, "older generation 3");
    sim_pattern_fill(got, 5, 11, 4, SIM_FILL_TEXT);
    assert_explains(got, want, 5, 10, 4, "data of block 11");
    sim_pattern_fill(got, 6, 10, 4, SIM_FILL_TEXT);
    assert_explains(got, want, 5, 10, 4, "another disk");
    sim_pattern_fill(got, 5, 10, 4, SIM_FILL_TEXT);
    got[100] ^= 1;
    assert_explains(got, want, 5, 10, 4, "corrupt");
    memset(got, 0, BS);
    assert_explains(got, want, 5, 10, 4, "found zeros");
    sim_pattern_fill(got, 5, 10, 6, SIM_FILL_TEXT);
    assert_explains(got, want, 5, 10, 4, "newer than the acknowledged");
}

static struct sim_layout make_layout(uint64_t size, uint64_t alloc,
                                     uint32_t chunk, uint32_t text,
                                     uint64_t seed)
{
    struct sim_layout_params p = {
        .size = size, .allocated = alloc, .chunk = chunk, .text_pct = text,
        .seed = seed,
    };
    struct sim_layout l;
    struct xlmig_error err;

    if (sim_layout_init(&l, &p, &err))
        fail_msg("layout: %s", err.msg);
    return l;
}

static void count_kinds(const struct sim_layout *l, uint64_t n[3])
{
    n[0] = n[1] = n[2] = 0;
    for (uint64_t c = 0; c < l->nchunks; c++)
        n[l->kind[c]]++;
}

/* The benchmark's image: 2 GiB, 1 GiB of data, half text, half random. */
static void test_layout_benchmark_exact(void **state)
{
    struct sim_layout l = make_layout(2ULL << 30, 1ULL << 30, 1u << 20, 50,
                                      1);
    uint64_t n[3];

    (void)state;
    assert_int_equal(l.nblocks, (2ULL << 30) / BS);
    count_kinds(&l, n);
    assert_int_equal(n[SIM_FILL_ZERO], 1024);
    assert_int_equal(n[SIM_FILL_TEXT], 512);
    assert_int_equal(n[SIM_FILL_RANDOM], 512);
    assert_int_not_equal(l.kind[0], SIM_FILL_ZERO);    /* superblock */
    /* Scattered, not one run: both kinds appear in each half. */
    count_kinds(&(struct sim_layout){ .nchunks = 1024, .kind = l.kind }, n);
    assert_true(n[SIM_FILL_TEXT] > 100 && n[SIM_FILL_RANDOM] > 100 &&
                n[SIM_FILL_ZERO] > 100);
    sim_layout_free(&l);
}

static void test_layout_seeded(void **state)
{
    struct sim_layout a = make_layout(64 << 20, 16 << 20, 1 << 20, 50, 1);
    struct sim_layout b = make_layout(64 << 20, 16 << 20, 1 << 20, 50, 1);
    struct sim_layout c = make_layout(64 << 20, 16 << 20, 1 << 20, 50, 2);

    (void)state;
    assert_memory_equal(a.kind, b.kind, a.nchunks);
    assert_memory_not_equal(a.kind, c.kind, a.nchunks);
    sim_layout_free(&a);
    sim_layout_free(&b);
    sim_layout_free(&c);
}

/*
 * A 1 TiB disk with 512 MiB of data: the data chunks are drawn in
 * O(data) (the layout is computed inside the downtime when a guest state
 * is loaded), listed ascending, and agree with the per-chunk kinds.
 */
static void test_layout_large_sparse(void **state)
{
    struct timespec t0, t1;
    struct sim_layout l;
    uint64_t n[3] = { 0, 0, 0 };

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int rep = 0; rep < 100; rep++) {
        l = make_layout(1ULL << 40, 512ULL << 20, 1u << 20, 50, 3);
        if (rep < 99)
            sim_layout_free(&l);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /*
     * Drawing from all 1M chunks: 10-20 ms each, 1-2 s for 100 (more
     * sanitized).  From the 512: ~0.1 ms each, a few ms sanitized.
     */
    print_message("100 layouts of 1 TiB: %.3f s\n",
                  (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    assert_true((double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < 1.0);
    assert_int_equal(l.nchunks, 1u << 20);
    assert_int_equal(l.ndata, 512);
    assert_int_equal(l.data[0], 0);                 /* the superblock's */
    for (uint64_t i = 0; i < l.ndata; i++) {
        if (i)
            assert_true(l.data[i] > l.data[i - 1]);
        assert_true(l.data[i] < l.nchunks);
        assert_int_not_equal(l.kind[l.data[i]], SIM_FILL_ZERO);
        n[l.kind[l.data[i]]]++;
    }
    assert_int_equal(n[SIM_FILL_TEXT], 256);
    assert_int_equal(n[SIM_FILL_RANDOM], 256);
    /* Spread over the disk, not packed at its start. */
    assert_true(l.data[l.ndata - 1] > l.nchunks / 2);
    assert_true(l.data[1] < l.nchunks / 2);
    sim_layout_free(&l);
}

static void test_layout_rejects(void **state)
{
    struct sim_layout_params bad[] = {
        { .size = 0, .allocated = 4096, .chunk = 4096, .text_pct = 50 },
        { .size = 8192 + 512, .allocated = 4096, .chunk = 4096 },
        { .size = 1 << 20, .allocated = 2 << 20, .chunk = 4096 },
        { .size = 1 << 20, .allocated = 0, .chunk = 4096 },
        { .size = 1 << 20, .allocated = 12288, .chunk = 12288 },
        { .size = 1 << 20, .allocated = 4096, .chunk = 2048 },
        { .size = 1 << 20, .allocated = 4096, .chunk = 4096, .text_pct = 101 },
        { .size = 1 << 20, .allocated = 6144, .chunk = 4096 },
        /* Data only in whole chunks: 1.5 chunks of disk hold one. */
        { .size = 3 << 19, .allocated = 2 << 20, .chunk = 1 << 20 },
        /* Over the simulator's 4 TiB, or too many chunks to map. */
        { .size = 8ULL << 40, .allocated = 1 << 20, .chunk = 1 << 20 },
        { .size = 1ULL << 40, .allocated = 1 << 20, .chunk = 4096 },
    };
    struct sim_layout l;
    struct xlmig_error err;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        if (sim_layout_init(&l, &bad[i], &err) != -EINVAL)
            fail_msg("layout %zu accepted", i);
        assert_true(strlen(err.msg) > 10);
    }
}

static void test_layout_expected_contents(void **state)
{
    struct sim_layout l = make_layout(16 << 20, 4 << 20, 1 << 20, 50, 3);
    unsigned char buf[BS];
    struct sim_tag t;
    uint64_t hole = UINT64_MAX, data = UINT64_MAX;

    (void)state;
    for (uint64_t b = 1; b < l.nblocks; b++) {
        if (sim_layout_kind(&l, b) == SIM_FILL_ZERO && hole == UINT64_MAX)
            hole = b;
        if (sim_layout_kind(&l, b) == SIM_FILL_RANDOM && data == UINT64_MAX)
            data = b;
    }
    assert_true(hole != UINT64_MAX && data != UINT64_MAX);
    sim_layout_expected(&l, hole, 0, buf);
    assert_int_equal(sim_pattern_inspect(buf, &t), SIM_FOUND_ZEROS);
    /* Written holes get random data. */
    sim_layout_expected(&l, hole, 1, buf);
    assert_int_equal(sim_pattern_inspect(buf, &t), SIM_FOUND_TAGGED);
    assert_int_equal(t.fill, SIM_FILL_RANDOM);
    sim_layout_expected(&l, data, 0, buf);
    assert_int_equal(sim_pattern_inspect(buf, &t), SIM_FOUND_TAGGED);
    assert_int_equal(t.gen, 0);
    assert_int_equal(t.seed, 3);
    sim_layout_expected(&l, 0, 0, buf);
    assert_memory_equal(buf, "XLMIGSIM", 8);
    sim_layout_free(&l);
}

/* mkimage writes exactly the allocated bytes as data; holes stay holes. */
static void test_image_roundtrip(void **state)
{
    char dir[] = "/tmp/test_sim_pattern.XXXXXX", path[64];
    struct xlmig_error err;
    struct sim_layout l = make_layout(8 << 20, 2 << 20, 256 << 10, 50, 11);
    struct sim_layout back;
    unsigned char got[BS], want[BS];
    uint64_t data = 0;
    off_t pos = 0, end;
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/img", dir);
    assert_int_equal(sim_layout_write_image(&l, path, false, &err), 0);
    /* No clobbering without force. */
    assert_int_equal(sim_layout_write_image(&l, path, false, &err), -EEXIST);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    for (;;) {
        pos = lseek(fd, pos, SEEK_DATA);
        if (pos < 0)
            break;
        end = lseek(fd, pos, SEEK_HOLE);
        data += (uint64_t)(end - pos);
        pos = end;
    }
    assert_int_equal(data, 2 << 20);
    for (uint64_t b = 0; b < l.nblocks; b++) {
        assert_int_equal(pread(fd, got, BS, (off_t)(b * BS)), BS);
        sim_layout_expected(&l, b, 0, want);
        assert_memory_equal(got, want, BS);
    }
    assert_int_equal(sim_layout_read_super(&back, fd, &err), 0);
    assert_int_equal(back.p.seed, 11);
    assert_int_equal(back.p.allocated, 2 << 20);
    assert_memory_equal(back.kind, l.kind, l.nchunks);
    close(fd);
    sim_layout_free(&back);
    sim_layout_free(&l);
    unlink(path);
    rmdir(dir);
}

static void test_parse(void **state)
{
    uint64_t v;

    (void)state;
    assert_true(sim_parse_size("4096", &v) && v == 4096);
    assert_true(sim_parse_size("64K", &v) && v == 65536);
    assert_true(sim_parse_size("2G", &v) && v == 2ULL << 30);
    assert_true(sim_parse_size("1.5M", &v) && v == 3 << 19);
    assert_true(sim_parse_size("5MiB", &v) && v == 5 << 20);
    assert_false(sim_parse_size("", &v));
    assert_false(sim_parse_size("-1", &v));
    assert_false(sim_parse_size("12Q", &v));
    assert_false(sim_parse_size("1Kx", &v));
    assert_false(sim_parse_size("99999999999T", &v));
    assert_true(sim_parse_uint("30", 0, 95, &v) && v == 30);
    assert_false(sim_parse_uint("96", 0, 95, &v));
    assert_false(sim_parse_uint("3x", 0, 95, &v));
}

static void test_latency_quantiles(void **state)
{
    struct sim_latency *h = calloc(1, sizeof(*h));

    (void)state;
    assert_int_equal(sim_latency_quantile(h, 0.5), 0);
    for (uint64_t v = 1; v <= 1000; v++)
        sim_latency_add(h, v);
    sim_latency_add(h, 5000000);
    /* Within a bucket's width (~6%) of the truth. */
    assert_in_range(sim_latency_quantile(h, 0.50), 500, 531);
    assert_in_range(sim_latency_quantile(h, 0.99), 990, 1023);
    assert_int_equal(sim_latency_quantile(h, 1.0), 5000000);
    assert_int_equal(h->max, 5000000);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_is_deterministic_and_distinct),
        cmocka_unit_test(test_fill_golden),
        cmocka_unit_test(test_tag_and_inspect),
        cmocka_unit_test(test_text_compresses_random_does_not),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_layout_benchmark_exact),
        cmocka_unit_test(test_layout_seeded),
        cmocka_unit_test(test_layout_rejects),
        cmocka_unit_test(test_layout_large_sparse),
        cmocka_unit_test(test_layout_expected_contents),
        cmocka_unit_test(test_image_roundtrip),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_latency_quantiles),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
