/*
 * The configuration frame of the sessions without libxl's stream, and
 * the xl.cfg a cold migration carries: parsed (libxlutil) and rewritten
 * with the disks at their new places (xcold.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <libxlutil.h>

#include "le.h"
#include "xcold.h"
#include "xlproto.h"

#define XCFG_MAGIC "XLMIGCFG"

/* ---- the configuration frame ---- */

int xcfg_send(int fd, uint32_t kind, const char *text, size_t len,
              struct xlmig_error *err)
{
    uint8_t hdr[16], tail[4];
    uLong crc;
    int rc;

    if (len > XCFG_MAX)
        return xlmig_fail(err, E2BIG, "the configuration is over %u bytes",
                          XCFG_MAX);
    memcpy(hdr, XCFG_MAGIC, 8);
    put32(hdr + 8, kind);
    put32(hdr + 12, (uint32_t)len);
    crc = crc32(crc32(0L, Z_NULL, 0), hdr, sizeof(hdr));
    crc = crc32(crc, (const Bytef *)text, (uInt)len);
    put32(tail, (uint32_t)crc);
    /* A peer that takes nothing for XLP_WAIT_PEER_MS is gone. */
    if ((rc = xlp_write_all(fd, hdr, sizeof(hdr), XLP_WAIT_PEER_MS)) < 0 ||
        (rc = xlp_write_all(fd, text, len, XLP_WAIT_PEER_MS)) < 0 ||
        (rc = xlp_write_all(fd, tail, sizeof(tail), XLP_WAIT_PEER_MS)) < 0)
        return xlmig_fail(err, -rc, "sending the configuration: %s",
                          strerror(-rc));
    return 0;
}

int xcfg_recv(int fd, uint32_t *kind, char **text, size_t *len,
              int timeout_ms, struct xlmig_error *err)
{
    uint8_t hdr[16], tail[4];
    uint32_t n;
    uLong crc;
    char *t;
    int rc;

    *text = NULL;
    if ((rc = xlp_read_all(fd, hdr, sizeof(hdr), timeout_ms)) < 0)
        return xlmig_fail(err, -rc, "waiting for the configuration: %s",
                          strerror(-rc));
    if (memcmp(hdr, XCFG_MAGIC, 8))
        return xlmig_fail(err, EPROTO, "not an xlmig configuration frame "
                          "(is the source an xlmig migrate --offline?)");
    *kind = get32(hdr + 8);
    n = get32(hdr + 12);
    if ((*kind != XCFG_XL && *kind != XCFG_JSON) || n > XCFG_MAX)
        return xlmig_fail(err, EPROTO, "configuration frame of kind %u, "
                          "%u bytes (at most %u)", *kind, n, XCFG_MAX);
    if (!(t = malloc((size_t)n + 1)))
        return xlmig_fail(err, ENOMEM, "out of memory");
    if ((rc = xlp_read_all(fd, t, n, timeout_ms)) < 0 ||
        (rc = xlp_read_all(fd, tail, sizeof(tail), timeout_ms)) < 0) {
        free(t);
        return xlmig_fail(err, -rc, "reading the configuration: %s",
                          strerror(-rc));
    }
    crc = crc32(crc32(0L, Z_NULL, 0), hdr, sizeof(hdr));
    crc = crc32(crc, (const Bytef *)t, n);
    if ((uint32_t)crc != get32(tail)) {
        free(t);
        return xlmig_fail(err, EPROTO, "the configuration fails its "
                          "checksum");
    }
    t[n] = '\0';
    if (strlen(t) != n) {
        free(t);
        return xlmig_fail(err, EPROTO, "the configuration holds a NUL");
    }
    *text = t;
    *len = n;
    return 0;
}

/* ---- xl.cfg ---- */

int xcfg_parse(const char *text, size_t len, libxl_domain_config *dc,
               char (*specs)[XCFG_SPEC_MAX], unsigned *nspecs,
               struct xlmig_error *err)
{
    XLU_Config *c = xlu_cfg_init(stderr, "the guest's xl.cfg");
    XLU_ConfigList *list;
    const char *name;
    int n = 0, rc = -1;

