#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "xvbd.h"

struct wrap {
    struct xlmig_vbd *inner;
    /* lazy */
    xvbd_resolve_fn *resolve;
    void *opaque;
    unsigned index;
    /* notrack */
    bool quiesced, marked, tracking;
    uint32_t block_size;
};

static struct wrap *W(struct xlmig_vbd *v)
{
    return v->priv;
}

/* The inner VBD, resolving a lazy one first. */
static struct xlmig_vbd *inner(struct xlmig_vbd *v)
{
    struct wrap *w = W(v);

    if (!w->inner && w->resolve) {
        w->inner = w->resolve(w->opaque, w->index, &v->err);
        if (w->inner)
            w->resolve = NULL;
    } else if (!w->inner) {
        xlmig_fail(&v->err, ENODEV, "no block backend");
    }
    return w->inner;
}

/* Forwards op to the inner VBD, copying its error message back. */
#define FWD(v, call) do {                                               \
        struct xlmig_vbd *in_ = inner(v);                               \
        int rc_;                                                        \
        if (!in_)                                                       \
            return -ENODEV;                                             \
        rc_ = in_->ops->call;                                           \
        if (rc_ < 0)                                                    \
            xlmig_fail_from(&(v)->err, &in_->err, NULL);                \
        return rc_;                                                     \
    } while (0)

static int f_track_start(struct xlmig_vbd *v, uint32_t bs)
{ FWD(v, track_start(in_, bs)); }
static int f_track_stop(struct xlmig_vbd *v)
{ FWD(v, track_stop(in_)); }
static int f_snapshot(struct xlmig_vbd *v, struct xlmig_bitmap *o,
                      uint64_t *c)
{ FWD(v, snapshot(in_, o, c)); }
static int f_quiesce(struct xlmig_vbd *v, int t)
{ FWD(v, quiesce(in_, t)); }
static int f_unquiesce(struct xlmig_vbd *v)
{ FWD(v, unquiesce(in_)); }
static int f_gate_start(struct xlmig_vbd *v, uint32_t bs)
{ FWD(v, gate_start(in_, bs)); }
static int f_gate_add_stale(struct xlmig_vbd *v, const struct xlmig_extent *e,
                            size_t n)
{ FWD(v, gate_add_stale(in_, e, n)); }
static int f_wanted_fd(struct xlmig_vbd *v)
{ FWD(v, wanted_fd(in_)); }
static int f_wanted_pop(struct xlmig_vbd *v, struct xlmig_extent *o, size_t m)
{ FWD(v, wanted_pop(in_, o, m)); }
static int f_claim(struct xlmig_vbd *v, uint64_t s, uint32_t c,
                   unsigned long *mask)
{ FWD(v, claim(in_, s, c, mask)); }
static int f_commit(struct xlmig_vbd *v, uint64_t s, uint32_t c)
{ FWD(v, commit(in_, s, c)); }
static int f_unclaim(struct xlmig_vbd *v, uint64_t s, uint32_t c)
{ FWD(v, unclaim(in_, s, c)); }
static int f_gate_stop(struct xlmig_vbd *v)
{ FWD(v, gate_stop(in_)); }
static int f_stats(struct xlmig_vbd *v, struct xlmig_vbd_stats *st)
{ FWD(v, stats(in_, st)); }

static void f_close(struct xlmig_vbd *v)
{
    if (W(v)->inner)
        W(v)->inner->ops->close(W(v)->inner);
    free(v->data_path);
    free(v->priv);
    free(v);
}

static const struct xlmig_vbd_ops wrap_ops = {
    .name = "blkback",
    .track_start = f_track_start, .track_stop = f_track_stop,
    .snapshot = f_snapshot, .quiesce = f_quiesce, .unquiesce = f_unquiesce,
    .gate_start = f_gate_start, .gate_add_stale = f_gate_add_stale,
    .wanted_fd = f_wanted_fd, .wanted_pop = f_wanted_pop, .claim = f_claim,
    .commit = f_commit, .unclaim = f_unclaim, .gate_stop = f_gate_stop,
    .stats = f_stats, .close = f_close,
};

static uint64_t path_size(const char *path)
{
    struct stat st;
    uint64_t size = 0;
    int fd;

    if (stat(path, &st) < 0)
        return 0;
    if (!S_ISBLK(st.st_mode))
        return (uint64_t)st.st_size;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
            size = 0;
        close(fd);
    }
    return size;
}

static struct xlmig_vbd *new_vbd(const struct xlmig_vbd_ops *ops,
                                 const char *data_path, struct xlmig_error *err)
{
    struct xlmig_vbd *v = calloc(1, sizeof(*v));
    struct wrap *w = calloc(1, sizeof(*w));

    if (!v || !w || !(v->data_path = strdup(data_path))) {
        free(v ? v->data_path : NULL);
        free(v);
        free(w);
        xlmig_fail(err, EIO, "out of memory");
        return NULL;
    }
    v->ops = ops;
    v->priv = w;
    v->size = path_size(data_path);
    return v;
}

