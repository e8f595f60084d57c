#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "janitor.h"

#define MAX_ITEMS 64

static void close_other_fds(int keep)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 2 && fd != keep && fd != dirfd(d))
            close(fd);
    }
    closedir(d);
}

/* The child: collect "f PATH" / "p PID" lines until "keep" or EOF. */
static void janitor_main(int fd)
{
    char *files[MAX_ITEMS];
    pid_t pids[MAX_ITEMS];
    unsigned nf = 0, np = 0;
    char line[4200];
    FILE *in;

    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    close_other_fds(fd);
    in = fdopen(fd, "r");
    if (!in)
        _exit(1);
    while (fgets(line, sizeof(line), in)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strcmp(line, "keep"))
            _exit(0);
        if (!strncmp(line, "f ", 2) && nf < MAX_ITEMS)
            files[nf++] = strdup(line + 2);
        else if (!strncmp(line, "p ", 2) && np < MAX_ITEMS)
            pids[np++] = (pid_t)atoi(line + 2);
    }
    /* The parent died or asked to undo: processes first, then files. */
    for (unsigned i = 0; i < np; i++)
        if (pids[i] > 1)
            kill(pids[i], SIGTERM);
    for (unsigned i = 0; i < nf; i++)
        if (files[i])
            unlink(files[i]);
    _exit(0);
}

int xlmig_janitor_start(struct xlmig_janitor *j)
{
    int p[2];

    j->pid = -1;
    j->fd = -1;
    /* Close-on-exec: a process we spawn must not keep the pipe open. */
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    j->pid = fork();
    if (j->pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (j->pid == 0) {
        close(p[1]);
        fcntl(p[0], F_SETFD, 0);
        janitor_main(p[0]);
    }
    close(p[0]);
    j->fd = p[1];
    return 0;
}

static int say(struct xlmig_janitor *j, const char *fmt, const char *s,
               long n)
{
    char buf[4200];
    int len;

    if (j->fd < 0)
        return 0;
    len = s ? snprintf(buf, sizeof(buf), fmt, s)
            : snprintf(buf, sizeof(buf), fmt, n);
    if (len <= 0 || (size_t)len >= sizeof(buf))
        return -1;
    return write(j->fd, buf, (size_t)len) == len ? 0 : -1;
}

int xlmig_janitor_add_file(struct xlmig_janitor *j, const char *path)
{
    if (strchr(path, '\n'))
        return -1;
    return say(j, "f %s\n", path, 0);
}

int xlmig_janitor_add_pid(struct xlmig_janitor *j, pid_t pid)
{
    return say(j, "p %ld\n", NULL, (long)pid);
}

static void finish(struct xlmig_janitor *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    if (j->pid > 0)
        waitpid(j->pid, NULL, 0);
    j->pid = -1;
}

void xlmig_janitor_keep(struct xlmig_janitor *j)
{
    say(j, "%s\n", "keep", 0);
    finish(j);
}

void xlmig_janitor_undo(struct xlmig_janitor *j)
{
    finish(j);
}
