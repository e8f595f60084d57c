/*
 * The final reports and verdicts as people read them (scripts read
 * --json).  A line is printed only when what it says applies: a failure
 * during negotiation has no dirty passes, a migration that never reached
 * stop-copy no final set, a guest never suspended no downtime.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static double mib(uint64_t b)
{
    return (double)b / 1048576.0;
}

static void downtimes(FILE *f, const struct xlmig_source_report *r)
{
    if (r->disk_downtime_ms >= 0) {
        fprintf(f, "  disk downtime     %.1f ms (quiesce to destination "
                "ready%s", r->disk_downtime_ms,
                r->postcopy ? ", gates armed" : "");
        if (r->expected_downtime_ms >= 0)
            fprintf(f, "; expected %.1f ms", r->expected_downtime_ms);
        fprintf(f, "; budget %.0f ms)%s\n", r->downtime_budget_ms,
                r->downtime_over_budget ? "  OVER THE BUDGET" : "");
    }
    if (r->guest_downtime_ms >= 0) {
        fprintf(f, "  guest downtime    %.1f ms (suspended to GO",
                r->guest_downtime_ms);
        if (r->suspend_ms >= 0 && r->disk_downtime_ms >= 0 &&
            r->handoff_ms >= 0)
            fprintf(f, ": suspend %.1f ms, disk %.1f ms, hand-off %.1f ms",
                    r->suspend_ms, r->disk_downtime_ms, r->handoff_ms);
        if (r->expected_guest_downtime_ms >= 0)
            fprintf(f, "; expected %.1f ms", r->expected_guest_downtime_ms);
        fprintf(f, ")\n");
    }
}

void cli_print_source_report(FILE *f, const struct xlmig_source_report *r)
{
    double ratio = r->allocated_bytes ? (double)r->wire_bytes /
                                        (double)r->allocated_bytes : 0;

    fprintf(f, "xlmig disk migration report (source)\n");
    fprintf(f, "  result            %s%s\n", r->ok ? "success" : "FAILED: ",
            r->ok ? "" : r->error);
    fprintf(f, "  total time        %.2f s\n", r->total_s);
    if (r->ndisks)
        fprintf(f, "  allocated         %.1f MiB in %u disk%s, block size "
                "%u\n", mib(r->allocated_bytes), r->ndisks,
                r->ndisks == 1 ? "" : "s", r->block_size);
    if (r->wire_bytes) {
        fprintf(f, "  wire bytes        %.1f MiB", mib(r->wire_bytes));
        if (r->allocated_bytes)
            fprintf(f, " (%.3f x allocated)", ratio);
        fprintf(f, "\n");
    }
    if (r->zlib_in)
        fprintf(f, "  compression       %.1f MiB -> %.1f MiB (deflate level 1)\n",
                mib(r->zlib_in), mib(r->zlib_out));
    if (r->compression[0])
        fprintf(f, "  zlib decision     %s\n", r->compression);
    if (r->connections > 1)
        fprintf(f, "  connections       %u (PUSH and stop-copy)\n",
                r->connections);
    if (r->stop_reason) {
        fprintf(f, "  dirty passes      %u of at most %u", r->passes,
                r->max_passes);
        if (r->passes)
            fprintf(f, " (%llu blocks resent)",
                    (unsigned long long)r->resent_blocks);
        fprintf(f, ", stopped: %s\n", r->stop_reason);
    } else if (r->passes)
        fprintf(f, "  dirty passes      %u (%llu blocks resent) before the "
                "failure\n", r->passes,
                (unsigned long long)r->resent_blocks);
    if (r->keepup_passes)
        fprintf(f, "  keep-up passes    %u (while the memory moved)\n",
                r->keepup_passes);
    if (r->stopcopy && r->disk_downtime_ms >= 0) {
        if (!r->final_blocks)
            fprintf(f, "  final dirty set   none\n");
        else
            fprintf(f, "  final dirty set   %llu blocks, %s\n",
                    (unsigned long long)r->final_blocks,
                    r->postcopy ? "handed over as a bitmap (post-copy)"
                                : "sent during the downtime");
    }
    downtimes(f, r);
    if (r->postcopy && r->past_go) {
        fprintf(f, "  post-copy         ");
        if (r->postcopy_s >= 0)
            fprintf(f, "%.2f s: ", r->postcopy_s);
        else
            fprintf(f, "not finished: ");
        fprintf(f, "%llu blocks demanded, %llu pushed in background",
                (unsigned long long)r->demanded_blocks,
                (unsigned long long)r->background_blocks);
        if (r->postcopy_s >= 0)
            fprintf(f, ", %llu installed, %llu overwritten by the guest "
                    "first", (unsigned long long)r->installed_blocks,
                    (unsigned long long)r->overwritten_blocks);
        fprintf(f, "\n");
    }
    fflush(f);
}

void cli_print_dest_report(FILE *f, const struct xlmig_dest_report *r,
                           const char *const *names,
                           const char *const *paths)
{
    fprintf(f, "xlmig disk migration report (destination)\n");
    fprintf(f, "  result            %s%s\n", r->ok ? "success" : "FAILED: ",
            r->ok ? "" : r->error);
    if (r->ok || r->past_go) {
        for (unsigned i = 0; i < r->ndisks; i++)
            fprintf(f, "  disk %-12s -> %s\n", names[i], paths[i]);
    } else if (r->ndisks) {
        fprintf(f, "  targets           none kept (what was created here "
                "was deleted)\n");
    }
    if (r->data_bytes || r->zero_bytes)
        fprintf(f, "  written           %.1f MiB data, %.1f MiB zeroed\n",
                mib(r->data_bytes), mib(r->zero_bytes));
    if (r->stale_blocks && r->past_go) {
        fprintf(f, "  post-copy         %llu stale blocks: %llu installed, "
                "%llu demanded, %llu deliveries discarded (the guest had "
                "written the block)",
                (unsigned long long)r->stale_blocks,
                (unsigned long long)r->installed,
                (unsigned long long)r->demanded,
                (unsigned long long)r->refused);
        if (r->postcopy_s >= 0)
            fprintf(f, ", %.2f s", r->postcopy_s);
        fprintf(f, "\n");
    }
    fflush(f);
}

int cli_source_verdict(FILE *f, int rc, const struct xlmig_source_report *r,
                       uint64_t stale_blocks, int sig, bool resumed)
{
    const char *guest;

    if (rc == 0)
        return 0;
    if (rc < 0) {
        guest = r->offline ? "the guest stays stopped here (run the same "
                             "command again to resume the copy)"
                : !r->suspended ? "the guest kept running here"
                : resumed ? "the guest was resumed here"
                          : "the guest could NOT be resumed here: it is "
                            "suspended, and runs nowhere";
        if (sig && r->error && !strncmp(r->error, "cancelled", 9))
            fprintf(f, "xlmig: migration cancelled (%s) before the "
                    "hand-off: %s; the destination deletes its copy.\n",
                    cli_signal_name(sig), guest);
        else if (r->error && !strncmp(r->error, "destination: cancelled",
                                      22))
            fprintf(f, "xlmig: the destination cancelled the migration "
                    "before the hand-off: %s.\n", guest);
        else
            fprintf(f, "xlmig: migration failed before the hand-off: %s; "
                    "%s.\n", r->error ? r->error : strerror(-rc), guest);
        return 1;
    }
    if (rc == XLMIG_RESULT_POSTCOPY_FAILED)
        fprintf(f, "xlmig: POST-COPY FAILED: %s\nxlmig: the guest runs "
                "on the destination; %llu block(s) it has not received exist "
                "only in the source image: keep it.\n",
                r->error ? r->error : "(no reason)",
                (unsigned long long)stale_blocks);
    else
        fprintf(f, "xlmig: failed during the hand-off: %s\nxlmig: the "
                "destination may be running the guest; check both sides "
                "before resuming either.\n",
                r->error ? r->error : "(no reason)");
    return 3;
}

int cli_dest_verdict(FILE *f, int rc, const struct xlmig_dest_report *r,
                     uint64_t stale_blocks, int sig)
{
    if (rc == 0)
        return 0;
    if (rc < 0) {
        if (sig && r->error && !strncmp(r->error, "cancelled", 9))
            fprintf(f, "xlmig: receive cancelled (%s) before the hand-off: "
                    "nothing kept here; the guest runs on at the source.\n",
                    cli_signal_name(sig));
        else if (r->error && !strncmp(r->error, "source: cancelled", 17))
            fprintf(f, "xlmig: the source cancelled the migration before "
                    "the hand-off: nothing kept here; the guest runs on at "
                    "the source.\n");
        else if (r->offline)
            fprintf(f, "xlmig: receive failed before the hand-off: %s; "
                    "the partial copy stays here for the next attempt of "
                    "the same cold migration.\n",
                    r->error ? r->error : strerror(-rc));
        else
            fprintf(f, "xlmig: receive failed before the hand-off: %s; "
                    "nothing kept here, the guest runs on at the source.\n",
                    r->error ? r->error : strerror(-rc));
        return 1;
    }
    fprintf(f, "xlmig: the guest runs here but %s\n",
            r->error ? r->error : "post-copy did not finish");
    if (stale_blocks == UINT64_MAX)
        fprintf(f, "xlmig: the destination VBD does not answer: some blocks "
                "may exist only on the source: keep its image.\n");
    else if (stale_blocks)
        fprintf(f, "xlmig: %llu block(s) exist only on the source: keep "
                "its image.\n", (unsigned long long)stale_blocks);
    return 3;
}
