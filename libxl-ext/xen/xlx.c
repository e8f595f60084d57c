#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxl_utils.h>
#include <xentoollog.h>

#include "xlx.h"

/*
 * We run children of our own (the disk engine, ssh, sh): libxl must reap
 * only its own, or it takes ours and logs "unknown child ... exited".
 */
static const libxl_childproc_hooks childproc_hooks = {
    .chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

/* libxl's and libxc's messages, as xl would show them, to the observer. */
struct fwd_logger {
    xentoollog_logger vtable;
    xentoollog_level min;
    bool mute;                  /* while we explain failures ourselves */
    const struct xflow_observer *obs;
};

static void fwd_vmessage(struct xentoollog_logger *lg, xentoollog_level level,
                         int errnoval, const char *context,
                         const char *format, va_list al)
{
    struct fwd_logger *f = (struct fwd_logger *)lg;
    char msg[1024];
    int n = 0;

    if (level < f->min || f->mute || !f->obs || !f->obs->log)
        return;
    if (context)
        n = snprintf(msg, sizeof(msg), "%s: ", context);
    if (n >= 0 && (size_t)n < sizeof(msg))
        n += vsnprintf(msg + n, sizeof(msg) - (size_t)n, format, al);
    if (errnoval >= 0 && n >= 0 && (size_t)n < sizeof(msg))
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
                 strerror(errnoval));
    f->obs->log(f->obs->opaque, level >= XTL_ERROR ? XLMIG_LOG_ERROR
                                 : level >= XTL_WARN ? XLMIG_LOG_WARN
                                 : level >= XTL_PROGRESS ? XLMIG_LOG_INFO
                                                         : XLMIG_LOG_DEBUG,
                msg);
}

static void fwd_progress(struct xentoollog_logger *lg, const char *context,
                         const char *doing_what, int percent,
                         unsigned long done, unsigned long total)
{
    /* The xmem logger in front has taken what it needs: the memory
     * figures are events (xsmem.h), not lines like xl's. */
    (void)lg; (void)context; (void)doing_what; (void)percent; (void)done;
    (void)total;
}

static void on_memory(void *opaque, const struct xmem_stats *st)
{
    struct xlx *x = opaque;

    if (x->mem_cb)
        x->mem_cb(x->mem_opaque, st);
}

static void fwd_destroy(struct xentoollog_logger *lg)
{
    free(lg);
}

int xlx_open(struct xlx *x, int verbose, const struct xflow_observer *obs,
             struct xlmig_error *err)
{
    struct fwd_logger *lg = calloc(1, sizeof(*lg));
    struct xmem_opts mo;

    memset(x, 0, sizeof(*x));
    x->obs = obs;
    if (!lg)
        return xlmig_fail(err, ENOMEM, "out of memory");
    lg->vtable.vmessage = fwd_vmessage;
    lg->vtable.progress = fwd_progress;
    lg->vtable.destroy = fwd_destroy;
    lg->min = verbose ? XTL_DEBUG : XTL_PROGRESS;
    lg->obs = obs;
    xmem_opts_default(&mo);
    mo.cb = on_memory;
    mo.cb_opaque = x;
    x->mem = xmem_logger_new((xentoollog_logger *)lg, &mo);
    if (!x->mem) {
        free(lg);
        return xlmig_fail(err, ENOMEM, "out of memory");
    }
    /* Without Xen, libxc and libxl explain at length; one line says it
     * (-v shows theirs). */
    lg->mute = !verbose;
    if (libxl_ctx_alloc(&x->ctx, LIBXL_VERSION, 0, xmem_logger_xtl(x->mem))) {
        xtl_logger_destroy(xmem_logger_xtl(x->mem));
        free(lg);
        x->mem = NULL;
        if (access("/proc/xen/capabilities", F_OK) &&
            access("/dev/xen/privcmd", F_OK))
            return xlmig_fail(err, ENODEV, "this host does not run Xen "
                              "(no /proc/xen, no /dev/xen/privcmd): run it "
                              "in dom0");
        if (geteuid() != 0)
            return xlmig_fail(err, EPERM, "libxl needs root (run it as "
                              "root in dom0)");
        return xlmig_fail(err, ENODEV, "cannot initialise libxl: is this "
                          "dom0 (xl -v shows why)?");
    }
    lg->mute = false;
    libxl_childproc_setmode(x->ctx, &childproc_hooks, NULL);
    x->logger = lg;
    return 0;
}

