/* Unit tests for the engine's hierarchical bitmap (libxl-ext/bitmap.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "bitmap.h"

static void test_set_clear_count(void **state)
{
    struct xlmig_bitmap *b = xlmig_bitmap_new(1000);

    (void)state;
    assert_non_null(b);
    assert_int_equal(xlmig_bitmap_count(b), 0);
    assert_int_equal(xlmig_bitmap_set_range(b, 10, 100), 100);
    assert_int_equal(xlmig_bitmap_set_range(b, 50, 100), 40);
    assert_int_equal(xlmig_bitmap_count(b), 140);
    assert_true(xlmig_bitmap_test(b, 10));
    assert_true(xlmig_bitmap_test(b, 149));
    assert_false(xlmig_bitmap_test(b, 150));
    assert_false(xlmig_bitmap_test(b, 9));
    assert_int_equal(xlmig_bitmap_clear_range(b, 0, 20), 10);
    assert_int_equal(xlmig_bitmap_count(b), 130);
    /* Clipped at the end, never beyond. */
    assert_int_equal(xlmig_bitmap_set_range(b, 990, 100), 10);
    assert_int_equal(xlmig_bitmap_set_range(b, 1000, 5), 0);
    assert_false(xlmig_bitmap_test(b, 1000));
    xlmig_bitmap_clear_all(b);
    assert_int_equal(xlmig_bitmap_count(b), 0);
    assert_int_equal(xlmig_bitmap_next_set(b, 0), 1000);
    xlmig_bitmap_free(b);
}

static void test_extents_coalesce(void **state)
{
    struct xlmig_bitmap *b = xlmig_bitmap_new(100000);
    struct xlmig_extent e;
    uint64_t pos = 0;

    (void)state;
    xlmig_bitmap_set_range(b, 5, 3);
    xlmig_bitmap_set_range(b, 8, 2);     /* adjacent: one extent */
    xlmig_bitmap_set_range(b, 63, 2);    /* across a word boundary */
    xlmig_bitmap_set_range(b, 99999, 1); /* the very last bit */
    assert_true(xlmig_bitmap_next_extent(b, &pos, 0, &e));
    assert_int_equal(e.start, 5);
    assert_int_equal(e.count, 5);
    assert_true(xlmig_bitmap_next_extent(b, &pos, 0, &e));
    assert_int_equal(e.start, 63);
    assert_int_equal(e.count, 2);
    assert_true(xlmig_bitmap_next_extent(b, &pos, 0, &e));
    assert_int_equal(e.start, 99999);
    assert_int_equal(e.count, 1);
    assert_false(xlmig_bitmap_next_extent(b, &pos, 0, &e));
    /* max_len splits long runs. */
    xlmig_bitmap_set_range(b, 1000, 10);
    pos = 1000;
    assert_true(xlmig_bitmap_next_extent(b, &pos, 4, &e));
    assert_int_equal(e.start, 1000);
    assert_int_equal(e.count, 4);
    assert_true(xlmig_bitmap_next_extent(b, &pos, 4, &e));
    assert_int_equal(e.start, 1004);
    xlmig_bitmap_free(b);
}

/* Against a plain byte array, with random operations across levels. */
static void test_random_against_model(void **state)
{
    const uint64_t n = 300000;
    struct xlmig_bitmap *b = xlmig_bitmap_new(n);
    unsigned char *model = calloc(n, 1);
    uint64_t count = 0;
    unsigned seed = 12345;

    (void)state;
    for (int round = 0; round < 3000; round++) {
        uint64_t start = (uint64_t)rand_r(&seed) % n;
        uint64_t len = (uint64_t)rand_r(&seed) % 300 + 1;
        int set = rand_r(&seed) & 1;
        uint64_t changed = 0;

        for (uint64_t i = start; i < start + len && i < n; i++)
            if (model[i] != set) {
                model[i] = (unsigned char)set;
                changed++;
            }
        count = set ? count + changed : count - changed;
        assert_int_equal(set ? xlmig_bitmap_set_range(b, start, len)
                             : xlmig_bitmap_clear_range(b, start, len),
                         changed);
        assert_int_equal(xlmig_bitmap_count(b), count);
        uint64_t probe = (uint64_t)rand_r(&seed) % n, expect = probe;
        while (expect < n && !model[expect])
            expect++;
        assert_int_equal(xlmig_bitmap_next_set(b, probe), expect);
    }
    /* Walking the extents visits exactly the model's set bits. */
    uint64_t pos = 0, seen = 0;
    struct xlmig_extent e;
    while (xlmig_bitmap_next_extent(b, &pos, 0, &e)) {
        for (uint64_t i = e.start; i < e.start + e.count; i++)
            assert_true(model[i]);
        assert_true(e.start == 0 || !model[e.start - 1]);
        assert_true(e.start + e.count == n || !model[e.start + e.count]);
        seen += e.count;
    }
    assert_int_equal(seen, count);
    free(model);
    xlmig_bitmap_free(b);
}

