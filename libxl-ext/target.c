#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "err.h"
#include "target.h"


int xlmig_target_add_map(struct xlmig_target_policy *p, const char *spec,
                         struct xlmig_error *err)
{
    const char *eq = strchr(spec, '=');
    size_t n;

    if (!eq || eq == spec || !eq[1])
        return xlmig_fail(err, EIO, "bad mapping '%s': expected NAME=PATH", spec);
    n = (size_t)(eq - spec);
    if (n > XLMIG_MAX_NAME)
        return xlmig_fail(err, EIO, "bad mapping '%s': name too long", spec);
    if (p->nmap == XLMIG_MAX_DISKS)
        return xlmig_fail(err, EIO, "too many mappings (at most %d)", XLMIG_MAX_DISKS);
    if (eq[1] != '/')
        return xlmig_fail(err, EIO, "bad mapping '%s': the path must be absolute", spec);
    if (strlen(eq + 1) >= sizeof(p->map[0].path))
        return xlmig_fail(err, EIO, "bad mapping '%s': path too long", spec);
    memcpy(p->map[p->nmap].name, spec, n);
    p->map[p->nmap].name[n] = '\0';
    snprintf(p->map[p->nmap].path, sizeof(p->map[0].path), "%s", eq + 1);
    p->nmap++;
    return 0;
}

int xlmig_target_resolve(const struct xlmig_target_policy *p,
                         const char *name, char *path, size_t len, struct xlmig_error *err)
{
    /* The name came from the peer: it must never steer the path. */
    if (!xlmig_disk_name_ok(name))
        return xlmig_fail(err, EIO, "disk name '%s' is not acceptable", name);
    for (unsigned i = 0; i < p->nmap; i++)
        if (!strcmp(p->map[i].name, name)) {
            if ((size_t)snprintf(path, len, "%s", p->map[i].path) >= len)
                return xlmig_fail(err, EIO, "target path for %s too long", name);
            return 0;
        }
    if (p->target_dir) {
        if ((size_t)snprintf(path, len, "%s/%s.img", p->target_dir, name) >=
            len)
            return xlmig_fail(err, EIO, "target path for %s too long", name);
        return 0;
    }
    return xlmig_fail(err, EIO, "no target for disk %s: the receiver has no mapping for it "
               "and no target directory", name);
}

static int check_existing(const struct xlmig_target_policy *p,
                          const char *path, const struct stat *st,
                          uint64_t size, struct xlmig_error *err)
{
    uint64_t have = (uint64_t)st->st_size;

    if (!p->allow_existing && !S_ISBLK(st->st_mode))
        return xlmig_fail(err, EIO, "target %s already exists: refusing to overwrite it",
                   path);
    if (S_ISBLK(st->st_mode)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return xlmig_fail(err, errno, "target %s: %s", path, strerror(errno));
        int rc = ioctl(fd, BLKGETSIZE64, &have);
        close(fd);
        if (rc < 0)
            return xlmig_fail(err, errno, "target %s: cannot read its size: %s", path,
                       strerror(errno));
    } else if (!S_ISREG(st->st_mode)) {
        return xlmig_fail(err, EIO, "target %s is neither a file nor a block device", path);
    }
    if (have < size)
        return xlmig_fail(err, EIO, "target %s holds %llu bytes, the disk needs %llu", path,
                   (unsigned long long)have, (unsigned long long)size);
    return 0;
}

uint64_t xlmig_target_need(uint64_t size, uint64_t allocated)
{
    uint64_t grow = size > allocated ? size - allocated : 0;
    uint64_t headroom = allocated / 16;

    if (headroom < (64ull << 20))
        headroom = 64ull << 20;
    if (headroom > grow)
        headroom = grow;
    return allocated + headroom + (1ull << 20);
}

