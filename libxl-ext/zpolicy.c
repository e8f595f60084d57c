/* The compression policy of --compress auto; see zpolicy.h. */
#include <stdio.h>
#include <string.h>

#include "zpolicy.h"

/* An extent must shrink by 15% to be worth the CPU and latency. */
#define SHRINK_MAX (1.0 / 1.15)
/* The model must promise this much before compression is tried... */
#define MODEL_GAIN 1.15
/* ... and the measurement show this much for it to stay on. */
#define MEASURED_GAIN 1.10
/* Cost windows: this much busy time and this many jobs of one mode. */
#define WINDOW_NS 100000000ull
#define MIN_JOBS 4
/* A compressing window says something about c_z only if this share of
 * its bytes went compressed. */
#define MIN_Z_SHARE 0.2
/* Of the jobs that shrink, one in this many is timed whole. */
#define MEASURE_EVERY 128
/* While off, one job in this many is sampled. */
#define SAMPLE_EVERY_OFF 8
/*
 * While off and the model is far from a gain (below MODEL_GAIN / 2 with
 * the compressor's whole-extent speed known: a loopback or 10 Gbit/s
 * link), timing whole extents only costs: this many times fewer.  (Idle
 * loopback, 1 GiB: 7 timed extents, ~45 ms of the sender's CPU at
 * libdeflate's 5 ms to deflate and 1.3 ms to inflate a MiB; 3-4 now.)
 */
#define FAR_SPARSER 8
/* A mode is judged on this many windows, pooled: one slow window on a
 * noisy machine must not decide. */
#define TRIAL_WINDOWS 3
/* ... unless the first already shows compression this much slower. */
#define ABORT_LOSS 1.5
#define POOL_DECAY 0.7
/* A trial that cannot measure for this long counts as a failure. */
#define MAX_TRIAL_NS 2000000000ull
#define BACKOFF_START_NS 2000000000ull
#define BACKOFF_MAX_NS 16000000000ull
/* While on, raw is re-measured after this long, doubling while
 * compression keeps winning (conditions change). */
#define RECHECK_START_NS 4000000000ull
#define RECHECK_MAX_NS 32000000000ull

static double ewma(double old, double v, double w)
{
    return old > 0 ? (1 - w) * old + w * v : v;
}

void xlmig_zpolicy_init(struct xlmig_zpolicy *p, unsigned workers,
                        unsigned cpus)
{
    memset(p, 0, sizeof(*p));
    p->workers = workers < cpus || !cpus ? workers : cpus;
    if (!p->workers)
        p->workers = 1;
    p->backoff_ns = BACKOFF_START_NS;
    p->recheck_ns = RECHECK_START_NS;
}

bool xlmig_zpolicy_wants_sample(struct xlmig_zpolicy *p, bool *mode_on)
{
    *mode_on = p->on;
    if (p->on || p->sampled++ % SAMPLE_EVERY_OFF == 0)
        return true;
    p->jobs++;
    return false;
}

/* Of the sampled jobs that shrink, one in this many is timed whole. */
static uint64_t measure_every(const struct xlmig_zpolicy *p)
{
    if (p->on)
        return MEASURE_EVERY;
    if (p->deflated_Bps > 0 &&
        xlmig_zpolicy_model_gain(p) < MODEL_GAIN / 2)
        return MEASURE_EVERY / SAMPLE_EVERY_OFF * FAR_SPARSER;
    return MEASURE_EVERY / SAMPLE_EVERY_OFF;
}

enum xlmig_zdecision xlmig_zpolicy_decide(struct xlmig_zpolicy *p,
                                          const struct xlmig_sample *s,
                                          bool *mode_on)
{
    bool shrinks = s->ratio < SHRINK_MAX;
    enum xlmig_zclass c = shrinks ? XLMIG_ZC_SHRINKS : XLMIG_ZC_OTHER;

    p->deflate_Bps[c] = ewma(p->deflate_Bps[c], s->Bps, 0.2);
    if (shrinks)
        p->ratio = ewma(p->ratio, s->ratio, 0.2);
    /* Starts at the first sample's value, then moves by 10% a sample. */
    p->shrink_frac = p->samples ? 0.9 * p->shrink_frac + (shrinks ? 0.1 : 0)
                                : (shrinks ? 1.0 : 0.0);
    p->samples++;
    p->jobs++;
    *mode_on = p->on;
    if (!shrinks)
        return XLMIG_Z_RAW;
    /* The first few at once, then one in MEASURE_EVERY (of those that
     * were sampled: more often while off, when fewer are; less when
     * compressing is far from paying). */
    if (p->measured < 3 || p->shrinking++ % measure_every(p) == 0) {
        p->measured++;
        p->jobs_z++;
        return XLMIG_Z_MEASURE;
    }
    if (!p->on)
        return XLMIG_Z_RAW;
    p->jobs_z++;
    return XLMIG_Z_COMPRESS;
}

