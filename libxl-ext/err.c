#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int xlmig_vfail(struct xlmig_error *e, int code, const char *fmt, va_list ap)
{
    e->code = code > 0 ? code : code < 0 ? -code : EIO;
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return -e->code;
}

int xlmig_fail(struct xlmig_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = xlmig_vfail(e, code, fmt, ap);
    va_end(ap);
    return rc;
}

int xlmig_fail_from(struct xlmig_error *e, const struct xlmig_error *from,
                    const char *pfx)
{
    struct xlmig_error copy = *from;    /* e and from may be the same */

    if (pfx)
        return xlmig_fail(e, copy.code, "%s: %s", pfx, copy.msg);
    return xlmig_fail(e, copy.code, "%s", copy.msg);
}

void xlmig_error_clear(struct xlmig_error *e)
{
    e->code = 0;
    e->msg[0] = '\0';
}

const char *xlmig_version(void)
{
    return PACKAGE_VERSION;
}
