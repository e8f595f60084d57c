#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <libxlutil.h>

#include "disks.h"

#include "err.h"

/* statfs f_type values (linux/magic.h and the file systems' own). */
static const struct { long magic; const char *name; } netfs[] = {
    { 0x6969, "nfs" },
    { 0xff534d42, "cifs" },
    { 0xfe534d42, "smb2" },
    { 0x517b, "smb" },
    { 0x00c36400, "ceph" },
    { 0x01161970, "gfs2" },
    { 0x7461636f, "ocfs2" },
    { 0x5346414f, "afs" },
    { 0x6b414653, "kafs" },
    { 0x01021997, "9p" },
    { 0x47504653, "gpfs" },
    { 0x0bd00bd0, "lustre" },
};

int xdisk_probe_host(const char *path, struct xprobe_result *r)
{
    struct stat st;
    struct statfs fs;

    r->kind = 0;
    r->netfs = NULL;
    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode))
        r->kind = XCTL_KIND_BLOCK;
    else if (S_ISREG(st.st_mode))
        r->kind = XCTL_KIND_FILE;
    if (r->kind == XCTL_KIND_FILE && statfs(path, &fs) == 0)
        for (size_t i = 0; i < sizeof(netfs) / sizeof(netfs[0]); i++)
            if ((long)(unsigned long)fs.f_type == netfs[i].magic ||
                (unsigned long)fs.f_type == (unsigned long)netfs[i].magic)
                r->netfs = netfs[i].name;
    return 0;
}

/* ---- option lists ---- */

static int parse_list(char (*out)[XLMIG_MAX_NAME + 1], unsigned *n,
                      const char *arg, const char *opt, struct xlmig_error *err)
{
    const char *p = arg;

    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char name[XLMIG_MAX_NAME + 1];

        if (!l || l > XLMIG_MAX_NAME)
            return xlmig_fail(err, EIO, "%s: bad disk name in '%s'", opt, arg);
        memcpy(name, p, l);
        name[l] = '\0';
        if (!xlmig_disk_name_ok(name))
            return xlmig_fail(err, EIO, "%s: '%s' is not a vdev", opt, name);
        for (unsigned i = 0; i < *n; i++)
            if (!strcmp(out[i], name))
                return xlmig_fail(err, EIO, "%s: %s given twice", opt, name);
        if (*n == XLMIG_MAX_DISKS)
            return xlmig_fail(err, EIO, "%s: too many disks", opt);
        snprintf(out[(*n)++], XLMIG_MAX_NAME + 1, "%s", name);
        p += l;
        if (*p == ',' && !*++p)
            return xlmig_fail(err, EIO, "%s: trailing comma in '%s'", opt, arg);
    }
    if (!*n)
        return xlmig_fail(err, EIO, "%s: empty list", opt);
    return 0;
}

int xdisk_parse_storage(struct xsel *s, const char *arg, struct xlmig_error *err)
{
    if (!strcmp(arg, "local")) {
        s->mode = XSEL_LOCAL;
        return 0;
    }
    if (!strcmp(arg, "all")) {
        s->mode = XSEL_ALL;
        return 0;
    }
    s->mode = XSEL_LIST;
    s->nlist = 0;
    return parse_list(s->list, &s->nlist, arg, "--storage", err);
}

int xdisk_parse_shared(struct xsel *s, const char *arg, struct xlmig_error *err)
{
    return parse_list(s->shared, &s->nshared, arg, "--shared", err);
}

/* l: n names of XLMIG_MAX_NAME + 1 bytes each. */
static bool in_list(const char *l, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(l + (size_t)i * (XLMIG_MAX_NAME + 1), name))
            return true;
    return false;
}

/* ---- classification ---- */

static bool script_is_block(const char *script)
{
    const char *base;

    if (!script || !*script)
        return true;
    base = strrchr(script, '/');
    base = base ? base + 1 : script;
    return !strcmp(base, "block");
}

