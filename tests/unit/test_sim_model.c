/*
 * Unit tests for the simulated guest's model, checker and state blob, run
 * in-process against the simulated backend (no daemon, no socket).
 */
#include "config.h"

/* ASan's quarantine keeps freed memory resident: a looser bound there. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_BOUND_KIB (512 * 1024)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_BOUND_KIB (512 * 1024)
#endif
#endif
#ifndef RSS_BOUND_KIB
#define RSS_BOUND_KIB (64 * 1024)
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim/sim_backend.h"
#include "sim/sim_guest.h"
#include "sim/sim_layout.h"
#include "sim/sim_pattern.h"
#include "sim/sim_util.h"

#define BS SIM_BLOCK_SIZE

struct fixture {
    char dir[64];
    char img[96], copy[96];
    struct sim_layout_params lp;
    struct sim_workload_cfg wl;
};

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void copy_file(const char *from, const char *to)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", from, to);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sim_layout l;
    struct xlmig_error err;

    strcpy(f->dir, "/tmp/test_sim_model.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->img, sizeof(f->img), "%s/src.img", f->dir);
    snprintf(f->copy, sizeof(f->copy), "%s/dst.img", f->dir);
    f->lp = (struct sim_layout_params){
        .size = 8 << 20, .allocated = 4 << 20, .chunk = 64 << 10,
        .text_pct = 50, .seed = 77,
    };
    assert_int_equal(sim_layout_init(&l, &f->lp, &err), 0);
    assert_int_equal(sim_layout_write_image(&l, f->img, false, &err), 0);
    sim_layout_free(&l);
    sim_workload_defaults(&f->wl);
    f->wl.write_rate = 0;           /* as fast as possible */
    f->wl.seed = 5;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd)) {
        /* leave it */
    }
    free(f);
    return 0;
}

struct vm {
    struct sim_backend *b;
    struct sim_guest *g;
};

static struct vm vm_open(const char *img)
{
    struct vm vm;
    struct xlmig_error err;

    if (sim_backend_open(&vm.b, img, 2, &err))
        fail_msg("backend: %s", err.msg);
    assert_int_equal(sim_guest_new(&vm.g, vm.b, false), 0);
    return vm;
}

static void vm_close(struct vm *vm)
{
    sim_backend_shutdown(vm->b);
    sim_guest_halt(vm->g);
    sim_backend_close(vm->b);
    sim_guest_free(vm->g);
}

static void run_source(struct fixture *f, struct vm *vm, long ms)
{
    struct xlmig_error err;

    if (sim_guest_init(vm->g, &f->lp, &f->wl, false, &err))
        fail_msg("init: %s", err.msg);
    assert_int_equal(sim_guest_unpause(vm->g, &err), 0);
    sleep_ms(ms);
}

static struct xlmig_sim_report verify(struct vm *vm)
{
    struct xlmig_sim_report r;
    struct xlmig_error err;

    if (sim_guest_stop_and_verify(vm->g, &r, &err))
        fail_msg("verify: %s", err.msg);
    return r;
}

/* Suspend on one image, load on a copy: the model carries over exactly. */
static void test_blob_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct vm src = vm_open(f->img), dst;
    struct xlmig_sim_report rs, rd;
    struct xlmig_error err;
    void *blob;
    size_t len;

    run_source(f, &src, 300);
    assert_int_equal(sim_guest_suspend(src.g, 5000, &blob, &len, &err), 0);
    sim_guest_report(src.g, &rs);
    assert_int_equal(rs.state, XLMIG_SIM_GUEST_SUSPENDED);
    assert_true(rs.writes > 100);
    assert_true(rs.reads_verified > 30);
    assert_true(xlmig_sim_report_ok(&rs));
    /* The model holds what was written: 12 bytes a block at most. */
    assert_true(len <= 320 + 12 * rs.writes);
    copy_file(f->img, f->copy);

    dst = vm_open(f->copy);
    assert_int_equal(sim_guest_load(dst.g, blob, len, &err), 0);
    sim_guest_report(dst.g, &rd);
    assert_int_equal(rd.state, XLMIG_SIM_GUEST_PAUSED);
    assert_int_equal(rd.writes, rs.writes);
    assert_int_equal(rd.reads_verified, rs.reads_verified);
    rd = verify(&dst);
    assert_true(rd.verified);
    assert_int_equal(rd.blocks_checked, (8 << 20) / BS);
    assert_int_equal(rd.mismatches, 0);
    assert_true(xlmig_sim_report_ok(&rd));
    /* And the destination carries on writing and checking. */
    assert_int_equal(sim_guest_unpause(dst.g, &err), 0);
    sleep_ms(200);
    rd = verify(&dst);
    assert_true(rd.writes > rs.writes);
    assert_true(rd.reads_verified > rs.reads_verified);
    assert_true(xlmig_sim_report_ok(&rd));
    free(blob);
    vm_close(&dst);
    vm_close(&src);
}

