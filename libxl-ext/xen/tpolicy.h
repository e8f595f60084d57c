/*
 * Where the destination puts each migrated disk, decided here and never by
 * the sender.  In order of precedence:
 *   --map VDEV=PATH    that path (absolute, clean);
 *   --target-dir DIR   DIR/<file name of the source path> (sanitized to
 *                      [A-Za-z0-9._-], so nothing escapes DIR);
 *   default            the source's own path, if it is absolute and clean
 *                      (no "..", ".", "//", control characters), and: for
 *                      an image, not under /dev, /proc or /sys and its
 *                      directory exists (the file itself must not, unless
 *                      --allow-existing); for a block device, an existing
 *                      block device (create the LV first).
 * The engine then creates sparse files (O_EXCL) or checks the size of an
 * existing device (target.c).  The chosen paths replace pdev_path in the
 * configuration before libxl_domain_create_restore, which stats them.
 */
#ifndef XLMIG_XEN_TPOLICY_H
#define XLMIG_XEN_TPOLICY_H

#include <stdbool.h>

#include <libxl.h>

#include "err.h"
#include "ctlmsg.h"
#include "target.h"

struct xtpolicy {
    const char *target_dir;
    struct xlmig_target_map map[XLMIG_MAX_DISKS];
    unsigned nmap;
    bool allow_existing;
};

/* "--map VDEV=PATH"; -1 with err if malformed. */
int xtp_add_map(struct xtpolicy *p, const char *spec, struct xlmig_error *err);
/* An absolute path without "", ".", ".." or empty components, or control
 * characters, shorter than PATH_MAX. */
bool xtp_path_clean(const char *path);

/*
 * For each disk the OFFER names: finds it in cfg (by vdev), chooses its
 * target, fills ep (the engine's policy: one map entry per disk) and the
 * ACCEPT's display paths in acc->disks, and rewrites cfg's pdev_path.
 * check_host: also look at the host (directory exists, device exists);
 * unit tests turn it off for paths that do not exist here.
 */
int xtp_choose(const struct xtpolicy *p, libxl_domain_config *cfg,
               const struct xctl_msg *offer, bool check_host,
               struct xlmig_target_policy *ep, struct xctl_msg *acc,
               struct xlmig_error *err);

#endif
