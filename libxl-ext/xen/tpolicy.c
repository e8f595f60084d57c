#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tpolicy.h"

#include "err.h"

bool xtp_path_clean(const char *path)
{
    size_t n = strlen(path);

    if (n < 2 || n >= PATH_MAX || path[0] != '/' || path[n - 1] == '/')
        return false;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return false;
    /* Every component: non-empty, not "." nor "..". */
    for (const char *c = path + 1; c && *c;) {
        const char *e = strchr(c, '/');
        size_t l = e ? (size_t)(e - c) : strlen(c);
        if (!l || (l == 1 && c[0] == '.') ||
            (l == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c = e ? e + 1 : NULL;
    }
    return true;
}

int xtp_add_map(struct xtpolicy *p, const char *spec, struct xlmig_error *err)
{
    struct xlmig_target_policy tmp;

    memset(&tmp, 0, sizeof(tmp));
    if (xlmig_target_add_map(&tmp, spec, err) < 0)
        return -err->code;
    if (!xlmig_disk_name_ok(tmp.map[0].name))
        return xlmig_fail(err, EIO, "--map %s: '%s' is not a vdev", spec, tmp.map[0].name);
    if (!xtp_path_clean(tmp.map[0].path))
        return xlmig_fail(err, EIO, "--map %s: the path must be absolute and clean", spec);
    for (unsigned i = 0; i < p->nmap; i++)
        if (!strcmp(p->map[i].name, tmp.map[0].name))
            return xlmig_fail(err, EIO, "--map: %s mapped twice", tmp.map[0].name);
    if (p->nmap == XLMIG_MAX_DISKS)
        return xlmig_fail(err, EIO, "too many --map (at most %d)", XLMIG_MAX_DISKS);
    p->map[p->nmap++] = tmp.map[0];
    return 0;
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return !strncmp(path, dir, n) && path[n] == '/';
}

/* The source's file name, kept to [A-Za-z0-9._-] and not hidden. */
static void safe_base(const char *src, const char *vdev, char *out,
                      size_t len)
{
    const char *b = strrchr(src, '/');
    size_t j = 0;

    b = b ? b + 1 : src;
    for (; *b && j + 1 < len && j < 200; b++)
        out[j++] = ((*b >= 'A' && *b <= 'Z') || (*b >= 'a' && *b <= 'z') ||
                    (*b >= '0' && *b <= '9') || *b == '-' || *b == '_' ||
                    *b == '.') ? *b : '_';
    out[j] = '\0';
    if (!j || out[0] == '.' || !strcmp(out, "..") || !strcmp(out, "."))
        snprintf(out, len, "%s.img", vdev);
}

static int check_same_path(const char *path, uint8_t kind, bool check_host,
                           struct xlmig_error *err)
{
    struct stat st;
    char dir[PATH_MAX];
    char *slash;

    if (kind == XCTL_KIND_BLOCK) {
        if (!check_host)
            return 0;
        if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
            return xlmig_fail(err, EIO, "%s is a block device on the source but not here: "
                       "create it first (e.g. lvcreate) or choose "
                       "--target-dir / --map", path);
        return 0;
    }
    if (under(path, "/dev") || under(path, "/proc") || under(path, "/sys"))
        return xlmig_fail(err, EIO, "refusing to create an image under /dev, /proc or "
                   "/sys (%s)", path);
    if (!check_host)
        return 0;
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return xlmig_fail(err, EIO, "directory %s does not exist here: create it or choose "
                   "--target-dir / --map", dir);
    return 0;
}

int xtp_choose(const struct xtpolicy *p, libxl_domain_config *cfg,
               const struct xctl_msg *offer, bool check_host,
               struct xlmig_target_policy *ep, struct xctl_msg *acc,
               struct xlmig_error *err)
{
    memset(ep, 0, sizeof(*ep));
    ep->allow_existing = p->allow_existing;
    acc->ndisks = 0;
    if (p->target_dir && !xtp_path_clean(p->target_dir))
        return xlmig_fail(err, EIO, "--target-dir %s: must be absolute and clean",
                   p->target_dir);
    for (unsigned i = 0; i < p->nmap; i++) {
        bool offered = false;
        for (uint32_t k = 0; k < offer->ndisks; k++)
            offered |= !strcmp(offer->disks[k].name, p->map[i].name);
        if (!offered)
            return xlmig_fail(err, EIO, "--map names %s, which is not being migrated",
                       p->map[i].name);
    }

    for (uint32_t k = 0; k < offer->ndisks; k++) {
        const struct xctl_disk *od = &offer->disks[k];
        libxl_device_disk *d = NULL;
        char path[4096];
        const char *mapped = NULL;
        char *dup;

        for (int i = 0; i < cfg->num_disks; i++)
            if (cfg->disks[i].vdev && !strcmp(cfg->disks[i].vdev, od->name)) {
                if (d)
                    return xlmig_fail(err, EIO, "vdev %s appears twice in the configuration",
                               od->name);
                d = &cfg->disks[i];
            }
        if (!d)
            return xlmig_fail(err, EIO, "the source offers disk %s, which its configuration "
                       "does not have", od->name);
        if (d->is_cdrom || !d->pdev_path || !*d->pdev_path)
            return xlmig_fail(err, EIO, "disk %s is a CD-ROM or has no path", od->name);
        for (unsigned i = 0; i < p->nmap; i++)
            if (!strcmp(p->map[i].name, od->name))
                mapped = p->map[i].path;

        if (mapped) {
            snprintf(path, sizeof(path), "%s", mapped);
        } else if (p->target_dir) {
            char base[256];
            safe_base(d->pdev_path, od->name, base, sizeof(base));
            if ((size_t)snprintf(path, sizeof(path), "%s/%s", p->target_dir,
                                 base) >= sizeof(path))
                return xlmig_fail(err, EIO, "target path for %s too long", od->name);
        } else {
            if (!xtp_path_clean(d->pdev_path))
                return xlmig_fail(err, EIO, "disk %s: the source path '%s' is not an absolute "
                           "clean path; choose --target-dir or --map",
                           od->name, d->pdev_path);
            if (check_same_path(d->pdev_path, od->kind, check_host, err) < 0)
                return -err->code;
            snprintf(path, sizeof(path), "%s", d->pdev_path);
        }
        if (strlen(path) > XCTL_MAX_PATH)
            return xlmig_fail(err, EIO, "target path for %s is over %d bytes", od->name,
                       XCTL_MAX_PATH);
        for (unsigned j = 0; j < ep->nmap; j++)
            if (!strcmp(ep->map[j].path, path))
                return xlmig_fail(err, EIO, "disks %s and %s would both go to %s: use --map",
                           ep->map[j].name, od->name, path);
        snprintf(ep->map[ep->nmap].name, sizeof(ep->map[0].name), "%s",
                 od->name);
        snprintf(ep->map[ep->nmap].path, sizeof(ep->map[0].path), "%s",
                 path);
        ep->nmap++;
        snprintf(acc->disks[acc->ndisks].name,
                 sizeof(acc->disks[0].name), "%s", od->name);
        snprintf(acc->disks[acc->ndisks].path,
                 sizeof(acc->disks[0].path), "%s", path);
        acc->ndisks++;

        /* libxl stats pdev_path early: the config names the target. */
        dup = strdup(path);
        if (!dup)
            return xlmig_fail(err, EIO, "out of memory");
        free(d->pdev_path);
        d->pdev_path = dup;
    }
    return 0;
}
