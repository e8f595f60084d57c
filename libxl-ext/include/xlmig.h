/*
 * libxlmig: live migration of a guest's local disks.
 *
 * The library runs a disk migration from start to end on either side: the
 * source (negotiate, PUSH until converged, keep-up while the toolstack
 * moves the guest's memory, stop-copy, the hand-off, the post-copy
 * service) and the destination (targets created by its own policy, the
 * streamed blocks written, post-copy gates armed, stale blocks fetched and
 * installed after the hand-off).  What is not about disks -- suspending the
 * guest and moving its memory, the point of no return, resuming it, running
 * it on the destination -- the caller does in hooks, so that any toolstack
 * can drive a migration: the `xlmig` command (simulated guests, and Xen
 * through libxl), Xen's own `xl`, a Ganeti node daemon, libvirt's libxl
 * driver.
 *
 * Conventions
 *   - Handles are opaque; each is created by a *_new function and freed by
 *     the matching *_free, which accepts NULL.
 *   - Functions that can fail return 0 (or a count) on success and a
 *     negative errno value on failure.  The reason, as one line of text, is
 *     left in the struct xlmig_error the caller passed, or in the handle
 *     (xlmig_source_error(), xlmig_dest_error()).
 *   - The library never prints, never exits and never changes signal
 *     dispositions.  It reports through the caller's event and log
 *     callbacks, from any of its threads (see each callback).
 *   - A handle is used by one thread at a time, except for the functions
 *     documented as callable from another thread or a signal handler.
 *   - Strings passed in are copied unless documented otherwise.
 *
 * Building against it:  cc prog.c $(pkg-config --cflags --libs libxlmig)
 */
#ifndef XLMIG_H
#define XLMIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The API this header describes: major changes break callers. */
#define XLMIG_API_MAJOR 1
#define XLMIG_API_MINOR 4
#define XLMIG_API_VERSION (XLMIG_API_MAJOR * 1000 + XLMIG_API_MINOR)

/* The library's version string, e.g. "0.2.0". */
const char *xlmig_version(void);

/* ---- errors ------------------------------------------------------------ */

#define XLMIG_ERRLEN 256

/* A failure: a positive errno value and a one-line message. */
struct xlmig_error {
    int code;
    char msg[XLMIG_ERRLEN];
};

/* ---- logging and progress ----------------------------------------------- */

enum xlmig_log_level {
    XLMIG_LOG_DEBUG,
    XLMIG_LOG_INFO,             /* what a user watching would want to know */
    XLMIG_LOG_WARN,             /* something is off but the job goes on */
    XLMIG_LOG_ERROR,
};

/*
 * Called from the library's threads, possibly concurrently: must be
 * thread-safe and must not call back into the handle.  msg has no newline.
 */
typedef void xlmig_log_fn(void *opaque, enum xlmig_log_level level,
                          const char *msg);

/*
 * A progress event.  Numeric fields below zero and NULL strings do not
 * apply to the event.
 *
 * event: "phase" (a phase starts), "pass" (a dirty pass is decided: it
 * starts, or with a message the verdict that ends the passes; a keep-up
 * pass starts), "progress" (about twice a second while data moves),
 * "stopcopy", "handoff", "postcopy" (post-copy paused or recovering),
 * "done", "error", "warning" (message: e.g. the disk downtime exceeded the
 * budget).  phase: "negotiate", "push", "dirty", "keepup", "stopcopy",
 * "handoff", "postcopy", "postcopy-paused", "postcopy-recovering", "done".
 *
 * pass counts one way everywhere: dirty pass N of an event is the N-th
 * dirty pass sent, as in the report's "passes" (keep-up passes, while the
 * memory moves, are counted apart: phase "keepup", pass 1, 2, ...).
 * remaining_* falls as the phase (the pass) progresses; total_* is the
 * phase's (the pass's) whole set.  rate_Bps is the payload (disk bytes
 * read and sent, or skipped as zeros), wire_rate_Bps what the data channel
 * carries after compression.  expected_downtime_ms is the disk downtime
 * (quiesce to destination ready) if stop-copy started now: the final
 * set's send time plus the costs measured so far (snapshot, quiesce,
 * round trip to the destination).
 *
 * A toolstack that moves the guest's memory in its suspend hook may report
 * it with the same events (API 1.3): event "memory" (phase "memory") for
 * its progress, "autoconverge" for a throttle step, with `memory` set.
 */
