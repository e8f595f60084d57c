/* Unit tests for the simulator's sparse map (libxl-ext/sim/sim_map.c). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sim/sim_map.h"

static void test_basic(void **state)
{
    struct sim_map m;
    uint64_t v = 0, k;
    size_t pos = 0;

    (void)state;
    sim_map_init(&m);
    assert_false(sim_map_get(&m, 5, &v));
    assert_false(sim_map_del(&m, 5));
    assert_false(sim_map_next(&m, &pos, &k, &v));
    assert_int_equal(sim_map_put(&m, 0, 10), 0);
    assert_int_equal(sim_map_put(&m, UINT64_MAX - 1, 11), 0);
    assert_int_equal(sim_map_put(&m, UINT64_MAX, 1), -EINVAL);
    assert_int_equal(sim_map_put(&m, 0, 12), 0);        /* replace */
    assert_int_equal(sim_map_count(&m), 2);
    assert_true(sim_map_get(&m, 0, &v));
    assert_int_equal(v, 12);
    assert_true(sim_map_get(&m, UINT64_MAX - 1, &v));
    assert_int_equal(v, 11);
    assert_true(sim_map_del(&m, 0));
    assert_false(sim_map_get(&m, 0, &v));
    assert_int_equal(sim_map_count(&m), 1);
    sim_map_free(&m);
    assert_int_equal(sim_map_count(&m), 0);
}

/* Reserve makes the next inserts allocation-free: the table never moves. */
static void test_reserve(void **state)
{
    struct sim_map m;

    (void)state;
    sim_map_init(&m);
    assert_int_equal(sim_map_reserve(&m, 1000), 0);
    struct sim_map_slot *slot = m.slot;
    size_t cap = m.cap;

    assert_true(cap >= 2000);
    for (uint64_t k = 0; k < 1000; k++)
        assert_int_equal(sim_map_put(&m, k * 7919, k), 0);
    assert_ptr_equal(m.slot, slot);
    assert_int_equal(m.cap, cap);
    assert_int_equal(sim_map_reserve(&m, SIZE_MAX), -ENOMEM);
    sim_map_free(&m);
}

/*
 * Random puts and deletes in a small key range (long probe runs that wrap
 * around the table: the backward shift's hard cases) against a plain
 * array; then the walk visits exactly the live keys.
 */
static void test_random_against_model(void **state)
{
    enum { RANGE = 5000 };
    static uint64_t model[RANGE];          /* value + 1; 0: absent */
    struct sim_map m;
    unsigned seed = 4242;
    size_t live = 0, pos = 0, seen = 0;
    uint64_t k, v;

    (void)state;
    sim_map_init(&m);
    for (int round = 0; round < 200000; round++) {
        uint64_t key = (uint64_t)rand_r(&seed) % RANGE;
        /* Keys spaced by a multiple of a power of two collide more. */
        uint64_t mkey = key << 20;

        if (rand_r(&seed) % 3) {
            uint64_t val = (uint64_t)rand_r(&seed);

            assert_int_equal(sim_map_put(&m, mkey, val), 0);
            live += !model[key];
            model[key] = val + 1;
        } else {
            assert_int_equal(sim_map_del(&m, mkey), model[key] != 0);
            live -= model[key] != 0;
            model[key] = 0;
        }
        assert_int_equal(sim_map_count(&m), live);
        key = (uint64_t)rand_r(&seed) % RANGE;
        assert_int_equal(sim_map_get(&m, key << 20, &v), model[key] != 0);
        if (model[key])
            assert_int_equal(v, model[key] - 1);
    }
    for (uint64_t i = 0; i < RANGE; i++) {
        bool there = sim_map_get(&m, i << 20, &v);

        assert_int_equal(there, model[i] != 0);
        if (there)
            assert_int_equal(v, model[i] - 1);
    }
    while (sim_map_next(&m, &pos, &k, &v)) {
        assert_int_equal(k & ((1u << 20) - 1), 0);
        assert_true(model[k >> 20] != 0);
        assert_int_equal(v, model[k >> 20] - 1);
        seen++;
    }
    assert_int_equal(seen, live);
    sim_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
