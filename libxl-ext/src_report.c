/* The source's final figures, as a struct and as one JSON line. */
#include <stdio.h>
#include <string.h>

#include "src_internal.h"

static double secs(uint64_t a, uint64_t b)
{
    return a && b && b >= a ? (double)(b - a) * 1e-9 : -1;
}

static double msecs(uint64_t a, uint64_t b)
{
    double v = secs(a, b);

    return v >= 0 ? v * 1e3 : -1;
}

void xlmig_source_get_report(const struct xlmig_source *s,
                             struct xlmig_source_report *r)
{
    const struct src_stats *st = &s->st;
    struct xlmig_sendq_stats qs;
    uint64_t end = st->t_done ? st->t_done : xlmig_now_ns();

    memset(r, 0, sizeof(*r));
    memset(&qs, 0, sizeof(qs));
    if (s->q)
        xlmig_sendq_get_stats(s->q, &qs);
    r->ok = !s->failed;
    r->past_go = st->t_go != 0;
    r->postcopy = st->postcopy;
    r->ndisks = s->ndisks;
    r->block_size = s->o.block_size;
    r->total_s = secs(st->t_start, end);
    r->disk_downtime_ms = msecs(st->t_stopcopy_start, st->t_stopcopy_done);
    r->guest_downtime_ms = msecs(st->t_suspended, st->t_go);
    r->postcopy_s = secs(st->t_go, st->t_done);
    r->allocated_bytes = st->allocated_bytes;
    r->wire_bytes = src_wire_bytes(s);
    r->connections = s->used_conns;
    r->passes = st->passes;
    r->keepup_passes = st->keepup_passes;
    r->resent_blocks = st->resent_blocks;
    r->final_blocks = st->final_blocks;
    r->demanded_blocks = st->demanded_blocks;
    r->background_blocks = st->background_blocks;
    r->installed_blocks = st->done.installed;
    r->overwritten_blocks = st->done.overwritten;
    r->zlib_in = qs.zlib_in;
    r->zlib_out = qs.zlib_out;
    r->skipped_zero_bytes = qs.skipped_bytes;
    r->stop_reason = s->o.offline ? "cold copy"
                     : st->t_push_done ? xlmig_conv_name(st->verdict)
                                       : NULL;
    if (s->q)
        xlmig_sendq_describe_compression(s->q, r->compression,
                                         sizeof(r->compression));
    r->error = s->failed ? s->err.msg : NULL;
    r->suspended = st->t_suspended != 0;
    r->stopcopy = st->t_stopcopy_start != 0;
    r->max_passes = s->o.max_passes;
    r->downtime_budget_ms = s->o.max_downtime_ms;
    r->downtime_over_budget = r->disk_downtime_ms > r->downtime_budget_ms;
    r->expected_downtime_ms = r->stopcopy && st->t_quiesced
                                  ? st->expected_downtime_ms : -1;
    r->suspend_ms = msecs(st->t_suspended, st->t_stopcopy_start);
    r->quiesce_ms = msecs(st->t_stopcopy_start, st->t_quiesced);
    r->handoff_ms = msecs(st->t_stopcopy_done, st->t_go);
    r->expected_guest_downtime_ms = r->expected_downtime_ms >= 0
                                        ? st->expected_guest_ms : -1;
    r->predicted = s->predicted;
    r->predicted_at_s = s->predicted_at_s;
    if (s->predicted)
        r->prediction = s->pred;
    r->offline = s->o.offline;
    r->resumed_blocks = st->resumed_blocks;
    r->verify_result = src_verify_verdict(s);
    if (r->verify_result) {
        r->verified_digests = s->vf.res.checked;
        r->verified_bytes = s->vf.res.bytes;
        r->verify_mismatched_blocks = s->vf.res.mismatched >
                                      s->vf.mismatched_blocks
                                          ? s->vf.res.mismatched
                                          : s->vf.mismatched_blocks;
        r->verify_unresolved_blocks = s->vf.res.unresolved;
        r->verify_resent_blocks = s->vf.resent_blocks;
        r->verify_mismatches = s->vf.list;
    }
}

/* ,"name":value for the figures that apply (>= 0). */
static void opt_ms(char *buf, size_t len, size_t *p, const char *name,
                   double v, int decimals)
{
    if (v >= 0)
        xlmig_json_fmt(buf, len, p, ",\"%s\":%.*f", name, decimals, v);
}

