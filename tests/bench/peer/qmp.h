/*
 * A minimal QMP client (QEMU Machine Protocol over a unix socket) for the
 * peer bench: run a command and wait for its answer, wait for a block-job
 * event.  Events that arrive while waiting for something else are kept
 * (a small queue), so none is missed.  Every wait has a deadline.
 */
#ifndef PEER_QMP_H
#define PEER_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qmp;

/* A received event: its name, the job it names ("device"), its arrival. */
struct qmp_event {
    char name[48];
    char device[64];
    char error[160];        /* the event's "error" member, if any */
    uint64_t t_ns;          /* CLOCK_MONOTONIC when it was read */
};

/* Connects and negotiates capabilities.  NULL with err set on failure. */
struct qmp *qmp_open(const char *path, uint64_t deadline_ns, char *err,
                     size_t errlen);
void qmp_close(struct qmp *q);

/*
 * Sends one command (a complete JSON object) and waits for its answer.
 * 0, or -1 with err set (QEMU's error description, or why no answer).
 */
int qmp_exec(struct qmp *q, const char *json, uint64_t deadline_ns, char *err,
             size_t errlen);

/*
 * Waits for an event whose name is one of names (NULL-terminated) and
 * whose device is device.  0 with *ev filled, or -1 with err set (timeout
 * or connection lost).
 */
int qmp_wait_event(struct qmp *q, const char *const *names, const char *device,
                   uint64_t deadline_ns, struct qmp_event *ev, char *err,
                   size_t errlen);

uint64_t qmp_now_ns(void);

/* With trace set, every message read or written goes to stderr, timed. */
void qmp_set_trace(struct qmp *q, bool trace);

#endif
