/*
 * The simulated flow's cold migration (xlmig send --offline): stopped
 * guests given as image files, or simulated guests stopped first.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_image_arg(const char *spec, char *name, size_t nlen, char *path,
                  size_t plen)
{
    const char *eq = strchr(spec, '=');

    if (!eq || eq == spec || (size_t)(eq - spec) >= nlen || !eq[1] ||
        strlen(eq + 1) >= plen)
        return cli_error("--image %s: expected NAME=PATH", spec);
    snprintf(name, nlen, "%.*s", (int)(eq - spec), spec);
    snprintf(path, plen, "%s", eq + 1);
    return 0;
}

/* Whether something still answers on a Unix socket. */
static bool alive(const char *socket_path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool up;

    if (fd < 0)
        return false;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", socket_path);
    up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return up;
}

int cli_stop_sim_guest(struct xlmig_vbd *v, const char *socket_path,
                       bool shutdown, int timeout_ms)
{
    struct timespec pause = { 0, 50 * 1000 * 1000 };

    if (!shutdown)
        return cli_error("%s: the guest is running: stop it first, or pass "
                         "--shutdown to have it shut down (--offline moves "
                         "stopped guests)", socket_path);
    if (xlmig_sim_shutdown(v) < 0)
        return cli_error("%s: cannot shut the guest down: %s", socket_path,
                         xlmig_vbd_error(v));
    for (int waited = 0; alive(socket_path); waited += 50) {
        if (waited >= timeout_ms)
            return cli_error("%s: the guest did not stop within %d s",
                             socket_path, timeout_ms / 1000);
        nanosleep(&pause, NULL);
    }
    fprintf(stderr, "xlmig: %s: the guest is shut down\n", socket_path);
    return 0;
}
