/* Shared bits of the xlmig command's subcommands. */
#ifndef XLMIG_CLI_H
#define XLMIG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cli_opt.h"
#include "cli_progress.h"
#include "xlmig.h"

int cmd_send(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_migrate_sender(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);
int cmd_jobinfo(int argc, char **argv);
int cmd_migrate_recover(int argc, char **argv);
int cmd_estimate(int argc, char **argv);
int cmd_recover_cap(int argc, char **argv);

/*
 * Migration is background work: below the guests' own I/O path (blkback,
 * or the simulated VBD) so that their latency holds while we copy.
 */
void cli_lower_priority(int nice_level);

/* --keepup-share: 1..100 percent into a share (100: 0, no limit); 0 or 1
 * (error printed). */
/* The common options (rates, sizes, bounds, the keep-up share) into a
 * source's options; postcopy and the modes are the command's. */
void cli_common_to_source(const struct cli_common *c,
                          struct xlmig_source_opts *o);

/* Prints "xlmig: <message>" to stderr; returns 1 (an exit status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Option parsing for a command: the sets (the command's own options and
 * shared ones), then -h/--help (usage on stdout, exit 0) and -V/--version.
 * Returns the index of the first operand, or -1 with *status set to the
 * exit status (0 after --help/--version, 2 after a bad option: the message
 * names the option and its range; usage says where to look).
 */
int cli_parse_command(const char *cmd, struct cli_optset *sets, size_t nsets,
                      int argc, char **argv, const bool *help,
                      const bool *version,
                      void (*usage)(FILE *f, const struct cli_optset *sets,
                                    size_t nsets), int *status);
/* "xlmig 0.2.0" */
void cli_print_version(void);

/* cli_events.c: where events and log messages go. */
struct cli_out {
    bool json, quiet;
    struct cli_progress_term prog;      /* the human display, on stderr */
    /* For the notice a signal after the hand-off prints. */
    struct xlmig_source *src;
    struct xlmig_dest *dst;
    bool noticed;
    int64_t stale_left;         /* destination: post-copy's last count */
    FILE *jf;                   /* JSON lines go here (NULL: stdout) */
    double last_mem_t;          /* memory lines: the last one's time */
    int last_mem_pass;          /* a pass change always shows */
    const char *last_mem_state;
};
/* role: "source" or "destination"; budget_ms and max_passes (< 0:
 * unknown) for the display's verdict line. */
void cli_out_init(struct cli_out *o, bool json, bool quiet, const char *role,
                  double budget_ms, int max_passes);
/* Ends the display (before a report or a verdict). */
void cli_out_finish(struct cli_out *o);
void cli_out_destroy(struct cli_out *o);
void cli_on_event(void *opaque, const struct xlmig_event *ev);
void cli_on_log(void *opaque, enum xlmig_log_level level, const char *msg);
/* As cli_on_log, but xl's own lines ("xl: ...", xflow.h) verbatim. */
void cli_on_xl_log(void *opaque, enum xlmig_log_level level,
                   const char *msg);
/* An informational line ("xlmig: ..."), not with --quiet. */
void cli_info(struct cli_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * cli_report.c: the final reports as people read them (scripts read
 * --json).  Only the lines that apply: nothing about stop-copy when it was
 * not reached, no post-copy figures without post-copy, no targets on a
 * failure that deleted them.
 */
void cli_print_source_report(FILE *f, const struct xlmig_source_report *r);
/* names[i], paths[i]: the destination's disks. */
void cli_print_dest_report(FILE *f, const struct xlmig_dest_report *r,
                           const char *const *names,
                           const char *const *paths);
/*
 * The one line that says how the migration ended, on stderr; returns the
 * exit status.  rc: what run() returned; sig: the signal that cancelled
 * (0: none); resumed: the source guest runs again after a rollback
 * (false: it could not be resumed).
 */
int cli_source_verdict(FILE *f, int rc, const struct xlmig_source_report *r,
                       uint64_t stale_blocks, int sig, bool resumed);
int cli_dest_verdict(FILE *f, int rc, const struct xlmig_dest_report *r,
                     uint64_t stale_blocks, int sig);

/* cli_report_ext.c: verification and estimate lines after the report. */
void cli_print_source_extra(FILE *f, const struct xlmig_source_report *r);
void cli_print_dest_extra(FILE *f, const struct xlmig_dest_report *r);
/*
 * --remove-source after a migration that succeeded: deletes the source
 * images, unless --verify was asked and did not pass (then they stay and
 * the exit status is 4).  Returns the exit status.
 */
int cli_remove_sources(const struct xlmig_source_report *r,
                       const char *const *paths, unsigned n);

/* cmd_estimate.c: the simulated toolstack's costs for the estimate and
 * for a real migration's own prediction (xlmig_source_expect). */
void cli_sim_costs(struct xlmig_estimate_opts *eo, double memory_s,
                   unsigned ndisks, bool offline);
void cli_sim_expect(struct xlmig_source *s, double memory_s, unsigned ndisks,
                    bool offline);

/* cli_offline.c: --offline in the simulated flow */
/* --vbd sim:SOCKET[,name=NAME] (disk idx: xvda, xvdb, ... by default)
 * and --image NAME=PATH: 0, or -1 with a message in err. */
int cli_vbd_spec(const char *spec, unsigned idx, char *socket, size_t slen,
                 char *name, size_t nlen, char *err, size_t errlen);
int cli_image_spec(const char *spec, char *name, size_t nlen, char *path,
                   size_t plen, char *err, size_t errlen);
/* A running simulated guest: refuse, or (shutdown) stop its daemon and
 * wait until it is gone.  0 or 1 (error printed). */
int cli_stop_sim_guest(struct xlmig_vbd *v, const char *socket_path,
                       bool shutdown, int timeout_ms);

/* cli_signals.c: SIGINT / SIGTERM / SIGHUP cancel the migration (before
 * the hand-off) and SIGPIPE is ignored.  Pass the handle once it exists. */
void cli_signals_source(struct xlmig_source *s);
void cli_signals_dest(struct xlmig_dest *d);
/* The signal that cancelled, or 0. */
int cli_signal_seen(void);
/* While msg is set (e.g. waiting for the sender: nothing to roll back),
 * a signal prints it and exits 1 at once; NULL: cancel as above. */
void cli_signals_waiting(const char *msg);
/* "SIGINT", "SIGTERM", "SIGHUP", or "signal N". */
const char *cli_signal_name(int sig);

/*
 * The state of several simulated guests, one per disk, in one blob:
 * "XGS1", u32 count, then per guest u32 disk id, u64 length, bytes.
 */
int sim_pack_states(void **blobs, const size_t *lens, unsigned n, void **out,
                    size_t *out_len);
/* Returns the i-th state inside a packed blob (pointers into it). */
int sim_unpack_state(const void *blob, size_t len, unsigned i,
                     const void **state, size_t *state_len);

/*
 * After GO: the session xlmig_source_session() describes, plus
 * "endpoint DEST", written atomically to path (mode 0600).  0 or -1
 * (errno).
 */
int cli_save_session(const struct xlmig_source *s, const char *path,
                     const char *dest);
/* Opens ep again for a paused post-copy (tcp: connect, cmd: spawn). */
struct xlmig_endpoint;
int cli_reconnect(const struct xlmig_endpoint *ep, pid_t *child, int *rfd,
                  int *wfd);
int cmd_recover(int argc, char **argv);

/* The xlmig-vbdsim next to this executable (or $XLMIG_VBDSIM). */
const char *sim_daemon_path(void);
/* Opens a simulated VBD, retrying while its daemon starts. */
int sim_open_wait(const char *socket, int timeout_ms, struct xlmig_vbd **out,
                  struct xlmig_error *err);

#endif