/*
 * A 1 TiB disk in 4 KiB blocks with 100 dirty blocks: iterating must not
 * touch the 32 MiB leaf level.  1000 walks would take seconds if each one
 * scanned it; with the hierarchy they take microseconds each.
 */
static void test_sparse_walk_is_cheap(void **state)
{
    const uint64_t n = (1ULL << 40) / 4096;
    struct xlmig_bitmap *b = xlmig_bitmap_new(n);
    struct timespec t0, t1;
    uint64_t total = 0;

    (void)state;
    assert_non_null(b);
    for (uint64_t i = 0; i < 100; i++)
        xlmig_bitmap_set_range(b, i * (n / 100) + 7, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int rep = 0; rep < 1000; rep++) {
        uint64_t pos = 0;
        struct xlmig_extent e;
        while (xlmig_bitmap_next_extent(b, &pos, 0, &e))
            total += e.count;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(total, 100 * 1000);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* A flat scan: 1000 x 32 MiB >= 3 s here.  Hierarchy: ~10 ms. */
    assert_true(secs < 1.0);
    xlmig_bitmap_free(b);
}

static uint64_t resident_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;

    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/*
 * Clearing a 1 TiB disk's bitmap that holds a few bits (what every pass
 * and the stop-copy do) must follow the summaries: neither scan the
 * 32 MiB leaf level nor fault it in.  And the cleared bitmap works on.
 */
static void test_clear_all_is_sparse(void **state)
{
    const uint64_t n = (1ULL << 40) / 4096;
    struct xlmig_bitmap *b = xlmig_bitmap_new(n);
    struct timespec t0, t1;
    uint64_t rss0;

    (void)state;
    assert_non_null(b);
    rss0 = resident_kib();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int rep = 0; rep < 1000; rep++) {
        for (uint64_t i = 0; i < 100; i++)
            xlmig_bitmap_set_range(b, i * (n / 100) + (uint64_t)rep, 3);
        assert_int_equal(xlmig_bitmap_count(b), 300);
        xlmig_bitmap_clear_all(b);
        assert_int_equal(xlmig_bitmap_count(b), 0);
        assert_int_equal(xlmig_bitmap_next_set(b, 0), n);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* memset of every level: 1000 x 32 MiB, seconds.  Sparse: ~ms. */
    assert_true(secs < 1.0);
    /* 100 leaf pages and their summaries, not the 32 MiB leaf level. */
    assert_true(resident_kib() < rss0 + 4096);
    /* Summaries were cleared too: a new bit is found, and only it. */
    xlmig_bitmap_set_range(b, n - 1, 1);
    assert_int_equal(xlmig_bitmap_next_set(b, 0), n - 1);
    xlmig_bitmap_set_range(b, 5, 1);
    assert_int_equal(xlmig_bitmap_next_set(b, 0), 5);
    assert_int_equal(xlmig_bitmap_next_set(b, 6), n - 1);
    xlmig_bitmap_free(b);
}

static void test_merge(void **state)
{
    struct xlmig_bitmap *a = xlmig_bitmap_new(5000), *b = xlmig_bitmap_new(5000);

    (void)state;
    xlmig_bitmap_set_range(a, 0, 10);
    xlmig_bitmap_set_range(b, 5, 10);
    xlmig_bitmap_set_range(b, 4000, 1);
    assert_int_equal(xlmig_bitmap_merge(a, b), 6);
    assert_int_equal(xlmig_bitmap_count(a), 16);
    xlmig_bitmap_free(a);
    xlmig_bitmap_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_clear_count),
        cmocka_unit_test(test_extents_coalesce),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_sparse_walk_is_cheap),
        cmocka_unit_test(test_clear_all_is_sparse),
        cmocka_unit_test(test_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
