#include "policy.h"

void xlmig_conv_init(struct xlmig_conv *c, double max_downtime_s,
                     unsigned max_passes)
{
    *c = (struct xlmig_conv){ .max_downtime_s = max_downtime_s,
                              .max_passes = max_passes,
                              .stall_passes = 2, .best = UINT64_MAX };
}

double xlmig_conv_eta(uint64_t bytes, double rate_Bps)
{
    return rate_Bps > 0 ? (double)bytes / rate_Bps : 0;
}

double xlmig_conv_expected(const struct xlmig_conv *c, uint64_t bytes,
                           double rate_Bps)
{
    return xlmig_conv_eta(bytes, rate_Bps) + c->fixed_s;
}

enum xlmig_conv_verdict xlmig_conv_next(struct xlmig_conv *c,
                                        uint64_t remaining_bytes,
                                        double rate_Bps, double elapsed_s)
{
    /* The passes sent so far: one fewer than the sets seen. */
    unsigned sent = c->sets++;

    if (remaining_bytes == 0)
        return XLMIG_CONV_CLEAN;
    if (rate_Bps > 0 && xlmig_conv_expected(c, remaining_bytes, rate_Bps) <=
                        c->max_downtime_s)
        return XLMIG_CONV_FITS;
    if (sent >= c->max_passes)
        return XLMIG_CONV_MAX_PASSES;
    /* Sending this set takes longer than it took to dirty: no pass can
     * shrink it.  (Half a second at least, so noise cannot decide.) */
    if (rate_Bps > 0 && elapsed_s >= 0.5 &&
        (double)remaining_bytes / elapsed_s >= rate_Bps)
        return XLMIG_CONV_STALLED;
    if (remaining_bytes < c->best - c->best / 10 || c->best == UINT64_MAX) {
        c->best = remaining_bytes;
        c->no_progress = 0;
    } else if (++c->no_progress >= c->stall_passes) {
        return XLMIG_CONV_STALLED;
    }
    return XLMIG_CONV_CONTINUE;
}

const char *xlmig_conv_name(enum xlmig_conv_verdict v)
{
    switch (v) {
    case XLMIG_CONV_CONTINUE: return "continue";
    case XLMIG_CONV_FITS: return "fits in downtime";
    case XLMIG_CONV_CLEAN: return "no dirty block left";
    case XLMIG_CONV_STALLED: return "dirty set no longer shrinks";
    case XLMIG_CONV_MAX_PASSES: return "pass limit reached";
    case XLMIG_CONV_OUTRUN: return "the guest dirties faster than the link "
                                   "sends: the rest goes to post-copy";
    }
    return "?";
}

void xlmig_outrun_init(struct xlmig_outrun *o)
{
    *o = (struct xlmig_outrun){ .patience = 2, .warmup_s = 2.0,
                                .margin = 0.9 };
}

bool xlmig_outrun_sample(struct xlmig_outrun *o, double elapsed_s,
                         double growth_Bps, double drain_Bps)
{
    if (drain_Bps <= 0 || elapsed_s < o->warmup_s) {
        o->hits = 0;
        return false;
    }
    if (growth_Bps >= o->margin * drain_Bps)
        o->hits++;
    else
        o->hits = 0;
    return o->hits >= o->patience;
}
