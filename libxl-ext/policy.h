/*
 * When to stop pre-copying the disk.  After each snapshot of the dirty set:
 * stop when nothing is dirty, or when the expected downtime -- what remains
 * sent at the rate the link has been achieving, plus the fixed costs
 * measured so far (quiesce, snapshot, round trip) -- fits the budget; or
 * when the guest dirties blocks faster than the link sends them, or passes
 * stop shrinking the set (post-copy, or a longer stop-and-copy, finishes
 * it); or once max_passes dirty passes were sent (0: none at all).
 */
#ifndef XLMIG_POLICY_H
#define XLMIG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

enum xlmig_conv_verdict {
    XLMIG_CONV_CONTINUE,
    XLMIG_CONV_FITS,            /* remaining fits in the downtime budget */
    XLMIG_CONV_CLEAN,           /* nothing dirty is left */
    XLMIG_CONV_STALLED,         /* passes no longer shrink the dirty set */
    XLMIG_CONV_MAX_PASSES,
    XLMIG_CONV_OUTRUN,          /* during the full pass: the guest makes
                                   data dirty faster than the link sends;
                                   the rest goes to post-copy at once */
};

struct xlmig_conv {
    double max_downtime_s;
    unsigned max_passes;        /* dirty passes at most; 0: none */
    double fixed_s;             /* the downtime's costs besides sending the
                                   set, measured (the caller updates it) */
    unsigned stall_passes;      /* passes without >= 10% progress */
    /* state */
    unsigned sets;              /* dirty sets seen (passes sent + 1) */
    uint64_t best;
    unsigned no_progress;
};

void xlmig_conv_init(struct xlmig_conv *c, double max_downtime_s,
                     unsigned max_passes);
/*
 * Called with the size of each new dirty set, before sending it, with the
 * send rate and the time over which the set accumulated (0: unknown).  A
 * set that grew faster than the link drains it is hopeless at once.
 */
enum xlmig_conv_verdict xlmig_conv_next(struct xlmig_conv *c,
                                        uint64_t remaining_bytes,
                                        double rate_Bps, double elapsed_s);
/* Expected time to send n bytes at rate (s); 0 if rate unknown. */
double xlmig_conv_eta(uint64_t bytes, double rate_Bps);
/* The expected downtime (s) with n bytes left: their send time plus the
 * fixed costs. */
double xlmig_conv_expected(const struct xlmig_conv *c, uint64_t bytes,
                           double rate_Bps);
const char *xlmig_conv_name(enum xlmig_conv_verdict v);

/*
 * During the full pass, about once a second: is pre-copy losing?  Each
 * second of it sends drain_Bps of what is left and leaves growth_Bps of
 * newly dirty data behind (blocks the dirty set did not hold).  When the
 * growth has kept up with the drain for `patience` samples in a row
 * (noise cannot decide alone) after `warmup_s` of the pass, finishing the
 * pass would leave more for post-copy than handing over now: every second
 * of pre-copy adds more than it removes, while on the destination the
 * guest's own writes make stale blocks current (they need not move).
 */
struct xlmig_outrun {
    unsigned patience;          /* samples in a row (2) */
    double warmup_s;            /* before the first verdict (2 s) */
    double margin;              /* growth >= margin * drain counts (0.9) */
    unsigned hits;
};
void xlmig_outrun_init(struct xlmig_outrun *o);
/* A sample at elapsed_s into the pass: true when pre-copy should stop. */
bool xlmig_outrun_sample(struct xlmig_outrun *o, double elapsed_s,
                         double growth_Bps, double drain_Bps);

#endif
