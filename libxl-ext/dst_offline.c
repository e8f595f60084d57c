/*
 * Cold migration on the destination (the OFFLINE feature): no gate, no
 * post-copy, and an interrupted copy resumes.
 *
 * Next to each target file we keep `<target>.xlmig-partial`: the identity
 * of the source images (the OFFLINE record), the disk's geometry and the
 * blocks that are written, flushed (and, with --verify, read back and
 * matching).  It is rewritten atomically every few seconds and at each
 * SYNC.  If the migration stops before GO, the targets that have one stay;
 * the next attempt with the same identity is told which blocks are there
 * (DISK_ACK "resumed" and BITMAP records) and sends only the rest.  Another
 * identity (the images changed, or another guest) means the partial target
 * is ours to start over.  The records go once the configuration is
 * installed (after GO).  Block devices keep none: they are copied whole
 * again.
 *
 *   xlmig-partial 1
 *   id <64 hex digits>
 *   size <bytes>
 *   block-size <bytes>
 *   verified <0|1>
 *   <first block> <count>        one line per extent held
 *   end <blocks held>
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dst_internal.h"

#define CHECKPOINT_NS 2000000000ull
#define PART_SUFFIX ".xlmig-partial"

static int part_path(const struct dst_disk *k, char *buf, size_t len,
                     const char *extra)
{
    return (size_t)snprintf(buf, len, "%s" PART_SUFFIX "%s", k->path,
                            extra) < len ? 0 : -1;
}

static void hex(const uint8_t *id, char *out)
{
    for (int i = 0; i < XLMIG_SESSION_TOKEN_LEN; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
}

/* ---- the record ---- */

static int write_part(struct xlmig_dest *d, struct dst_disk *k)
{
    char part[4200], tmp[4200], idhex[2 * XLMIG_SESSION_TOKEN_LEN + 1];
    char dir[4200];
    struct xlmig_extent e;
    uint64_t pos = 0;
    FILE *f;
    int fd;

    if (part_path(k, part, sizeof(part), "") < 0 ||
        part_path(k, tmp, sizeof(tmp), ".tmp") < 0)
        return dst_fail(d, ENAMETOOLONG, "disk %s: path too long", k->name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return dst_fail(d, errno, "disk %s: %s: %s", k->name, tmp,
                        strerror(errno));
    }
    hex(d->offline_id, idhex);
    fprintf(f, "xlmig-partial 1\nid %s\nsize %" PRIu64 "\nblock-size %u\n"
            "verified %d\n", idhex, k->size, k->block_size,
            (d->features & XLMIG_F_VERIFY) != 0);
    while (xlmig_bitmap_next_extent(k->have, &pos, 0, &e))
        fprintf(f, "%" PRIu64 " %" PRIu64 "\n", e.start, e.count);
    fprintf(f, "end %" PRIu64 "\n", xlmig_bitmap_count(k->have));
    if (fflush(f) != 0 || fsync(fd) < 0) {
        int e2 = errno;

        fclose(f);
        unlink(tmp);
        return dst_fail(d, e2, "disk %s: writing %s: %s", k->name, tmp,
                        strerror(e2));
    }
    fclose(f);
    if (rename(tmp, part) < 0) {
        int e2 = errno;

        unlink(tmp);
        return dst_fail(d, e2, "disk %s: %s: %s", k->name, part,
                        strerror(e2));
    }
    snprintf(dir, sizeof(dir), "%s", part);
    if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

/*
 * Reads a record: 1 if it belongs to this migration (k->have filled), 0
 * if it is another's or malformed, 2 if it is this migration's but its
 * blocks were never checked and this one is --verify, -1 if there is none.
 */
static int read_part(struct xlmig_dest *d, struct dst_disk *k)
{
    char part[4200], line[128], idhex[2 * XLMIG_SESSION_TOKEN_LEN + 1];
    char want[2 * XLMIG_SESSION_TOKEN_LEN + 1];
    unsigned long long size = 0, bs = 0, a, b, total = 0, end = ~0ull;
    int verified = -1, ok = 1;
    FILE *f;

    if (part_path(k, part, sizeof(part), "") < 0 || !(f = fopen(part, "re")))
        return -1;
    hex(d->offline_id, want);
    idhex[0] = '\0';
    if (!fgets(line, sizeof(line), f) || strcmp(line, "xlmig-partial 1\n"))
        ok = 0;
    while (ok && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "id %64s", idhex) == 1 ||
            sscanf(line, "size %llu", &size) == 1 ||
            sscanf(line, "block-size %llu", &bs) == 1 ||
            sscanf(line, "verified %d", &verified) == 1)
            continue;
        if (sscanf(line, "end %llu", &end) == 1)
            break;
        if (sscanf(line, "%llu %llu", &a, &b) != 2 || !b ||
            a >= k->nblocks || b > k->nblocks - a) {
            ok = 0;
            break;
        }
        xlmig_bitmap_set_range(k->have, a, b);
        total += b;
    }
    fclose(f);
    if (!ok || strcmp(idhex, want) || size != k->size ||
        bs != k->block_size || end != total ||
        xlmig_bitmap_count(k->have) != total)
        ok = 0;
    else if ((d->features & XLMIG_F_VERIFY) && verified != 1)
        ok = 2;         /* unchecked blocks cannot count as checked ones */
    if (ok != 1)
        xlmig_bitmap_clear_all(k->have);
    return ok;
}