int xlmig_target_create(const struct xlmig_target_policy *p, const char *path,
                        uint64_t size, uint64_t allocated,
                        const struct xlmig_target_space *earlier,
                        unsigned nearlier, struct xlmig_target_space *space,
                        bool *created, bool *zeroed, struct xlmig_error *err)
{
    struct xlmig_target_space sp = { .checked = false };
    struct statvfs vfs;
    struct stat st;
    int fd;

    *created = *zeroed = false;
    if (space)
        *space = sp;
    if (stat(path, &st) == 0)
        return check_existing(p, path, &st, size, err);
    if (errno != ENOENT)
        return xlmig_fail(err, errno, "target %s: %s", path, strerror(errno));
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return xlmig_fail(err, errno, "cannot create target %s: %s", path,
                          strerror(errno));
    *created = true;
    if (ftruncate(fd, (off_t)size) < 0) {
        xlmig_fail(err, errno, "cannot size target %s to %llu bytes: %s",
                   path, (unsigned long long)size, strerror(errno));
        goto undo;
    }
    /* Fail now rather than half-way: the data needs room, and so does
     * what the guest writes meanwhile (sparse files share the space). */
    if (fstatvfs(fd, &vfs) == 0 && fstat(fd, &st) == 0) {
        uint64_t others = 0, need = xlmig_target_need(size, allocated);

        sp.checked = true;
        sp.dev = (uint64_t)st.st_dev;
        sp.need = need;
        sp.free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        for (unsigned i = 0; i < nearlier; i++)
            if (earlier[i].checked && earlier[i].dev == sp.dev)
                others += earlier[i].need;
        if (sp.free < others + need) {
            xlmig_fail(err, ENOSPC, "not enough space for %s: %llu bytes "
                       "needed (%llu allocated, the rest headroom for the "
                       "guest's new writes)%s%llu free", path,
                       (unsigned long long)need,
                       (unsigned long long)allocated,
                       others ? ", the other disks there need more, " : ", ",
                       (unsigned long long)sp.free);
            goto undo;
        }
        sp.room = sp.free - others - allocated;
    }
    close(fd);
    *zeroed = true;
    if (space)
        *space = sp;
    return 0;
undo:
    close(fd);
    unlink(path);
    *created = false;
    return -err->code;
}

void xlmig_path_parent(char *path, size_t len)
{
    char *slash = strrchr(path, '/');

    if (slash == path)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(path, len, ".");
}

void xlmig_dir_parent(char *dir, size_t len)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = '\0';
    xlmig_path_parent(dir, len);
}

int xlmig_target_check(const struct xlmig_target_policy *p, const char *path,
                       uint64_t size, uint64_t allocated,
                       const struct xlmig_target_space *earlier,
                       unsigned nearlier, struct xlmig_target_space *space,
                       bool *would_create, struct xlmig_error *err)
{
    struct xlmig_target_space sp = { .checked = false };
    uint64_t others = 0;
    char dir[4096];
    struct statvfs vfs;
    struct stat st;

    *would_create = false;
    if (space)
        *space = sp;
    if (stat(path, &st) == 0)
        return check_existing(p, path, &st, size, err);
    if (errno != ENOENT)
        return xlmig_fail(err, errno, "target %s: %s", path, strerror(errno));
    snprintf(dir, sizeof(dir), "%s", path);
    xlmig_path_parent(dir, sizeof(dir));
    /* A --target-dir the receiver creates itself (one mkdir) may not
     * exist yet: its parent's file system is the one that counts. */
    if (stat(dir, &st) < 0 && p->target_dir && !strcmp(dir, p->target_dir))
        xlmig_dir_parent(dir, sizeof(dir));
    if (statvfs(dir, &vfs) < 0 || stat(dir, &st) < 0)
        return xlmig_fail(err, errno, "target %s: %s: %s", path, dir,
                          strerror(errno));
    /* As xlmig_target_create() would find it once the file exists. */
    sp.checked = true;
    sp.dev = (uint64_t)st.st_dev;
    sp.need = xlmig_target_need(size, allocated);
    sp.free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    for (unsigned i = 0; i < nearlier; i++)
        if (earlier[i].checked && earlier[i].dev == sp.dev)
            others += earlier[i].need;
    if (sp.free < others + sp.need)
        return xlmig_fail(err, ENOSPC, "not enough space for %s: %llu bytes "
                          "needed (%llu allocated, the rest headroom for the "
                          "guest's new writes)%s%llu free", path,
                          (unsigned long long)sp.need,
                          (unsigned long long)allocated,
                          others ? ", the other disks there need more, "
                                 : ", ",
                          (unsigned long long)sp.free);
    sp.room = sp.free - others - allocated;
    if (space)
        *space = sp;
    *would_create = true;
    return 0;
}
