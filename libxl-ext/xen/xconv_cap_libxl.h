/*
 * xconv_cap.h's operations on a real host.  Open a context of its own:
 * the cap is set from the memory progress callback, which runs inside
 * libxl's event loop on the migration's ctx (xmem_progress.h), and libxl
 * must not be re-entered on that ctx.  Its logger may be the xmem wrapper
 * too (it only logs messages, which the wrapper serialises with the main
 * ctx's: the stdio logger is not thread-safe).
 */
#ifndef XLMIG_XEN_XCONV_CAP_LIBXL_H
#define XLMIG_XEN_XCONV_CAP_LIBXL_H

#include <libxl.h>

#include "xconv_cap.h"

struct xconv_libxl {
    libxl_ctx *ctx;
    struct xs_handle *xs;
};

extern const struct xconv_cap_ops xconv_libxl_ops;

/* 0 or -EIO with err. */
int xconv_libxl_open(struct xconv_libxl *x, xentoollog_logger *lg,
                     struct xlmig_error *err);
void xconv_libxl_close(struct xconv_libxl *x);

#endif