/* ---- negotiation ---- */

int dst_offline_hello(struct xlmig_dest *d)
{
    struct xlmig_rec rec;
    struct xlmig_error err;
    int rc;

    if (!(d->features & XLMIG_F_OFFLINE))
        return 0;
    if (d->features & XLMIG_F_ESTIMATE)
        return dst_fail(d, EPROTO, "an estimate is not a cold migration");
    d->offline = true;
    if ((rc = dst_next(d, &rec, "negotiation")) < 0)
        return rc;
    if (xlmig_dec_token(&rec, XLMIG_REC_OFFLINE, d->offline_id, &err) < 0)
        return dst_fail(d, EPROTO, "bad OFFLINE record: %s", err.msg);
    return 0;
}

/* Empties a partial target of another migration, keeping its file. */
static int start_over(struct xlmig_dest *d, struct dst_disk *k,
                      bool unchecked)
{
    int fd = open(k->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    xlmig_logf(&d->em, XLMIG_LOG_WARN, "disk %s: the partial copy at %s %s: "
               "starting over", k->name, k->path, unchecked
               ? "was made without --verify (its blocks were never read "
                 "back)"
               : "is from another migration (or the source images changed "
                 "since)");
    if (fd < 0 || ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)k->size) < 0) {
        int e = errno;

        if (fd >= 0)
            close(fd);
        return dst_fail(d, e, "disk %s: %s: %s", k->name, k->path,
                        strerror(e));
    }
    close(fd);
    return 0;
}

int dst_offline_target(struct xlmig_dest *d, struct dst_disk *k,
                       const struct xlmig_target_space *earlier,
                       unsigned nearlier)
{
    struct xlmig_error e;
    struct stat st;
    int rc, mine;

    if (!(k->have = xlmig_bitmap_new(k->nblocks)) ||
        !(k->have_new = xlmig_bitmap_new(k->nblocks)))
        return dst_fail(d, ENOMEM, "out of memory");
    mine = read_part(d, k);
    if (mine >= 0) {
        /* A record of ours: the target is ours too. */
        k->created = k->zeroed = k->has_part = true;
        if (mine == 1 && (stat(k->path, &st) < 0 || !S_ISREG(st.st_mode) ||
                          (uint64_t)st.st_size != k->size))
            mine = 0;
        if (mine != 1 && (rc = start_over(d, k, mine == 2)) < 0)
            return rc;
        k->resumed = mine == 1 && xlmig_bitmap_count(k->have) > 0;
        if (k->resumed)
            xlmig_logf(&d->em, XLMIG_LOG_INFO, "disk %s: resuming: %" PRIu64
                       " block(s) of %s are there from an earlier attempt",
                       k->name, xlmig_bitmap_count(k->have), k->path);
    } else {
        if ((rc = xlmig_target_create(&d->policy, k->path, k->size,
                                      k->allocated, earlier, nearlier,
                                      &k->space, &k->created, &k->zeroed,
                                      &e)) < 0)
            return dst_fail(d, -rc, "disk %s: %s", k->name, e.msg);
        /* Regular files keep a record; block devices are copied whole. */
        k->has_part = stat(k->path, &st) == 0 && S_ISREG(st.st_mode);
    }
    if (k->has_part && (rc = write_part(d, k)) < 0)
        return rc;
    return 0;
}

