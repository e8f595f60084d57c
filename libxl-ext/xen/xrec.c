/*
 * xlmig migrate-recover DOMAIN, on the source host: resume a paused Xen
 * post-copy whose engine died, from the session it saved (xsess.h).  The
 * engine, while alive, holds an flock on the session and retries by
 * itself; then this only says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "status.h"
#include "xlx.h"
#include "xsess.h"

struct xrec {
    struct eng_msg setup;
    const struct xflow_observer *obs;
    struct xst st;
};

void xrec_opts_init(struct xrec_opts *o)
{
    memset(o, 0, sizeof(*o));
    xlmig_source_opts_init(&o->so);
}

static int reconnect(void *opaque, struct xlmig_source *s, int *rfd,
                     int *wfd)
{
    struct xrec *r = opaque;

    (void)s;
    return xsess_connect(&r->setup, rfd, wfd);
}

static void on_event(void *opaque, const struct xlmig_event *ev)
{
    struct xrec *r = opaque;

    xst_progress_hook(&r->st, ev);
    if (r->obs && r->obs->event)
        r->obs->event(r->obs->opaque, ev);
}

static void on_log(void *opaque, enum xlmig_log_level level, const char *msg)
{
    struct xrec *r = opaque;

    if (r->obs && r->obs->log)
        r->obs->log(r->obs->opaque, level, msg);
}

static void override(struct xrec *r, const struct xrec_opts *o)
{
    if (o->data_host)
        snprintf(r->setup.data_host, sizeof(r->setup.data_host), "%s",
                 o->data_host);
    if (o->data_port > 0)
        r->setup.data_port = (uint16_t)o->data_port;
    if (o->ssh)
        snprintf(r->setup.data_rune, sizeof(r->setup.data_rune), "%s",
                 o->ssh);
}

static int serve(struct xrec *r, const char *text, const struct xrec_opts *o)
{
    struct xlmig_source_hooks h = { .opaque = r, .reconnect = reconnect };
    struct xlmig_source *s;
    struct xlmig_error err;
    char line[4096];
    int rc;

    if ((rc = xlmig_source_new_resumed(text, &o->so, &h, &s, &err)) < 0) {
        xlx_log(r->obs, XLMIG_LOG_ERROR, "%s", err.msg);
        return rc;
    }
    xst_open(&r->st, XFLOW_RUNDIR, r->setup.uuid, "source", true);
    xst_set(&r->st, "name", "%s", r->setup.domname);
    xst_set(&r->st, "state", "postcopy-paused");
    xst_flush(&r->st);
    xlmig_source_set_observer(s, on_event, on_log, r);
    rc = xlmig_source_run(s);
    xst_set(&r->st, "state", "%s", rc == 0 ? "completed" : "failed");
    if (rc)
        xst_set(&r->st, "message", "POST-COPY FAILED: %s; %llu block(s) "
                "exist only in the source images: keep them",
                xlmig_source_error(s),
                (unsigned long long)xlmig_source_stale_blocks(s));
    xst_flush(&r->st);
    xst_close(&r->st);
    xlmig_source_report_json(s, line, sizeof(line));
    xlx_log(r->obs, XLMIG_LOG_INFO, "%s", line);
    if (rc)
        xlx_log(r->obs, XLMIG_LOG_ERROR, "POST-COPY FAILED: %s; %llu "
                "block(s) exist only in the source images: keep them",
                xlmig_source_error(s),
                (unsigned long long)xlmig_source_stale_blocks(s));
    xlmig_source_free(s);
    return rc;
}

int xrec_recover(const char *domain, const struct xrec_opts *o,
                 const struct xflow_observer *obs)
{
    struct xrec r = { .obs = obs };
    char path[600], *text;
    int fd, rc;

    text = xsess_load(o->statedir, domain, &r.setup, path, sizeof(path));
    if (!text) {
        xlx_log(obs, XLMIG_LOG_ERROR, "no post-copy session of %s on this "
                "host: nothing to recover here (on the destination, the "
                "guest waits for its source; see xlmig jobinfo %s)", domain,
                domain);
        return 1;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        xlx_log(obs, XLMIG_LOG_INFO, "the engine serving %s's post-copy is "
                "alive and reconnects by itself (xlmig jobinfo %s)", domain,
                domain);
        if (fd >= 0)
            close(fd);
        free(text);
        return 0;
    }
    override(&r, o);
    xlx_log(obs, XLMIG_LOG_INFO, "resuming %s's post-copy from %s", domain,
            path);
    rc = serve(&r, text, o);
    if (rc == 0)
        unlink(path);
    close(fd);
    free(text);
    return rc == 0 ? 0 : 3;
}