struct xlmig_memory {
    const char *state;          /* "started", "live", "suspended", "end",
                                 * "complete" */
    int pass;                   /* from 0 (the first, full pass) */
    int iteration;              /* the hypervisor tools' own number */
    bool final;                 /* this pass runs with the guest paused */
    int64_t total_pages;        /* the guest's memory; < 0: not known yet */
    int64_t iter_pages;         /* this pass' set */
    int64_t iter_sent_pages;
    int64_t sent_pages;         /* all passes */
    int64_t remaining_pages;    /* estimate */
    double rate_pps, rate_Bps;  /* transfer, recent */
    double dirty_rate_pps;      /* pages the guest dirties per second */
    double eta_s;
    bool eta_lower_bound;       /* no dirty rate known yet */
    double expected_downtime_ms;        /* of the memory's final pass */
    int page_size;
    /* Auto-converge (the guest's CPU throttled while memory iterates). */
    int throttle_pct;           /* in force, 0: none yet; < 0: off */
    int cap;                    /* the CPU cap set; < 0: none */
    int orig_cap;               /* the domain's own (0: uncapped); < 0 */
    const char *sched;          /* the scheduler; NULL */
};

struct xlmig_event {
    const char *event;
    const char *phase;
    const char *role;           /* "source" or "destination" */
    double t;                   /* seconds since the handle was created */
    int pass;                   /* dirty pass number, 1 for the first */
    int64_t total_bytes;        /* the phase's work, for a percentage */
    int64_t remaining_blocks;
    int64_t remaining_bytes;
    int64_t sent_bytes;         /* disk bytes covered so far */
    int64_t wire_bytes;         /* bytes on the data channel so far */
    double rate_Bps;            /* disk bytes per second, recent */
    double wire_rate_Bps;       /* data channel bytes per second, recent */
    double eta_s;
    double expected_downtime_ms;        /* disk downtime, see the report */
    const char *message;
    /* Since API 1.1. */
    int64_t total_blocks;       /* the phase's work in blocks (post-copy:
                                   stale at the hand-off) */
    int64_t block_size;
    int64_t demanded_blocks;    /* post-copy so far: fetched on demand */
    int64_t background_blocks;  /* post-copy so far: pushed unasked */
    int64_t installed_blocks;   /* post-copy so far: installed (destination) */
    int max_passes;             /* the dirty-pass limit (pass events) */
    double downtime_budget_ms;  /* the disk downtime budget */
    /* Since API 1.3. */
    const struct xlmig_memory *memory;  /* "memory", "autoconverge" */
};

/* Same threading rules as xlmig_log_fn. */
typedef void xlmig_event_fn(void *opaque, const struct xlmig_event *ev);

/*
 * The event as one line of JSON (no newline), the format `xlmig --json`
 * prints: {"event":...,"t":...,"role":...,"phase":...,...} with the fields
 * that apply.  Returns the length it needed (like snprintf).
 */
size_t xlmig_event_json(const struct xlmig_event *ev, char *buf, size_t len);

/* ---- block backends ------------------------------------------------------ */

/*
 * What serves a guest's virtual disk: write tracking and quiesce on the
 * source, the post-copy gate on the destination.  The caller opens it and
 * hands it to a source or destination, which borrow it (the caller closes
 * it after freeing the migration handle).
 */
struct xlmig_vbd;

/* The simulated VBD served by `xlmig-vbdsim serve --socket PATH`. */
int xlmig_vbd_sim_open(const char *socket_path, struct xlmig_vbd **out,
                       struct xlmig_error *err);
/*
 * The patched xen-blkback's VBD of (domid, devid); devid is the frontend's
 * virtual device number (51712 for xvda).  -ENOSYS in a build without Xen.
 */
int xlmig_vbd_blkback_open(uint32_t domid, uint32_t devid,
                           struct xlmig_vbd **out, struct xlmig_error *err);
/*
 * Since API 1.4.
 * Just an image file (or block device), nothing serving it: a stopped
 * guest's disk for a cold migration (opts.offline), or what a post-copy
 * resumed from a saved session reads.  No tracking, no quiesce.
 */
int xlmig_vbd_image_open(const char *path, struct xlmig_vbd **out,
                         struct xlmig_error *err);
/* Where the engine reads (source) or installs (destination) the data. */
const char *xlmig_vbd_data_path(const struct xlmig_vbd *v);
/* Replaces that path (e.g. the image file instead of its loop device). */
int xlmig_vbd_set_data_path(struct xlmig_vbd *v, const char *path);
/* The last failure of an operation on v. */
const char *xlmig_vbd_error(const struct xlmig_vbd *v);
void xlmig_vbd_close(struct xlmig_vbd *v);

