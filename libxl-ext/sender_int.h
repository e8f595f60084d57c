/* Internals shared by sender.c, push.c, pull_server.c and send_report.c. */
#ifndef XLMIG_SENDER_INT_H
#define XLMIG_SENDER_INT_H

#include "sender.h"

int sender_fail(struct xlmig_sender *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sender_event(struct xlmig_sender *s, const struct xlmig_progress_ev *ev);
/* Waits for *flag (set by the reply thread) with the ack timeout. */
int sender_wait(struct xlmig_sender *s, bool *flag, const char *what);
int sender_queue_record(struct xlmig_sender *s, const void *rec, size_t len);
int sender_queue_extent(struct xlmig_sender *s, struct xlmig_send_disk *d,
                        uint64_t first, uint64_t count, uint8_t origin,
                        bool skip_zero);
int sender_flush(struct xlmig_sender *s);
int sender_phase(struct xlmig_sender *s, uint32_t phase, uint32_t pass,
                 uint64_t remaining);
int sender_sync(struct xlmig_sender *s);
uint64_t sender_pending_blocks(struct xlmig_sender *s);
/* ORs every disk's dirty set into its pending bitmap. */
int sender_snapshot_all(struct xlmig_sender *s);
/* Disk bytes per second the pipeline achieves (0 = not known yet). */
double sender_rate(struct xlmig_sender *s);

#endif
