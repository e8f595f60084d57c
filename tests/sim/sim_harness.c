/* Helpers for the simulated VBD's integration tests. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim_harness.h"

/* Daemons started and not yet reaped: killed by h_kill_all(). */
#define MAX_LIVE 16
static pid_t live[MAX_LIVE];

static void track(pid_t pid)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (!live[i]) {
            live[i] = pid;
            return;
        }
}

static void untrack(pid_t pid)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] == pid)
            live[i] = 0;
}

void h_kill_all(void)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i]) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
            live[i] = 0;
        }
}

/* $VBDSIM, else $XLMIG_VBDSIM (set by make check), else the build's. */
const char *h_binary(void)
{
    const char *b = getenv("VBDSIM");

    if (!b || !*b)
        b = getenv("XLMIG_VBDSIM");
    return b && *b ? b : "tools/xlmig-vbdsim";
}

void h_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

uint64_t h_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void h_tmpdir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/xlmig-simtest.XXXXXX");
    if (!mkdtemp(dir))
        fail_msg("mkdtemp: %s", strerror(errno));
}

static void run(char *const argv[])
{
    pid_t pid = fork();
    int st;

    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
        WEXITSTATUS(st))
        fail_msg("%s %s failed", argv[0], argv[1]);
}

void h_rmdir(const char *dir)
{
    char *argv[] = { "rm", "-rf", (char *)dir, NULL };

    run(argv);
}

void h_mkimage(const char *path, const char *size, const char *chunk,
               unsigned seed)
{
    char s[32];
    char *argv[] = { (char *)h_binary(), "mkimage", (char *)path, "--size",
                     (char *)size, "--chunk", (char *)chunk, "--seed", s,
                     NULL };

    snprintf(s, sizeof(s), "%u", seed);
    run(argv);
}

void h_copy(const char *from, const char *to)
{
    char *argv[] = { "cp", "--sparse=always", (char *)from, (char *)to,
                     NULL };

    run(argv);
}

struct daemon h_start(const char *dir, const char *name, const char *image,
                      ...)
{
    struct daemon d;
    char *argv[64];
    int n = 0;
    va_list ap;

    snprintf(d.sock, sizeof(d.sock), "%s/%s.sock", dir, name);
    argv[n++] = (char *)h_binary();
    argv[n++] = "serve";
    argv[n++] = "--image";
    argv[n++] = (char *)image;
    argv[n++] = "--socket";
    argv[n++] = d.sock;
    va_start(ap, image);
    while (n < 63 && (argv[n] = va_arg(ap, char *)))
        n++;
    va_end(ap);
    argv[n] = NULL;
    d.pid = fork();
    if (d.pid == 0) {
        /* Dies with the test, even when the test crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], argv);
        _exit(127);
    }
    assert_true(d.pid > 0);
    track(d.pid);
    for (int i = 0; i < 400; i++) {
        struct xlmig_error err;
        struct xlmig_vbd *v;
        int st;

        if (xlmig_vbd_sim_open(d.sock, &v, &err) == 0) {
            v->ops->close(v);
            return d;
        }
        if (waitpid(d.pid, &st, WNOHANG) == d.pid) {
            untrack(d.pid);
            fail_msg("the daemon exited early (status %d)", st);
        }
        h_sleep_ms(25);
    }
    h_kill_all();
    fail_msg("the daemon did not answer on %s", d.sock);
    return d;
}

int h_wait(struct daemon *d)
{
    int st = -1;

    for (int i = 0; i < 600; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            untrack(d->pid);
            d->pid = 0;
            return st;
        }
        h_sleep_ms(25);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    untrack(d->pid);
    d->pid = 0;
    fail_msg("the daemon did not exit");
    return st;
}

void h_stop(struct daemon *d)
{
    struct xlmig_vbd *v;
    struct xlmig_error err;
    int st;

    if (!d->pid)
        return;
    if (xlmig_vbd_sim_open(d->sock, &v, &err) < 0)
        fail_msg("cannot reach the daemon to stop it: %s", err.msg);
    assert_int_equal(xlmig_sim_shutdown(v), 0);
    v->ops->close(v);
    st = h_wait(d);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fail_msg("the daemon exited with status 0x%x (sanitizer report?)",
                 st);
}

struct xlmig_vbd *h_open(const struct daemon *d)
{
    struct xlmig_error err;
    struct xlmig_vbd *v;

    if (xlmig_vbd_sim_open(d->sock, &v, &err) < 0)
        fail_msg("%s", err.msg);
    return v;
}

void h_close(struct xlmig_vbd *v)
{
    v->ops->close(v);
}
