/*
 * `xlmig jobinfo`'s text: the disk figures the engine records, the memory
 * figures of the migrating process (source only: Xen's restore reports no
 * progress) in `virsh domjobinfo`'s words, and auto-converge (the throttle
 * in force, its steps, and a cap record a crashed migration left behind).
 * Pure formatting of a job's keys (libxl-ext/xen/status.h, xmem_report.h,
 * xjob.c), so that it can be tested without Xen.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_jobinfo.h"

#define ROW "%-24s "

static bool num(const char *v, double *out)
{
    char *end;

    if (!v || !*v)
        return false;
    *out = strtod(v, &end);
    return !*end;
}

static void disk_rows(FILE *f, cli_job_get *get, const void *job)
{
    static const struct { const char *k, *label; } rows[] = {
        { "name", "Domain" }, { "state", "State" }, { "phase", "Phase" },
        { "pass", "Pass" }, { "remaining_bytes", "Remaining (bytes)" },
        { "remaining_blocks", "Remaining (blocks)" },
        { "sent_bytes", "Sent (bytes)" }, { "wire_bytes", "On the wire" },
        { "total_bytes", "Phase total (bytes)" },
        { "total_blocks", "Phase total (blocks)" },
        { "rate_Bps", "Rate (B/s)" },
        { "wire_rate_Bps", "Wire rate (B/s)" }, { "eta_s", "ETA (s)" },
        { "expected_downtime_ms", "Expected downtime (ms)" },
        { "peer", "Peer" }, { "domid", "Domain id" }, { "pid", "Engine pid" },
        { "message", "Message" }, { "updated", "Updated (Unix time)" },
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *v = get(job, rows[i].k);
        if (v)
            fprintf(f, ROW "%s\n", rows[i].label, v);
    }
}

static void mib_row(FILE *f, const char *label, const char *v, double ps)
{
    double pages;

    if (num(v, &pages))
        fprintf(f, ROW "%.3f MiB\n", label, pages * ps / 1048576.0);
}

static void memory_rows(FILE *f, cli_job_get *get, const void *job)
{
    const char *state = get(job, "mem_state");
    double v, ps = 4096;            /* XC_PAGE_SIZE: x86 guests */

    if (!state)
        return;
    if (num(get(job, "mem_pass"), &v))
        fprintf(f, ROW "%s, pass %.0f\n", "Memory:", state, v);
    else
        fprintf(f, ROW "%s\n", "Memory:", state);
    mib_row(f, "Memory processed:", get(job, "mem_sent_pages"), ps);
    mib_row(f, "Memory remaining:", get(job, "mem_remaining_pages"), ps);
    mib_row(f, "Memory total:", get(job, "mem_total_pages"), ps);
    if (num(get(job, "mem_rate_Bps"), &v))
        fprintf(f, ROW "%.3f MiB/s\n", "Memory bandwidth:", v / 1048576.0);
    if (num(get(job, "mem_dirty_rate_pps"), &v))
        fprintf(f, ROW "%.0f pages/s\n", "Dirty rate:", v);
    fprintf(f, ROW "%.0f bytes\n", "Page size:", ps);
    if (num(get(job, "mem_iteration"), &v))
        fprintf(f, ROW "%.0f\n", "Iteration:", v);
    if (num(get(job, "mem_eta_s"), &v))
        fprintf(f, ROW "%.1f s\n", "Memory ETA:", v);
    if (num(get(job, "mem_expected_downtime_ms"), &v))
        fprintf(f, ROW "%.1f ms\n", "Memory downtime (est.):", v);
}

/* "T:THROTTLE:CAP T:THROTTLE:CAP" -> "at 12.3 s 50 % (cap 50), ..." */
static void steps_row(FILE *f, const char *steps)
{
    char buf[256], *save = NULL, *tok;
    bool first = true;

    snprintf(buf, sizeof(buf), "%s", steps);
    fprintf(f, ROW, "Auto converge steps:");
    for (tok = strtok_r(buf, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        double t;
        int thr, cap;

        if (sscanf(tok, "%lf:%d:%d", &t, &thr, &cap) != 3)
            continue;
        fprintf(f, "%s%d %% at %.1f s (cap %d)", first ? "" : ", ", thr, t,
                cap);
        first = false;
    }
    fputc('\n', f);
}

static void autoconverge_rows(FILE *f, cli_job_get *get, const void *job)
{
    const char *sched = get(job, "ac_sched"), *steps = get(job, "ac_steps");
    const char *restored = get(job, "ac_restored");
    double thr, cap, orig;

    if (num(get(job, "ac_throttle_pct"), &thr)) {
        if (num(get(job, "ac_cap"), &cap) && thr > 0)
            fprintf(f, ROW "%.0f %% (CPU cap %.0f)\n",
                    "Auto converge throttle:", thr, cap);
        else
            fprintf(f, ROW "%.0f %%\n", "Auto converge throttle:", thr);
    }
    if (steps && *steps)
        steps_row(f, steps);
    if (num(get(job, "ac_orig_cap"), &orig))
        fprintf(f, ROW "%.0f%s (%s)%s\n", "Original CPU cap:", orig,
                orig ? "" : ", none", sched ? sched : "?",
                !restored ? "" : !strcmp(restored, "yes") ? ", restored"
                                                          : ", NOT restored");
}

/* A record left by a migration that did not finish (xconv_cap.h). */
static void record_rows(FILE *f, const char *name, cli_job_get *get,
                        const void *job)
{
    const char *owner = get(job, "acrec_owner");
    const char *alive = get(job, "acrec_alive");
    const char *cur = get(job, "acrec_current"), *orig = get(job, "acrec_cap");
    const char *sched = get(job, "acrec_sched");
    char pid[32];

    if (!get(job, "acrec_sched"))
        return;
    snprintf(pid, sizeof(pid), "%.*s", owner ? (int)strcspn(owner, ":") : 1,
             owner ? owner : "?");
    if (alive && !strcmp(alive, "yes"))
        fprintf(f, ROW "CPU cap %s set by process %s (migrating); original "
                "%s (%s)\n", "Auto converge:", cur ? cur : "?", pid,
                orig ? orig : "?", sched);
    else
        fprintf(f, ROW "CPU cap %s left by process %s (gone); original %s "
                "(%s): run xlmig recover-cap %s\n", "Auto converge:",
                cur ? cur : "?", pid, orig ? orig : "?", sched, name);
}

void cli_jobinfo_print(FILE *f, const char *uuid, const char *role,
                       cli_job_get *get, const void *job)
{
    const char *name = get(job, "name");

    fprintf(f, ROW "storage migration, %s side\n", "Job:", role);
    fprintf(f, ROW "%s\n", "UUID:", uuid);
    disk_rows(f, get, job);
    memory_rows(f, get, job);
    autoconverge_rows(f, get, job);
    record_rows(f, name ? name : uuid, get, job);
}
