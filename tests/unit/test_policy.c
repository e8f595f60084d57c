/*
 * The small decision functions: convergence, whether compression pays,
 * the link-rate estimate, and the receiver's target path policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "compress.h"
#include "linkrate.h"
#include "policy.h"
#include "target.h"

#define MB 1000000.0

static void test_conv_fits(void **state)
{
    struct xlmig_conv c;

    (void)state;
    xlmig_conv_init(&c, 0.050, 30);
    /* 100 MB at 100 MB/s: 1 s, over 50 ms. */
    assert_int_equal(xlmig_conv_next(&c, 100000000, 100 * MB, 0),
                     XLMIG_CONV_CONTINUE);
    /* 4 MB at 100 MB/s: 40 ms, fits. */
    assert_int_equal(xlmig_conv_next(&c, 4000000, 100 * MB, 0), XLMIG_CONV_FITS);
    /* Nothing dirty: done, even with an unknown rate, and called so
     * rather than "fits" (the fixed costs may not fit). */
    xlmig_conv_init(&c, 0.050, 30);
    assert_int_equal(xlmig_conv_next(&c, 0, 0, 0), XLMIG_CONV_CLEAN);
    /* Unknown rate and data left: keep going. */
    assert_int_equal(xlmig_conv_next(&c, 4096, 0, 0), XLMIG_CONV_CONTINUE);
}

/* The measured fixed costs count against the budget. */
static void test_conv_fixed_costs(void **state)
{
    struct xlmig_conv c;

    (void)state;
    xlmig_conv_init(&c, 0.050, 30);
    /* 4 MB at 100 MB/s is 40 ms: with 20 ms of quiesce, snapshot and
     * round trip it is 60 ms, over the 50 ms budget. */
    c.fixed_s = 0.020;
    assert_true(xlmig_conv_expected(&c, 4000000, 100 * MB) > 0.059);
    assert_int_equal(xlmig_conv_next(&c, 4000000, 100 * MB, 0),
                     XLMIG_CONV_CONTINUE);
    assert_int_equal(xlmig_conv_next(&c, 2000000, 100 * MB, 0),
                     XLMIG_CONV_FITS);
    /* Fixed costs alone over the budget: never "fits". */
    xlmig_conv_init(&c, 0.005, 30);
    c.fixed_s = 0.017;
    assert_int_equal(xlmig_conv_next(&c, 4096, 100 * MB, 0),
                     XLMIG_CONV_CONTINUE);
}

static void test_conv_stalls(void **state)
{
    struct xlmig_conv c;

    (void)state;
    xlmig_conv_init(&c, 0.050, 30);
    assert_int_equal(xlmig_conv_next(&c, 500000000, 100 * MB, 0),
                     XLMIG_CONV_CONTINUE);
    /* Shrinking by 20%: progress. */
    assert_int_equal(xlmig_conv_next(&c, 400000000, 100 * MB, 0),
                     XLMIG_CONV_CONTINUE);
    /* Two passes without 10% progress: stalled. */
    assert_int_equal(xlmig_conv_next(&c, 390000000, 100 * MB, 0),
                     XLMIG_CONV_CONTINUE);
    assert_int_equal(xlmig_conv_next(&c, 420000000, 100 * MB, 0),
                     XLMIG_CONV_STALLED);
}

static void test_conv_hopeless(void **state)
{
    struct xlmig_conv c;

    (void)state;
    xlmig_conv_init(&c, 0.050, 30);
    /* 60 MB dirtied in 1 s, the link sends 40 MB/s: no pass can win. */
    assert_int_equal(xlmig_conv_next(&c, 60000000, 40 * MB, 1.0),
                     XLMIG_CONV_STALLED);
    /* 20 MB dirtied in 1 s at 40 MB/s: the next pass is shorter. */
    xlmig_conv_init(&c, 0.050, 30);
    assert_int_equal(xlmig_conv_next(&c, 20000000, 40 * MB, 1.0),
                     XLMIG_CONV_CONTINUE);
    /* Too short an interval to judge. */
    assert_int_equal(xlmig_conv_next(&c, 20000000, 40 * MB, 0.1),
                     XLMIG_CONV_CONTINUE);
}

