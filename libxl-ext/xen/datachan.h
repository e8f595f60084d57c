/*
 * The data channel of a storage migration, beside xl's control channel.
 *
 * ssh (default): the source runs a second command through the same -s
 * command, `<ssh> <host> xl migrate-receive --with-storage --data-channel
 * SESSION`; on the destination that helper connects to the migrate-receive
 * that announced SESSION (a root-only Unix socket /run/xlmig/SESSION.sock),
 * hands it its stdin and stdout (SCM_RIGHTS), and waits until the receiver
 * closes the socket.  SESSION is 128 random bits from the destination.
 *
 * tcp: the destination listens on a port, the source connects and first
 * sends the 32-byte one-time secret the destination put in its ACCEPT on
 * the (authenticated) control channel; other connections are dropped.
 */
#ifndef XLMIG_XEN_DATACHAN_H
#define XLMIG_XEN_DATACHAN_H

#include <sys/types.h>


/* Destination: the session's listening socket (path filled in). */
int dch_session_listen(const char *rundir, const char *session, char *path,
                       size_t len,
                       struct xlmig_error *err);
/*
 * Waits for the helper (root only), takes its two fds; *hold is the
 * connection to close when the channel is no longer needed.
 */
int dch_session_accept(int lfd, int timeout_ms, int *rfd, int *wfd,
                       int *hold, struct xlmig_error *err);
/* The helper: returns an exit status. */
int dch_helper(const char *rundir, const char *session,
               struct xlmig_error *err);

/* Sends / receives fds with a small message on a Unix socket. */
int dch_send_fds(int sock, const void *msg, size_t len, const int *fds,
                 int nfds);
/* Returns the message length (0 on EOF, -1 on error); *nfds in/out. */
ssize_t dch_recv_fds(int sock, void *msg, size_t len, int *fds, int *nfds);

#endif
