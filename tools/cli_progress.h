/*
 * The progress display on a terminal: one line per phase, rewritten in
 * place while the phase runs and left on the screen when it ends.
 *
 *   source push      [##########..........]  51.2%  70.3/138.3 MiB  45.4 MB/s  wire 34.1 MB/s  ETA 2s
 *   source dirty 3   [#####...............]  24.0%  6.7/26.7 MiB  39.8 MB/s  ETA 1s  downtime~703 ms > 50 ms budget
 *   source stop-copy 1102 blocks (4.3 MiB): handing the stale bitmap over (post-copy)
 *   source post-copy [########............]  40.3%  444/1102 blocks  demand 4  background 440  23.7 MB/s  ETA 1s
 *
 * What "percent" means, per phase:
 *   push       bytes of the allocated data done (sent, or skipped as
 *              zeros), of all the allocated bytes;
 *   dirty N    the current pass's set: bytes done of the blocks that were
 *              dirty when the pass started (each pass starts at 0%);
 *   keep-up    the same, for the passes while the memory moves;
 *   stop-copy  the final set, when it is sent inside the downtime;
 *   post-copy  stale blocks installed at the destination (or served by
 *              the source), of those stale at the hand-off.
 * Percentages never go backwards within a phase (or a pass).  When the
 * engine gives a total (total_bytes / total_blocks, proposed), it is used;
 * otherwise the total is the remaining count of the event that opened the
 * phase or pass, and progress is taken from whichever of "remaining" and
 * "sent_bytes" has moved further.  Payload rate: rate_Bps (uncompressed
 * bytes read and sent); wire rate: wire_rate_Bps when the engine gives it,
 * else derived from successive wire_bytes.  ETA: eta_s when given, else
 * remaining / rate, else from how fast "remaining" has been falling.
 * Bytes use binary units (MiB), rates decimal ones (MB/s), as the options.
 *
 * cli_progress_format() is pure (event + state + time + width -> text);
 * the writer (cli_progress_term_*) owns the terminal and the rate limit,
 * and can be installed as the library's event callback (xlmig_event_fn).
 * A "warning" event prints its own line and leaves the phase's line as it
 * is.
 */
#ifndef XLMIG_CLI_PROGRESS_H
#define XLMIG_CLI_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "xlmig.h"

/*
 * The event fields the display reads (those of struct xlmig_event).
 * Numbers < 0 and NULL strings mean "not given".
 */
struct cli_pev {
    const char *event, *phase, *message;
    int pass;
    int64_t remaining_blocks, remaining_bytes, sent_bytes, wire_bytes;
    double rate_Bps, eta_s, expected_downtime_ms;
    int64_t total_bytes;                /* the phase's (pass's) whole set */
    double wire_rate_Bps;
    int64_t total_blocks;
    int64_t block_size;
    int64_t demanded_blocks, background_blocks, installed_blocks;
    int max_passes;
    double downtime_budget_ms;
};

/* An event with nothing given. */
struct cli_pev cli_pev_none(const char *event, const char *phase);
/* The fields of an engine event. */
struct cli_pev cli_pev_from(const struct xlmig_event *ev);

#define CLI_PLINE 512

struct cli_pstate {
    char role[16];
    double budget_ms;           /* < 0: unknown */
    int max_passes;             /* <= 0: unknown */
    /* the phase on screen */
    char key[16];               /* "" before the first phase */
    double t_start;
    int pass;
    int64_t total_bytes, total_blocks, block_size;
    int64_t sent_base, wire_base;       /* counters when the phase began */
    int64_t last_sent, last_wire;       /* latest counters seen */
    int64_t last_remaining;
    double last_t_wire, wire_rate;      /* derived wire rate (EWMA) */
    double last_t_rem, drain;           /* "remaining" falling, per s */
    double pct;
    int passes;                 /* dirty passes started */
    bool converged;             /* the verdict was given */
    char verdict[64];
    int64_t demanded, background;
    double rate, eta, downtime_ms;
    int64_t remaining_blocks, remaining_bytes;
    char note[128];             /* stop-copy's message */
};

struct cli_pout {
    char done[CLI_PLINE];       /* a finished line ("" none) */
    char live[CLI_PLINE];       /* the current phase's line ("" none) */
    bool live_is_final;         /* live is finished too: end it */
    bool tick;                  /* live is a mere update */
    bool first;                 /* live opens a phase (or a pass) */
};

void cli_progress_init(struct cli_pstate *st, const char *role,
                       double budget_ms, int max_passes);
/* t: seconds since the start; width: the terminal's columns (lines stay
 * at most width - 1 characters). */
void cli_progress_format(struct cli_pstate *st, const struct cli_pev *ev,
                         double t, unsigned width, struct cli_pout *out);

/* ---- the writer ---------------------------------------------------- */

struct cli_progress_term {
    struct cli_pstate st;
    FILE *f;
    bool tty;                   /* rewrite in place; else whole lines */
    unsigned width;             /* 0: ask the terminal each time */
    double min_interval_s;      /* between redraws of ticks (0.25 s) */
    double log_interval_s;      /* not a tty: a tick line every (10 s) */
    double last_draw;
    bool live_shown;            /* a live line is on the screen */
    uint64_t t0_ns;
    pthread_mutex_t lock;       /* engine threads emit concurrently */
};

void cli_progress_term_init(struct cli_progress_term *w, FILE *f,
                            const char *role, double budget_ms,
                            int max_passes);
/* An event at time t (seconds since the start). */
void cli_progress_term_event(struct cli_progress_term *w,
                             const struct cli_pev *ev, double t);
/* As the library's event callback (xlmig_event_fn; opaque = the
 * writer): the event's own time stamp, else the writer's clock. */
void cli_progress_term_hook(void *opaque, const struct xlmig_event *ev);
/* Ends a live line before something else is printed (the report). */
void cli_progress_term_finish(struct cli_progress_term *w);
/* Erases a live line (on a terminal) so that a message can take its
 * place; the next event draws it again.  The caller holds no lock of w. */
void cli_progress_term_clear(struct cli_progress_term *w);
void cli_progress_term_destroy(struct cli_progress_term *w);

#endif
