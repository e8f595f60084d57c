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
 * Creates a sparse target of size bytes (refusing to overwrite a file), or
 * checks an existing one when allowed.  *created: we made it (delete it on
 * rollback); *zeroed: it reads as zeros.
 */
int xlmig_target_create(const struct xlmig_target_policy *p, const char *path,
                        uint64_t size, uint64_t allocated, bool *created,
                        bool *zeroed, struct xlmig_error *err);

/*
 * What xlmig_target_create() would do, doing nothing: 0 if it would
 * succeed (*would_create: a new sparse file, reading as zeros), else the
 * error it would give (an existing file refused, no room, ...).
 */
int xlmig_target_check(const struct xlmig_target_policy *p, const char *path,
                       uint64_t size, uint64_t allocated, bool *would_create,
                       struct xlmig_error *err);

#endif
