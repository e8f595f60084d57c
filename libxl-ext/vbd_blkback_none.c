/* xlmig_vbd_blkback_open() in a library built without Xen. */
#include <errno.h>
#include <stddef.h>

#include "err.h"
#include "vbd.h"

int xlmig_vbd_blkback_open(uint32_t domid, uint32_t devid,
                           struct xlmig_vbd **out, struct xlmig_error *err)
{
    (void)domid;
    (void)devid;
    *out = NULL;
    return xlmig_fail(err, ENOSYS, "this libxlmig was built without Xen");
}
