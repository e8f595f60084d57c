/* A thread's CPU share from its schedstat; see cpushare.h. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cpushare.h"

void xlmig_cpushare_open(struct xlmig_cpushare *c)
{
    c->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    c->run_ns = c->wait_ns = 0;
    if (c->fd >= 0 && !xlmig_cpushare_mark(c))
        xlmig_cpushare_close(c);
}

void xlmig_cpushare_close(struct xlmig_cpushare *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* "run_ns wait_ns timeslices\n" */
static bool read_stat(const struct xlmig_cpushare *c, uint64_t *run,
                      uint64_t *wait)
{
    char buf[128];
    ssize_t n;

    if (c->fd < 0)
        return false;
    n = pread(c->fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    return sscanf(buf, "%" SCNu64 " %" SCNu64, run, wait) == 2;
}

bool xlmig_cpushare_mark(struct xlmig_cpushare *c)
{
    return read_stat(c, &c->run_ns, &c->wait_ns);
}

bool xlmig_cpushare_delta(struct xlmig_cpushare *c, uint64_t *run_ns,
                          uint64_t *wait_ns)
{
    uint64_t run, wait;

    if (!read_stat(c, &run, &wait))
        return false;
    *run_ns = run >= c->run_ns ? run - c->run_ns : 0;
    *wait_ns = wait >= c->wait_ns ? wait - c->wait_ns : 0;
    c->run_ns = run;
    c->wait_ns = wait;
    return true;
}

uint64_t xlmig_thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
