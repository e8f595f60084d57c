/*
 * Unit tests for the tracking/gate core that xen-blkback runs
 * (blkback-patch/src/migrate.c), compiled here against blkback-patch/kshim.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "migrate.h"

#define SPB 8                   /* sectors per 4 KiB block */

static struct blkmig *new_tracker(u64 blocks)
{
    struct blkmig *m = malloc(sizeof(*m));

    blkmig_init(m);
    assert_int_equal(blkmig_track_start(m, blocks * SPB, 4096), 0);
    return m;
}

static void destroy(struct blkmig *m)
{
    blkmig_free(m);
    free(m);
}

/* Drains the frozen set into a byte array; returns blocks read. */
static u64 drain(struct blkmig *m, unsigned char *seen, u64 nblocks)
{
    struct blkmig_extent e[16];
    unsigned int n;
    u64 total = 0;

    while ((n = blkmig_frozen_read(m, e, 16)) > 0)
        for (unsigned int i = 0; i < n; i++) {
            assert_true(e[i].count > 0);
            assert_true(e[i].start + e[i].count <= nblocks);
            for (u64 b = e[i].start; b < e[i].start + e[i].count; b++) {
                if (seen)
                    seen[b]++;
                total++;
            }
        }
    return total;
}

static void test_track_marks_blocks(void **state)
{
    struct blkmig *m = new_tracker(1000);
    struct blkmig_extent e[8];
    struct blkmig_stats st;

    (void)state;
    blkmig_mark_written(m, 0, 1);          /* block 0, partial */
    blkmig_mark_written(m, 7, 2);          /* straddles blocks 0 and 1 */
    blkmig_mark_written(m, 80, 16);        /* blocks 10, 11 */
    blkmig_mark_written(m, 999 * SPB, SPB);
    blkmig_mark_written(m, 500 * SPB, 0);  /* a flush marks nothing */
    blkmig_get_stats(m, &st);
    assert_int_equal(st.dirty, 5);
    assert_int_equal(blkmig_collect(m), 5);
    assert_int_equal(blkmig_frozen_read(m, e, 8), 3);
    assert_int_equal(e[0].start, 0);
    assert_int_equal(e[0].count, 2);
    assert_int_equal(e[1].start, 10);
    assert_int_equal(e[1].count, 2);
    assert_int_equal(e[2].start, 999);
    assert_int_equal(e[2].count, 1);
    /* Cleared: the next snapshot is empty. */
    assert_int_equal(blkmig_collect(m), 0);
    assert_int_equal(blkmig_frozen_read(m, e, 8), 0);
    blkmig_get_stats(m, &st);
    assert_int_equal(st.dirty, 0);
    assert_int_equal(st.marked, 5);
    destroy(m);
}

static void test_track_off_marks_nothing(void **state)
{
    struct blkmig *m = new_tracker(100);
    struct blkmig_extent e;

    (void)state;
    blkmig_track_stop(m);
    blkmig_mark_written(m, 0, 100);
    assert_int_equal(blkmig_track_start(m, 100 * SPB, 4096), 0);
    assert_int_equal(blkmig_collect(m), 0);
    blkmig_mark_written(m, 8, 8);
    assert_int_equal(blkmig_collect(m), 1);
    assert_int_equal(blkmig_frozen_read(m, &e, 1), 1);
    assert_int_equal(e.start, 1);
    destroy(m);
}

static void test_track_geometry_checks(void **state)
{
    struct blkmig m;

    (void)state;
    blkmig_init(&m);
    assert_int_equal(blkmig_track_start(&m, 800, 3000), -EINVAL);
    assert_int_equal(blkmig_track_start(&m, 800, 256), -EINVAL);
    assert_int_equal(blkmig_track_start(&m, 0, 4096), -EINVAL);
    assert_int_equal(blkmig_track_start(&m, 801, 4096), 0);
    /* 801 sectors: 100 whole blocks and a partial last one. */
    assert_int_equal(m.nr_blocks, 101);
    /* Same geometry again: fine (watches refire); another: busy. */
    assert_int_equal(blkmig_track_start(&m, 801, 4096), 0);
    assert_int_equal(blkmig_track_start(&m, 801, 8192), -EBUSY);
    blkmig_free(&m);
}

