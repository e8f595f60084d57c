/*
 * Which of a guest's disks xlmig migrates, decided from its libxl
 * configuration (libxl_retrieve_domain_configuration on a running domain,
 * libxlutil's xlu_disk_parse for xl.cfg files).
 *
 * A disk is migrated when it is local: a raw image served by kernel
 * blkback (backend phy, or unset and autodetected as phy: a `file:` image
 * through a loop device, or a block device such as an LVM volume), with no
 * hotplug script other than "block".  A disk is shared (left alone, it must
 * be reachable at the same path on the destination) when:
 *   - it is named by --shared VDEV[,VDEV...];
 *   - it uses another block script (script=block-iscsi, block-drbd, ...):
 *     network storage by definition;
 *   - its image sits on a network or cluster file system (NFS, CIFS/SMB,
 *     CephFS, GFS2, OCFS2, GlusterFS, AFS, 9p), found with statfs(2);
 *   - it is a CD-ROM drive (removable media: not copied).
 * --storage=local (default) migrates the local disks and errors out on a
 * disk that is neither shared nor migratable (qcow2 / qdisk: xlmig cannot
 * track its writes); --storage=all migrates every disk, auto-detection
 * notwithstanding; --storage=VDEV[,VDEV...] migrates exactly those.
 */
#ifndef XLMIG_XEN_DISKS_H
#define XLMIG_XEN_DISKS_H

#include <stdbool.h>
#include <stdint.h>

#include <libxl.h>

#include "err.h"
#include "ctlmsg.h"
#include "wire.h"


enum xdisk_action {
    XDISK_MIGRATE,
    XDISK_SHARED,               /* left alone: same path on the dest */
    XDISK_EMPTY,                /* an empty CD-ROM drive */
};

struct xdisk {
    int index;                  /* in d_config->disks */
    char vdev[XLMIG_MAX_NAME + 1];
    char path[4096];
    uint8_t kind;               /* enum xctl_kind, when migrated */
    enum xdisk_action action;
    char why[96];               /* why it is shared / skipped */
};

enum xsel_mode { XSEL_LOCAL, XSEL_ALL, XSEL_LIST };

struct xsel {
    enum xsel_mode mode;
    char list[XLMIG_MAX_DISKS][XLMIG_MAX_NAME + 1];
    unsigned nlist;
    char shared[XLMIG_MAX_DISKS][XLMIG_MAX_NAME + 1];
    unsigned nshared;
};

/* What the source host says about a path (stat/statfs); replaceable for
 * tests.  Returns 0, or -1 when the path cannot be examined. */
struct xprobe_result {
    uint8_t kind;               /* enum xctl_kind, 0: neither */
    const char *netfs;          /* non-NULL: the network fs it is on */
};
typedef int xdisk_probe_fn(const char *path, struct xprobe_result *r);
xdisk_probe_fn xdisk_probe_host;

/* "--storage" and "--shared" arguments; -1 with err on a bad list. */
int xdisk_parse_storage(struct xsel *s, const char *arg, struct xlmig_error *err);
int xdisk_parse_shared(struct xsel *s, const char *arg, struct xlmig_error *err);

/*
 * Classifies every disk of cfg into out[0..*n).  Returns the number of
 * disks to migrate (>= 0), or -1 with err (a disk that must be migrated
 * but cannot be, a listed vdev that does not exist, ...).
 */
int xdisk_select(const libxl_domain_config *cfg, const struct xsel *sel,
                 xdisk_probe_fn *probe, struct xdisk *out, unsigned *n,
                 struct xlmig_error *err);

/*
 * xdisk_select() on this host with the --storage and --shared lists
 * (either NULL: not given): the number of disks to migrate, or -errno
 * with err (a bad list included).
 */
int xdisk_select_opts(const libxl_domain_config *cfg, const char *storage,
                      const char *shared, struct xdisk *out, unsigned *n,
                      struct xlmig_error *err);

/* Parses the `disk = [...]` list of an xl.cfg file with libxlutil into
 * cfg->disks (only disks: xl's own parser is not a library). */
int xdisk_load_xlcfg(const char *file, libxl_domain_config *cfg, struct xlmig_error *err);

#endif