    *nspecs = 0;
    /* Parsed again into the same config: the old disks go. */
    for (int i = 0; i < dc->num_disks; i++)
        libxl_device_disk_dispose(&dc->disks[i]);
    free(dc->disks);
    dc->disks = NULL;
    dc->num_disks = 0;
    if (!c)
        return xlmig_fail(err, ENOMEM, "out of memory");
    if (len > XCFG_MAX || xlu_cfg_readdata(c, text, (int)len)) {
        xlmig_fail(err, EINVAL, "the configuration is not an xl.cfg");
        goto out;
    }
    if (xlu_cfg_get_string(c, "name", &name, 0)) {
        xlmig_fail(err, EINVAL, "the configuration has no name");
        goto out;
    }
    free(dc->c_info.name);
    if (!(dc->c_info.name = strdup(name))) {
        xlmig_fail(err, ENOMEM, "out of memory");
        goto out;
    }
    if (xlu_cfg_get_list(c, "disk", &list, &n, 0)) {
        rc = 0;                 /* no disk */
        goto out;
    }
    if (n > XLMIG_MAX_DISKS) {
        xlmig_fail(err, E2BIG, "%d disks, at most %d", n, XLMIG_MAX_DISKS);
        goto out;
    }
    if (!(dc->disks = calloc((size_t)n, sizeof(*dc->disks)))) {
        xlmig_fail(err, ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *spec = xlu_cfg_get_listitem(list, i);
        libxl_device_disk *d = &dc->disks[i];

        libxl_device_disk_init(d);
        dc->num_disks = i + 1;
        if (!spec || strlen(spec) >= XCFG_SPEC_MAX ||
            strpbrk(spec, "'\"\\\n")) {
            xlmig_fail(err, EINVAL, "disk %d: not a plain string of at most "
                       "%d characters", i, XCFG_SPEC_MAX - 1);
            goto out;
        }
        snprintf(specs[i], XCFG_SPEC_MAX, "%s", spec);
        if (xlu_disk_parse(c, 1, &spec, d)) {
            xlmig_fail(err, EINVAL, "disk %d: cannot parse '%s'", i, spec);
            goto out;
        }
        *nspecs = (unsigned)i + 1;
    }
    rc = 0;
out:
    xlu_cfg_destroy(c);
    return rc;
}

static const char *moved_to(const struct xctl_msg *acc, const char *vdev)
{
    for (uint32_t i = 0; i < acc->ndisks; i++)
        if (!strcmp(acc->disks[i].name, vdev))
            return acc->disks[i].path;
    return NULL;
}

char *xcfg_rewrite(const char *text, const libxl_domain_config *dc,
                   char (*specs)[XCFG_SPEC_MAX], unsigned nspecs,
                   const struct xctl_msg *acc, struct xlmig_error *err)
{
    char *out = NULL;
    size_t cap = 0;
    FILE *f = open_memstream(&out, &cap);

    if (!f) {
        xlmig_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    fputs(text, f);
    if (*text && text[strlen(text) - 1] != '\n')
        fputc('\n', f);
    fputs("\n# xlmig migrate --offline: the disks at their places on this "
          "host\n# (in an xl.cfg the last setting wins)\ndisk = [", f);
    for (unsigned i = 0; i < nspecs && i < (unsigned)dc->num_disks; i++) {
        const libxl_device_disk *d = &dc->disks[i];
        const char *to = d->vdev ? moved_to(acc, d->vdev) : NULL;

        fputs(i ? ",\n         '" : " '", f);
        if (to)
            fprintf(f, "format=raw, vdev=%s, access=%s, target=%s", d->vdev,
                    d->readwrite ? "rw" : "ro", to);
        else
            fputs(specs[i], f);
        fputc('\'', f);
    }
    fputs(" ]\n", f);
    if (fclose(f) != 0) {
        free(out);
        xlmig_fail(err, ENOMEM, "out of memory");
        return NULL;
    }
    return out;
}

