/* Shared bits of the xlmig command's subcommands. */
#ifndef XLMIG_CLI_H
#define XLMIG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "xlmig.h"

int cmd_send(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_migrate_sender(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);
int cmd_jobinfo(int argc, char **argv);
int cmd_recover_cap(int argc, char **argv);

/*
 * Migration is background work: below the guests' own I/O path (blkback,
 * or the simulated VBD) so that their latency holds while we copy.
 */
void cli_lower_priority(int nice_level);

/* --keepup-share: 1..100 percent into a share (100: 0, no limit); 0 or 1
 * (error printed). */
int cli_parse_share(const char *arg, double *share);

/* Prints "xlmig: <message>" to stderr; returns 1 (an exit status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cli_events.c: where events and log messages go. */
struct cli_out {
    bool json, quiet, tty;
    double last_human;
    FILE *jf;                   /* JSON lines go here (NULL: stdout) */
    int last_mem_pass;          /* memory lines: pass changes always show */
    const char *last_mem_state;
};
void cli_out_init(struct cli_out *o, bool json, bool quiet);
void cli_on_event(void *opaque, const struct xlmig_event *ev);
void cli_on_log(void *opaque, enum xlmig_log_level level, const char *msg);
/* As cli_on_log, but xl's own lines ("xl: ...", xflow.h) verbatim. */
void cli_on_xl_log(void *opaque, enum xlmig_log_level level,
                   const char *msg);

/* cli_report.c */
void cli_print_source_report(FILE *f, const struct xlmig_source_report *r);
void cli_print_dest_report(FILE *f, const struct xlmig_dest *d,
                           const struct xlmig_dest_report *r);

/* cli_signals.c: SIGINT / SIGTERM / SIGHUP cancel the migration (before
 * the hand-off) and SIGPIPE is ignored.  Pass the handle once it exists. */
void cli_signals_source(struct xlmig_source *s);
void cli_signals_dest(struct xlmig_dest *d);
/* The signal that cancelled, or 0. */
int cli_signal_seen(void);

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