void xlmig_zpolicy_deflated(struct xlmig_zpolicy *p, uint64_t bytes,
                            uint64_t cpu_ns, uint64_t wall_ns)
{
    if (cpu_ns < 1000 || wall_ns < cpu_ns / 2)
        return;
    p->deflated_Bps = ewma(p->deflated_Bps,
                           (double)bytes / ((double)cpu_ns * 1e-9), 0.2);
    /*
     * The share of a CPU a worker gets while it compresses, over ~10 ms
     * of CPU: the scheduler's answer to a thread that wants CPU for a
     * while (a short job of a woken thread is served first and says
     * less).
     */
    p->share = ewma(p->share, wall_ns > cpu_ns ? (double)cpu_ns /
                                                     (double)wall_ns
                                               : 1.0, 0.2);
}

static double cpu_share(const struct xlmig_zpolicy *p)
{
    return p->share > 0 ? p->share : 1.0;
}

void xlmig_zpolicy_inflated(struct xlmig_zpolicy *p, uint64_t bytes,
                            uint64_t cpu_ns)
{
    if (cpu_ns < 1000)
        return;
    p->inflate_Bps = ewma(p->inflate_Bps,
                          (double)bytes / ((double)cpu_ns * 1e-9), 0.2);
}

/*
 * The compressor's speed on data that shrinks: whole extents once some
 * were compressed (an 8 KiB sample's speed depends on what the caches
 * hold: it varies by 2x either way).
 */
static double deflate_speed(const struct xlmig_zpolicy *p)
{
    return p->deflated_Bps > 0 ? p->deflated_Bps
                               : p->deflate_Bps[XLMIG_ZC_SHRINKS];
}

void xlmig_zpolicy_link(struct xlmig_zpolicy *p, double link_Bps)
{
    p->link_Bps = link_Bps;
}

double xlmig_zpolicy_model_gain(const struct xlmig_zpolicy *p)
{
    double share = cpu_share(p), send, down;

    if (p->link_Bps <= 0 || p->ratio <= 0 || deflate_speed(p) <= 0)
        return 0;
    /* What the workers compress with the CPU they get... */
    send = p->workers * share * deflate_speed(p);
    /* ... and what the link and the receiver's one thread then move,
     * inflating while the link carries the next bytes (its CPU is not
     * seen from here: assume it has one to itself; a receiver short of
     * CPU shows in the measured cost of a trial). */
    down = p->link_Bps / p->ratio;
    if (p->inflate_Bps > 0 && p->inflate_Bps < down)
        down = p->inflate_Bps;
    return (send < down ? send : down) / p->link_Bps;
}

static uint64_t doubled(uint64_t v, uint64_t max)
{
    return v * 2 > max ? max : v * 2;
}

/* Compression did not pay (or could not be shown to): off for a while. */
static void set_off(struct xlmig_zpolicy *p, uint64_t now_ns)
{
    p->on = false;
    p->trial = false;
    p->next_ns = now_ns + p->backoff_ns;
    p->backoff_ns = doubled(p->backoff_ns, BACKOFF_MAX_NS);
}

/* Compression was measured to pay: on, and re-measure raw later. */
static void set_on(struct xlmig_zpolicy *p, uint64_t now_ns)
{
    p->on = true;
    p->trial = false;
    p->backoff_ns = BACKOFF_START_NS;
    p->next_ns = now_ns + p->recheck_ns;
    p->recheck_ns = doubled(p->recheck_ns, RECHECK_MAX_NS);
}

/* Measures `on` afresh for TRIAL_WINDOWS windows. */
static void start_trial(struct xlmig_zpolicy *p, bool on, uint64_t now_ns)
{
    p->on = on;
    p->trial = true;
    p->next_ns = now_ns + MAX_TRIAL_NS;     /* the trial's deadline */
    if (on) {
        p->trials++;
        p->on_t = p->on_r = p->on_z = 0;
        p->on_n = 0;
    } else {
        p->off_t = p->off_b = 0;
        p->off_n = 0;
    }
}

static bool z_pays(const struct xlmig_zpolicy *p)
{
    return p->c_z > 0 && p->c_raw > 0 && p->c_z * MEASURED_GAIN < p->c_raw;
}

/* A raw window was pooled (or was too short): what next. */
static void raw_window(struct xlmig_zpolicy *p, uint64_t now_ns, bool valid)
{
    if (p->on)
        return;                 /* a tail of jobs from before a switch */
    if (p->trial) {
        if (p->off_n >= TRIAL_WINDOWS) {
            /* Raw re-measured while compressing had been found better. */
            if (z_pays(p))
                set_on(p, now_ns);
            else
                set_off(p, now_ns);
        } else if (now_ns >= p->next_ns) {
            set_off(p, now_ns);
        }
        return;
    }
    if (valid && p->off_n >= TRIAL_WINDOWS && now_ns >= p->next_ns &&
        p->shrink_frac >= 0.05 && xlmig_zpolicy_model_gain(p) >= MODEL_GAIN)
        start_trial(p, true, now_ns);
}

