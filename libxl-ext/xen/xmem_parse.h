/*
 * Xen's memory pre-copy, followed from libxc's progress reports.
 *
 * Where the reports come from (Xen 4.17.5 sources; Debian's 4.17.5+72 has
 * the same files):
 *
 *   tools/libs/guest/xg_sr_save.c   (in libxl-save-helper, a child process)
 *     :452-468 update_progress_string: the prefix "Frames iteration %u"
 *              (ctx->save.stats.iteration: 0 for the full first pass)
 *     :385-387 send_dirty_pages: xc_report_progress_step(written, entries)
 *              when written % 1024 == 0 (every 4 MiB), so done = 0 exactly
 *              once per pass, first;  :399 then (entries, entries)
 *     :481-490 the precopy policy libxl leaves in place (libxl sets no
 *              precopy_policy): stop-and-copy after 5 live passes
 *              (iterations 0..4) or when fewer than 50 pages are dirty;
 *              a set under 50 is still sent live first, then the final
 *     :355     "Domain now suspended" (single)     :639-693 the final pass,
 *              prefix "Frames iteration N" again (N = 5 after the fifth
 *              pass; the same N as the last live pass if it stopped on
 *              "< 50": only "Domain now suspended" tells them apart); an
 *              empty final set still reports (0, 0) under that prefix
 *     :859 "Start of stream", :957 "End of stream", :963 "Complete"
 *              (singles); :710 "Frames verify" (--debug), :783 "Frames"
 *              (non-live save), :670 "Checkpointed save" (Remus/COLO)
 *   tools/libs/ctrl/xc_private.c:206-226  single: xtl_progress(handler,
 *              "xc", doing, 0, 0); step: xtl_progress(handler, "xc",
 *              prefix, done, total)
 *   tools/libs/toollog/xtl_core.c:65-78   xtl_progress: percent = done *
 *              100 / total (0 if total is 0), then logger->progress(...)
 *   tools/libs/light/libxl_save_helper.c:70-76, :223  the helper's libxc
 *              logs to a logger whose progress() sends (context,
 *              doing_what, done, total) to the parent (percent dropped);
 *              :56-68 every vmessage, at every level, likewise ("log")
 *   tools/libs/light/libxl_save_msgs_gen.pl:18-25  the "log" and
 *              "progress" messages
 *   tools/libs/light/libxl_save_callout.c:287-317  the parent reads them in
 *              libxl's event loop (ctx locked); :402-417 log ->
 *              xtl_log(CTX->lg, level, ...), progress ->
 *              xtl_progress(CTX->lg, context, doing_what, done, total)
 *
 * So the logger given to libxl_ctx_alloc sees, from the thread that runs
 * libxl's event loop (the caller of a synchronous libxl_domain_suspend),
 * progress(lg, "xc", "Frames iteration 0", percent, done, total) calls, no
 * level attached: levels exist only for vmessage, and the stdio logger
 * (xtl_logger_stdio.c:99-138) prints a progress step at XTL_PROGRESS when
 * the percentage moved by 5 or more (or went back), at XTL_DETAIL
 * otherwise, never twice for the same percentage.  Restore reports no
 * progress (xg_sr_restore.c has none): the destination learns nothing.
 *
 * In a live migration a pass k >= 1 sends the pages dirtied since the
 * log-dirty bitmap was last cleaned, i.e. during pass k-1 (logdirty is
 * enabled just before pass 0).  Hence the dirty rate of pass k-1: the size
 * of pass k's set over the time from pass k-1's start to pass k's start
 * (for the final set: to "Domain now suspended").  It counts distinct
 * pages, so it is the rate that matters to migration, and a lower bound
 * once the set is the whole memory.
 *
 * This file is the parser and the estimates, pure (time is an argument);
 * xmem_progress.h wraps it into a xentoollog logger.
 */
#ifndef XLMIG_XEN_XMEM_PARSE_H
#define XLMIG_XEN_XMEM_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#define XMEM_MAX_PASSES 64          /* kept; older ones are dropped */
#define XMEM_SAMPLES 32             /* for the transfer rate */
#define XMEM_RATE_WINDOW_NS 2000000000ull
#define XMEM_MIN_WINDOW_NS 200000000ull

enum xmem_state {
    XMEM_IDLE,                      /* nothing seen yet */
    XMEM_STARTED,                   /* "Start of stream" */
    XMEM_LIVE,                      /* passes while the guest runs */
    XMEM_SUSPENDED,                 /* "Domain now suspended": final pass */
    XMEM_VERIFY,                    /* "Frames verify" (--debug) */
    XMEM_END,                       /* "End of stream" */
    XMEM_COMPLETE,                  /* "Complete" */
};