/* ---- estimates ------------------------------------------------------------ */

/*
 * Since API 1.4.
 * What a migration would do, measured before it starts
 * (xlmig_source_estimate) or by the engine early in a real one
 * (xlmig_source_prediction).  Figures below zero are unknown.
 */
struct xlmig_estimate {
    /* measured */
    unsigned ndisks;
    uint64_t disk_bytes, allocated_bytes;
    double zero_fraction;       /* allocated bytes that read as zeros */
    double compress_ratio;      /* deflate level 1 on a sample: out / in */
    double compress_Bps;        /* ... one worker's speed */
    double rtt_ms;              /* the data channel's round trip */
    double link_Bps;            /* the data channel alone */
    double pipeline_Bps;        /* disk bytes per second through the whole
                                 * pipeline (read, compression, link,
                                 * the destination's decoding) */
    double dirty_Bps;           /* the guest dirties this many distinct
                                 * bytes per second (over one second) */
    uint64_t working_set_bytes; /* distinct bytes it wrote over the sample */
    double sample_s;            /* how long it was watched */
    double memory_s;            /* the memory phase assumed */
    /* predicted */
    double total_s;
    double push_s;              /* full pass and dirty passes */
    unsigned passes;            /* dirty passes (keep-up included) */
    const char *stop_reason;    /* why PUSH would stop */
    uint64_t final_blocks;      /* dirty at stop-copy */
    double downtime_ms;         /* disk downtime */
    bool postcopy;              /* the final blocks go after the hand-off */
    uint64_t postcopy_blocks;
    double postcopy_s;
    uint64_t wire_bytes;        /* both directions */
};

/* As one line of JSON ({"event":"estimate",...}); like snprintf. */
size_t xlmig_estimate_json(const struct xlmig_estimate *e, char *buf,
                           size_t len);

/* ---- the source ---------------------------------------------------------- */

enum xlmig_compress { XLMIG_COMPRESS_AUTO, XLMIG_COMPRESS_ALWAYS,
                      XLMIG_COMPRESS_NEVER };

struct xlmig_source_opts {
    uint32_t block_size;        /* tracking granularity, bytes (4096) */
    double max_downtime_ms;     /* disk downtime target (50) */
    bool postcopy;              /* hand stale blocks over as a bitmap (true) */
    uint64_t bandwidth_Bps;     /* data channel limit, 0 = none (0) */
    unsigned workers;           /* read/compress threads (2) */
    unsigned max_passes;        /* dirty passes at most (30); 0: none,
                                   stop-copy follows the full pass */
    enum xlmig_compress compress;               /* (AUTO) */
    int quiesce_timeout_ms;     /* blkback drain at stop-copy (10000) */
    int ack_timeout_ms;         /* a flush or a report of the destination
                                 * (300000) */
    /*
     * A peer that sends nothing (not even a heartbeat: both sides send one
     * every peer_timeout_ms / 6) or takes no data for this long is gone
     * (30000).
     */
    int peer_timeout_ms;
    /*
     * The guest stays suspended without a running copy anywhere at most
     * this long: if the destination has not confirmed stop-copy and said
     * READY by then, the guest resumes here (30000).  max_downtime_ms is
     * the target; this is the hard limit.
     */
    int stopcopy_timeout_ms;
    /* Post-copy: how long a broken link is retried (reconnect hook) and a
     * paused post-copy waits for recovery (3600). */
    int recover_timeout_s;
    /*
     * Since API 1.2.  Data connections (1..8; 1): the extra ones are
     * opened with the reconnect hook after negotiation and carry their
     * share of PUSH and stop-copy (each block always on the same one);
     * post-copy and its recovery use the first.  A destination that takes
     * one connection, or no reconnect hook, means one.
     */
    unsigned connections;
    /*
     * While the suspend hook moves the memory over the same network,
     * keep-up sends on average at most this share of the link rate PUSH
     * measured, when post-copy can take what the guest writes beyond it
     * (postcopy true); 0 or >= 1: no cap (0.25; API 1.3).
     */
    double keepup_share;
    /*
     * Since API 1.4.
     * End-to-end check (false): a SHA-256 of every 64 KiB as the source
     * reads it travels with the data; the destination reads the blocks
     * back from its disk and compares.  What reads back wrong is sent
     * again (before GO), or fetched again behind the gate (post-copy).
     */
    bool verify;
    /*
     * Cold migration (false): the guest does not run.  No write tracking,
     * no suspend (the suspend hook is optional and called once the disks
     * are copied: it may send the guest's configuration with
     * xlmig_source_send_state()), one pass over the allocated blocks.  A
     * destination that kept an earlier, interrupted attempt of the same
     * images receives only what it is missing.
     */
    bool offline;
};

