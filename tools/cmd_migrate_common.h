/* Shared by xlmig migrate, migrate-receive and jobinfo (Xen glue). */
#ifndef XLMIG_CMD_MIGRATE_COMMON_H
#define XLMIG_CMD_MIGRATE_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include <libxl.h>

/* libxl context logging to stderr at XTL_PROGRESS (xl's default) or, with
 * verbose, XTL_DEBUG.  NULL with a message printed on failure. */
libxl_ctx *xm_ctx_alloc(int verbose, void **logger);
void xm_ctx_free(libxl_ctx *ctx, void *logger);
/* A domain name or number, as xl's find_domain. */
int xm_find_domain(libxl_ctx *ctx, const char *s, uint32_t *domid);
/* Single-quotes s for sh -c into out (false if it does not fit). */
bool xm_shell_quote(const char *s, char *out, size_t len);
/* The domain's UUID as text (the key of its status in xenstore). */
void xm_uuid_string(const libxl_uuid *u, char out[40]);
/* xl's global lock around domain creation (XEN_LOCK_DIR/xl). */
int xm_lock(void);
void xm_unlock(int fd);
int cmd_migrate_sender(int argc, char **argv);
int cmd_migrate_receive(int argc, char **argv);
int cmd_jobinfo(int argc, char **argv);

#endif