static void test_track_overflow(void **state)
{
    struct blkmig *m = new_tracker(10);
    struct blkmig_stats st;

    (void)state;
    blkmig_mark_written(m, 9 * SPB, 2 * SPB); /* runs past the end */
    blkmig_mark_written(m, 50 * SPB, SPB);    /* wholly past the end */
    blkmig_get_stats(m, &st);
    assert_true(st.overflow);
    assert_int_equal(blkmig_collect(m), 1);
    destroy(m);
}

static void test_frozen_restore(void **state)
{
    struct blkmig *m = new_tracker(100);

    (void)state;
    blkmig_mark_written(m, 8, 24);
    assert_int_equal(blkmig_collect(m), 3);
    blkmig_frozen_restore(m);
    assert_int_equal(blkmig_collect(m), 3);
    assert_int_equal(drain(m, NULL, 100), 3);
    destroy(m);
}

/* A 1 TiB disk with 100 dirty blocks: collect must be O(dirty). */
static void test_collect_sparse_is_cheap(void **state)
{
    const u64 n = (1ULL << 40) / 4096;
    struct blkmig *m = new_tracker(n);
    struct timespec t0, t1;
    u64 total = 0;

    (void)state;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int rep = 0; rep < 200; rep++) {
        for (u64 i = 0; i < 100; i++)
            blkmig_mark_written(m, (i * (n / 100) + (u64)rep) * SPB, SPB);
        assert_int_equal(blkmig_collect(m), 100);
        total += drain(m, NULL, n);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(total, 200 * 100);
    /* Scanning the 32 MiB leaf level 200 times would take seconds. */
    assert_true((double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < 1.0);
    destroy(m);
}

/*
 * Writers each mark every block of their own share exactly once, in a
 * scrambled order, while a reader snapshots continuously.  Because no block
 * is marked twice, a lost update cannot be papered over by a later mark:
 * every block must show up in exactly one snapshot.
 */
#define STRESS_BLOCKS (1 << 20)
#define STRESS_WRITERS 3

struct stress {
    struct blkmig *m;
    unsigned char seen[STRESS_BLOCKS];
    int writers_done;
};

struct writer_arg {
    struct stress *s;
    unsigned int id;
};

static void *stress_writer(void *p)
{
    struct writer_arg *a = p;
    struct stress *s = a->s;

    /* An odd multiplier permutes the blocks modulo a power of two. */
    for (u64 i = 0; i < STRESS_BLOCKS; i++) {
        u64 b = (i * 0x9E3779B1ULL + 12345) & (STRESS_BLOCKS - 1);

        if (b % STRESS_WRITERS == a->id)
            blkmig_mark_written(s->m, b * SPB, SPB);
    }
    __atomic_fetch_add(&s->writers_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_concurrent_marking_loses_nothing(void **state)
{
    struct stress *s = calloc(1, sizeof(*s));
    pthread_t th[STRESS_WRITERS];
    struct writer_arg args[STRESS_WRITERS];
    int snapshots = 0;

    (void)state;
    s->m = new_tracker(STRESS_BLOCKS);
    for (unsigned int i = 0; i < STRESS_WRITERS; i++) {
        args[i].s = s;
        args[i].id = i;
        pthread_create(&th[i], NULL, stress_writer, &args[i]);
    }
    while (__atomic_load_n(&s->writers_done, __ATOMIC_SEQ_CST) <
           STRESS_WRITERS) {
        blkmig_collect(s->m);
        drain(s->m, s->seen, STRESS_BLOCKS);
        snapshots++;
    }
    for (int i = 0; i < STRESS_WRITERS; i++)
        pthread_join(th[i], NULL);
    blkmig_collect(s->m);
    drain(s->m, s->seen, STRESS_BLOCKS);
    assert_true(snapshots > 1);
    for (u64 b = 0; b < STRESS_BLOCKS; b++)
        if (s->seen[b] != 1)
            fail_msg("block %llu seen %d times in snapshots, want 1 "
                     "(after %d snapshots)", (unsigned long long)b,
                     s->seen[b], snapshots);
    destroy(s->m);
    free(s);
}

/*
 * Stopping tracking waits for the markers that may still see it on: a
 * reader of the shim's RCU stands for a marker inside blkmig_mark_written().
 */
struct stopper {
    struct blkmig *m;
    int done;
};

static void *stopper(void *p)
{
    struct stopper *s = p;

    blkmig_track_stop(s->m);
    __atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000,
                           .tv_nsec = (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void test_track_stop_waits_for_markers(void **state)
{
    struct stopper s = { .m = new_tracker(100) };
    pthread_t th;
    int waited_ms = 0;

    (void)state;
    rcu_read_lock();                    /* a marker is in progress */
    assert_int_equal(pthread_create(&th, NULL, stopper, &s), 0);
    sleep_ms(100);
    assert_false(__atomic_load_n(&s.done, __ATOMIC_SEQ_CST));
    rcu_read_unlock();                  /* ...and leaves */
    /* Bounded: the stop must come back within 10 s. */
    while (!__atomic_load_n(&s.done, __ATOMIC_SEQ_CST) && waited_ms < 10000) {
        sleep_ms(1);
        waited_ms++;
    }
    assert_true(__atomic_load_n(&s.done, __ATOMIC_SEQ_CST));
    pthread_join(th, NULL);
    destroy(s.m);
}

/*
 * Writers mark without pause while tracking is stopped, checked and
 * started again: once blkmig_track_stop() returned, no marker may touch
 * the bitmap any more (under ASan a late one would also write freed
 * memory: every other round frees the bitmaps).
 */
#define STOP_BLOCKS 4096
#define STOP_WRITERS 3
#define STOP_ROUNDS 300

struct stop_load {
    struct blkmig *m;
    int stop;
};

static void *stop_writer(void *p)
{
    struct stop_load *l = p;
    u64 i = 0;

    while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
        blkmig_mark_written(l->m, (i % STOP_BLOCKS) * SPB, SPB);
        i += 7;
    }
    return NULL;
}

static void test_track_stop_under_load(void **state)
{
    const size_t words = STOP_BLOCKS / BITS_PER_LONG;
    struct stop_load l = { .m = new_tracker(STOP_BLOCKS) };
    pthread_t th[STOP_WRITERS];
    unsigned long *copy = malloc(words * sizeof(*copy));

    (void)state;
    for (int i = 0; i < STOP_WRITERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, stop_writer, &l), 0);
    for (int round = 0; round < STOP_ROUNDS; round++) {
        blkmig_track_stop(l.m);
        memcpy(copy, l.m->dirty.level[0], words * sizeof(*copy));
        sleep_ms(1);
        if (memcmp(copy, l.m->dirty.level[0], words * sizeof(*copy)))
            fail_msg("a write was marked after tracking stopped "
                     "(round %d)", round);
        if (round % 2)
            blkmig_free(l.m);
        assert_int_equal(blkmig_track_start(l.m, STOP_BLOCKS * SPB, 4096),
                         0);
    }
    __atomic_store_n(&l.stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < STOP_WRITERS; i++)
        pthread_join(th[i], NULL);
    free(copy);
    destroy(l.m);
}

/* ---- gate -------------------------------------------------------------- */

static struct blkmig *new_gate(u64 blocks)
{
    struct blkmig *m = malloc(sizeof(*m));

    blkmig_init(m);
    assert_int_equal(blkmig_gate_start(m, blocks * SPB, 4096), 0);
    return m;
}

static struct blkmig_req req(u64 sector, u64 nr, bool write)
{
    struct blkmig_req r = { .sector = sector, .nr_sectors = nr,
                            .write = write };
    return r;
}

static int list_len(struct list_head *h)
{
    int n = 0;
    struct blkmig_req *r;

    list_for_each_entry(r, h, node)
        n++;
    return n;
}

static void test_gate_read_parks_until_installed(void **state)
{
    struct blkmig *m = new_gate(100);
    struct blkmig_req r = req(10 * SPB, SPB, false);
    struct blkmig_req other = req(20 * SPB, SPB, false);
    struct blkmig_extent e[4];
    struct blkmig_stats st;
    unsigned long mask[1];
    struct list_head ready;
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&ready);
    assert_int_equal(blkmig_gate_add_stale(m, 10, 1), 0);
    assert_int_equal(blkmig_gate_admit(m, &r, &wake), BLKMIG_PARKED);
    assert_true(wake);
    /* Current blocks are not held up by the parked one. */
    assert_int_equal(blkmig_gate_admit(m, &other, &wake), BLKMIG_PROCEED);
    assert_false(wake);
    assert_true(blkmig_wanted_pending(m));
    assert_int_equal(blkmig_wanted_pop(m, e, 4), 1);
    assert_int_equal(e[0].start, 10);
    assert_int_equal(e[0].count, 1);
    assert_false(blkmig_wanted_pending(m));
    assert_int_equal(blkmig_claim(m, 8, 4, mask), 1);
    assert_int_equal(mask[0], 1UL << 2);
    blkmig_get_stats(m, &st);
    assert_int_equal(st.claimed, 1);
    assert_int_equal(st.parked, 1);
    blkmig_commit(m, 8, 4, &ready);
    assert_int_equal(list_len(&ready), 1);
    assert_ptr_equal(list_first_entry(&ready, struct blkmig_req, node), &r);
    blkmig_get_stats(m, &st);
    assert_int_equal(st.stale, 0);
    assert_int_equal(st.installed, 1);
    assert_int_equal(st.parked, 0);
    /* Installed: a second copy of the data is not claimed. */
    assert_int_equal(blkmig_claim(m, 10, 1, mask), 0);
    blkmig_free(m);
    free(m);
}

static void test_gate_full_write_wins_over_install(void **state)
{
    struct blkmig *m = new_gate(100);
    struct blkmig_req w = req(5 * SPB, 2 * SPB, true);   /* blocks 5, 6 */
    struct blkmig_req rd = req(5 * SPB, SPB, false);
    struct blkmig_stats st;
    unsigned long mask[1];
    struct list_head ready;
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&ready);
    blkmig_gate_add_stale(m, 5, 2);
    assert_int_equal(blkmig_gate_admit(m, &w, &wake), BLKMIG_PROCEED);
    assert_true(w.covering);
    /* While the write is in flight the fetched data must not be claimed. */
    assert_int_equal(blkmig_claim(m, 5, 2, mask), 0);
    /* A read of the block waits for the write to complete. */
    assert_int_equal(blkmig_gate_admit(m, &rd, &wake), BLKMIG_PARKED);
    blkmig_gate_write_done(m, &w, true, &ready);
    assert_int_equal(list_len(&ready), 1);
    blkmig_get_stats(m, &st);
    assert_int_equal(st.stale, 0);
    assert_int_equal(st.overwritten, 2);
    /* Data fetched later is discarded. */
    assert_int_equal(blkmig_claim(m, 5, 2, mask), 0);
    blkmig_free(m);
    free(m);
}

static void test_gate_failed_write_keeps_stale(void **state)
{
    struct blkmig *m = new_gate(100);
    struct blkmig_req w = req(5 * SPB, SPB, true);
    struct blkmig_req rd = req(5 * SPB, SPB, false);
    struct blkmig_extent e[2];
    struct blkmig_stats st;
    unsigned long mask[1];
    struct list_head ready;
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&ready);
    blkmig_gate_add_stale(m, 5, 1);
    assert_int_equal(blkmig_gate_admit(m, &rd, &wake), BLKMIG_PARKED);
    assert_int_equal(blkmig_wanted_pop(m, e, 2), 1);
    assert_int_equal(blkmig_gate_admit(m, &w, &wake), BLKMIG_PROCEED);
    assert_int_equal(blkmig_claim(m, 5, 1, mask), 0);   /* refused */
    /* Still stale, the reader still parked, and the block asked again. */
    assert_true(blkmig_gate_write_done(m, &w, false, &ready));
    assert_int_equal(list_len(&ready), 0);
    blkmig_get_stats(m, &st);
    assert_int_equal(st.stale, 1);
    assert_int_equal(st.parked, 1);
    assert_int_equal(blkmig_wanted_pop(m, e, 2), 1);
    assert_int_equal(e[0].start, 5);
    assert_int_equal(blkmig_claim(m, 5, 1, mask), 1);
    blkmig_commit(m, 5, 1, &ready);
    assert_int_equal(list_len(&ready), 1);
    blkmig_free(m);
    free(m);
}

