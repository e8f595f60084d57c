/* The source's final report, for people and (with --json) for scripts. */
#include "sender_int.h"

static double secs(uint64_t a, uint64_t b)
{
    return a && b && b >= a ? (double)(b - a) * 1e-9 : -1;
}

void xlmig_sender_report(struct xlmig_sender *s, FILE *f, bool json)
{
    struct xlmig_send_stats *st = &s->st;
    struct xlmig_sendq_stats qs = { 0 };
    uint64_t end = st->t_done ? st->t_done : xlmig_now_ns();
    double total = secs(st->t_start, end);
    double disk_down = secs(st->t_stopcopy_start, st->t_stopcopy_done);
    double guest_down = secs(st->t_suspended, st->t_go);
    double post = secs(st->t_go, st->t_done);
    uint64_t wire = s->conn.bytes_out + s->conn.bytes_in;
    double ratio = st->allocated_bytes
                       ? (double)wire / (double)st->allocated_bytes : 0;

    if (s->q)
        xlmig_sendq_get_stats(s->q, &qs);
    if (json) {
        fprintf(f, "{\"event\":\"report\",\"result\":");
        xlmig_json_string(f, s->failed ? "failed" : "success");
        if (s->failed) {
            fprintf(f, ",\"error\":");
            xlmig_json_string(f, s->err);
        }
        fprintf(f, ",\"total_s\":%.3f,\"disk_downtime_ms\":%.1f,"
                "\"guest_downtime_ms\":%.1f,\"postcopy_s\":%.3f,"
                "\"allocated_bytes\":%llu,\"wire_bytes\":%llu,"
                "\"wire_ratio\":%.4f,\"passes\":%u,\"keepup_passes\":%u,"
                "\"resent_blocks\":%llu,"
                "\"final_blocks\":%llu,\"postcopy\":%s,"
                "\"demanded_blocks\":%llu,\"background_blocks\":%llu,"
                "\"installed_blocks\":%llu,\"overwritten_blocks\":%llu,"
                "\"zlib_in\":%llu,\"zlib_out\":%llu,\"skipped_zero_bytes\":%llu,"
                "\"block_size\":%u,\"stop_reason\":",
                total, disk_down * 1e3, guest_down * 1e3, post,
                (unsigned long long)st->allocated_bytes,
                (unsigned long long)wire, ratio, st->passes,
                st->keepup_passes,
                (unsigned long long)st->resent_blocks,
                (unsigned long long)st->final_blocks,
                st->postcopy ? "true" : "false",
                (unsigned long long)st->demanded_blocks,
                (unsigned long long)st->background_blocks,
                (unsigned long long)st->done.installed,
                (unsigned long long)st->done.overwritten,
                (unsigned long long)qs.zlib_in,
                (unsigned long long)qs.zlib_out,
                (unsigned long long)qs.skipped_bytes, s->o.block_size);
        xlmig_json_string(f, xlmig_conv_name(st->verdict));
        fprintf(f, "}\n");
        fflush(f);
        return;
    }
    fprintf(f, "xlmig disk migration report (source)\n");
    fprintf(f, "  result            %s%s%s\n", s->failed ? "FAILED: " : "success",
            s->failed ? s->err : "", "");
    fprintf(f, "  total time        %.2f s\n", total);
    fprintf(f, "  allocated         %.1f MiB in %u disk(s), block size %u\n",
            (double)st->allocated_bytes / 1048576.0, s->ndisks,
            s->o.block_size);
    fprintf(f, "  wire bytes        %.1f MiB (%.3f x allocated)\n",
            (double)wire / 1048576.0, ratio);
    if (qs.zlib_in)
        fprintf(f, "  compression       %.1f MiB -> %.1f MiB (zlib level 1)\n",
                (double)qs.zlib_in / 1048576.0,
                (double)qs.zlib_out / 1048576.0);
    fprintf(f, "  dirty passes      %u (%llu blocks resent), stopped: %s\n",
            st->passes, (unsigned long long)st->resent_blocks,
            xlmig_conv_name(st->verdict));
    fprintf(f, "  final dirty set   %llu blocks, %s\n",
            (unsigned long long)st->final_blocks,
            st->postcopy ? "handed over as a bitmap (post-copy)"
                         : "sent during the downtime");
    if (disk_down >= 0)
        fprintf(f, "  disk downtime     %.1f ms (quiesce to destination "
                "ready%s)\n", disk_down * 1e3,
                st->postcopy ? " and gate armed" : "");
    if (guest_down >= 0)
        fprintf(f, "  guest downtime    %.1f ms (suspended to GO)\n",
                guest_down * 1e3);
    if (st->postcopy && post >= 0)
        fprintf(f, "  post-copy         %.2f s: %llu blocks demanded, %llu "
                "pushed in background, %llu installed, %llu overwritten by "
                "the guest first\n", post,
                (unsigned long long)st->demanded_blocks,
                (unsigned long long)st->background_blocks,
                (unsigned long long)st->done.installed,
                (unsigned long long)st->done.overwritten);
    fflush(f);
}
