/*
 * The report lines of issue 12's features (verification, predictions) and
 * --remove-source's decision, kept apart from cli_report.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_print_source_extra(FILE *f, const struct xlmig_source_report *r)
{
    if (r->predicted) {
        const struct xlmig_estimate *e = &r->prediction;

        fprintf(f, "  predicted at %.1f s  total %.2f s (actual %.2f), disk "
                "downtime %.1f ms (actual %.1f), %s (actual %s), %llu final "
                "blocks (actual %llu), %u passes (actual %u), wire %.1f MiB "
                "(actual %.1f)\n", r->predicted_at_s, e->total_s, r->total_s,
                e->downtime_ms, r->disk_downtime_ms,
                e->postcopy ? "post-copy" : "no post-copy",
                r->postcopy ? "post-copy" : "none",
                (unsigned long long)e->final_blocks,
                (unsigned long long)r->final_blocks, e->passes, r->passes,
                (double)e->wire_bytes / 1048576.0,
                (double)r->wire_bytes / 1048576.0);
    }
    if (r->verify_result) {
        fprintf(f, "  verification      %s: %llu digests, %.1f MiB read "
                "back on the destination\n", r->verify_result,
                (unsigned long long)r->verified_digests,
                (double)r->verified_bytes / 1048576.0);
        if (r->verify_mismatched_blocks)
            fprintf(f, "  mismatches        %llu block(s) read back wrong "
                    "(%s); %llu sent again; %llu still wrong\n",
                    (unsigned long long)r->verify_mismatched_blocks,
                    r->verify_mismatches,
                    (unsigned long long)r->verify_resent_blocks,
                    (unsigned long long)r->verify_unresolved_blocks);
    }
    if (r->offline && r->resumed_blocks)
        fprintf(f, "  resumed           %llu block(s) were already on the "
                "destination from an earlier attempt\n",
                (unsigned long long)r->resumed_blocks);
    fflush(f);
}

void cli_print_dest_extra(FILE *f, const struct xlmig_dest_report *r)
{
    if (r->estimate)
        fprintf(f, "  estimate          only measured: nothing was created "
                "or written here\n");
    if (r->verify)
        fprintf(f, "  verification      %llu digests, %.1f MiB read back; "
                "%llu block(s) mismatched%s%s, %llu still wrong\n",
                (unsigned long long)r->verified.digests,
                (double)r->verified.bytes / 1048576.0,
                (unsigned long long)r->verified.mismatched_blocks,
                r->verify_mismatches && *r->verify_mismatches ? ": " : "",
                r->verify_mismatches ? r->verify_mismatches : "",
                (unsigned long long)r->verified.unresolved_blocks);
    if (r->offline && r->resumed_blocks)
        fprintf(f, "  resumed           %llu block(s) kept from an earlier "
                "attempt\n", (unsigned long long)r->resumed_blocks);
    fflush(f);
}

int cli_remove_sources(const struct xlmig_source_report *r,
                       const char *const *paths, unsigned n)
{
    int status = 0;

    if (r->verify_result && strcmp(r->verify_result, "passed")) {
        fprintf(stderr, "xlmig: --remove-source refused: verification %s "
                "(%llu block(s) read back wrong on the destination%s%s); "
                "the source images are kept\n", r->verify_result,
                (unsigned long long)r->verify_mismatched_blocks,
                r->verify_mismatches && *r->verify_mismatches ? ": " : "",
                r->verify_mismatches ? r->verify_mismatches : "");
        return 4;
    }
    for (unsigned i = 0; i < n; i++) {
        if (!paths[i])
            continue;
        if (unlink(paths[i]) == 0) {
            fprintf(stderr, "xlmig: removed %s\n", paths[i]);
        } else {
            fprintf(stderr, "xlmig: cannot remove %s: %s\n", paths[i],
                    strerror(errno));
            status = 1;
        }
    }
    return status;
}