/* The full pass against a guest that out-writes the link. */
static void test_outrun(void **state)
{
    struct xlmig_outrun o;

    (void)state;
    xlmig_outrun_init(&o);
    /* 20 MiB/s of new dirty data against a 12.5 MB/s link: not in the
     * first two seconds, then after two samples in a row. */
    assert_false(xlmig_outrun_sample(&o, 1.0, 21 * MB, 12.5 * MB));
    assert_false(xlmig_outrun_sample(&o, 2.0, 21 * MB, 12.5 * MB));
    assert_true(xlmig_outrun_sample(&o, 3.0, 21 * MB, 12.5 * MB));
    /* A slower guest (5 MiB/s at 125 MB/s): never. */
    xlmig_outrun_init(&o);
    for (double t = 0; t < 30; t += 1)
        assert_false(xlmig_outrun_sample(&o, t, 5 * MB, 125 * MB));
    /* One burst is noise: the count starts again. */
    xlmig_outrun_init(&o);
    assert_false(xlmig_outrun_sample(&o, 3.0, 30 * MB, 12.5 * MB));
    assert_false(xlmig_outrun_sample(&o, 4.0, 2 * MB, 12.5 * MB));
    assert_false(xlmig_outrun_sample(&o, 5.0, 30 * MB, 12.5 * MB));
    assert_true(xlmig_outrun_sample(&o, 6.0, 30 * MB, 12.5 * MB));
    /* No rate known yet: no verdict. */
    xlmig_outrun_init(&o);
    assert_false(xlmig_outrun_sample(&o, 5.0, 30 * MB, 0));
    assert_false(xlmig_outrun_sample(&o, 6.0, 30 * MB, 0));
    /* Just below the margin (90% of the drain): keeps going. */
    xlmig_outrun_init(&o);
    for (double t = 2; t < 10; t += 1)
        assert_false(xlmig_outrun_sample(&o, t, 11 * MB, 12.5 * MB));
    assert_string_equal(xlmig_conv_name(XLMIG_CONV_OUTRUN),
                        "the guest dirties faster than the link sends: the "
                        "rest goes to post-copy");
}

static void test_conv_max_passes(void **state)
{
    struct xlmig_conv c;
    uint64_t left = 1ull << 40;

    (void)state;
    /* At most 5 dirty passes: the sets before passes 1..5 continue, the
     * sixth set (after pass 5) stops. */
    xlmig_conv_init(&c, 0.050, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(xlmig_conv_next(&c, left, 100 * MB, 0),
                         XLMIG_CONV_CONTINUE);
        left /= 2;
    }
    assert_int_equal(xlmig_conv_next(&c, left, 100 * MB, 0),
                     XLMIG_CONV_MAX_PASSES);
    /* 1: exactly one pass. */
    xlmig_conv_init(&c, 0.050, 1);
    assert_int_equal(xlmig_conv_next(&c, left, 100 * MB, 0),
                     XLMIG_CONV_CONTINUE);
    assert_int_equal(xlmig_conv_next(&c, left / 2, 100 * MB, 0),
                     XLMIG_CONV_MAX_PASSES);
    /* 0: no dirty pass at all (not "the default"). */
    xlmig_conv_init(&c, 0.050, 0);
    assert_int_equal(xlmig_conv_next(&c, left, 100 * MB, 0),
                     XLMIG_CONV_MAX_PASSES);
}

