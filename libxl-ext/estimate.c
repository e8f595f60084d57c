#include <math.h>
#include <stdio.h>
#include <string.h>

#include "estimate.h"
#include "policy.h"
#include "progress.h"

#define KEEPUP_STEP_S 0.1       /* keep-up's snapshot interval */
#define BACKGROUND_FACTOR 0.8   /* post-copy pushes 64 KiB at a time */
#define DONE_POLL_S 0.05        /* the destination's watcher: 100 ms */

double xlmig_est_dirty(const struct xlmig_est_in *in, double t)
{
    double n;

    if (t <= 0 || in->w <= 0)
        return 0;
    n = in->region > 0 ? in->region * (1 - exp(-in->w * t / in->region))
                       : in->w * t;
    return in->nblocks && n > (double)in->nblocks ? (double)in->nblocks : n;
}

double xlmig_est_fit_region(double w, double span, double distinct)
{
    double lo, hi;

    /* Nearly linear: no bound is visible within the sample. */
    if (w <= 0 || span <= 0 || distinct >= 0.97 * w * span)
        return 0;
    /* W(span) grows with R from 0 to w * span: bisect. */
    lo = distinct;
    hi = distinct;
    while (hi * (1 - exp(-w * span / hi)) < distinct && hi < 1e15)
        hi *= 2;
    for (int i = 0; i < 100; i++) {
        double mid = (lo + hi) / 2;

        if (mid * (1 - exp(-w * span / mid)) < distinct)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* Rewritten blocks go at the scattered rate. */
static double dirty_rate(const struct xlmig_est_in *in)
{
    return in->dirty_pipe_Bps > 0 ? in->dirty_pipe_Bps : in->pipe_Bps;
}

/* Seconds to send n blocks of rewritten data. */
static double send_s(const struct xlmig_est_in *in, double blocks)
{
    double r = dirty_rate(in);

    return r > 0 ? blocks * in->block_size / r : 0;
}

/* One round trip plus the destination's work on a SYNC of bytes. */
static double sync_s(const struct xlmig_est_in *in, double bytes)
{
    return in->rtt_s + (in->flush_Bps > 0 ? bytes / in->flush_Bps : 0);
}

void xlmig_est_predict(const struct xlmig_est_in *in,
                       struct xlmig_estimate *e)
{
    double bs = in->block_size, rate = in->pipe_Bps, t, age, dirty_bytes = 0;
    double budget = in->max_downtime_s, final, eta, wire;
    enum xlmig_conv_verdict v = XLMIG_CONV_FITS;
    struct xlmig_conv conv;
    bool send_blocks;

    double memory_s = in->memory_s;

    double link = in->link_Bps > 0 ? in->link_Bps : in->pipe_Bps;

    /* The memory after PUSH, over the same link. */
    if (in->memory_bytes && link > 0)
        memory_s += 1.1 * (double)in->memory_bytes / link;
    e->memory_s = memory_s;
    e->passes = 0;
    e->stop_reason = "cold copy";
    /* Negotiation: HELLO, DISK, the targets created, their acks. */
    t = 3 * in->rtt_s + in->setup_s;
    /* The full pass, then the destination flushes it. */
    t += rate > 0 ? (double)in->allocated / rate : 0;
    t += sync_s(in, (double)in->allocated);
    wire = (double)in->allocated * in->full_wire_ratio;
    age = t;                    /* tracking started with the handle */
    final = 0;
    if (!in->offline) {
        xlmig_conv_init(&conv, budget, in->max_passes);
        for (;;) {
            double blocks = xlmig_est_dirty(in, age);

            v = xlmig_conv_next(&conv, (uint64_t)(blocks * bs), rate, age);
            if (v != XLMIG_CONV_CONTINUE) {
                final = blocks;
                break;
            }
            e->passes++;
            age = send_s(in, blocks) + in->ndisks * in->vbd_op_s;
            t += age;
            dirty_bytes += blocks * bs;
            /* The engine's rate is the recent one: the dirty pass's. */
            rate = dirty_rate(in);
        }
        e->stop_reason = xlmig_conv_name(v);
        /*
         * Keep-up runs from the verdict on: a snapshot every 0.1 s, a pass
         * whenever the set no longer fits half the budget (none when
         * hopeless); the guest writes until it is suspended, memory_s
         * later, and a pass still running then yields: what it has not
         * sent goes at stop-copy, with what was dirtied meanwhile.
         */
        bool hopeless = v == XLMIG_CONV_STALLED ||
                        v == XLMIG_CONV_MAX_PASSES;
        double k = 0, carry = 0;
        while (k < memory_s) {
            double blocks = xlmig_est_dirty(in, age), left = memory_s - k;
            double step = left < KEEPUP_STEP_S ? left : KEEPUP_STEP_S;

            if (!hopeless && blocks > 0 &&
                xlmig_conv_eta((uint64_t)(blocks * bs), rate) > budget / 2) {
                step = send_s(in, blocks);
                e->passes++;
                if (step > left) {
                    carry = blocks * (1 - left / step);
                    step = left;
                }
                dirty_bytes += (blocks - carry) * bs;
                age = 0;
            }
            age += step;        /* dirtied during the step */
            k += step;
        }
        t += k;
        final = carry + xlmig_est_dirty(in, age);
        if (final > (double)in->nblocks)
            final = (double)in->nblocks;
    }
    e->push_s = t;
    e->final_blocks = (uint64_t)(final + 0.5);
    eta = xlmig_conv_eta(e->final_blocks * in->block_size, rate);
    send_blocks = in->offline || !in->postcopy || e->final_blocks == 0 ||
                  (rate > 0 && eta <= budget);
    e->postcopy = !send_blocks;
    e->postcopy_blocks = send_blocks ? 0 : e->final_blocks;
    /*
     * Stop-copy: quiesce and snapshot each disk, the blocks or the
     * bitmap, the guest's state taken there, one SYNC.  The engine
     * decides on the rate it has (the full pass's when no dirty pass ran:
     * eta above), but the final set is rewritten blocks, scattered: they
     * go at the scattered rate.  (Loopback, 5 MiB/s of writes, no dirty
     * pass: ~1 500 blocks at the full pass's 811 MB/s predicted 9 ms,
     * they took 12-17 ms, the scattered sample's 7.4 us a block.)
     */
    e->downtime_ms = 1e3 * (2 * in->ndisks * in->vbd_op_s +
                            (send_blocks ? send_s(in, (double)e->final_blocks)
                                         : 0) +
                            in->state_s + in->rtt_s);
    if (in->offline)
        e->downtime_ms = -1;
    t += e->downtime_ms > 0 ? e->downtime_ms / 1e3 : in->rtt_s;
    if (send_blocks)
        dirty_bytes += e->final_blocks * bs;
    /* READY, GO, REPORT, then DONE once the targets are flushed. */
    t += 3 * in->rtt_s + in->handoff_s + sync_s(in, e->final_blocks * bs);
    e->postcopy_s = -1;
    if (!send_blocks) {
        e->postcopy_s = eta / BACKGROUND_FACTOR + in->rtt_s + DONE_POLL_S;
        t += e->postcopy_s;
        dirty_bytes += e->final_blocks * bs;
    }
    wire += dirty_bytes * in->dirty_wire_ratio;
    e->wire_bytes = (uint64_t)wire;
    e->total_s = t;
}

size_t xlmig_estimate_json(const struct xlmig_estimate *e, char *buf,
                           size_t len)
{
    size_t p = 0;

    if (len)
        buf[0] = '\0';
    xlmig_json_fmt(buf, len, &p, "{\"event\":\"estimate\",\"disks\":%u,"
                   "\"disk_bytes\":%llu,\"allocated_bytes\":%llu,"
                   "\"zero_fraction\":%.4f,\"compress_ratio\":%.4f,"
                   "\"compress_Bps\":%.0f,\"rtt_ms\":%.3f,\"link_Bps\":%.0f,"
                   "\"pipeline_Bps\":%.0f,\"dirty_Bps\":%.0f,"
                   "\"working_set_bytes\":%llu,\"sample_s\":%.2f,"
                   "\"memory_s\":%.2f,\"total_s\":%.3f,\"push_s\":%.3f,"
                   "\"passes\":%u,\"stop_reason\":",
                   e->ndisks, (unsigned long long)e->disk_bytes,
                   (unsigned long long)e->allocated_bytes, e->zero_fraction,
                   e->compress_ratio, e->compress_Bps, e->rtt_ms, e->link_Bps,
                   e->pipeline_Bps, e->dirty_Bps,
                   (unsigned long long)e->working_set_bytes, e->sample_s,
                   e->memory_s, e->total_s, e->push_s, e->passes);
    xlmig_json_str(buf, len, &p, e->stop_reason ? e->stop_reason : "");
    xlmig_json_fmt(buf, len, &p, ",\"final_blocks\":%llu,"
                   "\"downtime_ms\":%.1f,\"postcopy\":%s,"
                   "\"postcopy_blocks\":%llu,\"postcopy_s\":%.3f,"
                   "\"wire_bytes\":%llu}",
                   (unsigned long long)e->final_blocks, e->downtime_ms,
                   e->postcopy ? "true" : "false",
                   (unsigned long long)e->postcopy_blocks, e->postcopy_s,
                   (unsigned long long)e->wire_bytes);
    return p;
}
