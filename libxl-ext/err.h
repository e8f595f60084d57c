/*
 * The one error idiom of libxlmig: a failure is a positive errno value and
 * a one-line message, recorded in a struct xlmig_error (public, xlmig.h);
 * functions return 0 or the negative errno.
 *
 *     if (fd < 0)
 *         return xlmig_fail(err, errno, "%s: %s", path, strerror(errno));
 */
#ifndef XLMIG_ERR_H
#define XLMIG_ERR_H

#include <stdarg.h>

#include "xlmig.h"

/* Records code (EIO if 0) and the message; returns -code. */
int xlmig_fail(struct xlmig_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), nonnull(1, 3)));
int xlmig_vfail(struct xlmig_error *e, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0), nonnull(1, 3)));
/* Copies another error (adding a prefix when pfx is not NULL). */
int xlmig_fail_from(struct xlmig_error *e, const struct xlmig_error *from,
                    const char *pfx) __attribute__((nonnull(1, 2)));
void xlmig_error_clear(struct xlmig_error *e) __attribute__((nonnull));

#endif