static void test_compress_roundtrip(void **state)
{
    static unsigned char in[65536], z[70000], out[65536];
    struct xlmig_deflater d = { .c = NULL };
    struct xlmig_inflater f = { .d = NULL };
    struct xlmig_sample s;
    struct xlmig_error err;
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = "the quick brown fox jumps "[i % 26];
    n = xlmig_deflate(&d, in, sizeof(in), z, sizeof(z));
    assert_true(n > 0 && n < sizeof(in) / 10);
    assert_int_equal(xlmig_inflate(&f, z, n, out, sizeof(out), &err), 0);
    assert_memory_equal(in, out, sizeof(in));
    /* A wrong expected size is an error, not a short buffer. */
    assert_true(xlmig_inflate(&f, z, n, out, sizeof(out) - 1, &err) < 0);
    /* Garbage is an error. */
    z[2] ^= 0xff;
    assert_true(xlmig_inflate(&f, z, n, out, sizeof(out), &err) < 0);
    /* The sample sees text as compressible, noise as not. */
    xlmig_sample(&d, &f, in, sizeof(in), &s);
    assert_true(s.ratio < 0.2);
    unsigned x = 1;
    for (size_t i = 0; i < sizeof(in); i++) {
        x = x * 1103515245u + 12345u;
        in[i] = (unsigned char)(x >> 16);
    }
    xlmig_sample(&d, &f, in, sizeof(in), &s);
    assert_true(s.ratio >= 0.99);
    /* Incompressible data does not fit in less than its size. */
    assert_int_equal(xlmig_deflate(&d, in, sizeof(in), z, sizeof(in) - 1), 0);
    xlmig_deflater_end(&d);
    xlmig_inflater_end(&f);
}

static void test_linkrate(void **state)
{
    struct xlmig_linkrate lr;
    uint64_t t = 1000000000ull, out = 0, blocked = 0, in = 0;

    (void)state;
    xlmig_linkrate_init(&lr, 0);
    xlmig_linkrate_sample(&lr, t, out, blocked, in);
    assert_true(lr.est_Bps == 0);
    /* Writer blocked 90% of a window while 12 MB went: link-bound. */
    t += 100000000ull;
    out += 12000000;
    in += 12000000;
    blocked += 90000000ull;
    xlmig_linkrate_sample(&lr, t, out, blocked, in);
    assert_true(lr.est_Bps > 119 * MB && lr.est_Bps < 121 * MB);
    /* Not blocked and slower: the link is not the limit, estimate stays. */
    t += 100000000ull;
    out += 1000000;
    in += 3000000;
    xlmig_linkrate_sample(&lr, t, out, blocked, in);
    assert_true(lr.est_Bps > 119 * MB);
    assert_true(lr.input_Bps > 0);
    /* A configured limit is the link rate. */
    xlmig_linkrate_init(&lr, 50 * MB);
    assert_true(lr.est_Bps == 50 * MB);
}