/* Why xlmig cannot migrate this disk, or NULL when it can. */
static const char *unmigratable(const libxl_device_disk *d)
{
    if (d->format != LIBXL_DISK_FORMAT_RAW &&
        d->format != LIBXL_DISK_FORMAT_UNKNOWN)
        return "its format is not raw (only raw images on blkback can be "
               "tracked)";
    if (d->backend != LIBXL_DISK_BACKEND_PHY &&
        d->backend != LIBXL_DISK_BACKEND_UNKNOWN)
        return "its backend is not blkback (phy)";
    if (d->backend_domid != 0)
        return "it is served by a driver domain";
    if (d->specification != LIBXL_DISK_SPECIFICATION_UNKNOWN &&
        d->specification != LIBXL_DISK_SPECIFICATION_XEN)
        return "it is not a Xen PV disk";
    if (libxl_defbool_is_default(d->colo_enable) == false &&
        libxl_defbool_val(d->colo_enable))
        return "it is a COLO disk";
    return NULL;
}

static int classify(const libxl_device_disk *d, const struct xsel *sel,
                    xdisk_probe_fn *probe, struct xdisk *x, struct xlmig_error *err)
{
    bool wanted;
    const char *why;
    struct xprobe_result pr = { 0, NULL };
    bool probed;

    if (d->is_cdrom) {
        x->action = d->pdev_path && *d->pdev_path ? XDISK_SHARED
                                                  : XDISK_EMPTY;
        snprintf(x->why, sizeof(x->why), "CD-ROM drive");
        if (sel->mode == XSEL_LIST && in_list(sel->list[0], sel->nlist, x->vdev))
            return xlmig_fail(err, EIO, "disk %s is a CD-ROM drive: not migrated", x->vdev);
        return 0;
    }
    probed = d->pdev_path && probe(d->pdev_path, &pr) == 0;

    switch (sel->mode) {
    case XSEL_LIST:
        wanted = in_list(sel->list[0], sel->nlist, x->vdev);
        if (!wanted)
            snprintf(x->why, sizeof(x->why), "not named by --storage");
        break;
    case XSEL_ALL:
        wanted = true;
        break;
    default:
        wanted = false;
        if (in_list(sel->shared[0], sel->nshared, x->vdev))
            snprintf(x->why, sizeof(x->why), "marked shared (--shared)");
        else if (!script_is_block(d->script))
            snprintf(x->why, sizeof(x->why), "network storage (script=%.60s)",
                     d->script);
        else if (probed && pr.netfs)
            snprintf(x->why, sizeof(x->why), "on a %s file system",
                     pr.netfs);
        else
            wanted = true;
    }
    if (!wanted) {
        x->action = XDISK_SHARED;
        return 0;
    }

    if (!d->pdev_path || !*d->pdev_path)
        return xlmig_fail(err, EIO, "disk %s has no path", x->vdev);
    if ((why = unmigratable(d)))
        return xlmig_fail(err, EIO, "disk %s cannot be migrated: %s; if the destination "
                   "reaches the same storage, mark it --shared %s", x->vdev,
                   why, x->vdev);
    if (!script_is_block(d->script))
        return xlmig_fail(err, EIO, "disk %s uses script=%s: only local disks (script "
                   "block) can be copied", x->vdev, d->script);
    if (!probed)
        return xlmig_fail(err, EIO, "disk %s: %s: %s", x->vdev, d->pdev_path,
                   strerror(errno ? errno : ENOENT));
    if (!pr.kind)
        return xlmig_fail(err, EIO, "disk %s: %s is neither a regular file nor a block "
                   "device", x->vdev, d->pdev_path);
    x->kind = pr.kind;
    x->action = XDISK_MIGRATE;
    snprintf(x->why, sizeof(x->why), "local %s",
             pr.kind == XCTL_KIND_FILE ? "image" : "block device");
    return 0;
}

int xdisk_select(const libxl_domain_config *cfg, const struct xsel *sel,
                 xdisk_probe_fn *probe, struct xdisk *out, unsigned *n,
                 struct xlmig_error *err)
{
    int migrate = 0;

