/*
 * The engine's own prediction (xlmig_source_expect, src_predict): two
 * seconds into a real migration's full pass (or at its end), the rates it
 * achieved, the blocks the guest dirtied so far and the negotiation it
 * went through feed the estimate's model (estimate.c); the report shows
 * the result next to what happened.
 */
#include <string.h>

#include "estimate.h"
#include "src_internal.h"

#define PREDICT_AFTER_NS 2000000000ull

void xlmig_source_expect(struct xlmig_source *s,
                         const struct xlmig_estimate_opts *eo)
{
    s->expect = *eo;
}

void src_predict(struct xlmig_source *s, bool last)
{
    struct xlmig_est_in in = { 0 };
    struct xlmig_sendq_stats qs;
    uint64_t now = xlmig_now_ns(), blocks = 0, covered, t_push;
    double elapsed, op = 0;

    if (s->predicted || s->o.offline || !s->q)
        return;
    t_push = s->st.t_push_start;
    if (!t_push || (!last && now - t_push < PREDICT_AFTER_NS))
        return;
    xlmig_sendq_get_stats(s->q, &qs);
    covered = qs.data_bytes + qs.zero_bytes + qs.skipped_bytes;
    if (!covered)
        return;
    /* What the guest dirtied so far (it joins the first dirty pass). */
    for (unsigned i = 0; i < s->ndisks; i++) {
        struct src_disk *d = &s->disks[i];
        uint64_t t0 = xlmig_now_ns(), n = 0;

        if (d->vbd->ops->snapshot(d->vbd, d->pending, &n) < 0)
            return;             /* src_snapshot_all reports it later */
        double dt = (double)(xlmig_now_ns() - t0) * 1e-9;
        if (dt > op)
            op = dt;
        blocks += xlmig_bitmap_count(d->pending);
        s->pred.ndisks++;
        s->pred.disk_bytes += d->img.size;
    }
    elapsed = (double)(now - s->st.t_start) * 1e-9;
    in.block_size = s->o.block_size;
    in.ndisks = s->ndisks;
    in.allocated = s->st.allocated_bytes;
    for (unsigned i = 0; i < s->ndisks; i++)
        in.nblocks += s->disks[i].nblocks;
    in.rtt_s = (double)s->st.rtt_ns * 1e-9;
    in.pipe_Bps = (double)covered / ((double)(now - t_push) * 1e-9);
    in.dirty_pipe_Bps = in.pipe_Bps;
    in.link_Bps = qs.link_Bps;
    in.w = (double)blocks / elapsed;
    in.vbd_op_s = op;
    in.full_wire_ratio = (double)qs.wire_bytes / (double)covered;
    in.dirty_wire_ratio = 1;
    in.max_downtime_s = s->o.max_downtime_ms / 1e3;
    in.postcopy = s->o.postcopy && (s->features & XLMIG_F_POSTCOPY);
    in.max_passes = s->o.max_passes;
    in.memory_s = s->expect.memory_s;
    in.memory_bytes = s->expect.memory_bytes;
    /* Negotiation is over: its time is known. */
    in.setup_s = (double)(t_push - s->st.t_start) * 1e-9 - 3 * in.rtt_s;
    if (in.setup_s < 0)
        in.setup_s = 0;
    in.state_s = s->expect.state_s;
    in.handoff_s = s->expect.handoff_s;
    s->pred.allocated_bytes = s->st.allocated_bytes;
    s->pred.rtt_ms = in.rtt_s * 1e3;
    s->pred.link_Bps = in.link_Bps;
    s->pred.pipeline_Bps = in.pipe_Bps;
    s->pred.dirty_Bps = in.w * s->o.block_size;
    s->pred.working_set_bytes = blocks * s->o.block_size;
    s->pred.sample_s = elapsed;
    s->pred.zero_fraction = (double)(qs.zero_bytes + qs.skipped_bytes) /
                            (double)covered;
    s->pred.compress_ratio = qs.zlib_in ? (double)qs.zlib_out /
                                          (double)qs.zlib_in : -1;
    s->pred.compress_Bps = -1;
    xlmig_est_predict(&in, &s->pred);
    s->predicted = true;
    s->predicted_at_s = elapsed;
}
