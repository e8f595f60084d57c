/*
 * Whether to compress (--compress auto): never slower than not
 * compressing.
 *
 * Compressing an extent pays only when the link, not a CPU, limits the
 * transfer: it trades CPU on both ends (deflate here, inflate there) for
 * link time.  Two things decide:
 *
 *  - A model, from what is measured: the link rate (the writer waits on
 *    the channel, linkrate.h), the samples' ratio, deflate and inflate
 *    speed per CPU second on whole extents, and the share of a CPU a
 *    worker actually gets while it deflates one (CPU time / wall-clock
 *    time: on a busy machine, or at a low priority, far below 1).  It
 *    says whether compressing could pay: then compression is tried.
 *  - The measured cost of the pipeline per disk byte, raw against
 *    compressed: windows of the writer's busy time, each holding jobs
 *    encoded under one mode.  A raw window gives c_raw = time / bytes; a
 *    compressing window (which also carries the incompressible extents,
 *    raw) gives c_z = (time - c_raw * raw bytes) / compressed bytes.
 *    This is what both ends' CPUs and the link together make of it, the
 *    receiver's inflate included.  Compression stays on only while c_z is
 *    clearly below c_raw; either mode is re-measured now and then, with
 *    back-off, as conditions change.
 *
 * Per job (about 1 MiB): an extent whose sample does not shrink by 15% is
 * always sent raw.  While compression is off, one job in 8 is sampled
 * (the model needs no more).  Not thread-safe: the send queue holds its
 * lock.
 */
#ifndef XLMIG_ZPOLICY_H
#define XLMIG_ZPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compress.h"

enum xlmig_zclass { XLMIG_ZC_SHRINKS, XLMIG_ZC_OTHER, XLMIG_ZC_N };

struct xlmig_zpolicy {
    unsigned workers;           /* compressing threads, capped by CPUs */
    /* Measured, as moving averages (0: not yet). */
    double ratio;                       /* of extents that shrink */
    double deflate_Bps[XLMIG_ZC_N];     /* per CPU second, samples */
    double deflated_Bps;                /* per CPU second, whole extents */
    double inflate_Bps;                 /* per CPU second, whole extents */
    double shrink_frac;                 /* of sampled jobs */
    uint64_t samples;
    double share;                       /* of a CPU, while deflating */
    double link_Bps;                    /* 0: not link-bound (so far) */
    /*
     * Recent windows, pooled (older ones weigh less): busy seconds and
     * bytes of the raw ones; busy seconds, raw and compressed bytes of
     * the compressing ones.  n: windows pooled since the pool was reset.
     */
    double off_t, off_b, on_t, on_r, on_z;
    unsigned off_n, on_n;
    double c_raw, c_z;                  /* s per disk byte, from the pools */
    /* The mode for extents that shrink, and when to look again. */
    bool on;
    bool trial;                 /* the current mode is being measured */
    uint64_t next_ns;           /* a trial's deadline; else the next try
                                   of the other mode */
    uint64_t backoff_ns, recheck_ns;
    /* The window being accumulated (jobs of one mode). */
    bool win_open, win_on;
    uint64_t win_busy_ns, win_raw, win_z, win_jobs;
    /* For the report. */
    uint64_t jobs, jobs_z, trials, sampled, shrinking, measured;
};

void xlmig_zpolicy_init(struct xlmig_zpolicy *p, unsigned workers,
                        unsigned cpus);
enum xlmig_zdecision {
    XLMIG_Z_RAW,
    XLMIG_Z_COMPRESS,
    /* Compress it, and time deflate and inflate on the whole extent: a
     * sample runs in cache and says little about speed.  One job in
     * 128 of those that shrink, also while compression is off. */
    XLMIG_Z_MEASURE,
};

/* Is the next job worth a sample?  (No: it goes raw, untimed.) */
bool xlmig_zpolicy_wants_sample(struct xlmig_zpolicy *p, bool *mode_on);
/*
 * A worker sampled a job: what to do with it.  *mode_on gets the mode
 * the job is encoded under (its tag for the cost windows).
 */
enum xlmig_zdecision xlmig_zpolicy_decide(struct xlmig_zpolicy *p,
                                          const struct xlmig_sample *s,
                                          bool *mode_on);
/*
 * Whole extents were compressed (bytes in, CPU and wall-clock time), or
 * inflated (bytes out, CPU time).
 */
void xlmig_zpolicy_deflated(struct xlmig_zpolicy *p, uint64_t bytes,
                            uint64_t cpu_ns, uint64_t wall_ns);
void xlmig_zpolicy_inflated(struct xlmig_zpolicy *p, uint64_t bytes,
                            uint64_t cpu_ns);
/* The link estimate (bytes/s on the wire; 0 while not link-bound). */
void xlmig_zpolicy_link(struct xlmig_zpolicy *p, double link_Bps);
/*
 * The writer finished a job encoded under mode `on` after `busy_ns` of
 * pipeline busy time since the previous one; raw_bytes went as they are,
 * z_bytes (input) compressed.  Closes windows and moves the mode.
 */
void xlmig_zpolicy_job_done(struct xlmig_zpolicy *p, uint64_t now_ns,
                            uint64_t busy_ns, bool on, uint64_t raw_bytes,
                            uint64_t z_bytes);
/* What the model predicts compressing does to throughput (x raw). */
double xlmig_zpolicy_model_gain(const struct xlmig_zpolicy *p);
/* One line for the report: what was decided and why. */
void xlmig_zpolicy_describe(const struct xlmig_zpolicy *p, char *buf,
                            size_t len);

#endif