/* The checker must be able to fail: a flipped byte, a lost write. */
static void test_verify_catches_corruption(void **state)
{
    struct fixture *f = *state;
    struct vm vm = vm_open(f->img);
    struct xlmig_sim_report r;
    unsigned char buf[BS], old[BS];
    char needle[64];
    int fd = sim_backend_fd(vm.b);
    uint64_t b = 0;
    struct sim_tag t;

    run_source(f, &vm, 200);
    r = verify(&vm);
    assert_int_equal(r.mismatches, 0);
    /* Find a block the guest wrote twice or more. */
    for (b = 1; b < (8 << 20) / BS; b++) {
        assert_int_equal(pread(fd, buf, BS, (off_t)(b * BS)), BS);
        if (sim_pattern_inspect(buf, &t) == SIM_FOUND_TAGGED && t.gen >= 2)
            break;
    }
    assert_true(b < (8 << 20) / BS);

    buf[1000] ^= 0x01;                  /* one flipped bit */
    assert_int_equal(pwrite(fd, buf, BS, (off_t)(b * BS)), BS);
    r = verify(&vm);
    assert_int_equal(r.mismatches, 1);
    assert_false(xlmig_sim_report_ok(&r));
    snprintf(needle, sizeof(needle), "block %" PRIu64 ": found a corrupt", b);
    if (!strstr(r.detail, needle))
        fail_msg("detail '%s' lacks '%s'", r.detail, needle);

    /* A lost write: the block holds its previous generation. */
    sim_pattern_fill(old, 77, b, t.gen - 1, sim_pattern_inspect(buf, &t) ==
                     SIM_FOUND_CORRUPT ? (enum sim_fill)t.fill
                                       : SIM_FILL_RANDOM);
    assert_int_equal(pwrite(fd, old, BS, (off_t)(b * BS)), BS);
    r = verify(&vm);
    assert_int_equal(r.mismatches, 1);
    snprintf(needle, sizeof(needle), "block %" PRIu64 ": older generation",
             b);
    if (!strstr(r.detail, needle))
        fail_msg("detail '%s' lacks '%s'", r.detail, needle);
    vm_close(&vm);
}

/* Reads are checked as they complete: wrong data is counted at once. */
static void test_reads_catch_wrong_data(void **state)
{
    struct fixture *f = *state;
    struct vm vm = vm_open(f->img);
    struct xlmig_sim_report r;
    unsigned char zero[BS] = { 0 };
    struct xlmig_error err;
    int fd = sim_backend_fd(vm.b);

    f->wl.read_pct = 90;
    if (sim_guest_init(vm.g, &f->lp, &f->wl, false, &err))
        fail_msg("init: %s", err.msg);
    /* Wipe a quarter of the disk behind the guest's back. */
    for (uint64_t b = 1; b < 512; b++)
        assert_int_equal(pwrite(fd, zero, BS, (off_t)(b * BS)), BS);
    assert_int_equal(sim_guest_unpause(vm.g, &err), 0);
    sleep_ms(200);
    sim_guest_report(vm.g, &r);
    assert_true(r.verify_failures > 0);
    assert_false(xlmig_sim_report_ok(&r));
    assert_non_null(strstr(r.detail, "read: block"));
    vm_close(&vm);
}

