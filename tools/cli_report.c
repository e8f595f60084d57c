/* The final reports as people read them (scripts read --json). */
#include <stdio.h>

#include "cli.h"

void cli_print_source_report(FILE *f, const struct xlmig_source_report *r)
{
    double ratio = r->allocated_bytes ? (double)r->wire_bytes /
                                        (double)r->allocated_bytes : 0;

    fprintf(f, "xlmig disk migration report (source)\n");
    fprintf(f, "  result            %s%s\n", r->ok ? "success" : "FAILED: ",
            r->ok ? "" : r->error);
    fprintf(f, "  total time        %.2f s\n", r->total_s);
    fprintf(f, "  allocated         %.1f MiB in %u disk(s), block size %u\n",
            (double)r->allocated_bytes / 1048576.0, r->ndisks,
            r->block_size);
    fprintf(f, "  wire bytes        %.1f MiB (%.3f x allocated)\n",
            (double)r->wire_bytes / 1048576.0, ratio);
    if (r->zlib_in)
        fprintf(f, "  compression       %.1f MiB -> %.1f MiB (zlib level 1)\n",
                (double)r->zlib_in / 1048576.0,
                (double)r->zlib_out / 1048576.0);
    if (r->compression[0])
        fprintf(f, "  compression       %s\n", r->compression);
    fprintf(f, "  dirty passes      %u (%llu blocks resent), stopped: %s\n",
            r->passes, (unsigned long long)r->resent_blocks, r->stop_reason);
    fprintf(f, "  final dirty set   %llu blocks, %s\n",
            (unsigned long long)r->final_blocks,
            r->postcopy ? "handed over as a bitmap (post-copy)"
                        : "sent during the downtime");
    if (r->disk_downtime_ms >= 0)
        fprintf(f, "  disk downtime     %.1f ms (quiesce to destination "
                "ready%s)\n", r->disk_downtime_ms,
                r->postcopy ? " and gate armed" : "");
    if (r->guest_downtime_ms >= 0)
        fprintf(f, "  guest downtime    %.1f ms (suspended to GO)\n",
                r->guest_downtime_ms);
    if (r->postcopy && r->postcopy_s >= 0)
        fprintf(f, "  post-copy         %.2f s: %llu blocks demanded, %llu "
                "pushed in background, %llu installed, %llu overwritten by "
                "the guest first\n", r->postcopy_s,
                (unsigned long long)r->demanded_blocks,
                (unsigned long long)r->background_blocks,
                (unsigned long long)r->installed_blocks,
                (unsigned long long)r->overwritten_blocks);
    fflush(f);
}

void cli_print_dest_report(FILE *f, const struct xlmig_dest *d,
                           const struct xlmig_dest_report *r)
{
    fprintf(f, "xlmig disk migration report (destination)\n");
    fprintf(f, "  result            %s%s\n", r->ok ? "success" : "FAILED: ",
            r->ok ? "" : r->error);
    for (unsigned i = 0; i < r->ndisks; i++)
        fprintf(f, "  disk %-12s -> %s\n", xlmig_dest_disk_name(d, i),
                xlmig_dest_disk_path(d, i));
    fprintf(f, "  written           %.1f MiB data, %.1f MiB zeroed\n",
            (double)r->data_bytes / 1048576.0,
            (double)r->zero_bytes / 1048576.0);
    if (r->stale_blocks)
        fprintf(f, "  post-copy         %llu stale blocks: %llu installed, "
                "%llu demanded, %llu deliveries discarded (the guest had "
                "written the block), %.2f s\n",
                (unsigned long long)r->stale_blocks,
                (unsigned long long)r->installed,
                (unsigned long long)r->demanded,
                (unsigned long long)r->refused, r->postcopy_s);
    fflush(f);
}