/* A write racing an install: it waits for the commit, then overwrites. */
static void test_gate_write_waits_for_claimed_block(void **state)
{
    struct blkmig *m = new_gate(100);
    struct blkmig_req w = req(7 * SPB, SPB, true);
    struct list_head ready;
    unsigned long mask[1];
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&ready);
    blkmig_gate_add_stale(m, 7, 1);
    assert_int_equal(blkmig_claim(m, 7, 1, mask), 1);
    assert_int_equal(blkmig_gate_admit(m, &w, &wake), BLKMIG_PARKED);
    assert_false(wake);     /* no demand: the data is being installed */
    blkmig_commit(m, 7, 1, &ready);
    assert_int_equal(list_len(&ready), 1);
    /* Released after the install: the block is current, not covering. */
    assert_false(w.covering);
    blkmig_free(m);
    free(m);
}

static void test_gate_partial_write_parks(void **state)
{
    struct blkmig *m = new_gate(100);
    /* Sectors 3..12: partial block 0, partial block 1. */
    struct blkmig_req w = req(3, 10, true);
    /* Sectors 4..19: partial block 0, whole block 1, partial block 2. */
    struct blkmig_req w2 = req(4, 20, true);
    struct blkmig_extent e[4];
    struct list_head ready;
    unsigned long mask[1];
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&ready);
    blkmig_gate_add_stale(m, 1, 1);
    assert_int_equal(blkmig_gate_admit(m, &w, &wake), BLKMIG_PARKED);
    /* Block 1 is wholly covered by w2 and its edges are current. */
    assert_int_equal(blkmig_gate_admit(m, &w2, &wake), BLKMIG_PROCEED);
    assert_true(w2.covering);
    assert_int_equal(blkmig_wanted_pop(m, e, 4), 1);
    assert_int_equal(e[0].start, 1);
    blkmig_gate_write_done(m, &w2, true, &ready);
    /* w2 made block 1 current: w may go. */
    assert_int_equal(list_len(&ready), 1);
    assert_int_equal(blkmig_claim(m, 0, 4, mask), 0);
    blkmig_free(m);
    free(m);
}

