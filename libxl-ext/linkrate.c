#include "linkrate.h"

#define WINDOW_NS 100000000ull

void xlmig_linkrate_init(struct xlmig_linkrate *lr, double limit_Bps)
{
    *lr = (struct xlmig_linkrate){ .est_Bps = limit_Bps,
                                   .fixed = limit_Bps > 0 };
}

static double ewma(double old, double v)
{
    return old > 0 ? 0.7 * old + 0.3 * v : v;
}

void xlmig_linkrate_sample(struct xlmig_linkrate *lr, uint64_t now_ns,
                           uint64_t out_total, uint64_t blocked_ns_total,
                           uint64_t input_total)
{
    double dt, wire, in, blocked;

    if (!lr->have_window) {
        lr->have_window = true;
        goto restart;
    }
    if (now_ns - lr->win_t0 < WINDOW_NS)
        return;
    dt = (double)(now_ns - lr->win_t0) * 1e-9;
    wire = (double)(out_total - lr->win_out0) / dt;
    in = (double)(input_total - lr->win_in0) / dt;
    blocked = (double)(blocked_ns_total - lr->win_blocked0) * 1e-9 / dt;
    lr->input_Bps = ewma(lr->input_Bps, in);
    if (!lr->fixed) {
        if (blocked > 0.5)
            lr->est_Bps = ewma(lr->est_Bps, wire);
        else if (lr->est_Bps > 0 && wire > lr->est_Bps)
            lr->est_Bps = wire;
    }
restart:
    lr->win_t0 = now_ns;
    lr->win_out0 = out_total;
    lr->win_blocked0 = blocked_ns_total;
    lr->win_in0 = input_total;
}