/* What one report changed. */
enum xmem_event {
    XMEM_EV_NONE,                   /* not a save report (ignored) */
    XMEM_EV_START,
    XMEM_EV_PASS,                   /* a new pass began (its set is known) */
    XMEM_EV_PROGRESS,               /* pages sent within the pass */
    XMEM_EV_SUSPENDED,
    XMEM_EV_END,
    XMEM_EV_COMPLETE,
};

struct xmem_pass {
    unsigned iteration;             /* libxc's number ("Frames iteration N") */
    bool final;                     /* sent with the guest suspended */
    uint64_t pages;                 /* the set: libxc's total */
    uint64_t sent;                  /* libxc's done */
    uint64_t t_start_ns;
    uint64_t t_end_ns;              /* 0 while it runs */
    double dirty_pps;               /* dirtied during it; < 0: not known */
};

/* Assumptions for the ETA: libxenguest's default policy unless told. */
struct xmem_model {
    unsigned page_size;             /* 4096 */
    unsigned max_iters;             /* 5: stop-and-copy after pass 4 */
    unsigned target_dirty;          /* 50: a smaller set ends pre-copy */
};

struct xmem_parser {
    struct xmem_model m;
    enum xmem_state state;
    uint64_t t_first_ns;            /* first report */
    uint64_t t_suspended_ns;        /* 0: not yet */
    uint64_t total_pages;           /* pass 0's set: the guest's p2m size */
    uint64_t sent_before;           /* pages of the passes before cur */
    unsigned npasses;               /* ever started */
    struct xmem_pass pass[XMEM_MAX_PASSES];
    unsigned nkept;                 /* in pass[], oldest first */
    double last_dirty_pps;          /* newest known estimate, < 0: none */
    struct { uint64_t t_ns, sent; } sample[XMEM_SAMPLES];
    unsigned nsample, sample_head;
    double last_rate_pps;           /* last rate over a full window */
};

/* A snapshot for reports (xlmig's JSON, xenstore, jobinfo, the policy). */
struct xmem_stats {
    enum xmem_event event;          /* what the report that made it did */
    enum xmem_state state;
    unsigned pass;                  /* index of the current pass, from 0 */
    unsigned iteration;             /* libxc's number */
    bool final;
    uint64_t total_pages;           /* 0: not known yet */
    uint64_t iter_pages;            /* the current pass' set */
    uint64_t iter_sent_pages;
    uint64_t prev_iter_pages;       /* the previous pass' set; 0: none */
    uint64_t sent_pages;            /* over all passes */
    int64_t remaining_pages;        /* estimate; < 0: not known */
    double rate_pps, rate_Bps;      /* < 0: not known */
    double dirty_pps;               /* newest estimate; < 0: not known */
    double eta_s;                   /* < 0: not known */
    bool eta_lower_bound;           /* no dirty rate known yet (pass 0) */
    int64_t expected_final_pages;   /* the stop-and-copy set, estimated */
    double expected_downtime_ms;    /* of the memory: final set / rate */
    double elapsed_s;               /* since the first report */
    double iter_elapsed_s;
    unsigned page_size;
};

void xmem_model_default(struct xmem_model *m);
void xmem_parser_init(struct xmem_parser *p, const struct xmem_model *m);
/* One logger progress() call.  Reports of other contexts than "xc" and
 * strings libxc does not send during a save are XMEM_EV_NONE.  "Start of
 * stream" after anything starts over (the next save on the same ctx).
 * libxc's reports name no domain: two saves at once on one ctx mix. */
enum xmem_event xmem_parser_feed(struct xmem_parser *p, uint64_t now_ns,
                                 const char *context, const char *doing,
                                 unsigned long done, unsigned long total);
void xmem_parser_stats(const struct xmem_parser *p, uint64_t now_ns,
                       struct xmem_stats *st);
/* The pass with absolute index i (0 = first), or NULL if not kept. */
const struct xmem_pass *xmem_parser_pass(const struct xmem_parser *p,
                                         unsigned i);
/*
 * The time left until the stream's pages are all sent, simulating the
 * policy from the current pass on: each next set is what dirty_pps
 * dirties (distinct pages, at most total) while the previous one is sent
 * at rate_pps.  Also the final set it expects.  < 0 if rate_pps <= 0.
 */
double xmem_eta(const struct xmem_model *m, unsigned iteration, bool final,
                uint64_t total, uint64_t left, double pass_elapsed_s,
                double rate_pps, double dirty_pps, double *final_pages);
const char *xmem_state_name(enum xmem_state s);

#endif
