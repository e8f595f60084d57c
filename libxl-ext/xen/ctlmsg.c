#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ctlmsg.h"
#include "le.h"
#include "xlproto.h"

#include "err.h"

static const char magic[8] = { 'X', 'L', 'M', 'I', 'G', 'C', 'T', 'L' };

/* ---- little-endian cursor ---- */

struct wr {
    uint8_t *p;
    size_t n, cap;
    bool over;
};

static void w_bytes(struct wr *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->over = true;
        return;
    }
    memcpy(w->p + w->n, p, n);
    w->n += n;
}

static void w_le(struct wr *w, uint64_t v, int bytes)
{
    uint8_t b[8];

    xlmig_put_le(b, v, bytes);
    w_bytes(w, b, (size_t)bytes);
}

struct rd {
    const uint8_t *p;
    size_t n, off;
    bool short_;
};

static const uint8_t *r_bytes(struct rd *r, size_t n)
{
    const uint8_t *p;

    if (r->short_ || r->n - r->off < n) {
        r->short_ = true;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t r_le(struct rd *r, int bytes)
{
    const uint8_t *b = r_bytes(r, (size_t)bytes);

    return b ? xlmig_get_le(b, bytes) : 0;
}

/* ---- helpers ---- */

const char *xctl_type_name(uint16_t type)
{
    switch (type) {
    case XCTL_OFFER: return "OFFER";
    case XCTL_ACCEPT: return "ACCEPT";
    case XCTL_REFUSE: return "REFUSE";
    case XCTL_MEMORY: return "MEMORY";
    case XCTL_ABORT: return "ABORT";
    default: return "unknown";
    }
}

void xctl_session_hex(const uint8_t *token, char out[33])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[token[i] >> 4];
        out[2 * i + 1] = hex[token[i] & 15];
    }
    out[32] = '\0';
}

bool xctl_session_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == 32;
}

