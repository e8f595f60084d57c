/*
 * A Xen post-copy's data channel and session, for recovery: opening the
 * data channel again the way it was opened first, and the session file a
 * source engine keeps after GO (the library's session text plus how to
 * reach the destination) so that `xlmig migrate-recover` can take over if
 * the engine dies.
 *
 *   <statedir>/<uuid>.session   mode 0600, flock'd by the engine serving it
 *   ...the library's lines (xlmig_source_session)...
 *   xen-uuid <uuid>
 *   xen-name <domain name>
 *   xen-data tcp <host> <port> <64 hex digits of the one-time secret>
 *   xen-data ssh <the command that runs migrate-receive --data-channel>
 */
#ifndef XLMIG_XEN_XSESS_H
#define XLMIG_XEN_XSESS_H

#include <stddef.h>

#include "engine.h"

/* Opens the data channel described by setup's data_* fields. */
int xsess_connect(const struct eng_msg *setup, int *rfd, int *wfd);
/* Writes the session (statedir NULL: XFLOW_STATEDIR); returns its fd,
 * locked, or -1 (errno). */
int xsess_save(const char *statedir, const struct eng_msg *setup,
               const char *lib_text, char *path, size_t len);
/*
 * The session of domain (name or UUID) in statedir: its text (free()
 * it), its path, and the data channel's description in *setup.  NULL with
 * errno ENOENT when there is none.
 */
char *xsess_load(const char *statedir, const char *domain,
                 struct eng_msg *setup, char *path, size_t len);

#endif
