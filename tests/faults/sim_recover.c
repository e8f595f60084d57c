/*
 * sim_recover DST_SOCKET SRC_IMAGE: finishes an interrupted post-copy by
 * hand, as a recovered engine would.  Every block that the destination
 * VBD's gate still holds stale is read from the source image and installed
 * through the gate's claim / write / commit (so a block the guest has
 * written meanwhile keeps the guest's data), then the gate is stopped.
 *
 * The fault campaign uses it after a post-copy failure to check that the
 * source image really holds the blocks that exist nowhere else: after it,
 * the destination guest's own check must pass.
 *
 * Prints "stale S" first, then "installed I left L"; exit 0 when nothing
 * is left stale, 1 otherwise (e.g. blocks claimed by an engine that died),
 * 3 when the destination cannot take the data (e.g. no space left), 2 on
 * other errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vbd.h"

#define BITS (8 * sizeof(unsigned long))

static int copy_blocks(int sfd, int dfd, uint64_t first, uint64_t n,
                       uint32_t bs, uint64_t size)
{
    uint64_t off = first * bs, len = n * bs;
    char *buf;

    if (off >= size)
        return 0;
    if (len > size - off)
        len = size - off;
    buf = malloc(len);
    if (!buf)
        return -1;
    errno = EIO;
    if (pread(sfd, buf, len, (off_t)off) != (ssize_t)len) {
        fprintf(stderr, "sim_recover: reading blocks %llu+%llu from the "
                "source image: %s\n", (unsigned long long)first,
                (unsigned long long)n, strerror(errno));
        free(buf);
        return -2;
    }
    errno = ENOSPC;             /* a short write: the file system is full */
    if (pwrite(dfd, buf, len, (off_t)off) != (ssize_t)len) {
        fprintf(stderr, "sim_recover: writing blocks %llu+%llu to the "
                "destination: %s\n", (unsigned long long)first,
                (unsigned long long)n, strerror(errno));
        free(buf);
        return -3;
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long mask[XLMIG_CLAIM_WORDS];
    struct xlmig_vbd_stats st;
    struct xlmig_vbd *v;
    uint64_t installed = 0, before;
    struct xlmig_error err;
    int sfd, dfd;

    if (argc != 3) {
        fprintf(stderr, "usage: sim_recover DST_SOCKET SRC_IMAGE\n");
        return 2;
    }
    if (xlmig_vbd_sim_open(argv[1], &v, &err) < 0) {
        fprintf(stderr, "sim_recover: %s: %s\n", argv[1], err.msg);
        return 2;
    }
    if (v->ops->stats(v, &st) < 0) {
        fprintf(stderr, "sim_recover: stats: %s\n", xlmig_vbd_error(v));
        return 2;
    }
    before = st.gate ? st.stale : 0;
    printf("stale %llu\n", (unsigned long long)before);
    fflush(stdout);
    if (!before) {
        printf("installed 0 left 0\n");
        xlmig_vbd_close(v);
        return 0;
    }
    sfd = open(argv[2], O_RDONLY | O_CLOEXEC);
    dfd = open(v->data_path, O_WRONLY | O_CLOEXEC);
    if (sfd < 0 || dfd < 0) {
        fprintf(stderr, "sim_recover: opening %s / %s: %s\n", argv[2],
                v->data_path, strerror(errno));
        return 2;
    }
    for (uint64_t start = 0; start < st.nr_blocks;) {
        uint32_t n = st.nr_blocks - start < XLMIG_CLAIM_MAX
                         ? (uint32_t)(st.nr_blocks - start)
                         : XLMIG_CLAIM_MAX;
        int claimed = v->ops->claim(v, start, n, mask);

        if (claimed < 0) {
            fprintf(stderr, "sim_recover: claim: %s\n", xlmig_vbd_error(v));
            return 2;
        }
        for (uint32_t i = 0; i < n && claimed;) {
            uint32_t j = i;

            while (j < n && (mask[j / BITS] >> (j % BITS) & 1))
                j++;
            if (j == i) {
                i++;
                continue;
            }
            int rc = copy_blocks(sfd, dfd, start + i, j - i, st.block_size,
                                 v->size);
            if (rc < 0) {
                v->ops->unclaim(v, start, n);
                return rc == -3 ? 3 : 2;
            }
            i = j;
        }
        if (claimed) {
            if (fdatasync(dfd) < 0 || v->ops->commit(v, start, n) < 0) {
                fprintf(stderr, "sim_recover: commit: %s\n", xlmig_vbd_error(v));
                return 2;
            }
            installed += (uint64_t)claimed;
        }
        start += n;
    }
    if (v->ops->stats(v, &st) < 0) {
        fprintf(stderr, "sim_recover: stats: %s\n", xlmig_vbd_error(v));
        return 2;
    }
    printf("installed %llu left %llu\n", (unsigned long long)installed,
           (unsigned long long)st.stale);
    if (st.stale)
        return 1;
    if (v->ops->gate_stop(v) < 0) {
        fprintf(stderr, "sim_recover: gate_stop: %s\n", xlmig_vbd_error(v));
        return 2;
    }
    close(sfd);
    close(dfd);
    xlmig_vbd_close(v);
    return 0;
}
