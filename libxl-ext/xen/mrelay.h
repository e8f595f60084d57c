/*
 * The memory stream through a relay thread.  libxl_domain_suspend() and
 * libxl_domain_create_restore() block on their fd with no bound: a peer
 * that stops reading (source) or stops sending (destination) would hold
 * them, and on the source a suspended guest, forever.  They are given one
 * end of a pipe instead; a thread copies between it and xl's channel and
 * gives up after stall_ms without progress, closing the pipe so that
 * libxl fails (EPIPE on the source, end of stream on the destination) and
 * the flow rolls back.
 */
#ifndef XLMIG_XEN_MRELAY_H
#define XLMIG_XEN_MRELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct mrelay;

enum mrelay_dir {
    MRELAY_TO_PEER,             /* source: libxl writes, the relay sends */
    MRELAY_FROM_PEER,           /* destination: the relay reads for libxl */
};

/*
 * Starts relaying for peer_fd; *libxl_fd is the fd to give libxl.  The
 * peer fd is switched to non-blocking until mrelay_finish().
 */
int mrelay_start(struct mrelay **r, enum mrelay_dir dir, int peer_fd,
                 int stall_ms, int *libxl_fd, struct xlmig_error *err);
/*
 * After libxl returned: closes libxl's end, lets the relay send what it
 * holds (source) or stops it (destination) and joins it.  Fails if the
 * peer stalled, the channel broke, or (destination) the peer sent bytes
 * past the end of the stream libxl read.  Frees r.
 */
int mrelay_finish(struct mrelay *r, struct xlmig_error *err);
/* Bytes relayed so far (any thread). */
uint64_t mrelay_bytes(const struct mrelay *r);

#endif
