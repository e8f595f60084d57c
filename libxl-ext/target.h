/*
 * Where the destination puts each disk, and creating it.  The receiver
 * decides, never the sender: a disk is known on the wire only by a name
 * restricted to [A-Za-z0-9._-], which maps to a path through an explicit
 * map entry or a target directory.
 */
#ifndef XLMIG_TARGET_H
#define XLMIG_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"
#include "err.h"


struct xlmig_target_map {
    char name[XLMIG_MAX_NAME + 1];
    char path[4096];
};

struct xlmig_target_policy {
    const char *target_dir;     /* DIR/<name>.img */
    struct xlmig_target_map map[XLMIG_MAX_DISKS];
    unsigned nmap;
    /* Use an existing target (a block device big enough, or a file) rather
     * than refusing; an existing target is never deleted on rollback. */
    bool allow_existing;
};

/* Adds "name=path" to the map; -1 with err on a malformed entry. */
int xlmig_target_add_map(struct xlmig_target_policy *p, const char *spec,
                         struct xlmig_error *err);
int xlmig_target_resolve(const struct xlmig_target_policy *p,
                         const char *name, char *path, size_t len, struct xlmig_error *err);
/*
 * The room a new (sparse) target needs on its file system: the allocated
 * data, plus headroom for what the guest writes into new blocks meanwhile
 * and right after the hand-off -- 1/16 of the allocated data, at least
 * 64 MiB, at most what the disk can still grow by -- plus 1 MiB for the
 * file system's own metadata.  A file system with exactly the allocated
 * size free is refused.
 */
uint64_t xlmig_target_need(uint64_t size, uint64_t allocated);

/* A new target's file system, and what it needs there. */
struct xlmig_target_space {
    bool checked;               /* a new file: the free space was checked */
    uint64_t dev;               /* the file system (st_dev) */
    uint64_t need;              /* xlmig_target_need() */
    uint64_t free;              /* free before any target of this migration */
    uint64_t room;              /* free after the copies of every target of
                                   this migration there: what the guest can
                                   still add to them */
};

/*
 * Creates a sparse target of size bytes (refusing to overwrite a file), or
 * checks an existing one when allowed.  *created: we made it (delete it on
 * rollback); *zeroed: it reads as zeros.  A new file must find
 * xlmig_target_need() free on its file system beyond what the earlier
 * targets of the same migration there need (earlier[0..nearlier), as
 * filled in by previous calls); *space says what was found (may be NULL).
 */
int xlmig_target_create(const struct xlmig_target_policy *p, const char *path,
                        uint64_t size, uint64_t allocated,
                        const struct xlmig_target_space *earlier,
                        unsigned nearlier, struct xlmig_target_space *space,
                        bool *created, bool *zeroed,
                        struct xlmig_error *err);

/*
 * What xlmig_target_create() would do, doing nothing: 0 if it would
 * succeed (*would_create: a new sparse file, reading as zeros), else the
 * error it would give (an existing file refused, no room, ...).  The room
 * is checked as there (earlier, nearlier, *space likewise).
 */
int xlmig_target_check(const struct xlmig_target_policy *p, const char *path,
                       uint64_t size, uint64_t allocated,
                       const struct xlmig_target_space *earlier,
                       unsigned nearlier, struct xlmig_target_space *space,
                       bool *would_create, struct xlmig_error *err);
/*
 * In place, the directory that holds path (of len bytes of room):
 * "/a/b" -> "/a", "/a" -> "/", "a" -> ".".  xlmig_dir_parent() first
 * drops a directory's trailing slashes ("/a/b/" -> "/a"): for a
 * --target-dir not created yet, whose parent's file system counts
 * ("dir/.." cannot be resolved while dir does not exist).
 */
void xlmig_path_parent(char *path, size_t len);
void xlmig_dir_parent(char *dir, size_t len);

#endif
