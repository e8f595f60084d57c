/* 64-bit key/value map with linear probing; see sim_map.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_map.h"

#define MIN_CAP 64

void sim_map_init(struct sim_map *m)
{
    memset(m, 0, sizeof(*m));
}

void sim_map_free(struct sim_map *m)
{
    free(m->slot);
    sim_map_init(m);
}

/* Fibonacci hashing: consecutive keys spread over the table. */
static size_t home(const struct sim_map *m, uint64_t key1)
{
    return (size_t)((key1 * 0x9E3779B97F4A7C15ULL) >> 32) & (m->cap - 1);
}

/* The slot holding key1, or the empty slot where it would go. */
static size_t find(const struct sim_map *m, uint64_t key1)
{
    size_t i = home(m, key1);

    while (m->slot[i].key1 && m->slot[i].key1 != key1)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int grow(struct sim_map *m, size_t cap)
{
    struct sim_map_slot *old = m->slot;
    size_t old_cap = m->cap;

    m->slot = calloc(cap, sizeof(*m->slot));
    if (!m->slot) {
        m->slot = old;
        return -ENOMEM;
    }
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key1)
            m->slot[find(m, old[i].key1)] = old[i];
    free(old);
    return 0;
}

int sim_map_reserve(struct sim_map *m, size_t more)
{
    size_t want = m->n + more, cap = m->cap ? m->cap : MIN_CAP;

    if (want < m->n)
        return -ENOMEM;
    /* At most half full: probes stay short. */
    while (want > cap / 2) {
        if (cap > SIZE_MAX / 2 / sizeof(*m->slot))
            return -ENOMEM;
        cap *= 2;
    }
    return cap == m->cap ? 0 : grow(m, cap);
}

bool sim_map_get(const struct sim_map *m, uint64_t key, uint64_t *val)
{
    size_t i;

    if (!m->cap || key == UINT64_MAX)
        return false;
    i = find(m, key + 1);
    if (!m->slot[i].key1)
        return false;
    if (val)
        *val = m->slot[i].val;
    return true;
}

int sim_map_put(struct sim_map *m, uint64_t key, uint64_t val)
{
    size_t i;
    int rc;

    if (key == UINT64_MAX)
        return -EINVAL;
    if (m->cap) {
        i = find(m, key + 1);
        if (m->slot[i].key1) {
            m->slot[i].val = val;
            return 0;
        }
    }
    rc = sim_map_reserve(m, 1);
    if (rc)
        return rc;
    i = find(m, key + 1);
    m->slot[i].key1 = key + 1;
    m->slot[i].val = val;
    m->n++;
    return 0;
}

/* Distance from a slot's home to index i, around the table. */
static size_t dist(const struct sim_map *m, size_t h, size_t i)
{
    return (i - h) & (m->cap - 1);
}

bool sim_map_del(struct sim_map *m, uint64_t key)
{
    size_t hole, j;

    if (!m->cap || key == UINT64_MAX)
        return false;
    hole = find(m, key + 1);
    if (!m->slot[hole].key1)
        return false;
    /*
     * Backward shift: pull later members of the probe run into the hole
     * when that does not move them before their home slot.
     */
    for (j = (hole + 1) & (m->cap - 1); m->slot[j].key1;
         j = (j + 1) & (m->cap - 1)) {
        size_t h = home(m, m->slot[j].key1);

        if (dist(m, h, j) >= dist(m, hole, j)) {
            m->slot[hole] = m->slot[j];
            hole = j;
        }
    }
    m->slot[hole].key1 = 0;
    m->slot[hole].val = 0;
    m->n--;
    return true;
}

bool sim_map_next(const struct sim_map *m, size_t *pos, uint64_t *key,
                  uint64_t *val)
{
    for (size_t i = *pos; i < m->cap; i++)
        if (m->slot[i].key1) {
            *key = m->slot[i].key1 - 1;
            *val = m->slot[i].val;
            *pos = i + 1;
            return true;
        }
    *pos = m->cap;
    return false;
}
