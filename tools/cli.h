/* Shared bits of the xlmig command's subcommands. */
#ifndef XLMIG_CLI_H
#define XLMIG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vbd.h"

int cmd_send(int argc, char **argv);
int cmd_receive(int argc, char **argv);
int cmd_sim(int argc, char **argv);

/*
 * Migration is background work: below the guests' own I/O path (blkback,
 * or the simulated VBD) so that their latency holds while we copy.
 */
void cli_lower_priority(int nice_level);

/* Prints "xlmig: <message>" to stderr; returns 1 (an exit status). */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The state of several simulated guests, one per disk, in one blob:
 * "XGS1", u32 count, then per guest u32 disk id, u64 length, bytes.
 */
int sim_pack_states(void **blobs, const size_t *lens, unsigned n, void **out,
                    size_t *out_len);
/* Returns the i-th state inside a packed blob (pointers into it). */
int sim_unpack_state(const void *blob, size_t len, unsigned i,
                     const void **state, size_t *state_len);

/* The xlmig-vbdsim next to this executable (or $XLMIG_VBDSIM). */
const char *sim_daemon_path(void);
/* Opens a simulated VBD, retrying while its daemon starts. */
struct xlmig_vbd *sim_open_wait(const char *socket, int timeout_ms,
                                char *err, size_t errlen);

#endif
