/*
 * Block backends as the Xen glue hands them to the engine (vbd.h):
 *   xvbd_wrap     a blkback VBD whose data is read from a path of our
 *                 choosing: the image file itself rather than the loop
 *                 device, which goes away with the source domain after GO
 *                 while post-copy still reads the image;
 *   xvbd_lazy     a destination VBD that does not exist yet: the domain is
 *                 created while the disks stream, so the first operation
 *                 (arming the gate at stop-copy) waits until the libxl
 *                 process says which domain and device it is;
 *   xvbd_notrack  no write tracking at all (stock blkback, testing): the
 *                 snapshot after quiesce marks every block, so stop-and-copy
 *                 re-sends the whole disk while the guest is suspended.
 *                 Correct, slow; never post-copy.
 */
#ifndef XLMIG_XEN_XVBD_H
#define XLMIG_XEN_XVBD_H

#include <stdint.h>

#include "err.h"
#include "vbd.h"

struct xlmig_vbd *xvbd_wrap(struct xlmig_vbd *inner, const char *data_path,
                            struct xlmig_error *err);
struct xlmig_vbd *xvbd_notrack(const char *data_path, struct xlmig_error *err);

/* Returns the real VBD for disk index, or NULL with err (abort, timeout). */
typedef struct xlmig_vbd *xvbd_resolve_fn(void *opaque, unsigned index,
                                          struct xlmig_error *err);
struct xlmig_vbd *xvbd_lazy(xvbd_resolve_fn *fn, void *opaque,
                            unsigned index, const char *data_path,
                            struct xlmig_error *err);

#endif