static void test_blob_rejects_damage(void **state)
{
    struct fixture *f = *state;
    struct vm src = vm_open(f->img), dst;
    struct xlmig_sim_report r;
    unsigned char *bad;
    struct xlmig_error err;
    void *blob;
    size_t len;

    run_source(f, &src, 100);
    assert_int_equal(sim_guest_suspend(src.g, 5000, &blob, &len, &err), 0);
    copy_file(f->img, f->copy);
    dst = vm_open(f->copy);
    bad = malloc(len + 16);
    /* Every single-byte change is caught (CRC), wherever it is. */
    for (size_t i = 0; i < len; i += (i < 300 ? 1 : 97)) {
        memcpy(bad, blob, len);
        bad[i] ^= 0x20;
        err.msg[0] = '\0';
        if (sim_guest_load(dst.g, bad, len, &err) != -EINVAL)
            fail_msg("byte %zu: damaged state accepted", i);
        assert_true(strlen(err.msg) > 10);
    }
    memcpy(bad, blob, len);
    assert_int_equal(sim_guest_load(dst.g, bad, len - 1, &err),
                     -EINVAL);
    assert_int_equal(sim_guest_load(dst.g, bad, 10, &err),
                     -EINVAL);
    assert_int_equal(sim_guest_load(dst.g, bad, 0, &err),
                     -EINVAL);
    memset(bad + len, 0, 16);
    assert_int_equal(sim_guest_load(dst.g, bad, len + 16, &err),
                     -EINVAL);
    sim_guest_report(dst.g, &r);
    assert_int_equal(r.state, XLMIG_SIM_GUEST_EMPTY);
    vm_close(&dst);

    /* A disk of another size. */
    {
        struct sim_layout_params lp = f->lp;
        struct sim_layout l;

        lp.size = 16 << 20;
        assert_int_equal(sim_layout_init(&l, &lp, &err), 0);
        assert_int_equal(sim_layout_write_image(&l, f->copy, true, &err), 0);
        sim_layout_free(&l);
    }
    dst = vm_open(f->copy);
    assert_int_equal(sim_guest_load(dst.g, blob, len, &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "bytes but this image is"));
    vm_close(&dst);
    free(bad);
    free(blob);
    vm_close(&src);
}

/* A source restarted on a written image learns the model from the tags. */
static void test_adopt(void **state)
{
    struct fixture *f = *state;
    struct vm vm = vm_open(f->img);
    struct xlmig_sim_report r;
    unsigned char buf[BS];
    struct xlmig_error err;
    void *blob;
    size_t len;

    run_source(f, &vm, 200);
    assert_int_equal(sim_guest_suspend(vm.g, 5000, &blob, &len, &err), 0);
    free(blob);
    vm_close(&vm);

    vm = vm_open(f->img);
    if (sim_guest_init(vm.g, &f->lp, &f->wl, true, &err))
        fail_msg("adopt: %s", err.msg);
    r = verify(&vm);
    assert_int_equal(r.mismatches, 0);
    vm_close(&vm);

    /* Without the scan, the model says generation 0: verify fails. */
    vm = vm_open(f->img);
    assert_int_equal(sim_guest_init(vm.g, &f->lp, &f->wl, false, &err), 0);
    r = verify(&vm);
    assert_true(r.mismatches > 100);
    vm_close(&vm);

    /* A damaged image is refused, naming the block. */
    vm = vm_open(f->img);
    memset(buf, 0xee, BS);
    assert_int_equal(pwrite(sim_backend_fd(vm.b), buf, BS, 7 * BS), BS);
    assert_int_equal(sim_guest_init(vm.g, &f->lp, &f->wl, true, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "block 7"));
    vm_close(&vm);
}

static void test_lifecycle_errors(void **state)
{
    struct fixture *f = *state;
    struct vm vm = vm_open(f->img);
    struct xlmig_sim_report r;
    struct xlmig_error err;
    void *blob;
    size_t len;

    assert_int_equal(sim_guest_unpause(vm.g, &err), -EINVAL);
    assert_int_equal(sim_guest_resume(vm.g, &err), -EINVAL);
    assert_int_equal(sim_guest_suspend(vm.g, 100, &blob, &len, &err), -EINVAL);
    assert_int_equal(sim_guest_stop_and_verify(vm.g, &r, &err),
                     -EINVAL);
    run_source(f, &vm, 50);
    assert_int_equal(sim_guest_unpause(vm.g, &err), -EINVAL);
    assert_int_equal(sim_guest_resume(vm.g, &err), -EINVAL);
    assert_int_equal(sim_guest_load(vm.g, "x", 1, &err), -EBUSY);
    /* Suspend twice is fine (the same state), and so is a rollback. */
    assert_int_equal(sim_guest_suspend(vm.g, 5000, &blob, &len, &err), 0);
    free(blob);
    assert_int_equal(sim_guest_suspend(vm.g, 5000, &blob, &len, &err), 0);
    free(blob);
    assert_int_equal(sim_guest_resume(vm.g, &err), 0);
    sleep_ms(50);
    r = verify(&vm);
    assert_true(xlmig_sim_report_ok(&r));
    vm_close(&vm);
}