static void test_gate_partial_last_block(void **state)
{
    struct blkmig m;
    /* 805 sectors: block 100 holds 5 sectors only. */
    struct blkmig_req w = req(800, 5, true);
    struct blkmig_req beyond = req(900, 8, false);
    bool wake;

    (void)state;
    blkmig_init(&m);
    assert_int_equal(blkmig_gate_start(&m, 805, 4096), 0);
    assert_int_equal(blkmig_gate_add_stale(&m, 100, 1), 0);
    assert_int_equal(blkmig_gate_add_stale(&m, 100, 2), -ERANGE);
    /* Covering the 5 sectors that exist covers the whole block. */
    assert_int_equal(blkmig_gate_admit(&m, &w, &wake), BLKMIG_PROCEED);
    assert_true(w.covering);
    /* Out of range: not the gate's business (blkback rejects it). */
    assert_int_equal(blkmig_gate_admit(&m, &beyond, &wake), BLKMIG_PROCEED);
    blkmig_free(&m);
}

static void test_gate_unclaim_asks_again(void **state)
{
    struct blkmig *m = new_gate(100);
    struct blkmig_req rd = req(30 * SPB, 2 * SPB, false);
    struct blkmig_extent e[4];
    struct list_head ready;
    unsigned long mask[1];
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&ready);
    blkmig_gate_add_stale(m, 30, 2);
    assert_int_equal(blkmig_gate_admit(m, &rd, &wake), BLKMIG_PARKED);
    assert_int_equal(blkmig_wanted_pop(m, e, 4), 1);
    assert_int_equal(e[0].count, 2);
    assert_int_equal(blkmig_claim(m, 30, 2, mask), 2);
    blkmig_unclaim(m, 30, 2, &ready, &wake);
    assert_true(wake);
    assert_int_equal(list_len(&ready), 0);
    assert_int_equal(blkmig_wanted_pop(m, e, 4), 1);
    assert_int_equal(e[0].start, 30);
    assert_int_equal(e[0].count, 2);
    blkmig_free(m);
    free(m);
}

