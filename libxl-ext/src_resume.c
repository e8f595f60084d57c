/*
 * A source that outlives its engine: the session a front saves after GO
 * (xlmig_source_session) and the source made from it
 * (xlmig_source_new_resumed), which serves the destination's stale blocks
 * from the image files once recovery finds the destination again.
 *
 *   xlmig-session 1
 *   xlmig-token <64 hex digits>
 *   xlmig-block-size <bytes>
 *   xlmig-final-blocks <blocks handed over at stop-copy>
 *   xlmig-disk <name> <size in bytes> <image path to the end of the line>
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "src_internal.h"

size_t xlmig_source_session(const struct xlmig_source *s, char *buf,
                            size_t len)
{
    size_t p = 0;

    if (len)
        buf[0] = '\0';
    xlmig_json_fmt(buf, len, &p, "xlmig-session 1\nxlmig-token ");
    for (int i = 0; i < XLMIG_SESSION_TOKEN_LEN; i++)
        xlmig_json_fmt(buf, len, &p, "%02x", s->token[i]);
    xlmig_json_fmt(buf, len, &p, "\nxlmig-block-size %u\n"
                   "xlmig-final-blocks %" PRIu64 "\n", s->o.block_size,
                   s->st.final_blocks);
    for (unsigned i = 0; i < s->ndisks; i++)
        xlmig_json_fmt(buf, len, &p, "xlmig-disk %s %" PRIu64 " %s\n",
                       s->disks[i].name, s->disks[i].img.size,
                       s->disks[i].vbd->data_path);
    return p;
}

static int hex_token(const char *hex, uint8_t *out)
{
    for (int i = 0; i < XLMIG_SESSION_TOKEN_LEN; i++) {
        unsigned v;

        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return hex[2 * XLMIG_SESSION_TOKEN_LEN] == '\0' ? 0 : -1;
}

static int session_disk(struct xlmig_source *s, const char *line)
{
    char name[XLMIG_MAX_NAME + 1];
    unsigned long long size;
    struct xlmig_vbd *v;
    struct xlmig_error e;
    int n = 0, rc;

    if (sscanf(line, "%64s %llu %n", name, &size, &n) != 2 || !n ||
        line[n] != '/')
        return src_fail(s, EINVAL, "session: bad disk line");
    if ((rc = xlmig_vbd_image_open(line + n, &v, &e)) < 0)
        return src_fail(s, -rc, "session: %s", e.msg);
    if ((rc = xlmig_source_add_disk(s, name, v)) < 0) {
        xlmig_vbd_close(v);
        return rc;
    }
    s->disks[s->ndisks - 1].own_vbd = true;
    if (s->disks[s->ndisks - 1].img.size != size)
        return src_fail(s, EIO, "session: %s is %llu bytes, was %llu", line + n,
                        (unsigned long long)s->disks[s->ndisks - 1].img.size,
                        size);
    s->disks[s->ndisks - 1].stale =
        xlmig_bitmap_new(s->disks[s->ndisks - 1].nblocks);
    return s->disks[s->ndisks - 1].stale ? 0
                                         : src_fail(s, ENOMEM, "out of memory");
}

static int parse_session(struct xlmig_source *s, const char *text)
{
    const char *p = text;
    bool token = false;

    if (strncmp(p, "xlmig-session 1\n", 16))
        return src_fail(s, EINVAL, "not an xlmig session (version 1)");
    while (*p) {
        char line[4300];
        size_t n = strcspn(p, "\n");
        int rc = 0;

        if (n >= sizeof(line))
            return src_fail(s, EINVAL, "session: line too long");
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (p[n] == '\n');
        if (!strncmp(line, "xlmig-token ", 12))
            token = hex_token(line + 12, s->token) == 0;
        else if (!strncmp(line, "xlmig-final-blocks ", 19))
            s->st.final_blocks = strtoull(line + 19, NULL, 10);
        else if (!strncmp(line, "xlmig-disk ", 11))
            rc = session_disk(s, line + 11);
        if (rc < 0)
            return rc;
    }
    if (!token || !s->ndisks)
        return src_fail(s, EINVAL, "session: no token or no disk");
    s->have_token = true;
    return 0;
}

int xlmig_source_new_resumed(const char *session,
                             const struct xlmig_source_opts *o,
                             const struct xlmig_source_hooks *h,
                             struct xlmig_source **out,
                             struct xlmig_error *err)
{
    struct xlmig_source_opts opts = *o;
    const char *bs = strstr(session, "\nxlmig-block-size ");
    struct xlmig_source *s;
    int rc;

    if (bs)
        opts.block_size = (uint32_t)strtoul(bs + 18, NULL, 10);
    if ((rc = xlmig_source_new(&opts, h, out, err)) < 0)
        return rc;
    s = *out;
    if ((rc = parse_session(s, session)) < 0) {
        xlmig_fail_from(err, &s->err, NULL);
        xlmig_source_free(s);
        *out = NULL;
        return rc;
    }
    s->resume_mode = true;
    s->st.postcopy = true;
    return 0;
}

int src_run_resumed(struct xlmig_source *s)
{
    int rc;

    s->st.t_go = xlmig_now_ns();
    s->broken = true;
    snprintf(s->chan_err.msg, sizeof(s->chan_err.msg), "resuming a saved "
             "session");
    if ((rc = src_recover(s)) < 0)
        return XLMIG_RESULT_POSTCOPY_FAILED;
    return src_pull(s) < 0 ? XLMIG_RESULT_POSTCOPY_FAILED : 0;
}
