/*
 * Stand-in for libxl-ext/vbd_blkback.c (another branch) so that the
 * Xen-only interim binary links: every VBD open fails, which leaves
 * --no-tracking migrations (and all the plumbing) usable.  The real build
 * links vbd_blkback.c instead; never both.
 */
#include <stdio.h>

#include "vbd.h"

struct xlmig_vbd *xlmig_vbd_blkback_open(uint32_t domid, uint32_t devid,
                                         char *err, size_t errlen)
{
    snprintf(err, errlen, "vbd %u/%u: this xlmig was built without the "
             "blkback backend (vbd_blkback.c)", domid, devid);
    return NULL;
}
