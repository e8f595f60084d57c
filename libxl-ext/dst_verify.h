/*
 * --verify on the destination (dst_verify.c): what the receiving and
 * installing code calls.  All are no-ops (returning 0) when verification
 * was not negotiated.
 */
#ifndef XLMIG_DST_VERIFY_H
#define XLMIG_DST_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

struct xlmig_dest;
struct dst_disk;

/* After negotiation: the verifier thread and the read-back files. */
int dst_verify_start(struct xlmig_dest *d);
/* After the last SYNC before the hand-off (every check done): the thread
 * goes; post-copy checks run in place. */
void dst_verify_end_push(struct xlmig_dest *d);
/* Stops the thread (checks still queued are dropped), frees it all. */
void dst_verify_stop(struct xlmig_dest *d);
/* A DIGEST record: kept for the DATA record that must follow it. */
int dst_verify_digest(struct xlmig_dest *d, const struct xlmig_rec *rec);
/*
 * A DATA record of PUSH or stop-copy is about to be written: it must match
 * the DIGEST before it, and waits until earlier checks of its blocks are
 * done (so that they read what they were meant to).
 */
int dst_verify_before_write(struct xlmig_dest *d,
                            const struct xlmig_data *data);
/* ... and is written: its check is queued. */
int dst_verify_after_write(struct xlmig_dest *d,
                           const struct xlmig_data *data);
/*
 * SYNC: waits until every queued check is done (mismatches have gone to
 * the source as MISMATCH records).  *unresolved: blocks that failed their
 * check and have not been written again since.
 */
int dst_verify_drain(struct xlmig_dest *d, bool *unresolved);
/* Stop-copy with post-copy: the unresolved blocks become stale (fetched
 * again after GO, behind the gate).  Before the gates are armed. */
int dst_verify_unresolved_to_stale(struct xlmig_dest *d);
/*
 * Post-copy: the claimed blocks of an install are written; check every
 * wholly claimed grain before the commit (the gate still holds the guest
 * off them), writing a mismatching grain once more.  Returns 0 (commit),
 * 1 (a grain still differs: unclaim, ask again) or -1 (failed).
 */
int dst_verify_install(struct xlmig_dest *d, struct dst_disk *k,
                       const struct xlmig_data *data, const uint8_t *payload,
                       size_t len, uint32_t done, uint32_t n,
                       const unsigned long *mask);
/* Post-copy: 0 if the DIGEST before this DATA matches it (or no
 * verification), -1 if not. */
int dst_verify_paired(struct xlmig_dest *d, const struct xlmig_data *data);
/* Post-copy: the DIGEST of the DATA just handled is used up. */
void dst_verify_forget(struct xlmig_dest *d);
/* Before DONE: the VERIFIED record. */
int dst_verify_send_result(struct xlmig_dest *d);
/* The figures (zeros without verification); the first mismatches as
 * "disk:first+count ..." (valid until the next call). */
void dst_verify_counts(const struct xlmig_dest *d, struct xlmig_verified *v);
const char *dst_verify_list(const struct xlmig_dest *d);
/* Offline checkpoints: blocks of disk i that failed and were not written
 * again (never counted as received). */
bool dst_verify_is_bad(const struct xlmig_dest *d, unsigned disk,
                       uint64_t block);

#endif