/* A compressing window was pooled (or was too short): what next. */
static void z_window(struct xlmig_zpolicy *p, uint64_t now_ns)
{
    if (!p->on)
        return;                 /* a tail of jobs from before a switch */
    if (p->trial) {
        if (p->on_n >= TRIAL_WINDOWS) {
            if (z_pays(p))
                set_on(p, now_ns);
            else
                set_off(p, now_ns);
        } else if (now_ns >= p->next_ns ||
                   (p->on_n && p->c_z > ABORT_LOSS * p->c_raw)) {
            set_off(p, now_ns);     /* inconclusive, or clearly a loss */
        }
        return;
    }
    /* On: worse now than raw was, or time to look at raw again. */
    if ((p->on_n >= TRIAL_WINDOWS && !z_pays(p)) || now_ns >= p->next_ns)
        start_trial(p, false, now_ns);
}

static void update_costs(struct xlmig_zpolicy *p)
{
    if (p->off_b > 0)
        p->c_raw = p->off_t / p->off_b;
    if (p->on_z > 0 && p->c_raw > 0) {
        p->c_z = (p->on_t - p->c_raw * p->on_r) / p->on_z;
        if (p->c_z < 1e-12)
            p->c_z = 1e-12;
    }
}

static void close_window(struct xlmig_zpolicy *p, uint64_t now_ns)
{
    uint64_t bytes = p->win_raw + p->win_z;
    double t = (double)p->win_busy_ns * 1e-9;
    bool valid = p->win_jobs >= MIN_JOBS && bytes &&
                 p->win_busy_ns >= WINDOW_NS / 2;

    if (valid && !p->win_on) {
        p->off_t = p->off_t * POOL_DECAY + t;
        p->off_b = p->off_b * POOL_DECAY + (double)bytes;
        p->off_n++;
    } else if (valid && (double)p->win_z >= MIN_Z_SHARE * (double)bytes) {
        p->on_t = p->on_t * POOL_DECAY + t;
        p->on_r = p->on_r * POOL_DECAY + (double)p->win_raw;
        p->on_z = p->on_z * POOL_DECAY + (double)p->win_z;
        p->on_n++;
    }
    update_costs(p);
    if (p->win_on)
        z_window(p, now_ns);
    else
        raw_window(p, now_ns, valid);
    p->win_open = false;
    p->win_busy_ns = p->win_raw = p->win_z = p->win_jobs = 0;
}

void xlmig_zpolicy_job_done(struct xlmig_zpolicy *p, uint64_t now_ns,
                            uint64_t busy_ns, bool on, uint64_t raw_bytes,
                            uint64_t z_bytes)
{
    if (!raw_bytes && !z_bytes) {
        /* A record or holes: its time counts, it has no mode. */
        p->win_busy_ns += busy_ns;
        return;
    }
    if (p->win_open && p->win_on != on)
        close_window(p, now_ns);
    if (!p->win_open) {
        p->win_open = true;
        p->win_on = on;
    }
    p->win_busy_ns += busy_ns;
    p->win_raw += raw_bytes;
    p->win_z += z_bytes;
    p->win_jobs++;
    if (p->win_busy_ns >= WINDOW_NS && p->win_jobs >= MIN_JOBS)
        close_window(p, now_ns);
}

static const char *why(const struct xlmig_zpolicy *p, char *buf,
                       size_t len)
{
    if (p->trials)
        snprintf(buf, len, "measured per disk byte: raw %.2f ns, "
                 "compressed %.2f ns, %llu trial(s)", p->c_raw * 1e9,
                 p->c_z * 1e9, (unsigned long long)p->trials);
    else if (p->shrink_frac < 0.05)
        snprintf(buf, len, "the data does not shrink");
    else if (p->link_Bps <= 0)
        snprintf(buf, len, "not link-bound: the CPUs are the limit");
    else
        snprintf(buf, len, "no gain expected: x%.2f",
                 xlmig_zpolicy_model_gain(p));
    return buf;
}

void xlmig_zpolicy_describe(const struct xlmig_zpolicy *p, char *buf,
                            size_t len)
{
    char reason[128];

    if (!p->jobs) {
        snprintf(buf, len, "no extent sampled");
        return;
    }
    snprintf(buf, len, "on for %.0f%% of extents (%s; link %.0f MB/s; %u "
             "worker(s) at %.0f%% of a CPU; deflate %.0f MB/s shrinking / "
             "%.0f MB/s other, inflate %.0f MB/s, per CPU)",
             100.0 * (double)p->jobs_z / (double)p->jobs,
             why(p, reason, sizeof(reason)), p->link_Bps / 1e6, p->workers,
             100.0 * cpu_share(p),
             deflate_speed(p) / 1e6,
             p->deflate_Bps[XLMIG_ZC_OTHER] / 1e6, p->inflate_Bps / 1e6);
}
