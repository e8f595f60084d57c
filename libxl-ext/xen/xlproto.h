/*
 * Xen 4.17's xl migration protocol (tools/xl/xl_migrate.c, xl.h), spoken
 * byte for byte so that an xlmig end can be told apart from xl only by the
 * storage negotiation it adds when --with-storage is given.
 *
 *   dest -> src   banner (no NUL)
 *   src  -> dest  xl save header + u32 length + JSON config (NUL included)
 *   [xlmig: storage negotiation, see ctlmsg.h]
 *   src  -> dest  libxl v2 stream (libxl_domain_suspend)
 *   dest -> src   READY (NUL included)
 *   src  -> dest  GO (NUL included)                   point of no return
 *   dest -> src   REPORT (NUL included) + one status byte (-rc)
 *   [status != 0: dest destroys its copy, then sends GO back]
 */
#ifndef XLMIG_XEN_XLPROTO_H
#define XLMIG_XEN_XLPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

extern const char xlp_banner[];         /* sent without its NUL */
extern const char xlp_ready[];          /* sent with its NUL */
extern const char xlp_go[];
extern const char xlp_report[];
extern const size_t xlp_banner_len, xlp_ready_len, xlp_go_len,
    xlp_report_len;

#define XLP_MAGIC_LEN 32
#define XLP_HDR_LEN 48
#define XLP_BYTEORDER 0x01020304u
#define XLP_FLAG_JSON (1u << 0)
/* Bounds of the waits on xl's channel (ms): the peer's answers, its
 * report after GO, the destination's wait for GO after READY. */
#define XLP_WAIT_PEER_MS 120000
#define XLP_WAIT_REPORT_MS 120000
#define XLP_WAIT_GO_MS 300000
/* A message on the way out of a failed migration (ABORT, REFUSE). */
#define XLP_WAIT_ABORT_MS 2000

#define XLP_FLAG_STREAMV2 (1u << 1)
#define XLP_MAX_CONFIG (16u << 20)      /* a JSON config larger is refused */

/* Writes len bytes within timeout_ms (< 0: no bound); 0 or -errno
 * (-ETIMEDOUT: the peer took nothing for that long; errno is set too). */
int xlp_write_all(int fd, const void *buf, size_t len, int timeout_ms);
/* Reads len bytes within timeout_ms (< 0: no bound); 0 or -errno
 * (-ETIMEDOUT, -ECONNRESET at EOF). */
int xlp_read_all(int fd, void *buf, size_t len, int timeout_ms);

/* Reads exactly len bytes and compares: 0 on a match, -1 (err says). */
int xlp_expect(int fd, const char *msg, size_t len, const char *what,
               int timeout_ms, struct xlmig_error *err);

/* The save header with the config as xl's save_domain_core_writeconfig
 * lays it out (host byte order: both ends are x86). */
int xlp_write_header(int fd, const char *json, int timeout_ms,
                     struct xlmig_error *err);
/*
 * Reads a header as xl's create_domain does; *json is malloc'd and
 * NUL-terminated; *flags gets the mandatory flags.
 */
int xlp_read_header(int fd, char **json, uint32_t *flags, int timeout_ms,
                    struct xlmig_error *err);
/* Parses a header + optional data already in memory (for tests). */
int xlp_parse_header(const uint8_t *hdr, size_t hlen, uint32_t *flags,
                     uint32_t *optlen, struct xlmig_error *err);

#endif