/* Fills o with the defaults shown above. */
void xlmig_source_opts_init(struct xlmig_source_opts *o);

struct xlmig_source;

/*
 * Return values of xlmig_source_hooks.handoff and of xlmig_source_run()
 * beyond 0 / -errno.
 */
enum {
    /* handoff: the destination could not run the guest, its copy is gone
     * and the guest must resume here (before GO, or GO was refused). */
    XLMIG_HANDOFF_REFUSED = 1,
    /* handoff: GO may have reached the destination but its answer did not
     * come back: nobody knows which side runs the guest. */
    XLMIG_HANDOFF_UNKNOWN = 2,
};

/*
 * What the toolstack does around the disks.  Every hook receives opaque.
 * Hooks run on the thread that called xlmig_source_run(); they may block
 * (for as long as moving a guest's memory takes).
 */
struct xlmig_source_hooks {
    void *opaque;
    /*
     * PUSH has converged and keep-up runs: move the guest's memory and
     * leave the guest suspended (xl: libxl_domain_suspend(LIVE)).  Call
     * xlmig_source_mark_suspended() as soon as the guest stops running
     * here, even if failing afterwards, so that the downtime is measured
     * from there and a rollback knows to resume it.  A simulated guest's
     * state may be sent with xlmig_source_send_state() from here.  0, or a
     * negative errno: roll back.  Required.
     */
    int (*suspend)(void *opaque, struct xlmig_source *s);
    /*
     * The final blocks are on the destination (or handed over as a
     * bitmap): exchange READY and GO with the destination.  0: GO was
     * given and the destination reports the guest running; negative
     * errno: failed before GO (roll back); XLMIG_HANDOFF_REFUSED or
     * XLMIG_HANDOFF_UNKNOWN as above.  NULL: the library does it on the
     * data channel (READY / GO / REPORT records).
     */
    int (*handoff)(void *opaque, struct xlmig_source *s);
    /*
     * Rolling back before GO: resume the suspended guest here (xl:
     * libxl_domain_resume(suspend_cancel=1)).  Called only when the
     * suspend hook marked the guest suspended.  0 or a negative errno.
     */
    int (*resume)(void *opaque, struct xlmig_source *s);
    /*
     * After GO: the destination runs the guest; destroy the copy here (xl:
     * libxl_domain_destroy).  The source images are still read until
     * post-copy ends.  When the hand-off's outcome was unknown (GO sent,
     * no REPORT), called only once the destination's DONE proves that it
     * runs the guest, at the end of post-copy.  Optional.
     */
    void (*after_go)(void *opaque, struct xlmig_source *s);
    /*
     * After GO, before the post-copy service starts: last chance to
     * detach (e.g. to let the caller's process exit while a child serves
     * post-copy).  Optional.
     */
    void (*postcopy_start)(void *opaque, struct xlmig_source *s);
    /*
     * Post-copy paused (the channel broke): open a new data channel to the
     * destination (its fds become the library's, which closes them) and
     * return 0, or a negative errno to be called again after a backoff
     * (0.5 s doubling to 30 s) until opts.recover_timeout_s.  The old
     * channel's fds are no longer used by the library.  Optional: without
     * it, only xlmig_source_recover_channel() resumes.  Also called after
     * negotiation for each extra connection (opts.connections > 1), from
     * the thread of xlmig_source_run(): a failure there rolls back.
     */
    int (*reconnect)(void *opaque, struct xlmig_source *s, int *rfd,
                     int *wfd);
};

/*
 * Creates a source for one migration.  The hooks are copied.  0 or
 * -errno with err filled in.
 */
int xlmig_source_new(const struct xlmig_source_opts *o,
                     const struct xlmig_source_hooks *h,
                     struct xlmig_source **out, struct xlmig_error *err);
/*
 * Where progress events and log messages go (both optional; opaque is
 * passed to them).  Call before xlmig_source_run().
 */
void xlmig_source_set_observer(struct xlmig_source *s, xlmig_event_fn *event,
                               xlmig_log_fn *log, void *opaque);
/*
 * Adds a disk, known to the destination by name (1..64 characters of
 * [A-Za-z0-9._-]).  vbd is borrowed until xlmig_source_free().  Its data
 * path is opened read-only now.
 */
int xlmig_source_add_disk(struct xlmig_source *s, const char *name,
                          struct xlmig_vbd *vbd);