static void test_target_policy(void **state)
{
    struct xlmig_target_policy p;
    char path[4096], dir[] = "/tmp/xlmig-test-XXXXXX";
    struct xlmig_error err;
    bool created, zeroed;

    (void)state;
    memset(&p, 0, sizeof(p));
    assert_true(xlmig_target_resolve(&p, "xvda", path, sizeof(path),
                                          &err) < 0);
    assert_non_null(strstr(err.msg, "no target"));
    assert_non_null(mkdtemp(dir));
    p.target_dir = dir;
    assert_int_equal(xlmig_target_resolve(&p, "xvda", path, sizeof(path),
                                          &err), 0);
    assert_true(strlen(path) > strlen(dir));
    assert_non_null(strstr(path, "/xvda.img"));
    /* A hostile name never becomes a path. */
    assert_true(xlmig_target_resolve(&p, "../../etc/passwd", path,
                                          sizeof(path), &err) < 0);
    /* Map entries win over the directory. */
    assert_int_equal(xlmig_target_add_map(&p, "xvdb=/dev/vg0/lv1", &err), 0);
    assert_int_equal(xlmig_target_resolve(&p, "xvdb", path, sizeof(path),
                                          &err), 0);
    assert_string_equal(path, "/dev/vg0/lv1");
    assert_true(xlmig_target_add_map(&p, "xvdc=relative", &err) < 0);
    assert_true(xlmig_target_add_map(&p, "=/x", &err) < 0);
    assert_true(xlmig_target_add_map(&p, "noequals", &err) < 0);

    /* Creation: sparse, zeroed; never over an existing file. */
    snprintf(path, sizeof(path), "%s/t.img", dir);
    assert_int_equal(xlmig_target_create(&p, path, 1 << 20, 4096, NULL, 0,
                                         NULL, &created, &zeroed, &err), 0);
    assert_true(created && zeroed);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 1 << 20);
    assert_true(xlmig_target_create(&p, path, 1 << 20, 4096, NULL, 0,
                                         NULL, &created, &zeroed, &err) < 0);
    assert_false(created);
    assert_non_null(strstr(err.msg, "exists"));
    /* Allowed, but too small for the disk. */
    p.allow_existing = true;
    assert_true(xlmig_target_create(&p, path, 2 << 20, 4096, NULL, 0,
                                    NULL, &created, &zeroed, &err) < 0);
    assert_non_null(strstr(err.msg, "needs"));
    assert_int_equal(xlmig_target_create(&p, path, 1 << 20, 4096, NULL, 0,
                                         NULL, &created, &zeroed, &err), 0);
    assert_false(created || zeroed);
    unlink(path);
    /* Not enough space: refused up front, nothing left behind. */
    p.allow_existing = false;
    assert_true(xlmig_target_create(&p, path, 1ull << 50, 1ull << 50,
                                         NULL, 0, NULL, &created, &zeroed,
                                         &err) < 0);
    assert_false(created);
    assert_int_not_equal(access(path, F_OK), 0);

    /* What is checked is recorded for the next disks of the migration. */
    struct xlmig_target_space sp, big;
    assert_int_equal(xlmig_target_create(&p, path, 1 << 20, 4096, NULL, 0,
                                         &sp, &created, &zeroed, &err), 0);
    assert_true(sp.checked && sp.free > 0);
    assert_true(sp.need == xlmig_target_need(1 << 20, 4096));
    assert_true(sp.room == sp.free - 4096);
    unlink(path);
    /* An earlier disk on the same file system takes nearly all of it:
     * refused, although this one alone would fit. */
    big = sp;
    big.need = sp.free;
    assert_true(xlmig_target_create(&p, path, 1 << 20, 4096, &big, 1, NULL,
                                    &created, &zeroed, &err) < 0);
    assert_non_null(strstr(err.msg, "other disks"));
    assert_int_not_equal(access(path, F_OK), 0);
    /* On another file system it does not count. */
    big.dev = sp.dev + 1;
    assert_int_equal(xlmig_target_create(&p, path, 1 << 20, 4096, &big, 1,
                                         NULL, &created, &zeroed, &err), 0);
    unlink(path);
    rmdir(dir);
}

/* The room a new target needs: never just the allocated data. */
static void test_target_need(void **state)
{
    const uint64_t M = 1ull << 20, G = 1ull << 30;

    (void)state;
    /* Headroom 1/16 of the data, at least 64 MiB, plus 1 MiB. */
    assert_true(xlmig_target_need(100 * G, 32 * G) == 34 * G + M);
    assert_true(xlmig_target_need(2 * G, 512 * M) == 576 * M + M);
    /* At most what the disk can still grow by. */
    assert_true(xlmig_target_need(32 * M, 16 * M) == 32 * M + M);
    assert_true(xlmig_target_need(16 * M, 16 * M) == 16 * M + M);
    /* So a file system with exactly the allocated size free is too
     * small. */
    assert_true(xlmig_target_need(1 * G, 512 * M) > 512 * M);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_fits),
        cmocka_unit_test(test_outrun),
        cmocka_unit_test(test_conv_stalls),
        cmocka_unit_test(test_conv_hopeless),
        cmocka_unit_test(test_conv_max_passes),
        cmocka_unit_test(test_conv_fixed_costs),
        cmocka_unit_test(test_compress_roundtrip),
        cmocka_unit_test(test_linkrate),
        cmocka_unit_test(test_target_policy),
        cmocka_unit_test(test_target_need),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
