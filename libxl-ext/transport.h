/*
 * Opening the data channel: a TCP connection (optionally checked with a
 * one-time secret, for the Xen flow's direct TCP option), a command run
 * with its stdin/stdout as the channel (ssh), or file descriptors given by
 * the caller.  Everything ends as a pair of fds for xlmig_conn.
 */
#ifndef XLMIG_TRANSPORT_H
#define XLMIG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define XLMIG_TOKEN_LEN 32

/* "tcp:HOST:PORT", "tcp-listen:ADDR:PORT", "cmd:COMMAND", "fd:R,W", "-". */
struct xlmig_endpoint {
    enum { XLMIG_EP_TCP, XLMIG_EP_LISTEN, XLMIG_EP_CMD, XLMIG_EP_FD,
           XLMIG_EP_STDIO } kind;
    char host[256];
    char port[16];
    const char *cmd;
    int rfd, wfd;
};

int xlmig_endpoint_parse(const char *spec, struct xlmig_endpoint *ep,
                         struct xlmig_error *err);
int xlmig_tcp_connect(const char *host, const char *port, struct xlmig_error *err);
/* Binds and listens; *bound_port gets the port (useful with port 0). */
int xlmig_tcp_listen(const char *addr, const char *port, int *bound_port,
                     struct xlmig_error *err);
/*
 * Accepts one connection within timeout_ms.  With a token, the peer must
 * send exactly those XLMIG_TOKEN_LEN bytes first; connections that do not
 * are dropped and waiting continues.
 */
int xlmig_tcp_accept(int lfd, int timeout_ms, const uint8_t *token,
                     struct xlmig_error *err);
/* Sends the token on a fresh connection. */
int xlmig_tcp_send_token(int fd, const uint8_t *token, struct xlmig_error *err);
/*
 * Runs `sh -c cmd` with its stdin and stdout connected to us: two pipes,
 * or with one_socket one socketpair end for both (*rfd == *wfd).
 */
pid_t xlmig_spawn(const char *cmd, int *rfd, int *wfd, bool one_socket,
                  struct xlmig_error *err);
/* tcp-listen: the listening socket (its port written to port_file). */
int xlmig_endpoint_listen(const struct xlmig_endpoint *ep,
                          const char *port_file, struct xlmig_error *err);
/* Opens an endpoint as a sender would (connect / spawn / fds). */
int xlmig_endpoint_open(const struct xlmig_endpoint *ep, int *rfd, int *wfd,
                        pid_t *child, int accept_timeout_ms,
                        const char *port_file, struct xlmig_error *err);
int xlmig_random_token(uint8_t *token, struct xlmig_error *err);
/* Parses 125M, 1G, 1000Mbit, 64k ... into bytes per second. */
int xlmig_parse_rate(const char *s, uint64_t *bytes_per_sec);

#endif
