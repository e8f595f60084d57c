/* The control socket of the simulated VBD daemon (protocol: sim_proto.h). */
#ifndef XLMIG_SIM_SERVER_H
#define XLMIG_SIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/sim_backend.h"
#include "sim/sim_guest.h"
#include "err.h"

struct sim_server_cfg {
    const char *socket_path;
    const char *image_path;     /* reported to clients (data_path) */
    bool dest;
    bool test_hooks;
};

/*
 * Binds the control socket (before the guest starts, so that a daemon
 * that cannot serve never touches the image).  Refuses to take over a
 * live daemon's socket or a path that is not a socket; a dead daemon's
 * socket is replaced.  Returns the listening fd or -errno with err set.
 */
int sim_server_listen(const char *path, struct xlmig_error *err);

/*
 * Serves clients on lfd (from sim_server_listen, consumed) until SIGTERM,
 * SIGINT or a SHUTDOWN request.  The caller must have blocked SIGTERM,
 * SIGINT and SIGHUP in every thread (they are taken with a signalfd
 * here).  On the way out it shuts the backend down and halts the guest
 * (so that no request in progress can wait for ever), then joins every
 * connection; the caller closes the backend and frees the guest.  0, or
 * -errno with err set when the set-up failed (backend and guest are
 * untouched then; the socket is removed).
 */
int sim_server_run(const struct sim_server_cfg *cfg, int lfd,
                   struct sim_backend *b, struct sim_guest *g, struct xlmig_error *err);

#endif