    *n = 0;
    if (cfg->num_disks > XLMIG_MAX_DISKS)
        return xlmig_fail(err, EIO, "the guest has %d disks; xlmig handles at most %d",
                   cfg->num_disks, XLMIG_MAX_DISKS);
    if (sel->mode == XSEL_ALL && sel->nshared)
        return xlmig_fail(err, EIO, "--storage=all and --shared contradict each other");
    for (int i = 0; i < cfg->num_disks; i++) {
        const libxl_device_disk *d = &cfg->disks[i];
        struct xdisk *x = &out[*n];

        memset(x, 0, sizeof(*x));
        x->index = i;
        if (!d->vdev || !xlmig_disk_name_ok(d->vdev))
            return xlmig_fail(err, EIO, "disk %d has a vdev ('%s') xlmig cannot name", i,
                       d->vdev ? d->vdev : "");
        snprintf(x->vdev, sizeof(x->vdev), "%s", d->vdev);
        for (unsigned j = 0; j < *n; j++)
            if (!strcmp(out[j].vdev, x->vdev))
                return xlmig_fail(err, EIO, "vdev %s appears twice in the configuration",
                           x->vdev);
        if (d->pdev_path && strlen(d->pdev_path) >= sizeof(x->path))
            return xlmig_fail(err, EIO, "disk %s: path too long", x->vdev);
        snprintf(x->path, sizeof(x->path), "%s",
                 d->pdev_path ? d->pdev_path : "");
        if (classify(d, sel, probe, x, err) < 0)
            return -err->code;
        if (x->action == XDISK_MIGRATE)
            migrate++;
        (*n)++;
    }
    if (sel->mode == XSEL_LIST)
        for (unsigned i = 0; i < sel->nlist; i++) {
            bool found = false;
            for (unsigned j = 0; j < *n; j++)
                found |= !strcmp(out[j].vdev, sel->list[i]);
            if (!found)
                return xlmig_fail(err, EIO, "--storage names %s, which the guest does not "
                           "have", sel->list[i]);
        }
    for (unsigned i = 0; i < sel->nshared; i++) {
        bool found = false;
        for (unsigned j = 0; j < *n; j++)
            found |= !strcmp(out[j].vdev, sel->shared[i]);
        if (!found)
            return xlmig_fail(err, EIO, "--shared names %s, which the guest does not have",
                       sel->shared[i]);
    }
    return migrate;
}

int xdisk_load_xlcfg(const char *file, libxl_domain_config *cfg, struct xlmig_error *err)
{
    XLU_Config *c = xlu_cfg_init(stderr, file);
    XLU_ConfigList *list;
    const char *name;
    int n = 0, rc = -1;

    if (!c)
        return xlmig_fail(err, EIO, "out of memory");
    if (xlu_cfg_readfile(c, file)) {
        xlmig_fail(err, EIO, "%s: cannot parse it as an xl.cfg file", file);
        goto out;
    }
    if (!xlu_cfg_get_string(c, "name", &name, 0))
        cfg->c_info.name = strdup(name);
    if (xlu_cfg_get_list(c, "disk", &list, &n, 0)) {
        rc = 0;         /* no disk at all */
        goto out;
    }
    if (n > XLMIG_MAX_DISKS) {
        xlmig_fail(err, EIO, "%s: %d disks, at most %d", file, n, XLMIG_MAX_DISKS);
        goto out;
    }
    cfg->disks = calloc((size_t)n, sizeof(*cfg->disks));
    if (!cfg->disks) {
        xlmig_fail(err, EIO, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *spec = xlu_cfg_get_listitem(list, i);
        libxl_device_disk *d = &cfg->disks[i];

        libxl_device_disk_init(d);
        cfg->num_disks = i + 1;
        if (!spec) {
            xlmig_fail(err, EIO, "%s: disk %d is not a string", file, i);
            goto out;
        }
        if (xlu_disk_parse(c, 1, &spec, d)) {
            xlmig_fail(err, EIO, "%s: disk %d: cannot parse '%s'", file, i, spec);
            goto out;
        }
    }
    rc = 0;
out:
    xlu_cfg_destroy(c);
    return rc;
}

int xdisk_select_opts(const libxl_domain_config *cfg, const char *storage,
                      const char *shared, struct xdisk *out, unsigned *n,
                      struct xlmig_error *err)
{
    struct xsel sel;

    memset(&sel, 0, sizeof(sel));
    if ((storage && xdisk_parse_storage(&sel, storage, err) < 0) ||
        (shared && xdisk_parse_shared(&sel, shared, err) < 0))
        return -err->code;
    return xdisk_select(cfg, &sel, xdisk_probe_host, out, n, err);
}
