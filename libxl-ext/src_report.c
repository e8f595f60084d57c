/* The source's final figures, as a struct and as one JSON line. */
#include <stdio.h>
#include <string.h>

#include "src_internal.h"

static double secs(uint64_t a, uint64_t b)
{
    return a && b && b >= a ? (double)(b - a) * 1e-9 : -1;
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
    r->disk_downtime_ms = secs(st->t_stopcopy_start, st->t_stopcopy_done);
    r->guest_downtime_ms = secs(st->t_suspended, st->t_go);
    if (r->disk_downtime_ms >= 0)
        r->disk_downtime_ms *= 1e3;
    if (r->guest_downtime_ms >= 0)
        r->guest_downtime_ms *= 1e3;
    r->postcopy_s = secs(st->t_go, st->t_done);
    r->allocated_bytes = st->allocated_bytes;
    r->wire_bytes = s->have_channel ? s->conn.bytes_out + s->conn.bytes_in
                                    : 0;
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
    r->stop_reason = xlmig_conv_name(st->verdict);
    r->error = s->failed ? s->err.msg : NULL;
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
    xlmig_json_fmt(buf, len, &p,
                   ",\"total_s\":%.3f,\"disk_downtime_ms\":%.1f,"
                   "\"guest_downtime_ms\":%.1f,\"postcopy_s\":%.3f,"
                   "\"allocated_bytes\":%llu,\"wire_bytes\":%llu,"
                   "\"wire_ratio\":%.4f,\"passes\":%u,\"keepup_passes\":%u,"
                   "\"resent_blocks\":%llu,\"final_blocks\":%llu,"
                   "\"postcopy\":%s,\"demanded_blocks\":%llu,"
                   "\"background_blocks\":%llu,\"installed_blocks\":%llu,"
                   "\"overwritten_blocks\":%llu,\"zlib_in\":%llu,"
                   "\"zlib_out\":%llu,\"skipped_zero_bytes\":%llu,"
                   "\"block_size\":%u,\"stop_reason\":",
                   r.total_s, r.disk_downtime_ms, r.guest_downtime_ms,
                   r.postcopy_s, (unsigned long long)r.allocated_bytes,
                   (unsigned long long)r.wire_bytes, ratio, r.passes,
                   r.keepup_passes, (unsigned long long)r.resent_blocks,
                   (unsigned long long)r.final_blocks,
                   r.postcopy ? "true" : "false",
                   (unsigned long long)r.demanded_blocks,
                   (unsigned long long)r.background_blocks,
                   (unsigned long long)r.installed_blocks,
                   (unsigned long long)r.overwritten_blocks,
                   (unsigned long long)r.zlib_in,
                   (unsigned long long)r.zlib_out,
                   (unsigned long long)r.skipped_zero_bytes, r.block_size);
    xlmig_json_str(buf, len, &p, r.stop_reason);
    xlmig_json_fmt(buf, len, &p, ",\"keepup_bytes\":%llu,"
                   "\"keepup_limit_Bps\":%.0f,\"keepup_deferred\":%u}",
                   (unsigned long long)s->st.keepup_wire_bytes,
                   s->st.keepup_limit_Bps, s->st.keepup_deferred);
    return p;
}