/*
 * The data channel: a connected socket (rfd == wfd) or two pipe ends.
 * Borrowed: the caller closes them after xlmig_source_free().
 */
int xlmig_source_set_channel(struct xlmig_source *s, int rfd, int wfd);
/*
 * Runs the whole migration.  Returns 0 once the destination runs the
 * guest and holds every block; -errno if it failed before GO (the guest
 * runs here again, the destination deleted its copy); or, after GO,
 * XLMIG_RESULT_POSTCOPY_FAILED (the destination runs the guest but some
 * blocks exist only in the source images: keep them;
 * xlmig_source_stale_blocks() says how many) or
 * XLMIG_RESULT_UNKNOWN (the hand-off's outcome is unknown).
 */
enum {
    XLMIG_RESULT_POSTCOPY_FAILED = 3,
    XLMIG_RESULT_UNKNOWN = 4,
};
int xlmig_source_run(struct xlmig_source *s);
/*
 * Post-copy paused: resume on this channel (now the library's).  Safe from
 * another thread; -EBUSY if one is already waiting to be tried.
 */
int xlmig_source_recover_channel(struct xlmig_source *s, int rfd, int wfd);
/*
 * What a new engine needs to resume this migration's post-copy after this
 * one died (disks, images, block size, the destination's secret), as text
 * lines (write it to a file only root reads).  Meaningful after GO; like
 * snprintf.  A front may add lines of its own that do not start with
 * "xlmig-" keys (they are ignored when read back).
 */
size_t xlmig_source_session(const struct xlmig_source *s, char *buf,
                            size_t len);
/*
 * A source that resumes a saved session's post-copy: xlmig_source_run()
 * goes straight to recovery (reconnect hook / recover_channel) and serves
 * the destination's stale blocks from the image files.  No disk is added:
 * the session names them.
 */
int xlmig_source_new_resumed(const char *session,
                             const struct xlmig_source_opts *o,
                             const struct xlmig_source_hooks *h,
                             struct xlmig_source **out,
                             struct xlmig_error *err);
/*
 * Since API 1.4.
 * What the estimate measures for how long, and the toolstack's own costs
 * it cannot measure without doing them (seconds).
 */
struct xlmig_estimate_opts {
    double sample_s;            /* watch the guest's writes (5; 1..600) */
    double memory_s;            /* moving the memory; keep-up meanwhile (0) */
    double setup_s;             /* the destination's preparation beyond
                                 * round trips: targets, backends (0) */
    double state_s;             /* the destination taking the guest's
                                 * state, within the downtime (0) */
    double handoff_s;           /* the hand-off: starting the guest
                                 * there, destroying it here (0) */
    /* The guest's memory, moved over the same link after PUSH (0): adds
     * memory_bytes / link rate x 1.1 to memory_s (libxc's pre-copy sends
     * some pages twice; a guest that dirties its memory fast takes
     * longer). */
    uint64_t memory_bytes;
};
void xlmig_estimate_opts_init(struct xlmig_estimate_opts *o);
/*
 * Instead of xlmig_source_run(): measures what a migration of the added
 * disks over this channel would do, and predicts it, changing nothing on
 * either host (the destination's receiver creates nothing).  With
 * opts.offline, a cold migration is predicted.  0 or -errno
 * (xlmig_source_error()).  The handle is spent afterwards (free it; a
 * migration needs a new one and a new channel).
 */
int xlmig_source_estimate(struct xlmig_source *s,
                          const struct xlmig_estimate_opts *eo,
                          struct xlmig_estimate *e);
/*
 * A real migration records its own prediction two seconds into its full
 * pass (or at its end), from what it measured until then; the toolstack's
 * costs it cannot see are these (memory_s, state_s, handoff_s; sample_s
 * and setup_s are not used).  Optional, before xlmig_source_run().
 */
void xlmig_source_expect(struct xlmig_source *s,
                         const struct xlmig_estimate_opts *eo);
/* From the suspend hook: the guest no longer runs here (see above). */
void xlmig_source_mark_suspended(struct xlmig_source *s);
/*
 * Simulated guests: their suspended state travels on the data channel.
 * Only from the suspend hook.
 */
int xlmig_source_send_state(struct xlmig_source *s, const void *blob,
                            size_t len);
/*
 * Asks a running migration to stop as soon as it can: before GO it rolls
 * back.  After GO it does not stop the post-copy service (stopping it
 * would leave the destination's stale blocks unreachable).  Safe from
 * another thread and from a signal handler.
 */
