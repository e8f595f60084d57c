/*
 * The storage negotiation xlmig adds to xl's control channel when both
 * ends run with --with-storage.  It sits after the save header + config
 * and before the libxl stream; README-xen.md has the table.  Every message
 * is framed, versioned, bounded and checksummed:
 *
 *   "XLMIGCTL" | u16 version | u16 type | u32 body length | body | u32 crc32
 *
 * (little-endian; the CRC covers everything before it).
 */
#ifndef XLMIG_XEN_CTLMSG_H
#define XLMIG_XEN_CTLMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "wire.h"

#define XCTL_VERSION 1
#define XCTL_HDR_LEN 16
#define XCTL_MAX_BODY 16384
#define XCTL_MAX_PATH 1024              /* display only: bounded hard */
#define XCTL_TOKEN_LEN 32

enum xctl_type {
    XCTL_OFFER = 1,             /* S->D: the disks to migrate, options */
    XCTL_ACCEPT = 2,            /* D->S: targets chosen, data channel */
    XCTL_REFUSE = 3,            /* D->S: reason; nothing was created */
    XCTL_MEMORY = 4,            /* S->D: the libxl stream follows */
    XCTL_ABORT = 5,             /* S->D: giving up before the stream */
};

/* OFFER flags */
#define XCTL_F_POSTCOPY (1u << 0)       /* source may hand over a bitmap */
#define XCTL_F_TCP (1u << 1)            /* data channel: direct TCP */
#define XCTL_F_NOTRACK (1u << 2)        /* source has no write tracking */
#define XCTL_F_ALL (XCTL_F_POSTCOPY | XCTL_F_TCP | XCTL_F_NOTRACK)

enum xctl_chan { XCTL_CHAN_SSH = 1, XCTL_CHAN_TCP = 2 };
enum xctl_kind { XCTL_KIND_FILE = 1, XCTL_KIND_BLOCK = 2 };

struct xctl_disk {
    char name[XLMIG_MAX_NAME + 1];      /* the vdev, wire-name rules */
    uint8_t kind;                       /* enum xctl_kind (source side) */
    uint64_t size;                      /* bytes */
    char path[XCTL_MAX_PATH + 1];       /* ACCEPT: the target (display) */
};

struct xctl_msg {
    uint16_t type;
    uint32_t flags;                     /* OFFER, ACCEPT */
    uint32_t ndisks;
    struct xctl_disk disks[XLMIG_MAX_DISKS];
    uint8_t chan;                       /* ACCEPT: enum xctl_chan */
    uint16_t port;                      /* ACCEPT, tcp */
    uint8_t token[XCTL_TOKEN_LEN];      /* ACCEPT: session or tcp secret */
    uint32_t code;                      /* REFUSE, ABORT: an errno */
    char reason[XLMIG_MAX_REASON + 1];
};

/* Encodes m into out (XCTL_HDR_LEN + XCTL_MAX_BODY + 4 bytes); returns the
 * length, or 0 with err when m does not fit the rules. */
size_t xctl_encode(const struct xctl_msg *m, uint8_t *out, struct xlmig_error *err);
/*
 * Decodes one whole frame of exactly len bytes.  Everything is checked:
 * magic, version, type, bounds, CRC, names, counts, trailing bytes.
 */
int xctl_decode(const uint8_t *buf, size_t len, struct xctl_msg *m,
                struct xlmig_error *err);
/* Body length announced by a header, or -1 (err) if the header is bad. */
long xctl_peek_len(const uint8_t *hdr, struct xlmig_error *err);

/* Bounded I/O on the control channel (timeout_ms < 0: no bound). */
int xctl_send(int fd, const struct xctl_msg *m, int timeout_ms,
              struct xlmig_error *err);
/* Reads one message; if want != 0 any other type is an error (REFUSE and
 * ABORT are reported as errors with their reason). */
int xctl_recv(int fd, struct xctl_msg *m, uint16_t want, int timeout_ms,
              struct xlmig_error *err);

/* The session id as 32 hex characters (the ssh helper's socket name). */
void xctl_session_hex(const uint8_t *token, char out[33]);
bool xctl_session_ok(const char *hex);
const char *xctl_type_name(uint16_t type);

#endif