static void test_gate_stop_returns_parked(void **state)
{
    struct blkmig *m = new_gate(100);
    struct blkmig_req r1 = req(0, SPB, false), r2 = req(SPB, 1, true);
    struct list_head orphans;
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&orphans);
    blkmig_gate_add_stale(m, 0, 2);
    assert_int_equal(blkmig_gate_admit(m, &r1, &wake), BLKMIG_PARKED);
    assert_int_equal(blkmig_gate_admit(m, &r2, &wake), BLKMIG_PARKED);
    blkmig_gate_stop(m, &orphans);
    assert_int_equal(list_len(&orphans), 2);
    /* With the gate off everything proceeds. */
    assert_int_equal(blkmig_gate_admit(m, &r1, &wake), BLKMIG_PROCEED);
    blkmig_free(m);
    free(m);
}

/*
 * A frontend that disconnects during post-copy: its held requests are
 * handed back, but the gate stays on and the blocks stay stale, so that
 * the reconnected frontend still cannot read them before they arrive.
 */
static void test_gate_take_parked_keeps_gate(void **state)
{
    struct blkmig *m = new_gate(100);
    struct blkmig_req r1 = req(0, SPB, false), again = req(0, SPB, false);
    struct list_head taken, ready;
    struct blkmig_stats st;
    unsigned long mask[1];
    bool wake;

    (void)state;
    INIT_LIST_HEAD(&taken);
    INIT_LIST_HEAD(&ready);
    blkmig_gate_add_stale(m, 0, 1);
    assert_int_equal(blkmig_gate_admit(m, &r1, &wake), BLKMIG_PARKED);
    blkmig_gate_take_parked(m, &taken);
    assert_int_equal(list_len(&taken), 1);
    blkmig_get_stats(m, &st);
    assert_true(st.gate);
    assert_int_equal(st.parked, 0);
    assert_int_equal(st.stale, 1);
    assert_int_equal(blkmig_gate_admit(m, &again, &wake), BLKMIG_PARKED);
    assert_int_equal(blkmig_claim(m, 0, 1, mask), 1);
    blkmig_commit(m, 0, 1, &ready);
    /* Only the request still parked comes back, not the one taken. */
    assert_int_equal(list_len(&ready), 1);
    assert_ptr_equal(list_first_entry(&ready, struct blkmig_req, node),
                     &again);
    blkmig_free(m);
    free(m);
}

