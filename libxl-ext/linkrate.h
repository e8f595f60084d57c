/*
 * Estimates what the link carries, from the writer's point of view: over
 * windows of about 100 ms, if the writer spent most of the window waiting
 * for the channel to take data, the link is the bottleneck and what went
 * through is its rate.  With a configured bandwidth limit that limit is the
 * link rate.  Also keeps the recent rate at which disk bytes went out.
 */
#ifndef XLMIG_LINKRATE_H
#define XLMIG_LINKRATE_H

#include <stdbool.h>
#include <stdint.h>

struct xlmig_linkrate {
    double est_Bps;             /* link capacity, 0 while unknown */
    double input_Bps;           /* disk bytes per second sent recently */
    bool fixed;
    bool have_window;
    uint64_t win_t0, win_out0, win_blocked0, win_in0;
};

void xlmig_linkrate_init(struct xlmig_linkrate *lr, double limit_Bps);
void xlmig_linkrate_sample(struct xlmig_linkrate *lr, uint64_t now_ns,
                           uint64_t out_total, uint64_t blocked_ns_total,
                           uint64_t input_total);

#endif
