/* Error messages into the XLMIG_ERRLEN buffers the glue passes around. */
#ifndef XLMIG_XEN_XERR_H
#define XLMIG_XEN_XERR_H

#include <stdarg.h>
#include <stdio.h>

#include "wire.h"

__attribute__((format(printf, 2, 3)))
static inline int xerr(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, XLMIG_ERRLEN, fmt, ap);
    va_end(ap);
    return -1;
}

#define ERR(...) xerr(err, __VA_ARGS__)

#endif
