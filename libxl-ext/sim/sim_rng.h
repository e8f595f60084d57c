/*
 * Small deterministic PRNGs for the simulated guest: splitmix64 to derive
 * seeds, xoshiro256** for streams.  Everything the checker must recompute
 * (block contents) derives from these, so they must never change behaviour:
 * images written by one build are verified by another.
 */
#ifndef XLMIG_SIM_RNG_H
#define XLMIG_SIM_RNG_H

#include <stdint.h>

struct sim_rng {
    uint64_t s[4];
};

static inline uint64_t sim_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A well-mixed 64-bit value from three inputs (seed, block, generation). */
static inline uint64_t sim_mix3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a;

    x = sim_splitmix64(&x) ^ b;
    x = sim_splitmix64(&x) ^ c;
    return sim_splitmix64(&x);
}

static inline void sim_rng_seed(struct sim_rng *r, uint64_t seed)
{
    uint64_t x = seed;

    for (int i = 0; i < 4; i++)
        r->s[i] = sim_splitmix64(&x);
}

static inline uint64_t sim_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = sim_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sim_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift with rejection). */
static inline uint64_t sim_rng_below(struct sim_rng *r, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)sim_rng_next(r) * n;
    uint64_t lo = (uint64_t)m;

    if (lo < n) {
        uint64_t t = -n % n;

        while (lo < t) {
            m = (unsigned __int128)sim_rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

#endif
