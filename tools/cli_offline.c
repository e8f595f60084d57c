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
#include "wire.h"

int cli_vbd_spec(const char *spec, unsigned idx, char *socket, size_t slen,
                 char *name, size_t nlen, char *err, size_t errlen)
{
    const char *comma;
    size_t n;

    if (strncmp(spec, "sim:", 4)) {
        snprintf(err, errlen, "--vbd '%.60s': only sim:SOCKET[,name=NAME] is "
                 "supported here (real guests: xlmig migrate "
                 "--with-storage)", spec);
        return -1;
    }
    spec += 4;
    comma = strchr(spec, ',');
    n = comma ? (size_t)(comma - spec) : strlen(spec);
    if (!n || n >= slen) {
        snprintf(err, errlen, "--vbd: %s socket path", n ? "too long a"
                                                            : "empty");
        return -1;
    }
    memcpy(socket, spec, n);
    socket[n] = '\0';
    if (comma && !strncmp(comma + 1, "name=", 5)) {
        if (!xlmig_disk_name_ok(comma + 6) || strlen(comma + 6) >= nlen) {
            snprintf(err, errlen, "--vbd: name '%.70s' is not 1 to %d of "
                     "[A-Za-z0-9._-]", comma + 6, XLMIG_MAX_NAME);
            return -1;
        }
        snprintf(name, nlen, "%s", comma + 6);
    } else if (comma) {
        snprintf(err, errlen, "--vbd: unknown option '%.40s' (only "
                 "name=NAME)", comma + 1);
        return -1;
    } else {
        snprintf(name, nlen, "xvd%c", 'a' + (int)idx);
    }
    return 0;
}

int cli_image_spec(const char *spec, char *name, size_t nlen, char *path,
                   size_t plen, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');

    if (!eq || eq == spec || !eq[1]) {
        snprintf(err, errlen, "--image '%.60s': expected NAME=PATH", spec);
        return -1;
    }
    if ((size_t)(eq - spec) >= nlen) {
        snprintf(err, errlen, "--image: name '%.*s' is not 1 to %d of "
                 "[A-Za-z0-9._-]", (int)(eq - spec) > 70 ? 70
                                                           : (int)(eq - spec),
                 spec, XLMIG_MAX_NAME);
        return -1;
    }
    snprintf(name, nlen, "%.*s", (int)(eq - spec), spec);
    if (!xlmig_disk_name_ok(name)) {
        snprintf(err, errlen, "--image: name '%.70s' is not 1 to %d of "
                 "[A-Za-z0-9._-]", name, XLMIG_MAX_NAME);
        return -1;
    }
    if (strlen(eq + 1) >= plen) {
        snprintf(err, errlen, "--image %s: too long a path", name);
        return -1;
    }
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
