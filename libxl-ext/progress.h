/*
 * Progress reporting: a human line on a terminal (rewritten in place), and
 * JSON events, one object per line, for scripts.  An optional hook sees
 * every event too (the Xen glue mirrors progress into xenstore with it).
 *
 * JSON event fields: "event" (start, phase, pass, progress, stopcopy,
 * handoff, postcopy, done, error), "t" (seconds since start), "role",
 * "phase", "pass", "remaining_blocks", "remaining_bytes", "sent_bytes",
 * "wire_bytes", "rate_Bps", "eta_s", "expected_downtime_ms", "message".
 * Fields that do not apply are omitted.
 */
#ifndef XLMIG_PROGRESS_H
#define XLMIG_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct xlmig_progress_ev {
    const char *event;
    const char *phase;
    int pass;                   /* < 0: not applicable */
    int64_t remaining_blocks;   /* < 0: not applicable */
    int64_t remaining_bytes;
    int64_t sent_bytes;
    int64_t wire_bytes;
    double rate_Bps;            /* < 0: not applicable */
    double eta_s;
    double expected_downtime_ms;
    const char *message;
};

typedef void xlmig_progress_hook(void *opaque,
                                 const struct xlmig_progress_ev *ev);

struct xlmig_progress {
    const char *role;           /* "source" or "destination" */
    FILE *human;                /* NULL: no human output */
    bool human_is_tty;
    FILE *json;                 /* NULL: no JSON */
    xlmig_progress_hook *hook;
    void *hook_opaque;
    uint64_t t0_ns;
    uint64_t last_human_ns;
};

void xlmig_progress_init(struct xlmig_progress *p, const char *role,
                         FILE *human, FILE *json);
/* An event with every numeric field set to "not applicable". */
struct xlmig_progress_ev xlmig_progress_ev(const char *event,
                                           const char *phase);
void xlmig_progress_emit(struct xlmig_progress *p,
                         const struct xlmig_progress_ev *ev);
/* Writes s as a JSON string literal (with quotes). */
void xlmig_json_string(FILE *f, const char *s);

#endif
