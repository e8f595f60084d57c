/*
 * A map from 64-bit keys to 64-bit values (open addressing, linear
 * probing, deletion by backward shift), for the simulator's sparse state:
 * memory and iteration are proportional to the entries, not to the key
 * range, so a 1 TiB disk whose guest wrote a few blocks costs a few
 * entries.  Keys up to UINT64_MAX - 1.  Not thread-safe.
 */
#ifndef XLMIG_SIM_MAP_H
#define XLMIG_SIM_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_map_slot {
    uint64_t key1;          /* key + 1; 0: empty */
    uint64_t val;
};

struct sim_map {
    struct sim_map_slot *slot;
    size_t cap;             /* 0 or a power of two */
    size_t n;
};

void sim_map_init(struct sim_map *m);
void sim_map_free(struct sim_map *m);
static inline size_t sim_map_count(const struct sim_map *m)
{
    return m->n;
}
bool sim_map_get(const struct sim_map *m, uint64_t key, uint64_t *val);
/*
 * Inserts or replaces.  Only an insert can grow the table, so replacing
 * the value of a key that is present never fails.  0 or -ENOMEM.
 */
int sim_map_put(struct sim_map *m, uint64_t key, uint64_t val);
/* Room for `more` new keys without growing; 0 or -ENOMEM. */
int sim_map_reserve(struct sim_map *m, size_t more);
bool sim_map_del(struct sim_map *m, uint64_t key);
/*
 * Iteration in table order: *pos starts at 0; false at the end.  The map
 * must not change during the walk.
 */
bool sim_map_next(const struct sim_map *m, size_t *pos, uint64_t *key,
                  uint64_t *val);

#endif
