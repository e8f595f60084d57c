#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vbd.h"
#include "../blkback-patch/src/uapi/xen/blkback_migrate.h"

void xlmig_vbd_close(struct xlmig_vbd *v)
{
    if (v)
        v->ops->close(v);
}

const char *xlmig_vbd_data_path(const struct xlmig_vbd *v)
{
    return v->data_path;
}

int xlmig_vbd_set_data_path(struct xlmig_vbd *v, const char *path)
{
    char *n = strdup(path);

    if (!n)
        return xlmig_fail(&v->err, ENOMEM, "out of memory");
    free(v->data_path);
    v->data_path = n;
    return 0;
}

const char *xlmig_vbd_error(const struct xlmig_vbd *v)
{
    return v->err.msg;
}

/* ---- an image file and nothing else (post-copy from a saved session) ---- */

static int img_unsupported(struct xlmig_vbd *v)
{
    return xlmig_fail(&v->err, ENOTSUP, "%s: an image file has no block "
                      "backend", v->data_path);
}

static int img_track_start(struct xlmig_vbd *v, uint32_t bs)
{
    (void)bs;
    return img_unsupported(v);
}

static int img_nothing(struct xlmig_vbd *v)
{
    (void)v;
    return 0;
}

static int img_snapshot(struct xlmig_vbd *v, struct xlmig_bitmap *o,
                        uint64_t *c)
{
    (void)o;
    (void)c;
    return img_unsupported(v);
}

static int img_quiesce(struct xlmig_vbd *v, int t)
{
    (void)t;
    return img_unsupported(v);
}

static int img_stats(struct xlmig_vbd *v, struct xlmig_vbd_stats *st)
{
    (void)v;
    memset(st, 0, sizeof(*st));
    return 0;
}

static void img_close(struct xlmig_vbd *v)
{
    free(v->data_path);
    free(v);
}

static const struct xlmig_vbd_ops image_ops = {
    .name = "image",
    .track_start = img_track_start,
    .track_stop = img_nothing,
    .snapshot = img_snapshot,
    .quiesce = img_quiesce,
    .unquiesce = img_nothing,
    .stats = img_stats,
    .close = img_close,
};

int xlmig_vbd_image_open(const char *path, struct xlmig_vbd **out,
                         struct xlmig_error *err)
{
    struct xlmig_vbd *v = calloc(1, sizeof(*v));

    *out = NULL;
    if (!v || !(v->data_path = strdup(path))) {
        free(v);
        return xlmig_fail(err, ENOMEM, "out of memory");
    }
    v->ops = &image_ops;
    *out = v;
    return 0;
}

void xlmig_vbd_stats_from_mig(struct xlmig_vbd_stats *st,
                              const struct blkback_mig_stats *k)
{
    memset(st, 0, sizeof(*st));
    st->block_size = k->block_size;
    st->nr_blocks = k->nr_blocks;
    st->tracking = k->flags & BLKBACK_MIG_F_TRACKING;
    st->overflow = k->flags & BLKBACK_MIG_F_OVERFLOW;
    st->dirty = k->dirty + k->frozen;
    st->marked = k->marked;
    st->gate = k->flags & BLKBACK_MIG_F_GATE;
    st->stale = k->stale;
    st->claimed = k->claimed;
    st->wanted = k->wanted;
    st->parked = k->parked;
    st->installed = k->installed;
    st->overwritten = k->overwritten;
}
