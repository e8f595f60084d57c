#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxl_utils.h>
#include <xentoollog.h>

#include "cmd_migrate_common.h"

/*
 * We run children of our own (the disk engine, ssh, sh): libxl must reap
 * only its own, or it takes ours and logs "unknown child ... exited".
 */
static const libxl_childproc_hooks childproc_hooks = {
    .chldowner = libxl_sigchld_owner_libxl_always_selective_reap,
};

libxl_ctx *xm_ctx_alloc(int verbose, void **logger)
{
    xentoollog_logger_stdiostream *lg;
    libxl_ctx *ctx = NULL;

    lg = xtl_createlogger_stdiostream(stderr, verbose ? XTL_DEBUG
                                                      : XTL_PROGRESS, 0);
    if (!lg) {
        fprintf(stderr, "xlmig: cannot create a logger\n");
        return NULL;
    }
    if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, (xentoollog_logger *)lg)) {
        fprintf(stderr, "xlmig: cannot initialise libxl: is this a Xen "
                "dom0, running as root?\n");
        xtl_logger_destroy((xentoollog_logger *)lg);
        return NULL;
    }
    libxl_childproc_setmode(ctx, &childproc_hooks, NULL);
    *logger = lg;
    return ctx;
}

void xm_ctx_free(libxl_ctx *ctx, void *logger)
{
    if (ctx)
        libxl_ctx_free(ctx);
    if (logger)
        xtl_logger_destroy(logger);
}

int xm_find_domain(libxl_ctx *ctx, const char *s, uint32_t *domid)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s && !*end && v < 0x7ff0) {
        *domid = (uint32_t)v;
        return 0;
    }
    if (libxl_name_to_domid(ctx, s, domid)) {
        fprintf(stderr, "xlmig: '%s' is an invalid domain identifier\n", s);
        return -1;
    }
    return 0;
}

bool xm_shell_quote(const char *s, char *out, size_t len)
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

int xm_lock(void)
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

void xm_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

void xm_uuid_string(const libxl_uuid *u, char out[40])
{
    const uint8_t *b = libxl_uuid_bytearray_const(u);

    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
             b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}
