/*
 * A migration channel over a pair of file descriptors (the same fd twice
 * for a socket; two pipe ends for ssh).  Receiving parses records with
 * wire.c; sending is serialised, rate-limited and timed so that the engine
 * can tell whether the link is the bottleneck.
 */
#ifndef XLMIG_CONN_H
#define XLMIG_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wire.h"

#define CONN_SLOW_PEER 4

/* A token bucket: one per channel, or shared by several connections
 * (xlmig_conn_share_limit) so that they keep one limit together. */
struct xlmig_tbucket {
    pthread_mutex_t lock;
    uint64_t limit_Bps;         /* 0: unlimited */
    double tokens;
    uint64_t at_ns;
};

struct xlmig_conn {
    int rfd, wfd;
    /* A peer not taking data this long: an error -- unless it still sends
     * (heartbeats): then CONN_SLOW_PEER times this long. */
    int timeout_ms;
    _Atomic int recv_timeout_ms; /* -1 (default): wait for data forever;
                                  * changed while the receive thread runs */
    int wake_fd;                /* readable: xlmig_conn_recv returns -2 */
    bool wfd_is_socket;

    uint8_t *rbuf;
    size_t rcap, rstart, rend;
    uint64_t bytes_in;

    pthread_mutex_t wlock;
    uint64_t bytes_out;         /* read from other threads: __atomic */
    struct xlmig_tbucket own_tb;
    struct xlmig_tbucket *tb;   /* &own_tb, or a shared one */
    uint64_t blocked_ns;        /* time spent waiting to write (__atomic) */

    /* Heartbeats (xlmig_conn_heartbeat_start): sent by a thread of their
     * own, consumed by xlmig_conn_recv. */
    pthread_t hb_thread;
    bool hb_running;
    int hb_pipe[2];
    int hb_interval_ms;
    uint64_t (*hb_stale)(void *opaque);
    void *hb_opaque;
    uint64_t hb_seq;
    _Atomic uint64_t hb_in;             /* heartbeats received */
    _Atomic uint64_t last_rx_ns;        /* the last whole record came */
    _Atomic uint64_t peer_stale;        /* what the last one announced */

    /* xlmig_conn_interrupt(): blocked and later sends fail at once. */
    int intr_pipe[2];
    _Atomic bool interrupted;
    uint8_t *torn;              /* the rest of a record a send left */
    size_t torn_len;

    struct xlmig_error err;     /* why the last call failed */
};

int xlmig_conn_init(struct xlmig_conn *c, int rfd, int wfd);
void xlmig_conn_destroy(struct xlmig_conn *c);
void xlmig_conn_set_limit(struct xlmig_conn *c, uint64_t bytes_per_sec);
/* c sends within other's limit from now on (other outlives c's sends). */
void xlmig_conn_share_limit(struct xlmig_conn *c, struct xlmig_conn *other);
uint64_t xlmig_conn_limit(const struct xlmig_conn *c);
/* Counters another thread may read while the channel works. */
uint64_t xlmig_conn_bytes_out(const struct xlmig_conn *c);
uint64_t xlmig_conn_bytes_in(const struct xlmig_conn *c);
uint64_t xlmig_conn_blocked_ns(const struct xlmig_conn *c);

/*
 * Next record: 1 and *rec (valid until the next call), 0 on a clean end of
 * stream at a record boundary, -1 on error (c->err says what), -2 when
 * wake_fd became readable.  HEARTBEAT records are consumed here (counted
 * in hb_in, the peer's stale count kept in peer_stale), never returned;
 * with recv_timeout_ms >= 0, a peer silent that long is an error.
 */
int xlmig_conn_recv(struct xlmig_conn *c, struct xlmig_rec *rec);
/*
 * Sends whole records atomically with respect to other senders; 0 or -1
 * (c->err says why).  A peer that went away is an error, never a SIGPIPE:
 * sockets are written with MSG_NOSIGNAL, pipes with SIGPIPE blocked in the
 * writing thread (and a SIGPIPE it raised consumed).
 */
int xlmig_conn_send(struct xlmig_conn *c, const void *buf, size_t len);
/* The same for a record in pieces (header and payload apart). */
struct iovec;
int xlmig_conn_sendv(struct xlmig_conn *c, const struct iovec *iov,
                     int iovcnt);
/*
 * Makes every send blocked on this channel (the send pipeline, heartbeats)
 * and every later one fail at once -- but xlmig_conn_send_error(), which
 * still gets its own short bound.  For rolling back or giving a channel up
 * without waiting out a stalled peer.
 */
void xlmig_conn_interrupt(struct xlmig_conn *c);
/* Sends an ERROR record, ignoring failures (the channel may be gone). */
void xlmig_conn_send_error(struct xlmig_conn *c, int code, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));

/*
 * After an error: stop sending and read until the peer closes (or for
 * timeout_ms), so that closing does not reset the connection and destroy
 * the ERROR record we sent before the peer could read it.
 */
void xlmig_conn_linger(struct xlmig_conn *c, int timeout_ms);

/*
 * Sends a HEARTBEAT every interval_ms from a thread of its own, carrying
 * stale(opaque) (NULL: XLMIG_HB_NO_STALE), until stopped or a send fails
 * (the channel's other users see that failure).  0 or -errno.
 */
int xlmig_conn_heartbeat_start(struct xlmig_conn *c, int interval_ms,
                               uint64_t (*stale)(void *opaque),
                               void *opaque);
void xlmig_conn_heartbeat_stop(struct xlmig_conn *c);

uint64_t xlmig_now_ns(void);

/*
 * For the library's bulk data threads (reading, compressing, sending,
 * receiving and writing blocks): SCHED_BATCH, so that they never preempt
 * the guest's threads when these wake up (they still get their fair share
 * of the CPU: no starvation), and the lowest best-effort I/O priority.
 * Best effort: failures are ignored.
 */
void xlmig_thread_bulk(void);

/*
 * A point where a thread moving bulk data lets a waiting thread (the
 * guest's I/O) have the CPU: sched_yield() if XLMIG_YIELD_EVERY_NS have
 * passed since this thread's last one.  Called between units of work of
 * a fraction of a millisecond of CPU (a record received: up to ~0.6 ms
 * for 1 MiB raw; a compressed piece: ~0.1 ms; an extent read), it bounds
 * how long the migration holds a CPU the guest waits for to about that,
 * whatever the scheduler and kernel preemption model (DESIGN.md).
 */
#define XLMIG_YIELD_EVERY_NS 50000ull
void xlmig_thread_yield_point(void);

#endif