int dst_offline_send_have(struct xlmig_dest *d)
{
    const uint32_t max = 4096;
    struct xlmig_extent *e;
    uint8_t *buf;
    int rc = 0;

    if (!d->offline)
        return 0;
    e = malloc(max * sizeof(*e));
    buf = malloc(XLMIG_HDR_LEN + 8 + max * XLMIG_EXTENT_LEN);
    if (!e || !buf) {
        free(e);
        free(buf);
        return dst_fail(d, ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < d->ndisks && !rc; i++) {
        uint64_t total = 0;

        if (!d->disks[i].resumed)
            continue;
        rc = dst_send_bitmap(d, i, d->disks[i].have, e, max, buf, &total);
        d->st.resumed_blocks += total;
    }
    free(e);
    free(buf);
    return rc ? dst_fail(d, EIO, "sending the blocks already here: %s",
                         d->conn.err.msg) : 0;
}

/* ---- while receiving ---- */

void dst_offline_written(struct xlmig_dest *d, struct dst_disk *k,
                         uint64_t first, uint64_t count)
{
    if (d->offline && k->has_part) {
        xlmig_bitmap_set_range(k->have_new, first, count);
        /* Not held until flushed (and checked) again. */
        xlmig_bitmap_clear_range(k->have, first, count);
    }
}

int dst_offline_checkpoint(struct xlmig_dest *d, bool force)
{
    uint64_t now = xlmig_now_ns();
    struct xlmig_error err;
    bool unresolved;

    if (!d->offline || (!force && now - d->t_checkpoint < CHECKPOINT_NS))
        return 0;
    /* Only what reads back right counts as held. */
    if (dst_verify_drain(d, &unresolved) < 0)
        return -1;
    for (unsigned i = 0; i < d->ndisks; i++) {
        struct dst_disk *k = &d->disks[i];
        struct xlmig_extent e;
        uint64_t pos = 0;

        if (!k->has_part || !xlmig_bitmap_count(k->have_new))
            continue;
        if (xlmig_image_sync(&k->img, &err) < 0)
            return dst_fail(d, err.code, "disk %s: %s", k->name, err.msg);
        while (xlmig_bitmap_next_extent(k->have_new, &pos, 0, &e))
            for (uint64_t b = e.start; b < e.start + e.count; b++)
                if (!dst_verify_is_bad(d, i, b))
                    xlmig_bitmap_set_range(k->have, b, 1);
        xlmig_bitmap_clear_all(k->have_new);
        if (write_part(d, k) < 0)
            return -1;
    }
    d->t_checkpoint = now;
    return 0;
}

/* ---- the end ---- */

void dst_offline_done(struct xlmig_dest *d)
{
    char part[4200];

    if (!d->offline)
        return;
    for (unsigned i = 0; i < d->ndisks; i++)
        if (d->disks[i].has_part &&
            part_path(&d->disks[i], part, sizeof(part), "") == 0 &&
            unlink(part) == 0)
            d->disks[i].has_part = false;
}

bool dst_offline_keep(struct xlmig_dest *d, struct dst_disk *k)
{
    char part[4200];
    struct stat st;

    if (!d->offline || !k->has_part)
        return false;
    /* A partial target with nothing held yet is not worth keeping. */
    if (!xlmig_bitmap_count(k->have) && !k->resumed) {
        if (part_path(k, part, sizeof(part), "") == 0)
            unlink(part);
        return false;
    }
    if (part_path(k, part, sizeof(part), "") == 0 && stat(part, &st) == 0)
        xlmig_logf(&d->em, XLMIG_LOG_WARN, "disk %s: %" PRIu64 " block(s) "
                   "kept at %s for the next attempt (delete it and %s to "
                   "start over)", k->name, xlmig_bitmap_count(k->have),
                   k->path, part);
    return true;
}