static bool text_ok(const char *s, size_t n)
{
    /* Printable, no control characters: shown to people, never a path
     * anyone opens. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static void w_name(struct wr *w, const char *s)
{
    size_t n = strlen(s);

    w_le(w, n, 1);
    w_bytes(w, s, n);
}

static int r_name(struct rd *r, char *out, struct xlmig_error *err)
{
    size_t n = (size_t)r_le(r, 1);
    const uint8_t *p = r_bytes(r, n);

    if (!p)
        return xlmig_fail(err, EIO, "message truncated in a disk name");
    memcpy(out, p, n);
    out[n] = '\0';
    if (!xlmig_disk_name_ok(out))
        return xlmig_fail(err, EIO, "disk name is not acceptable (1-64 of [A-Za-z0-9._-], "
                   "not starting with '.')");
    return 0;
}

static int w_reason(struct wr *w, const struct xctl_msg *m, struct xlmig_error *err)
{
    size_t n = strnlen(m->reason, sizeof(m->reason));

    if (n > XLMIG_MAX_REASON)
        return xlmig_fail(err, EIO, "reason too long");
    w_le(w, m->code, 4);
    w_le(w, n, 2);
    w_bytes(w, m->reason, n);
    return 0;
}

/* ---- encode ---- */

size_t xctl_encode(const struct xctl_msg *m, uint8_t *out, struct xlmig_error *err)
{
    struct wr w = { out + XCTL_HDR_LEN, 0, XCTL_MAX_BODY, false };
    uint32_t crc;

    switch (m->type) {
    case XCTL_OFFER:
        if (m->flags & ~XCTL_F_ALL) {
            xlmig_fail(err, EIO, "OFFER: unknown flags");
            return 0;
        }
        if (!m->ndisks || m->ndisks > XLMIG_MAX_DISKS) {
            xlmig_fail(err, EIO, "OFFER: %u disks (1..%d)", m->ndisks, XLMIG_MAX_DISKS);
            return 0;
        }
        w_le(&w, m->flags, 4);
        w_le(&w, m->ndisks, 4);
        for (uint32_t i = 0; i < m->ndisks; i++) {
            const struct xctl_disk *d = &m->disks[i];
            if (!xlmig_disk_name_ok(d->name) ||
                (d->kind != XCTL_KIND_FILE && d->kind != XCTL_KIND_BLOCK)) {
                xlmig_fail(err, EIO, "OFFER: disk %u is not acceptable", i);
                return 0;
            }
            w_name(&w, d->name);
            w_le(&w, d->kind, 1);
            w_le(&w, d->size, 8);
        }
        break;
    case XCTL_ACCEPT:
        if (m->ndisks > XLMIG_MAX_DISKS ||
            (m->chan != XCTL_CHAN_SSH && m->chan != XCTL_CHAN_TCP)) {
            xlmig_fail(err, EIO, "ACCEPT: bad disk count or channel");
            return 0;
        }
        w_le(&w, m->flags, 4);
        w_le(&w, m->chan, 1);
        w_le(&w, m->port, 2);
        w_bytes(&w, m->token, XCTL_TOKEN_LEN);
        w_le(&w, m->ndisks, 4);
        for (uint32_t i = 0; i < m->ndisks; i++) {
            const struct xctl_disk *d = &m->disks[i];
            size_t pl = strnlen(d->path, sizeof(d->path));
            if (!xlmig_disk_name_ok(d->name) || pl > XCTL_MAX_PATH ||
                !text_ok(d->path, pl)) {
                xlmig_fail(err, EIO, "ACCEPT: disk %u is not acceptable", i);
                return 0;
            }
            w_name(&w, d->name);
            w_le(&w, pl, 2);
            w_bytes(&w, d->path, pl);
        }
        break;
    case XCTL_REFUSE:
    case XCTL_ABORT:
        if (w_reason(&w, m, err) < 0)
            return 0;
        break;
    case XCTL_MEMORY:
        break;
    default:
        xlmig_fail(err, EIO, "unknown control message type %u", m->type);
        return 0;
    }
    if (w.over) {
        xlmig_fail(err, EIO, "%s does not fit in %d bytes", xctl_type_name(m->type),
            XCTL_MAX_BODY);
        return 0;
    }
    memcpy(out, magic, 8);
    for (int i = 0; i < 2; i++) {
        out[8 + i] = (uint8_t)(XCTL_VERSION >> (8 * i));
        out[10 + i] = (uint8_t)(m->type >> (8 * i));
    }
    for (int i = 0; i < 4; i++)
        out[12 + i] = (uint8_t)(w.n >> (8 * i));
    crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), out,
                          (uInt)(XCTL_HDR_LEN + w.n));
    for (int i = 0; i < 4; i++)
        out[XCTL_HDR_LEN + w.n + (size_t)i] = (uint8_t)(crc >> (8 * i));
    return XCTL_HDR_LEN + w.n + 4;
}

/* ---- decode ---- */

long xctl_peek_len(const uint8_t *h, struct xlmig_error *err)
{
    uint32_t len = 0;
    uint16_t ver = (uint16_t)(h[8] | h[9] << 8);

    if (memcmp(h, magic, 8))
        return xlmig_fail(err, EIO, "not an xlmig control message (is the other end "
                   "xlmig with --with-storage?)");
    if (ver != XCTL_VERSION)
        return xlmig_fail(err, EIO, "control message version %u, we speak %u", ver,
                   XCTL_VERSION);
    for (int i = 0; i < 4; i++)
        len |= (uint32_t)h[12 + i] << (8 * i);
    if (len > XCTL_MAX_BODY)
        return xlmig_fail(err, EIO, "control message body of %u bytes is over %d", len,
                   XCTL_MAX_BODY);
    return (long)len;
}

