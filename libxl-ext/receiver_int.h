/* Internals shared by receiver.c and recv_pull.c. */
#ifndef XLMIG_RECEIVER_INT_H
#define XLMIG_RECEIVER_INT_H

#include "receiver.h"

int recv_fail(struct xlmig_receiver *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Next record; an ERROR from the peer or a closed channel fails r. */
int recv_next(struct xlmig_receiver *r, struct xlmig_rec *rec,
              const char *during);
void recv_event(struct xlmig_receiver *r, const struct xlmig_progress_ev *ev);
int recv_check_data(struct xlmig_receiver *r, const struct xlmig_data *d,
                    struct xlmig_recv_disk **disk, uint64_t *off,
                    size_t *len);
int recv_payload(struct xlmig_receiver *r, const struct xlmig_data *d,
                 size_t len, const uint8_t **out);
/* Loads each disk's stale bitmap into its VBD's gate. */
int recv_arm_gates(struct xlmig_receiver *r);
void recv_stop_watcher(struct xlmig_receiver *r);

#endif
