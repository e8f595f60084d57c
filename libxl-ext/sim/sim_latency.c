/* Latency histogram; see sim_latency.h. */
#include "config.h"

#include "sim/sim_latency.h"

static unsigned bucket_of(uint64_t v)
{
    unsigned msb, idx;

    if (v < SIM_LAT_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    /* The top 5 bits of v select the bucket: 16 per power of two. */
    idx = (msb - 3) * SIM_LAT_SUB + (unsigned)((v >> (msb - 4)) & 15);
    return idx < SIM_LAT_BUCKETS ? idx : SIM_LAT_BUCKETS - 1;
}

/* Largest value that falls into bucket idx. */
static uint64_t bucket_top(unsigned idx)
{
    unsigned msb, sub;

    if (idx < SIM_LAT_SUB)
        return idx;
    msb = idx / SIM_LAT_SUB + 3;
    sub = idx % SIM_LAT_SUB;
    return ((uint64_t)(16 + sub + 1) << (msb - 4)) - 1;
}

void sim_latency_add(struct sim_latency *h, uint64_t us)
{
    h->bucket[bucket_of(us)]++;
    h->count++;
    if (us > h->max)
        h->max = us;
}

uint64_t sim_latency_quantile(const struct sim_latency *h, double q)
{
    uint64_t rank, seen = 0;

    if (!h->count)
        return 0;
    rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    for (unsigned i = 0; i < SIM_LAT_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen > rank) {
            uint64_t top = bucket_top(i);

            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}
