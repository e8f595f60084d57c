/*
 * The share of a CPU a thread actually gets while it has work, from the
 * scheduler's per-thread statistics (/proc/thread-self/schedstat: time
 * on a CPU and time runnable but waiting for one).  A compressor's speed
 * measured in CPU time, times this share, is what it achieves on a busy
 * machine: two workers on two cores that the receiver, the block backends
 * and other jobs also want do not compress at twice one core's speed.
 */
#ifndef XLMIG_CPUSHARE_H
#define XLMIG_CPUSHARE_H

#include <stdbool.h>
#include <stdint.h>

struct xlmig_cpushare {
    int fd;                     /* -1: no schedstat here */
    uint64_t run_ns, wait_ns;   /* at the last mark */
};

/* In the thread to be measured.  Without schedstat, the calls below
 * report nothing (false). */
void xlmig_cpushare_open(struct xlmig_cpushare *c);
void xlmig_cpushare_close(struct xlmig_cpushare *c);
/* Starts a measured interval. */
bool xlmig_cpushare_mark(struct xlmig_cpushare *c);
/* Time on a CPU and runnable-waiting since the mark; marks again. */
bool xlmig_cpushare_delta(struct xlmig_cpushare *c, uint64_t *run_ns,
                          uint64_t *wait_ns);

/* CPU time this thread has used, in ns (CLOCK_THREAD_CPUTIME_ID). */
uint64_t xlmig_thread_cpu_ns(void);

#endif
