/*
 * The Xen flows as the xlmig command calls them: `xlmig migrate
 * --with-storage` (xsrc_migrate), `xlmig migrate-receive --with-storage`
 * (xdst_receive, and xdst_data_helper for the ssh data channel) and
 * `xlmig jobinfo` (xjob_find).  This header includes no Xen header: the
 * command parses options into these structs; libxl, xenstore and the
 * engine process stay behind it (libxl-ext/xen/).
 *
 * The flows report what xl would print, and the engine's progress,
 * through an observer.  Messages logged at XLMIG_LOG_INFO with the
 * prefix "xl: " are xl's own lines (e.g. "xl: migration sender: Target has
 * acknowledged transfer."): a front printing them drops the prefix.
 */
#ifndef XLMIG_XEN_XFLOW_H
#define XLMIG_XEN_XFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "xconv_policy.h"
#include "xlmig.h"

struct xflow_observer {
    xlmig_event_fn *event;
    xlmig_log_fn *log;
    void *opaque;
};

#define XFLOW_RUNDIR "/run/xlmig"       /* status files, ssh sessions */
#define XFLOW_LOGDIR "/var/log/xlmig"   /* engines' logs after GO */
#define XFLOW_STATEDIR "/var/lib/xlmig" /* post-copy sessions (recovery) */

/* ---- source: xlmig migrate --with-storage DOMAIN HOST ---- */

struct xsrc_opts {
    const char *config;         /* -C: JSON, or xl.cfg (via xl -N) */
    const char *ssh;            /* -s (default "ssh"; "": HOST is it) */
    const char *data_host;      /* TCP: connect here */
    bool daemonize_off, pause, preserve_domid, debug;
    bool tcp;                   /* --data=tcp */
    bool notrack;               /* stock blkback: whole disks at stop-copy */
    bool remove_source;         /* delete source images after DONE */
    int verbose;
    int nice;
    const char *storage;        /* --storage=local|all|VDEV,... */
    const char *shared;         /* --shared=VDEV,... */
    struct xlmig_source_opts so;
    bool autoconv;              /* --auto-converge (xconv_policy.h) */
    struct xconv_opts ac;
    char fwd[8192];             /* the destination's options, quoted */
    const char *rundir, *logdir;        /* NULL: the defaults above */
    /* cold migration (xcold.c): so.offline; a running guest is shut down
     * first only with shutdown */
    bool shutdown;
    /* estimate (xest.c): measure and predict only */
    bool estimate;
    double sample_s;            /* watch the guest's writes (5) */
    bool json;                  /* the estimate as JSON on stdout too */
};

void xsrc_opts_init(struct xsrc_opts *o);
/* Forwards "--opt=value" (value NULL: "--opt") to migrate-receive. */
int xsrc_fwd_add(struct xsrc_opts *o, const char *opt, const char *val,
                 struct xlmig_error *err);
/* Checks what can be checked before anything is contacted. */
int xsrc_check(const struct xsrc_opts *o, struct xlmig_error *err);
/*
 * Migrates DOMAIN and its disks to HOST.  Returns an exit status: 0 (the
 * guest runs there; post-copy may go on in the background), 1 (failed,
 * the guest runs here), 3 (the hand-off's outcome is unknown).
 */
int xsrc_migrate(const struct xsrc_opts *o, const char *domain,
                 const char *host, const struct xflow_observer *obs);
/*
 * --offline: moves a stopped guest's disks and its xl.cfg (o->config, else
 * /etc/xen/DOMAIN.cfg) to HOST, where it is written with the disks at
 * their new places (and started with the destination's --start).  A
 * running guest is refused, or shut down first with o->shutdown.  A cut
 * keeps what the destination flushed: run it again to go on.  Exit status:
 * 0, 1 (failed; the guest's disks here untouched), 4 (moved, but
 * --remove-source refused after a --verify mismatch).
 */
int xsrc_offline(const struct xsrc_opts *o, const char *domain,
                 const char *host, const struct xflow_observer *obs);
/* --estimate: what migrating DOMAIN to HOST would do; nothing changes. */
int xsrc_estimate(const struct xsrc_opts *o, const char *domain,
                  const char *host, const struct xflow_observer *obs);

/* ---- destination: xlmig migrate-receive --with-storage ---- */

struct xdst_opts {
    bool debug, pause;
    int verbose;
    int nice;
    const char *data_port;      /* TCP: listen here (default any) */
    const char *target_dir;
    const char *maps[XLMIG_MAX_DISKS];  /* VDEV=PATH */
    unsigned nmaps;
    bool allow_existing;
    int peer_timeout_ms;        /* (30000) */
    int recover_timeout_s;      /* (3600) */
    const char *rundir, *logdir;
    int rfd, wfd;               /* xl's channel: stdin, stdout */
    bool offline, estimate;     /* the session's kind (xcold.c, xest.c) */
    bool start;                 /* offline: create the guest once here */
    const char *config_dir;     /* offline: its xl.cfg goes here (/etc/xen) */
};

void xdst_opts_init(struct xdst_opts *o);
int xdst_check(const struct xdst_opts *o, struct xlmig_error *err);
/* Exit status as xsrc_migrate(). */
int xdst_receive(const struct xdst_opts *o, const struct xflow_observer *obs);
/* The destination of xsrc_offline() / xsrc_estimate(), on rfd/wfd. */
int xdst_offline(const struct xdst_opts *o, const struct xflow_observer *obs);
int xdst_estimate(const struct xdst_opts *o, const struct xflow_observer *obs);
/* The ssh data channel's helper on the destination (--data-channel). */
int xdst_data_helper(const char *session, const char *rundir,
                     struct xlmig_error *err);

/* ---- migrate-recover: resume a paused post-copy ---- */

struct xrec_opts {
    const char *data_host;      /* another way to the destination (TCP) */
    int data_port;              /* 0: the session's */
    const char *ssh;            /* ssh data channel: another command */
    struct xlmig_source_opts so;        /* timeouts, bandwidth */
    const char *statedir;               /* NULL: XFLOW_STATEDIR */
};

void xrec_opts_init(struct xrec_opts *o);
/*
 * On the source host: if the engine serving DOMAIN's post-copy still runs,
 * says so (it keeps trying by itself); else starts serving it here from
 * the saved session until the destination has every block.  Exit status:
 * 0 done (or an engine is on it), 1 nothing to recover, 3 failed.
 */
int xrec_recover(const char *domain, const struct xrec_opts *o,
                 const struct xflow_observer *obs);

/* ---- recover-cap ---- */

/*
 * Puts back the CPU cap that an auto-converging migration of DOMAIN (a
 * name, domid or UUID; NULL: every domain with a record) lowered and could
 * not restore because it died.  Returns an exit status: 0 (nothing left to
 * do), 1 (a record could not be handled; said through obs).
 */
int xcap_recover(const char *domain, const struct xflow_observer *obs);

/* ---- jobinfo ---- */

#define XJOB_MAX_KEYS 64

struct xjob {
    char uuid[40], role[16];
    struct { char k[32]; char v[256]; } kv[XJOB_MAX_KEYS];
    unsigned n;
};

/*
 * The recorded storage migrations of DOMAIN (a name, with or without the
 * migration's --incoming / --migratedaway suffix, a domid or a UUID) on
 * this host, from xenstore or, without it, from rundir's status files.
 */
unsigned xjob_find(const char *domain, const char *rundir,
                   struct xjob *jobs, unsigned max);
const char *xjob_get(const struct xjob *j, const char *key);

#endif