struct xlmig_vbd *xvbd_wrap(struct xlmig_vbd *in, const char *data_path,
                            struct xlmig_error *err)
{
    struct xlmig_vbd *v = new_vbd(&wrap_ops, data_path, err);

    if (v)
        W(v)->inner = in;
    return v;
}

struct xlmig_vbd *xvbd_lazy(xvbd_resolve_fn *fn, void *opaque,
                            unsigned index, const char *data_path,
                            struct xlmig_error *err)
{
    struct xlmig_vbd *v = new_vbd(&wrap_ops, data_path, err);

    if (v) {
        W(v)->resolve = fn;
        W(v)->opaque = opaque;
        W(v)->index = index;
    }
    return v;
}

/* ---- no tracking ---- */

static int n_track_start(struct xlmig_vbd *v, uint32_t bs)
{
    W(v)->tracking = true;
    W(v)->block_size = bs;
    return 0;
}

static int n_track_stop(struct xlmig_vbd *v)
{
    W(v)->tracking = false;
    return 0;
}

/* Nothing is known dirty while the guest runs; once it is suspended and
 * quiesced, everything is (once). */
static int n_snapshot(struct xlmig_vbd *v, struct xlmig_bitmap *out,
                      uint64_t *count)
{
    struct wrap *w = W(v);
    uint64_t n;

    *count = 0;
    if (!w->quiesced || w->marked || !w->block_size)
        return 0;
    n = (v->size + w->block_size - 1) / w->block_size;
    xlmig_bitmap_set_range(out, 0, n);
    *count = n;
    w->marked = true;
    return 0;
}

static int n_quiesce(struct xlmig_vbd *v, int timeout_ms)
{
    (void)timeout_ms;
    /* The guest is suspended: its blkfront drained its queue first. */
    W(v)->quiesced = true;
    return 0;
}

static int n_unquiesce(struct xlmig_vbd *v)
{
    W(v)->quiesced = false;
    return 0;
}

static int n_nogate(struct xlmig_vbd *v)
{
    xlmig_fail(&v->err, ENOTSUP, "no post-copy gate without the "
             "patched blkback");
    return -ENOTSUP;
}

static int n_gate_start(struct xlmig_vbd *v, uint32_t bs)
{ (void)bs; return n_nogate(v); }
static int n_gate_add_stale(struct xlmig_vbd *v, const struct xlmig_extent *e,
                            size_t n)
{ (void)e; (void)n; return n_nogate(v); }
static int n_wanted_fd(struct xlmig_vbd *v)
{ (void)v; return -1; }
static int n_wanted_pop(struct xlmig_vbd *v, struct xlmig_extent *o, size_t m)
{ (void)o; (void)m; return n_nogate(v); }
static int n_claim(struct xlmig_vbd *v, uint64_t s, uint32_t c,
                   unsigned long *mask)
{ (void)s; (void)c; (void)mask; return n_nogate(v); }
static int n_range(struct xlmig_vbd *v, uint64_t s, uint32_t c)
{ (void)s; (void)c; return n_nogate(v); }
static int n_gate_stop(struct xlmig_vbd *v)
{ (void)v; return 0; }

static int n_stats(struct xlmig_vbd *v, struct xlmig_vbd_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->block_size = W(v)->block_size;
    st->tracking = W(v)->tracking;
    if (W(v)->block_size)
        st->nr_blocks = (v->size + W(v)->block_size - 1) / W(v)->block_size;
    return 0;
}

static void n_close(struct xlmig_vbd *v)
{
    free(v->data_path);
    free(v->priv);
    free(v);
}

static const struct xlmig_vbd_ops notrack_ops = {
    .name = "notrack",
    .track_start = n_track_start, .track_stop = n_track_stop,
    .snapshot = n_snapshot, .quiesce = n_quiesce, .unquiesce = n_unquiesce,
    .gate_start = n_gate_start, .gate_add_stale = n_gate_add_stale,
    .wanted_fd = n_wanted_fd, .wanted_pop = n_wanted_pop, .claim = n_claim,
    .commit = n_range, .unclaim = n_range, .gate_stop = n_gate_stop,
    .stats = n_stats, .close = n_close,
};

struct xlmig_vbd *xvbd_notrack(const char *data_path, struct xlmig_error *err)
{
    struct xlmig_vbd *v = new_vbd(&notrack_ops, data_path, err);

    if (v && !v->size) {
        xlmig_fail(err, EIO, "%s: cannot read its size", data_path);
        n_close(v);
        return NULL;
    }
    return v;
}