void xlx_close(struct xlx *x)
{
    /* libxl first, then the wrapper, then what it wraps. */
    if (x->ctx)
        libxl_ctx_free(x->ctx);
    if (x->mem)
        xtl_logger_destroy(xmem_logger_xtl(x->mem));
    if (x->logger)
        xtl_logger_destroy(x->logger);
    x->ctx = NULL;
    x->mem = NULL;
    x->logger = NULL;
}

void xlx_watch_memory(struct xlx *x, xmem_cb *cb, void *opaque)
{
    x->mem_cb = cb;
    x->mem_opaque = opaque;
}

xentoollog_logger *xlx_logger(struct xlx *x)
{
    return xmem_logger_xtl(x->mem);
}

int xlx_find_domain(struct xlx *x, const char *s, uint32_t *domid,
                    struct xlmig_error *err)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    struct fwd_logger *lg = x->logger;
    libxl_dominfo info;
    int rc;

    if (*s && !*end && v < 0x7ff0) {
        *domid = (uint32_t)v;
        /* A number must name a domain that exists (quietly asked). */
        libxl_dominfo_init(&info);
        lg->mute = true;
        rc = libxl_domain_info(x->ctx, &info, *domid);
        lg->mute = false;
        libxl_dominfo_dispose(&info);
        if (rc)
            return xlmig_fail(err, ENOENT, "no domain %lu on this host (xl "
                              "list shows them)", v);
        return 0;
    }
    lg->mute = true;
    rc = libxl_name_to_domid(x->ctx, s, domid);
    lg->mute = false;
    if (rc)
        return xlmig_fail(err, ENOENT, "no domain named '%s' on this host "
                          "(xl list shows them)", s);
    return 0;
}

bool xlx_shell_quote(const char *s, char *out, size_t len)
{
    size_t j = 0;

    if (len < 3)
        return false;
    out[j++] = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            if (j + 5 >= len)
                return false;
            memcpy(out + j, "'\\''", 4);
            j += 4;
        } else {
            if (j + 2 >= len)
                return false;
            out[j++] = *s;
        }
    }
    out[j++] = '\'';
    out[j] = '\0';
    return true;
}

int xlx_lock(void)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int fd = open("/var/lock/xl", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0)
        return -1;
    while (fcntl(fd, F_SETLKW, &fl) < 0)
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    return fd;
}

void xlx_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

void xlx_uuid_string(const libxl_uuid *u, char out[40])
{
    const uint8_t *b = libxl_uuid_bytearray_const(u);

    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
             b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int xlx_domain_uuid(struct xlx *x, uint32_t domid, const char *domain,
                    char out[40], struct xlmig_error *err)
{
    libxl_dominfo info;
    int rc;

    libxl_dominfo_init(&info);
    rc = libxl_domain_info(x->ctx, &info, domid);
    if (!rc)
        xlx_uuid_string(&info.uuid, out);
    libxl_dominfo_dispose(&info);
    if (rc)
        return xlmig_fail(err, ENOENT, "'%s' is an invalid domain "
                          "identifier", domain);
    return 0;
}

static void vsay(const struct xflow_observer *obs, enum xlmig_log_level level,
                 const char *pfx, const char *fmt, va_list ap)
{
    char msg[1024];
    int n;

    if (!obs || !obs->log)
        return;
    n = snprintf(msg, sizeof(msg), "%s", pfx);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    obs->log(obs->opaque, level, msg);
}

void xlx_say(const struct xflow_observer *obs, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(obs, XLMIG_LOG_INFO, "xl: ", fmt, ap);
    va_end(ap);
}

void xlx_log(const struct xflow_observer *obs, enum xlmig_log_level level,
             const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(obs, level, "", fmt, ap);
    va_end(ap);
}
