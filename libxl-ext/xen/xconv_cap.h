/*
 * The guest's CPU cap for auto-converge: a throttle (xconv_policy.h)
 * becomes a scheduler cap on the domain; the original is recorded in
 * xenstore before anything is changed, and put back on every path.
 *
 * The cap.  credit and credit2 both take a per-domain cap in percent of
 * one physical CPU for the whole domain, 0 meaning none (libxl_sched.c:
 * sched_credit_domain_set and sched_credit2_domain_set accept 0 to
 * (max_vcpu_id + 1) * 100).  What the guest can use uncapped is 100% per
 * online vCPU, so a throttle of T% gives
 *     cap = base * (100 - T) / 100, at least 1,
 *     base = the original cap if there is one and it is lower, else
 *            100 * online vCPUs.
 * (1 vCPU, T = 50: 50; 4 vCPUs, T = 20: 320; an original cap of 150 on 4
 * vCPUs, T = 50: 75.)  Only the cap changes; the weight is left alone.
 * Other schedulers (rtds, null, arinc653) have no cap: refused up front.
 *
 * The record, written in one transaction before the first cap is set
 * (xenstore lives as long as the host's Xen, like the domain):
 *     /local/domain/0/xlmig/<uuid>/cap/
 *         domid sched cap weight vcpus owner started   the original
 *         pending                                      about to be set
 *         current throttle                             last set
 * a sibling of source/, which status.c clears at each new job.  owner is
 * "<pid>:<start time>" (/proc/<pid>/stat field 22) of the process that
 * throttles, so a reused pid is not mistaken for it.
 *
 * Restoring.  xconv_cap_restore() on every path of the migrating process:
 * success (the source domain is then suspended or gone: restoring is
 * harmless; the record goes), failure and rollback before GO (the guest
 * resumes with its own cap).  A crash leaves the record: whoever finds it
 * with its owner dead calls xconv_cap_recover(), which puts the original
 * back if the domain still holds a cap we set, and removes the record.
 *
 * The destination's new domain gets the original cap without help: the
 * config the source sends comes from libxl_retrieve_domain_configuration,
 * which reads the live scheduling parameters (libxl_domain.c:2536-2544)
 * before any throttle, and libxl_domain_create_restore applies them to the
 * new domain with whatever scheduler it lands on (libxl_create.c:1601,
 * libxl_dom.c:452).  Hence: recover before retrieving the configuration.
 *
 * The libxl / xenstore calls go through ops, so the logic runs in unit
 * tests against a fake; xconv_cap_libxl.c has the real ones.
 *
 * Errors: 0 or a negative errno with err set (err.h): -EIO when libxl or
 * xenstore fails, -ENOENT when the domain is missing, -EINVAL for bad
 * input (a UUID, a scheduler without a cap, no record to throttle),
 * -EEXIST when a record is in the way.
 */
#ifndef XLMIG_XEN_XCONV_CAP_H
#define XLMIG_XEN_XCONV_CAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* A domain as the ops see it. */
struct xconv_dom {
    bool exists;
    char uuid[40];
    char sched[16];                 /* libxl_scheduler_to_string() */
    int cap;                        /* 0: none */
    int weight;
    unsigned vcpus;                 /* online */
};

struct xconv_cap_ops {
    /* 0 with d->exists false if there is no such domain; -errno with
     * err on error */
    int (*get)(void *h, uint32_t domid, struct xconv_dom *d,
               struct xlmig_error *err);
    int (*set_cap)(void *h, uint32_t domid, const char *sched, int cap,
                   struct xlmig_error *err);
    /* the n keys under dir, all or none */
    int (*put)(void *h, const char *dir, const char *const *keys,
               const char *const *vals, unsigned n);
    /* 0 and the value; -1 if absent */
    int (*read)(void *h, const char *path, char *val, size_t len);
    int (*rm)(void *h, const char *dir);
    bool (*owner_alive)(void *h, const char *owner);
};

struct xconv_orig {
    char sched[16];
    int cap, weight;
    unsigned vcpus;
};

struct xconv_cap {
    const struct xconv_cap_ops *ops;
    void *h;
    uint32_t domid;
    char uuid[40];
    char dir[128];
    struct xconv_orig orig;
    bool recorded;                  /* the record exists: restore needed */
    int current;                    /* last cap set by us; -1: none */
    unsigned throttle;
};

/* The cap for a throttle of t percent (t = 0: the original). */
int xconv_cap_for(const struct xconv_orig *o, unsigned throttle);

/*
 * Before the migration: checks the domain (exists, has this UUID, runs on
 * credit or credit2) and writes the record.  -errno with err if not
 * (nothing written), also if a record exists already (-EEXIST: recover
 * first).
 */
int xconv_cap_prepare(struct xconv_cap *c, const struct xconv_cap_ops *ops,
                      void *h, uint32_t domid, const char *uuid,
                      const char *owner, struct xlmig_error *err);
/* Sets the cap for this throttle (pending first, then current). */
int xconv_cap_throttle(struct xconv_cap *c, unsigned throttle, int *cap,
                       struct xlmig_error *err);
/* The original back and the record gone; 0 if there was nothing to do or
 * the domain is gone.  If the cap cannot be set the record stays (for a
 * later recovery) and -errno is returned.  Safe to call more than once. */
int xconv_cap_restore(struct xconv_cap *c, struct xlmig_error *err);

enum xconv_found {
    XCONV_NONE,                     /* no record */
    XCONV_BUSY,                     /* its owner runs: left alone */
    XCONV_RESTORED,                 /* original cap set again */
    XCONV_ALREADY,                  /* the domain had its original cap */
    XCONV_GONE,                     /* no such domain (any more) */
    XCONV_CHANGED,                  /* someone else set another cap: left */
};

struct xconv_recovery {
    enum xconv_found what;
    uint32_t domid;
    struct xconv_orig orig;
    int found_cap;                  /* the domain's cap before; -1 */
    char owner[64];
};

/* A crashed migration's record for uuid: restore and remove (see above).
 * -errno with err if the record is unreadable (-EIO) or the cap cannot be
 * set (the record then stays). */
int xconv_cap_recover(const struct xconv_cap_ops *ops, void *h,
                      const char *uuid, struct xconv_recovery *r,
                      struct xlmig_error *err);
const char *xconv_found_name(enum xconv_found f);

/* "<pid>:<start time>" of this process; of pid. -1 if /proc fails. */
int xconv_owner_self(char *out, size_t len);
int xconv_owner_of(long pid, char *out, size_t len);
/* True if that process runs (same pid and start time). */
bool xconv_owner_alive(const char *owner);

#endif
