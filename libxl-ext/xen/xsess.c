#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport.h"
#include "xsess.h"

int xsess_connect(const struct eng_msg *setup, int *rfd, int *wfd)
{
    struct xlmig_error err;
    pid_t pid;

    if (setup->flags & ENG_F_TCP) {
        char port[8];
        int fd;

        snprintf(port, sizeof(port), "%u", setup->data_port);
        fd = xlmig_tcp_connect(setup->data_host, port, &err);
        if (fd < 0)
            return fd;
        if (xlmig_tcp_send_token(fd, setup->data_token, &err) < 0) {
            close(fd);
            return -err.code;
        }
        *rfd = *wfd = fd;
        return 0;
    }
    if (!setup->data_rune[0])
        return -ENOTSUP;
    pid = xlmig_spawn(setup->data_rune, rfd, wfd, true, &err);
    return pid < 0 ? (int)pid : 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int xsess_save(const char *statedir, const struct eng_msg *setup,
               const char *lib_text, char *path, size_t len)
{
    const char *dir = statedir ? statedir : XFLOW_STATEDIR;
    char tok[65];
    FILE *f;
    int fd;

    mkdir(dir, 0700);
    snprintf(path, len, "%s/%s.session", dir, setup->uuid);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 || !(f = fdopen(dup(fd), "w"))) {
        close(fd);
        return -1;
    }
    hex(setup->data_token, sizeof(setup->data_token), tok);
    fprintf(f, "%sxen-uuid %s\nxen-name %s\n", lib_text, setup->uuid,
            setup->domname);
    if (setup->flags & ENG_F_TCP)
        fprintf(f, "xen-data tcp %s %u %s\n", setup->data_host,
                setup->data_port, tok);
    else
        fprintf(f, "xen-data ssh %s\n", setup->data_rune);
    if (fflush(f) || fsync(fileno(f)) || fclose(f)) {
        close(fd);
        return -1;
    }
    return fd;
}

static const char *line_value(const char *text, const char *key)
{
    size_t k = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1
                                                            : NULL)
        if (!strncmp(p, key, k) && p[k] == ' ')
            return p + k + 1;
    return NULL;
}

static void copy_value(char *out, size_t len, const char *v)
{
    size_t n = v ? strcspn(v, "\n") : 0;

    if (n >= len)
        n = len - 1;
    memcpy(out, v ? v : "", n);
    out[n] = '\0';
}

static int parse_data(const char *text, struct eng_msg *setup)
{
    const char *d = line_value(text, "xen-data");
    char tok[65];
    unsigned port;

    if (!d)
        return -1;
    if (!strncmp(d, "ssh ", 4)) {
        copy_value(setup->data_rune, sizeof(setup->data_rune), d + 4);
        return 0;
    }
    if (sscanf(d, "tcp %255s %u %64s", setup->data_host, &port, tok) != 3 ||
        strlen(tok) != 64 || port > 65535)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(tok + 2 * i, "%2x", &v) != 1)
            return -1;
        setup->data_token[i] = (uint8_t)v;
    }
    setup->data_port = (uint16_t)port;
    setup->flags |= ENG_F_TCP;
    return 0;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t cap = 0;

    if (!f)
        return NULL;
    if (getdelim(&text, &cap, '\0', f) < 0) {
        free(text);
        text = NULL;
    }
    fclose(f);
    return text;
}

char *xsess_load(const char *statedir, const char *domain,
                 struct eng_msg *setup, char *path, size_t len)
{
    const char *dir = statedir ? statedir : XFLOW_STATEDIR;
    DIR *dp = opendir(dir);
    struct dirent *e;

    while (dp && (e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        char *text;

        if (l < 9 || strcmp(e->d_name + l - 8, ".session"))
            continue;
        snprintf(path, len, "%s/%s", dir, e->d_name);
        text = read_all(path);
        if (!text)
            continue;
        memset(setup, 0, sizeof(*setup));
        copy_value(setup->uuid, sizeof(setup->uuid),
                   line_value(text, "xen-uuid"));
        copy_value(setup->domname, sizeof(setup->domname),
                   line_value(text, "xen-name"));
        if ((!strcmp(setup->uuid, domain) ||
             !strcmp(setup->domname, domain)) && parse_data(text, setup) == 0) {
            closedir(dp);
            return text;
        }
        free(text);
    }
    if (dp)
        closedir(dp);
    errno = ENOENT;
    return NULL;
}
