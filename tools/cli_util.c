#include <errno.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "le.h"
#include "transport.h"

int cli_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "xlmig: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

void cli_print_version(void)
{
    printf("xlmig %s (libxlmig %s, API %d.%d)\n", PACKAGE_VERSION,
           xlmig_version(), XLMIG_API_MAJOR, XLMIG_API_MINOR);
}

int cli_parse_command(const char *cmd, struct cli_optset *sets, size_t nsets,
                      int argc, char **argv, const bool *help,
                      const bool *version,
                      void (*usage)(FILE *f, const struct cli_optset *sets,
                                    size_t nsets), int *status)
{
    char err[CLI_ERRLEN];
    int first = cli_parse(sets, nsets, argc, argv, err, sizeof(err));

    if (first < 0) {
        fprintf(stderr, "xlmig %s: %s\n(xlmig %s --help lists the "
                "options)\n", cmd, err, cmd);
        *status = 2;
        return -1;
    }
    if (*help) {
        usage(stdout, sets, nsets);
        *status = 0;
        return -1;
    }
    if (*version) {
        cli_print_version();
        *status = 0;
        return -1;
    }
    *status = 0;
    return first;
}

int sim_pack_states(void **blobs, const size_t *lens, unsigned n, void **out,
                    size_t *out_len)
{
    size_t total = 8;
    uint8_t *p;

    for (unsigned i = 0; i < n; i++)
        total += 12 + lens[i];
    p = malloc(total);
    if (!p)
        return -1;
    memcpy(p, "XGS1", 4);
    put32(p + 4, n);
    *out = p;
    *out_len = total;
    p += 8;
    for (unsigned i = 0; i < n; i++) {
        put32(p, i);
        put32(p + 4, (uint32_t)lens[i]);
        put32(p + 8, (uint32_t)((uint64_t)lens[i] >> 32));
        memcpy(p + 12, blobs[i], lens[i]);
        p += 12 + lens[i];
    }
    return 0;
}

int sim_unpack_state(const void *blob, size_t len, unsigned i,
                     const void **state, size_t *state_len)
{
    const uint8_t *p = blob, *end = p + len;
    uint32_t n;

    if (len < 8 || memcmp(p, "XGS1", 4))
        return -1;
    n = get32(p + 4);
    p += 8;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t l;
        if (end - p < 12)
            return -1;
        l = get64(p + 4);
        if (get32(p) != k || l > (uint64_t)(end - p - 12))
            return -1;
        if (k == i) {
            *state = p + 12;
            *state_len = (size_t)l;
            return 0;
        }
        p += 12 + l;
    }
    return -1;
}

const char *sim_daemon_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("XLMIG_VBDSIM");
    ssize_t n;

    if (env && *env)
        return env;
    n = readlink("/proc/self/exe", path, sizeof(path) - 32);
    if (n <= 0)
        return "xlmig-vbdsim";
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "xlmig-vbdsim");
    return path;
}

int sim_open_wait(const char *socket, int timeout_ms, struct xlmig_vbd **out,
                  struct xlmig_error *err)
{
    struct timespec pause = { 0, 20 * 1000 * 1000 };

    for (int waited = 0;; waited += 20) {
        int rc = xlmig_vbd_sim_open(socket, out, err);
        if (rc == 0 || waited >= timeout_ms)
            return rc;
        nanosleep(&pause, NULL);
    }
}

void cli_lower_priority(int nice_level)
{
    if (nice_level > 0 && setpriority(PRIO_PROCESS, 0, nice_level) < 0)
        fprintf(stderr, "xlmig: cannot lower priority to nice %d: %s\n",
                nice_level, strerror(errno));
}

int cli_save_session(const struct xlmig_source *s, const char *path,
                     const char *dest)
{
    char text[16384], tmp[4200];
    size_t n = xlmig_source_session(s, text, sizeof(text));
    FILE *f;
    int fd;

    if (n >= sizeof(text)) {
        errno = E2BIG;
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f, "%sendpoint %s\n", text, dest);
    if (fflush(f) || fsync(fileno(f)) || fclose(f))
        return -1;
    return rename(tmp, path);
}

int cli_reconnect(const struct xlmig_endpoint *ep, pid_t *child, int *rfd,
                  int *wfd)
{
    struct xlmig_error e;
    int fd;

    switch (ep->kind) {
    case XLMIG_EP_TCP:
        fd = xlmig_tcp_connect(ep->host, ep->port, &e);
        if (fd < 0)
            return fd;
        *rfd = *wfd = fd;
        return 0;
    case XLMIG_EP_CMD:
        if (*child > 0)
            waitpid(*child, NULL, WNOHANG);
        *child = xlmig_spawn(ep->cmd, rfd, wfd, false, &e);
        return *child < 0 ? (int)*child : 0;
    default:
        return -ENOTSUP;        /* given fds cannot be opened again */
    }
}

void cli_common_to_source(const struct cli_common *c,
                          struct xlmig_source_opts *o)
{
    o->bandwidth_Bps = c->bandwidth_Bps;
    o->max_downtime_ms = c->max_downtime_ms;
    o->block_size = (uint32_t)c->block_size;
    o->workers = (unsigned)c->workers;
    o->connections = (unsigned)c->connections;
    o->max_passes = (unsigned)c->max_passes;
    o->keepup_share = c->keepup_share_pct >= 100
                          ? 0 : c->keepup_share_pct / 100.0;
    o->compress = c->compress == CLI_COMPRESS_ALWAYS ? XLMIG_COMPRESS_ALWAYS
                  : c->compress == CLI_COMPRESS_NEVER ? XLMIG_COMPRESS_NEVER
                  : XLMIG_COMPRESS_AUTO;
    o->peer_timeout_ms = (int)c->peer_timeout_ms;
    o->stopcopy_timeout_ms = (int)c->stopcopy_timeout_ms;
    o->recover_timeout_s = (int)(c->recover_timeout_ms / 1000);
}