static void test_gate_rejects_bad_ranges(void **state)
{
    struct blkmig *m = new_gate(100);
    unsigned long mask[BLKMIG_MAX_CLAIM / BITS_PER_LONG + 1];

    (void)state;
    assert_int_equal(blkmig_gate_add_stale(m, 99, 2), -ERANGE);
    assert_int_equal(blkmig_gate_add_stale(m, ~0ULL, 2), -ERANGE);
    assert_int_equal(blkmig_claim(m, 99, 2, mask), -ERANGE);
    assert_int_equal(blkmig_claim(m, 0, 0, mask), -EINVAL);
    assert_int_equal(blkmig_claim(m, 0, BLKMIG_MAX_CLAIM + 1, mask), -EINVAL);
    assert_int_equal(blkmig_gate_start(m, 800, 4096), -EBUSY);
    blkmig_free(m);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_track_marks_blocks),
        cmocka_unit_test(test_track_off_marks_nothing),
        cmocka_unit_test(test_track_geometry_checks),
        cmocka_unit_test(test_track_overflow),
        cmocka_unit_test(test_frozen_restore),
        cmocka_unit_test(test_collect_sparse_is_cheap),
        cmocka_unit_test(test_concurrent_marking_loses_nothing),
        cmocka_unit_test(test_track_stop_waits_for_markers),
        cmocka_unit_test(test_track_stop_under_load),
        cmocka_unit_test(test_gate_read_parks_until_installed),
        cmocka_unit_test(test_gate_full_write_wins_over_install),
        cmocka_unit_test(test_gate_failed_write_keeps_stale),
        cmocka_unit_test(test_gate_write_waits_for_claimed_block),
        cmocka_unit_test(test_gate_partial_write_parks),
        cmocka_unit_test(test_gate_partial_last_block),
        cmocka_unit_test(test_gate_unclaim_asks_again),
        cmocka_unit_test(test_gate_stop_returns_parked),
        cmocka_unit_test(test_gate_take_parked_keeps_gate),
        cmocka_unit_test(test_gate_rejects_bad_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
