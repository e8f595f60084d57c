/*
 * Ctrl-C, SIGTERM, SIGHUP: before the hand-off the migration rolls back
 * (the guest runs on at the source); after it, the library carries on --
 * stopping post-copy would strand the destination's stale blocks -- and
 * the command says so.  A second signal is not special: rolling back or
 * finishing is what ends the command.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static struct xlmig_source *src;
static struct xlmig_dest *dst;
static volatile sig_atomic_t seen;
static const char *volatile waiting;

static void on_signal(int sig)
{
    const char *w = waiting;

    seen = sig;
    if (w) {
        /* Nothing runs yet that a cancel could stop: say so and go. */
        if (write(2, w, strlen(w)) < 0) {
            /* nothing better to do */
        }
        _exit(1);
    }
    if (src)
        xlmig_source_cancel(src);
    if (dst)
        xlmig_dest_cancel(dst);
}

static void install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

void cli_signals_source(struct xlmig_source *s)
{
    src = s;
    install();
}

void cli_signals_dest(struct xlmig_dest *d)
{
    dst = d;
    install();
}

void cli_signals_waiting(const char *msg)
{
    waiting = msg;
}

int cli_signal_seen(void)
{
    return seen;
}

const char *cli_signal_name(int sig)
{
    static char buf[32];

    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default:
        snprintf(buf, sizeof(buf), "signal %d", sig);
        return buf;
    }
}