static int r_reason(struct rd *r, struct xctl_msg *m, struct xlmig_error *err)
{
    size_t n;
    const uint8_t *p;

    m->code = (uint32_t)r_le(r, 4);
    n = (size_t)r_le(r, 2);
    if (n > XLMIG_MAX_REASON)
        return xlmig_fail(err, EIO, "reason of %zu bytes is over %d", n, XLMIG_MAX_REASON);
    p = r_bytes(r, n);
    if (!p)
        return xlmig_fail(err, EIO, "message truncated in its reason");
    memcpy(m->reason, p, n);
    m->reason[n] = '\0';
    if (!text_ok(m->reason, n))
        return xlmig_fail(err, EIO, "reason contains control characters");
    return 0;
}

int xctl_decode(const uint8_t *buf, size_t len, struct xctl_msg *m,
                struct xlmig_error *err)
{
    struct rd r;
    long blen;
    uint32_t crc, want;

    memset(m, 0, sizeof(*m));
    if (len < XCTL_HDR_LEN + 4)
        return xlmig_fail(err, EIO, "control message truncated");
    blen = xctl_peek_len(buf, err);
    if (blen < 0)
        return -err->code;
    if ((size_t)blen + XCTL_HDR_LEN + 4 != len)
        return xlmig_fail(err, EIO, "control message length does not match its frame");
    crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), buf,
                          (uInt)(XCTL_HDR_LEN + (size_t)blen));
    want = 0;
    for (int i = 0; i < 4; i++)
        want |= (uint32_t)buf[XCTL_HDR_LEN + (size_t)blen + (size_t)i]
                << (8 * i);
    if (crc != want)
        return xlmig_fail(err, EIO, "control message checksum mismatch");
    m->type = (uint16_t)(buf[10] | buf[11] << 8);
    r = (struct rd){ buf + XCTL_HDR_LEN, (size_t)blen, 0, false };

    switch (m->type) {
    case XCTL_OFFER:
        m->flags = (uint32_t)r_le(&r, 4);
        m->ndisks = (uint32_t)r_le(&r, 4);
        if (m->flags & ~XCTL_F_ALL)
            return xlmig_fail(err, EIO, "OFFER has unknown flags 0x%x",
                       m->flags & ~XCTL_F_ALL);
        if (!m->ndisks || m->ndisks > XLMIG_MAX_DISKS)
            return xlmig_fail(err, EIO, "OFFER names %u disks (1..%d)", m->ndisks,
                       XLMIG_MAX_DISKS);
        for (uint32_t i = 0; i < m->ndisks; i++) {
            struct xctl_disk *d = &m->disks[i];
            if (r_name(&r, d->name, err) < 0)
                return -err->code;
            d->kind = (uint8_t)r_le(&r, 1);
            d->size = r_le(&r, 8);
            if (d->kind != XCTL_KIND_FILE && d->kind != XCTL_KIND_BLOCK)
                return xlmig_fail(err, EIO, "OFFER: disk %s has unknown kind %u", d->name,
                           d->kind);
            if (!d->size || d->size % 512)
                return xlmig_fail(err, EIO, "OFFER: disk %s has size %llu (a non-zero "
                           "multiple of 512 expected)", d->name,
                           (unsigned long long)d->size);
            for (uint32_t j = 0; j < i; j++)
                if (!strcmp(m->disks[j].name, d->name))
                    return xlmig_fail(err, EIO, "OFFER names disk %s twice", d->name);
        }
        break;
    case XCTL_ACCEPT: {
        const uint8_t *t;
        m->flags = (uint32_t)r_le(&r, 4);
        m->chan = (uint8_t)r_le(&r, 1);
        m->port = (uint16_t)r_le(&r, 2);
        t = r_bytes(&r, XCTL_TOKEN_LEN);
        if (t)
            memcpy(m->token, t, XCTL_TOKEN_LEN);
        m->ndisks = (uint32_t)r_le(&r, 4);
        if (m->chan != XCTL_CHAN_SSH && m->chan != XCTL_CHAN_TCP)
            return xlmig_fail(err, EIO, "ACCEPT names unknown data channel %u", m->chan);
        if (m->chan == XCTL_CHAN_TCP && !m->port)
            return xlmig_fail(err, EIO, "ACCEPT: TCP data channel without a port");
        if (m->ndisks > XLMIG_MAX_DISKS)
            return xlmig_fail(err, EIO, "ACCEPT names %u disks", m->ndisks);
        for (uint32_t i = 0; i < m->ndisks; i++) {
            struct xctl_disk *d = &m->disks[i];
            size_t pl;
            const uint8_t *p;
            if (r_name(&r, d->name, err) < 0)
                return -err->code;
            pl = (size_t)r_le(&r, 2);
            if (pl > XCTL_MAX_PATH)
                return xlmig_fail(err, EIO, "ACCEPT: target path of %zu bytes", pl);
            p = r_bytes(&r, pl);
            if (!p)
                break;
            memcpy(d->path, p, pl);
            d->path[pl] = '\0';
            if (!text_ok(d->path, pl))
                return xlmig_fail(err, EIO, "ACCEPT: target path with control characters");
        }
        break;
    }
    case XCTL_REFUSE:
    case XCTL_ABORT:
        if (r_reason(&r, m, err) < 0)
            return -err->code;
        break;
    case XCTL_MEMORY:
        break;
    default:
        return xlmig_fail(err, EIO, "unknown control message type %u", m->type);
    }
    if (r.short_)
        return xlmig_fail(err, EIO, "%s truncated", xctl_type_name(m->type));
    if (r.off != r.n)
        return xlmig_fail(err, EIO, "%s has %zu trailing bytes", xctl_type_name(m->type),
                   r.n - r.off);
    return 0;
}