/* Suspending while the backend is quiesced withdraws the held requests. */
static void test_suspend_while_quiesced(void **state)
{
    struct fixture *f = *state;
    struct vm vm = vm_open(f->img);
    struct xlmig_sim_report r1, r2;
    struct sim_stats st;
    struct xlmig_error err;
    void *blob;
    size_t len;

    run_source(f, &vm, 100);
    assert_int_equal(sim_backend_quiesce(vm.b, 5000), 0);
    sim_backend_stats(vm.b, &st);
    assert_int_equal(st.mig.inflight, 0);
    sim_guest_report(vm.g, &r1);
    sleep_ms(100);
    sim_guest_report(vm.g, &r2);
    /* Nothing completes while quiesced. */
    assert_int_equal(r1.writes + r1.reads, r2.writes + r2.reads);
    sim_backend_stats(vm.b, &st);
    assert_true(st.held > 0);
    assert_int_equal(sim_guest_suspend(vm.g, 5000, &blob, &len, &err), 0);
    sim_backend_stats(vm.b, &st);
    assert_int_equal(st.held, 0);
    sim_backend_unquiesce(vm.b);
    sim_guest_report(vm.g, &r2);
    assert_int_equal(r2.io_errors, 0);
    assert_int_equal(r1.writes + r1.reads, r2.writes + r2.reads);
    free(blob);
    r2 = verify(&vm);
    assert_true(xlmig_sim_report_ok(&r2));
    vm_close(&vm);
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

static double secs_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * A 1 TiB sparse disk with 4 MiB of data: the model, the state blob, its
 * loading and the whole-image check cost what was allocated and written,
 * not 268M blocks (the arrays were 1.25 GiB, the check read 1 TiB).  And
 * the check still sees a wrong block anywhere: in a hole, in the data.
 */
static void test_large_sparse_disk(void **state)
{
    struct fixture *f = *state;
    struct sim_layout_params lp = {
        .size = 1ULL << 40, .allocated = 4 << 20, .chunk = 1 << 20,
        .text_pct = 50, .seed = 78,
    };
    struct xlmig_sim_report rs, rd;
    unsigned char buf[BS];
    struct sim_layout l;
    struct timespec t0;
    struct vm vm;
    uint64_t rss0;
    struct xlmig_error err;
    void *blob;
    size_t len;
    int fd;

    assert_int_equal(sim_layout_init(&l, &lp, &err), 0);
    assert_int_equal(sim_layout_write_image(&l, f->img, true, &err), 0);
    rss0 = resident_kib();
    vm = vm_open(f->img);
    f->lp = lp;
    f->wl.write_rate = 0;
    run_source(f, &vm, 300);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(sim_guest_suspend(vm.g, 5000, &blob, &len, &err), 0);
    print_message("1 TiB: %zu-byte state made in %.1f ms\n", len,
                  secs_since(&t0) * 1e3);
    sim_guest_report(vm.g, &rs);
    assert_true(rs.writes > 50);
    assert_true(len <= 320 + 12 * rs.writes);
    vm_close(&vm);

    vm = vm_open(f->img);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(sim_guest_load(vm.g, blob, len, &err), 0);
    /* Arrays: seconds; sparse: well under 50 ms even sanitized. */
    assert_true(secs_since(&t0) < 0.05);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rd = verify(&vm);
    print_message("1 TiB: verified in %.2f s, RSS +%" PRIu64 " KiB\n",
                  secs_since(&t0), resident_kib() - rss0);
    assert_true(secs_since(&t0) < 10);
    assert_int_equal(rd.blocks_checked, (1ULL << 40) / BS);
    assert_int_equal(rd.mismatches, 0);
    assert_true(xlmig_sim_report_ok(&rd));
    assert_true(resident_kib() - rss0 < RSS_BOUND_KIB);

    /* Data where a hole belongs, 700 GiB in: found. */
    fd = sim_backend_fd(vm.b);
    memset(buf, 0x5a, BS);
    for (uint64_t b = (700ULL << 30) / BS;; b++)
        if (sim_layout_kind(&l, b) == SIM_FILL_ZERO) {
            assert_int_equal(pwrite(fd, buf, BS, (off_t)(b * BS)), BS);
            break;
        }
    rd = verify(&vm);
    assert_int_equal(rd.mismatches, 1);
    /* A hole where the layout has data (the last data chunk): found. */
    assert_int_equal(fallocate(fd, FALLOC_FL_PUNCH_HOLE |
                                       FALLOC_FL_KEEP_SIZE,
                               (off_t)(l.data[l.ndata - 1] * lp.chunk),
                               BS), 0);
    rd = verify(&vm);
    assert_true(rd.mismatches >= 2);
    free(blob);
    sim_layout_free(&l);
    vm_close(&vm);
}

/* Every workload and request size keeps the model exact. */
static void test_workloads(void **state)
{
    struct fixture *f = *state;
    static const struct { uint32_t kind, io; } runs[] = {
        { SIM_WL_RANDOM, 4096 }, { SIM_WL_RANDOM, 65536 },
        { SIM_WL_SEQ, 4096 }, { SIM_WL_SEQ, 65536 },
        { SIM_WL_HOTSPOT, 4096 }, { SIM_WL_HOTSPOT, 16384 },
    };

    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        struct vm vm = vm_open(f->img);
        struct xlmig_sim_report r;
        unsigned char buf[BS];
        struct sim_tag t;
        uint64_t nb = runs[i].io / BS, hi = 0;

        f->wl.kind = runs[i].kind;
        f->wl.io_size = runs[i].io;
        f->wl.write_rate = 4 << 20;
        run_source(f, &vm, 300);
        /* Slow (sanitizer, loaded) hosts: wait for some work, 20 s. */
        for (int w = 0; w < 200; w++) {
            sim_guest_report(vm.g, &r);
            if (r.writes >= 5 && r.reads >= 1)
                break;
            sleep_ms(100);
        }
        r = verify(&vm);
        if (!xlmig_sim_report_ok(&r) || r.writes < 5 || r.reads < 1)
            fail_msg("%s %u: %" PRIu64 " writes, %" PRIu64 " reads: %s",
                     sim_workload_name(runs[i].kind), runs[i].io, r.writes,
                     r.reads, r.detail);
        assert_int_equal(r.write_bytes, r.writes * runs[i].io);
        if (runs[i].kind == SIM_WL_SEQ) {
            /*
             * Written from the first request unit on, each unit once (no
             * wrap in this short run), nearly without gaps: the writer
             * only skips a unit the reader is busy on.
             */
            uint64_t cnt = 0;

            for (uint64_t b = nb; b < (8 << 20) / BS; b++) {
                assert_int_equal(pread(sim_backend_fd(vm.b), buf, BS,
                                       (off_t)(b * BS)), BS);
                if (sim_pattern_inspect(buf, &t) == SIM_FOUND_TAGGED &&
                    t.gen > 0) {
                    assert_int_equal(t.gen, 1);
                    hi = b;
                    cnt++;
                }
            }
            assert_int_equal(cnt, r.writes * nb);
            assert_true(hi + 1 - nb <= cnt + cnt / 10 + 8 * nb);
        }
        vm_close(&vm);
        /* Back to the initial image for the next run. */
        {
            struct sim_layout l;
            struct xlmig_error err;

            assert_int_equal(sim_layout_init(&l, &f->lp, &err),
                             0);
            assert_int_equal(sim_layout_write_image(&l, f->img, true, &err), 0);
            sim_layout_free(&l);
        }
    }
}

/* The write rate is paced: never above the target, and near it. */
static void test_rate(void **state)
{
    struct fixture *f = *state;
    struct vm vm = vm_open(f->img);
    struct xlmig_sim_report r;

    f->wl.write_rate = 2 << 20;
    f->wl.read_pct = 50;
    run_source(f, &vm, 1000);
    sim_guest_report(vm.g, &r);
    print_message("target 2 MiB/s: %.2f MiB/s, write p99 %" PRIu64 " us\n",
                  (double)r.write_rate / 1048576, r.write_p99_us);
    assert_true(r.write_rate <= (2 << 20) * 12 / 10);
    assert_true(r.write_rate >= (2 << 20) / 2);
    /* Reads are about as many as writes (50%). */
    assert_true(r.reads * 2 > r.writes && r.writes * 2 > r.reads);
    vm_close(&vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_blob_roundtrip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_verify_catches_corruption,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_catch_wrong_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blob_rejects_damage, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_adopt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_suspend_while_quiesced, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_large_sparse_disk, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_workloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