void xlmig_source_cancel(struct xlmig_source *s);
/*
 * For hooks: records why the hook fails (the first reason recorded wins)
 * and returns -code, for `return xlmig_source_set_error(s, EIO, ...)`.
 */
int xlmig_source_set_error(struct xlmig_source *s, int code,
                           const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* true once the migration has failed or was cancelled: a hook that waits
 * (e.g. for memory to move) should give up. */
bool xlmig_source_failed(const struct xlmig_source *s);
/*
 * The hand-off on the data channel (READY / GO / REPORT records), which
 * the library runs when the handoff hook is NULL; a hook that must do
 * something first (e.g. commit a simulated guest to the hand-off) calls
 * it last.  Returns as the handoff hook does.
 */
int xlmig_source_handoff_default(struct xlmig_source *s);
/*
 * While the guest is suspended before GO: milliseconds left of the
 * stop-copy hard limit (a handoff hook bounds its waits with it); -1
 * otherwise.
 */
int64_t xlmig_source_time_left_ms(const struct xlmig_source *s);
/* true once GO has been given (the guest is the destination's). */
bool xlmig_source_past_go(const struct xlmig_source *s);
/* Blocks that exist only on the source now (post-copy not finished). */
uint64_t xlmig_source_stale_blocks(const struct xlmig_source *s);
/* The reason of the last failure ("" if none). */
const char *xlmig_source_error(const struct xlmig_source *s);

/* The source's figures once run() returned (or at any time after). */
struct xlmig_source_report {
    bool ok;
    bool past_go;
    bool postcopy;              /* stale blocks were handed over */
    unsigned ndisks;
    uint32_t block_size;
    double total_s;
    double disk_downtime_ms;    /* quiesce to destination synced, -1 n/a */
    double guest_downtime_ms;   /* suspended to GO, -1 n/a */
    double postcopy_s;          /* GO to DONE, -1 n/a */
    uint64_t allocated_bytes;
    uint64_t wire_bytes;        /* both directions */
    unsigned passes;            /* dirty passes sent (at most max_passes) */
    unsigned keepup_passes;     /* passes sent while the memory moved */
    uint64_t resent_blocks;
    uint64_t final_blocks;      /* dirty at stop-copy */
    uint64_t demanded_blocks, background_blocks;
    uint64_t installed_blocks, overwritten_blocks;   /* destination's count */
    uint64_t zlib_in, zlib_out, skipped_zero_bytes;
    const char *stop_reason;    /* why PUSH stopped; NULL: it did not end */
    const char *error;          /* NULL when ok */
    /* Since API 1.1. */
    bool suspended;             /* the guest was suspended here at some
                                   point (a rollback resumed it) */
    bool stopcopy;              /* stop-copy was reached (final_blocks,
                                   postcopy and the downtimes apply) */
    unsigned max_passes;        /* the dirty-pass limit */
    double downtime_budget_ms;  /* --max-downtime: for disk_downtime_ms */
    bool downtime_over_budget;  /* disk_downtime_ms > downtime_budget_ms */
    double expected_downtime_ms;        /* stop-copy's estimate, -1 n/a */
    double suspend_ms;          /* suspended to stop-copy (the memory's or
                                   the state's last part), -1 n/a */
    double quiesce_ms;          /* draining the VBDs at stop-copy, -1 n/a */
    double handoff_ms;          /* destination ready to GO, -1 n/a */
    double expected_guest_downtime_ms;  /* at stop-copy: the suspend so far
                                   + the disk's estimate + a hand-off of
                                   two round trips, -1 n/a */
    char compression[320];      /* what the compression policy did, why */
    /* Since API 1.2. */
    unsigned connections;       /* data connections PUSH used */
    /*
     * Since API 1.4.
     * --verify: NULL when not asked; "passed" (every check matched),
     * "repaired" (blocks read back wrong, were sent again and then
     * matched, or the guest overwrote them during post-copy), "failed",
     * "incomplete" (the destination's final count never came).
     */
    const char *verify_result;
    uint64_t verified_digests, verified_bytes;  /* as the destination read */
    uint64_t verify_mismatched_blocks;  /* each time a grain differed */
    uint64_t verify_unresolved_blocks;  /* still wrong at the end */
    uint64_t verify_resent_blocks;      /* sent again because of them */
    const char *verify_mismatches;      /* the first: "disk:block+n ..." */
    bool offline;               /* a cold migration */
    uint64_t resumed_blocks;    /* offline: already on the destination */
    /* The engine's own prediction (not for a cold migration). */
    bool predicted;
    double predicted_at_s;      /* when it was made */
    struct xlmig_estimate prediction;
};
void xlmig_source_get_report(const struct xlmig_source *s,
                             struct xlmig_source_report *r);
/* The report as one line of JSON ({"event":"report",...}); like snprintf. */
size_t xlmig_source_report_json(const struct xlmig_source *s, char *buf,
                                size_t len);
/* Frees s; if it is still running, call xlmig_source_cancel() and wait
 * for xlmig_source_run() to return first. */
void xlmig_source_free(struct xlmig_source *s);

/* ---- the destination ----------------------------------------------------- */

#define XLMIG_MAX_DISKS 16
#define XLMIG_MAX_NAME 64

/*
 * Where disks go: an explicit map entry for the disk's name, else
 * target_dir/<name>.img.  The sender's names never become paths otherwise.
 */
struct xlmig_dest_opts {
    const char *target_dir;             /* copied */
    bool allow_existing;        /* write into existing files / devices */
    /* Fork a cleanup process (before any thread of the library) that
     * deletes what was created if this process dies before GO.  The
     * caller must not have threads of its own when creating the handle
     * with this set. */
    bool janitor;
    int accept_timeout_ms;      /* unused by the library itself */
    int peer_timeout_ms;        /* as the source's (30000) */
    int recover_timeout_s;      /* as the source's (3600) */
    /*
     * Since API 1.2.  Write the data of PUSH and stop-copy to regular
     * files through the page cache (false: past it, O_DIRECT, where the
     * file system takes it -- far less CPU per byte; post-copy installs
     * always go through the page cache).
     */
    bool page_cache;
};
void xlmig_dest_opts_init(struct xlmig_dest_opts *o);

struct xlmig_dest;

struct xlmig_dest_hooks {
    void *opaque;
    /*
     * Every target exists (created or checked): attach a VBD to each with
     * xlmig_dest_attach_vbd() if the gates need one now (e.g. start the
     * paused guest's backends).  Optional.
     */
    int (*targets_ready)(void *opaque, struct xlmig_dest *d);
    /* A simulated guest's state arrived.  Optional. */
    int (*guest_state)(void *opaque, struct xlmig_dest *d, const void *blob,
                       size_t len);
    /*
     * Stop-copy is flushed and the gates armed: tell the source we are
     * ready and wait for GO.  0: GO came; negative errno: no GO (roll
     * back).  NULL: READY / GO records on the data channel.
     */
    int (*handoff)(void *opaque, struct xlmig_dest *d);
    /*
     * GO came: run the guest here.  0, or a negative errno: the library
     * then removes this copy and tells the source to resume (if handoff
     * is NULL, with the REPORT record; else the hook tells it itself).
     */
    int (*start_guest)(void *opaque, struct xlmig_dest *d);
    /* Before GO: undo what targets_ready did (stop the backends). */
    void (*rollback)(void *opaque, struct xlmig_dest *d);
    /*
     * Post-copy paused (the channel broke): wait up to timeout_ms for the
     * source's new channel (e.g. accept on the listening socket the first
     * one came from) and return 0 with its fds (the library's from now
     * on; it checks the session's secret), or a negative errno (-ETIMEDOUT:
     * called again).  Optional: without it, only
     * xlmig_dest_recover_channel() resumes.  The guest runs meanwhile; its
     * accesses to stale blocks wait in the gate.  Also called after
     * negotiation when the source opens extra connections (they show the
     * secret too); without it the destination takes one connection.
     */
    int (*accept_recovery)(void *opaque, struct xlmig_dest *d,
                           int timeout_ms, int *rfd, int *wfd);
};

int xlmig_dest_new(const struct xlmig_dest_opts *o,
                   const struct xlmig_dest_hooks *h, struct xlmig_dest **out,
                   struct xlmig_error *err);
/* As xlmig_source_set_observer(). */
void xlmig_dest_set_observer(struct xlmig_dest *d, xlmig_event_fn *event,
                             xlmig_log_fn *log, void *opaque);
/* Adds name=path to the placement map (checked). */
int xlmig_dest_map(struct xlmig_dest *d, const char *name, const char *path);
int xlmig_dest_set_channel(struct xlmig_dest *d, int rfd, int wfd);
/*
 * Runs the destination side.  0 when the guest runs here with every
 * block; -errno if it failed before the guest started here (what was
 * created is deleted); XLMIG_RESULT_POSTCOPY_FAILED if it runs here but
 * blocks are missing (they wait in the gate; the source must keep its
 * images; xlmig_dest_stale_blocks() says how many).
 */
int xlmig_dest_run(struct xlmig_dest *d);
/*
 * Since API 1.4.
 * After negotiation (in targets_ready and later): a cold migration (the
 * guest's state, if any, is its configuration; start_guest starts it from
 * its disks), or an estimate (nothing was created; run() returns once the
 * source has measured what it wanted, and no hook but targets_ready is
 * called).
 */
bool xlmig_dest_offline(const struct xlmig_dest *d);
bool xlmig_dest_estimate(const struct xlmig_dest *d);
/* After negotiation (in targets_ready and later). */
unsigned xlmig_dest_disk_count(const struct xlmig_dest *d);
const char *xlmig_dest_disk_name(const struct xlmig_dest *d, unsigned i);
const char *xlmig_dest_disk_path(const struct xlmig_dest *d, unsigned i);
/* The VBD serving disk i here (borrowed until xlmig_dest_free()). */
void xlmig_dest_attach_vbd(struct xlmig_dest *d, unsigned i,
                           struct xlmig_vbd *vbd);
/* Register a process the janitor terminates if we die before GO. */
int xlmig_dest_janitor_add_pid(struct xlmig_dest *d, int pid);
int xlmig_dest_janitor_add_file(struct xlmig_dest *d, const char *path);
/* As xlmig_source_handoff_default(), the destination's side. */
int xlmig_dest_handoff_default(struct xlmig_dest *d);
/* As xlmig_source_recover_channel(). */
int xlmig_dest_recover_channel(struct xlmig_dest *d, int rfd, int wfd);
/* For hooks, as xlmig_source_set_error(). */
int xlmig_dest_set_error(struct xlmig_dest *d, int code, const char *fmt,
                         ...) __attribute__((format(printf, 3, 4)));
/* Safe from another thread and from a signal handler (see source). */
void xlmig_dest_cancel(struct xlmig_dest *d);
bool xlmig_dest_past_go(const struct xlmig_dest *d);
uint64_t xlmig_dest_stale_blocks(const struct xlmig_dest *d);
const char *xlmig_dest_error(const struct xlmig_dest *d);

struct xlmig_dest_report {
    bool ok;
    bool past_go;
    unsigned ndisks;
    uint64_t data_bytes, zero_bytes;
    uint64_t stale_blocks;      /* handed over at stop-copy */
    uint64_t installed, refused, demanded;
    double postcopy_s;
    const char *error;
    /* Since API 1.4. */
    bool verify;                /* --verify was asked */
    struct {
        uint64_t digests, bytes;        /* read back and compared */
        uint64_t mismatched_blocks, unresolved_blocks;
        uint64_t skipped;               /* grains the guest wrote first */
    } verified;
    const char *verify_mismatches;      /* the first: "disk:block+n ..." */
    bool offline;               /* a cold migration */
    bool estimate;              /* only measured: nothing was created */
    uint64_t resumed_blocks;    /* offline: kept from an earlier attempt */
};
void xlmig_dest_get_report(const struct xlmig_dest *d,
                           struct xlmig_dest_report *r);
size_t xlmig_dest_report_json(const struct xlmig_dest *d, char *buf,
                              size_t len);
void xlmig_dest_free(struct xlmig_dest *d);

/* ---- simulated guests ------------------------------------------------------
 *
 * `xlmig-vbdsim serve` runs a guest workload on its VBD (tagged writes,
 * checked reads).  These drive it through a VBD opened with
 * xlmig_vbd_sim_open(); each returns 0 or -errno (xlmig_vbd_error()).
 */

/* Source: stops the guest; its state (free() it) is to be sent with
 * xlmig_source_send_state().  Idempotent while suspended. */
int xlmig_sim_guest_suspend(struct xlmig_vbd *v, void **blob, size_t *len);
/* Source rollback: the suspended guest runs on. */
int xlmig_sim_guest_resume(struct xlmig_vbd *v);
/* Source, before GO: from now on the daemon never resumes the guest by
 * itself when the migration tool goes away. */
int xlmig_sim_guest_handoff(struct xlmig_vbd *v);
/* Destination: loads a state; the guest stays paused. */
int xlmig_sim_guest_load(struct xlmig_vbd *v, const void *blob, size_t len);
/* Destination: starts the loaded guest. */
int xlmig_sim_guest_unpause(struct xlmig_vbd *v);
/* Asks the daemon to exit. */
int xlmig_sim_shutdown(struct xlmig_vbd *v);

#ifdef __cplusplus
}
#endif

#endif