/* ---- I/O ---- */

int xctl_send(int fd, const struct xctl_msg *m, int timeout_ms,
              struct xlmig_error *err)
{
    uint8_t *buf = malloc(XCTL_HDR_LEN + XCTL_MAX_BODY + 4);
    size_t n;
    int rc = -1;

    if (!buf)
        return xlmig_fail(err, EIO, "out of memory");
    n = xctl_encode(m, buf, err);
    if (n) {
        rc = xlp_write_all(fd, buf, n, timeout_ms);
        if (rc < 0)
            rc = xlmig_fail(err, -rc, "control channel: sending %s: %s",
                            xctl_type_name(m->type), strerror(-rc));
    }
    free(buf);
    return rc;
}

int xctl_recv(int fd, struct xctl_msg *m, uint16_t want, int timeout_ms,
              struct xlmig_error *err)
{
    uint8_t *buf = malloc(XCTL_HDR_LEN + XCTL_MAX_BODY + 4);
    long blen;
    int rc = -1, r;

    if (!buf)
        return xlmig_fail(err, ENOMEM, "out of memory");
    if ((r = xlp_read_all(fd, buf, XCTL_HDR_LEN, timeout_ms)) < 0) {
        xlmig_fail(err, -r, "control channel: %s", r == -ECONNRESET
                   ? "the peer closed it" : strerror(-r));
        goto out;
    }
    blen = xctl_peek_len(buf, err);
    if (blen < 0)
        goto out;
    if ((r = xlp_read_all(fd, buf + XCTL_HDR_LEN, (size_t)blen + 4,
                          timeout_ms)) < 0) {
        xlmig_fail(err, -r, "control channel: message truncated: %s",
                   strerror(-r));
        goto out;
    }
    if (xctl_decode(buf, XCTL_HDR_LEN + (size_t)blen + 4, m, err) < 0)
        goto out;
    if (want && m->type != want) {
        if (m->type == XCTL_REFUSE || m->type == XCTL_ABORT)
            xlmig_fail(err, EIO, "the %s %s: %s", m->type == XCTL_REFUSE ? "destination"
                                                         : "source",
                m->type == XCTL_REFUSE ? "refused" : "aborted", m->reason);
        else
            xlmig_fail(err, EIO, "control channel: expected %s, got %s",
                xctl_type_name(want), xctl_type_name(m->type));
        goto out;
    }
    rc = 0;
out:
    free(buf);
    return rc ? -err->code : 0;
}
