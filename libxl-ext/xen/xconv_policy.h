/*
 * Auto-converge: when Xen's memory pre-copy stops shrinking the dirty set,
 * throttle the guest's vCPUs step by step (as QEMU's auto-converge), so
 * that it dirties less and the stop-and-copy set -- the memory part of the
 * downtime -- gets smaller.  Pure logic: xconv_cap.h turns a throttle into
 * a scheduler cap and restores the original.
 *
 *   --auto-converge[=START,STEP,MAX]        off unless given
 *
 * Percentages of the guest's CPU time taken away (as QEMU's
 * cpu-throttle-initial, cpu-throttle-increment, max-cpu-throttle):
 *   START  the first throttle, 1..99            default 50
 *   STEP   added at each further step, 1..99    default 20
 *   MAX    the ceiling, START..99               default 90
 * Exactly three decimal integers, or none (the defaults).  A throttle of T
 * leaves the guest (100 - T)% of what it could use (xconv_cap.h).
 *
 * When.  At the start of each live pass k >= 1 the new set S_k (the pages
 * dirtied during pass k-1) is compared with S_{k-1} (what pass k-1 sent):
 * S_k > TRIGGER% of S_{k-1} is a pass that did not converge -- the same
 * test as QEMU's "dirtied in the period > 50% of what was transferred",
 * as both passes cover the same time.  After TRIGGER_PASSES such passes
 * in a row the throttle steps (START first, then +STEP up to MAX) and the
 * count starts again.  A set below MIN_PAGES is never a reason.  Nothing
 * steps once the guest is suspended.
 *
 * Why these defaults (QEMU: 20, 10, 99, two passes).  libxl sets no
 * precopy policy, so libxenguest's default ends pre-copy after 5 passes
 * (xg_sr_save.c:481-490): a throttle can change at the start of passes
 * 1..4 only, and pass 1 compares the first dirty set with all of memory,
 * which hardly ever triggers.  That leaves about three steps, and the
 * final set is what the guest dirties during pass 4.  With QEMU's values
 * the last pass would run 40% throttled, too little to shrink a working
 * set the guest rewrites faster than the link sends it; 50, 70, 90 reach
 * the ceiling in those three steps.  One non-converging pass triggers
 * (QEMU waits for two because it has unlimited passes).
 */
#ifndef XLMIG_XEN_XCONV_POLICY_H
#define XLMIG_XEN_XCONV_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define XCONV_DEF_START 50
#define XCONV_DEF_STEP 20
#define XCONV_DEF_MAX 90
#define XCONV_DEF_TRIGGER_PCT 50
#define XCONV_DEF_TRIGGER_PASSES 1
#define XCONV_DEF_MIN_PAGES 256         /* 1 MiB: ~10 ms at 1 Gbit/s */
#define XCONV_MAX_STEPS 32

struct xconv_opts {
    unsigned start, step, max;          /* percent */
    unsigned trigger_pct;               /* S_k > this % of S_{k-1} */
    unsigned trigger_passes;            /* such passes in a row */
    uint64_t min_pages;                 /* smaller sets never trigger */
};

struct xconv_step {
    uint64_t t_ns;                      /* when it was decided */
    unsigned pass;                      /* at the start of this pass */
    unsigned throttle;                  /* percent taken away */
    uint64_t prev_pages, pages;         /* S_{k-1}, S_k */
    int cap;                            /* the cap set; -1: not (yet) */
};

struct xconv_policy {
    struct xconv_opts o;
    unsigned throttle;                  /* in force; 0: none */
    unsigned high;                      /* non-converging passes in a row */
    bool stopped;
    unsigned nsteps;                    /* ever decided */
    struct xconv_step steps[XCONV_MAX_STEPS];   /* the first ones */
};

void xconv_opts_default(struct xconv_opts *o);
/* The value of --auto-converge=...; arg NULL: the defaults.  -EINVAL
 * (err set) for anything but "START,STEP,MAX": decimal, no sign, no
 * leading zero, no space, 1 <= START <= MAX <= 99, 1 <= STEP <= 99. */
struct xlmig_error;
int xconv_parse(const char *arg, struct xconv_opts *o,
                struct xlmig_error *err);

void xconv_policy_init(struct xconv_policy *p, const struct xconv_opts *o);
/*
 * At the start of live pass `pass` (>= 1) whose set is `pages`, the
 * previous pass having sent `prev_pages`: the new throttle to apply now,
 * or 0 to leave things as they are.  Records the step.
 */
unsigned xconv_policy_pass(struct xconv_policy *p, uint64_t now_ns,
                           unsigned pass, uint64_t prev_pages,
                           uint64_t pages);
/* The cap that the last step's throttle became (or -1 if it failed). */
void xconv_policy_set_cap(struct xconv_policy *p, int cap);
/* The guest is suspended (or the migration ended): no further steps. */
void xconv_policy_stop(struct xconv_policy *p);
/* The steps as a JSON array of {"t","pass","throttle_pct","cap",
 * "prev_pages","pages"}, t in seconds since t0_ns, appended to buf at
 * *pos (snprintf style, as xlmig_json_fmt). */
void xconv_steps_json(const struct xconv_policy *p, uint64_t t0_ns,
                      char *buf, size_t len, size_t *pos);

#endif
