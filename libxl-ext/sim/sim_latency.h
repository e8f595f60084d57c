/*
 * Latency histogram in microseconds: log-linear buckets (16 per power of
 * two, so quantiles are within ~6%), exact maximum.  Not thread-safe.
 */
#ifndef XLMIG_SIM_LATENCY_H
#define XLMIG_SIM_LATENCY_H

#include <stdint.h>

#define SIM_LAT_SUB 16
#define SIM_LAT_BUCKETS (SIM_LAT_SUB * 60)

struct sim_latency {
    uint64_t count;
    uint64_t max;
    uint64_t bucket[SIM_LAT_BUCKETS];
};

void sim_latency_add(struct sim_latency *h, uint64_t us);
/* The value below which a fraction q (0..1) of the samples lie (upper
 * bound of its bucket, capped at the maximum); 0 when empty. */
uint64_t sim_latency_quantile(const struct sim_latency *h, double q);

#endif
