/*
 * What the Xen flows without libxl's stream share (xcold.c): the cold
 * migration (`xlmig migrate --offline`) and the estimate (`xlmig migrate
 * --estimate`).  Both open one ssh session to `xl migrate-receive
 * --with-storage --offline|--estimate` on the destination, whose stdin and
 * stdout are the channel: first the guest's configuration and the storage
 * negotiation, then the library's records.
 *
 *   S -> D  CONFIG frame: "XLMIGCFG" | u32 kind | u32 length | bytes |
 *           u32 CRC-32 of all before (little-endian; at most 1 MiB)
 *           kind 1: an xl.cfg text (cold), 2: libxl's JSON (estimate)
 *   S -> D  OFFER   (ctlmsg.h: the disks, by vdev)
 *   D -> S  ACCEPT  (the targets its policy chose) or REFUSE
 *   then    the data channel's records (PROTOCOL.md): offline or estimate
 */
#ifndef XLMIG_XEN_XCOLD_H
#define XLMIG_XEN_XCOLD_H

#include <stddef.h>
#include <stdint.h>

#include <libxl.h>

#include "ctlmsg.h"
#include "err.h"

#define XCFG_MAX (1u << 20)
#define XCFG_XL 1
#define XCFG_JSON 2
#define XCFG_SPEC_MAX 1024

/* Sends the frame; a peer that takes nothing for XLP_WAIT_PEER_MS fails it. */
int xcfg_send(int fd, uint32_t kind, const char *text, size_t len,
              struct xlmig_error *err);
/* *text is malloc'd and NUL-terminated. */
int xcfg_recv(int fd, uint32_t *kind, char **text, size_t *len,
              int timeout_ms, struct xlmig_error *err);

/*
 * An xl.cfg text's name and disks (libxlutil): dc gets c_info.name and the
 * parsed disks, specs the original disk strings (nspecs of them).
 */
int xcfg_parse(const char *text, size_t len, libxl_domain_config *dc,
               char (*specs)[XCFG_SPEC_MAX], unsigned *nspecs,
               struct xlmig_error *err);
/*
 * The text with a disk list appended that overrides the first one (in an
 * xl.cfg the last setting wins): each disk the ACCEPT moved, at its new
 * path (format=raw, same vdev and access); the others as they were.
 * malloc'd, or NULL with err.
 */
char *xcfg_rewrite(const char *text, const libxl_domain_config *dc,
                   char (*specs)[XCFG_SPEC_MAX], unsigned nspecs,
                   const struct xctl_msg *acc, struct xlmig_error *err);

#endif