size_t xlmig_source_report_json(const struct xlmig_source *s, char *buf,
                                size_t len)
{
    struct xlmig_source_report r;
    double ratio;
    size_t p = 0;

    xlmig_source_get_report(s, &r);
    ratio = r.allocated_bytes ? (double)r.wire_bytes /
                                (double)r.allocated_bytes : 0;
    if (len)
        buf[0] = '\0';
    xlmig_json_fmt(buf, len, &p, "{\"event\":\"report\",\"role\":\"source\","
                   "\"result\":\"%s\"", r.ok ? "success" : "failed");
    if (r.error) {
        xlmig_json_fmt(buf, len, &p, ",\"error\":");
        xlmig_json_str(buf, len, &p, r.error);
    }
    xlmig_json_fmt(buf, len, &p, ",\"past_go\":%s,\"suspended\":%s,"
                   "\"total_s\":%.3f", r.past_go ? "true" : "false",
                   r.suspended ? "true" : "false", r.total_s);
    /* The downtimes and their parts, once they were measured. */
    opt_ms(buf, len, &p, "disk_downtime_ms", r.disk_downtime_ms, 1);
    opt_ms(buf, len, &p, "guest_downtime_ms", r.guest_downtime_ms, 1);
    opt_ms(buf, len, &p, "expected_downtime_ms", r.expected_downtime_ms, 1);
    opt_ms(buf, len, &p, "expected_guest_downtime_ms",
           r.expected_guest_downtime_ms, 1);
    opt_ms(buf, len, &p, "suspend_ms", r.suspend_ms, 1);
    opt_ms(buf, len, &p, "quiesce_ms", r.quiesce_ms, 1);
    opt_ms(buf, len, &p, "handoff_ms", r.handoff_ms, 1);
    xlmig_json_fmt(buf, len, &p, ",\"downtime_budget_ms\":%.1f",
                   r.downtime_budget_ms);
    if (r.disk_downtime_ms >= 0)
        xlmig_json_fmt(buf, len, &p, ",\"downtime_over_budget\":%s",
                       r.downtime_over_budget ? "true" : "false");
    opt_ms(buf, len, &p, "postcopy_s", r.postcopy_s, 3);
    xlmig_json_fmt(buf, len, &p,
                   ",\"ndisks\":%u,\"allocated_bytes\":%llu,"
                   "\"wire_bytes\":%llu,\"wire_ratio\":%.4f,\"passes\":%u,"
                   "\"max_passes\":%u,\"keepup_passes\":%u,"
                   "\"resent_blocks\":%llu,\"connections\":%u", r.ndisks,
                   (unsigned long long)r.allocated_bytes,
                   (unsigned long long)r.wire_bytes, ratio, r.passes,
                   r.max_passes, r.keepup_passes,
                   (unsigned long long)r.resent_blocks, r.connections);
    if (r.stopcopy)
        xlmig_json_fmt(buf, len, &p, ",\"final_blocks\":%llu",
                       (unsigned long long)r.final_blocks);
    xlmig_json_fmt(buf, len, &p, ",\"postcopy\":%s",
                   r.postcopy ? "true" : "false");
    if (r.postcopy)
        xlmig_json_fmt(buf, len, &p, ",\"demanded_blocks\":%llu,"
                       "\"background_blocks\":%llu,\"installed_blocks\":%llu,"
                       "\"overwritten_blocks\":%llu",
                       (unsigned long long)r.demanded_blocks,
                       (unsigned long long)r.background_blocks,
                       (unsigned long long)r.installed_blocks,
                       (unsigned long long)r.overwritten_blocks);
    xlmig_json_fmt(buf, len, &p, ",\"zlib_in\":%llu,\"zlib_out\":%llu,"
                   "\"skipped_zero_bytes\":%llu,\"block_size\":%u",
                   (unsigned long long)r.zlib_in,
                   (unsigned long long)r.zlib_out,
                   (unsigned long long)r.skipped_zero_bytes, r.block_size);
    if (r.stop_reason) {
        xlmig_json_fmt(buf, len, &p, ",\"stop_reason\":");
        xlmig_json_str(buf, len, &p, r.stop_reason);
    }
    if (r.compression[0]) {
        xlmig_json_fmt(buf, len, &p, ",\"compression\":");
        xlmig_json_str(buf, len, &p, r.compression);
    }
    xlmig_json_fmt(buf, len, &p, ",\"keepup_bytes\":%llu,"
                   "\"keepup_limit_Bps\":%.0f,\"keepup_deferred\":%u",
                   (unsigned long long)s->st.keepup_wire_bytes,
                   s->st.keepup_limit_Bps, s->st.keepup_deferred);
    if (r.predicted)
        xlmig_json_fmt(buf, len, &p, ",\"predicted_at_s\":%.3f,"
                       "\"predicted_total_s\":%.3f,"
                       "\"predicted_disk_downtime_ms\":%.1f,"
                       "\"predicted_postcopy\":%s,"
                       "\"predicted_final_blocks\":%llu,"
                       "\"predicted_passes\":%u,"
                       "\"predicted_wire_bytes\":%llu",
                       r.predicted_at_s, r.prediction.total_s,
                       r.prediction.downtime_ms,
                       r.prediction.postcopy ? "true" : "false",
                       (unsigned long long)r.prediction.final_blocks,
                       r.prediction.passes,
                       (unsigned long long)r.prediction.wire_bytes);
    if (r.offline)
        xlmig_json_fmt(buf, len, &p, ",\"offline\":true,"
                       "\"resumed_blocks\":%llu",
                       (unsigned long long)r.resumed_blocks);
    if (r.verify_result) {
        xlmig_json_fmt(buf, len, &p, ",\"verify\":true,\"verify_result\":");
        xlmig_json_str(buf, len, &p, r.verify_result);
        xlmig_json_fmt(buf, len, &p, ",\"verified_digests\":%llu,"
                       "\"verified_bytes\":%llu,"
                       "\"verify_mismatched_blocks\":%llu,"
                       "\"verify_unresolved_blocks\":%llu,"
                       "\"verify_resent_blocks\":%llu,"
                       "\"verify_mismatches\":",
                       (unsigned long long)r.verified_digests,
                       (unsigned long long)r.verified_bytes,
                       (unsigned long long)r.verify_mismatched_blocks,
                       (unsigned long long)r.verify_unresolved_blocks,
                       (unsigned long long)r.verify_resent_blocks);
        xlmig_json_str(buf, len, &p, r.verify_mismatches);
    }
    xlmig_json_fmt(buf, len, &p, "}");
    return p;
}
