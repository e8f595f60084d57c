/* Small helpers shared by the simulated VBD daemon, its client and tools. */
#ifndef XLMIG_SIM_UTIL_H
#define XLMIG_SIM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* "4096", "64K", "2G", "1.5M" (binary units); false on junk or overflow. */
bool sim_parse_size(const char *s, uint64_t *out);
/* A decimal unsigned number in [min, max]. */
bool sim_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

uint64_t sim_now_ns(void);          /* CLOCK_MONOTONIC */
uint64_t sim_realtime_us(void);     /* CLOCK_REALTIME: across processes */
/* An absolute CLOCK_MONOTONIC deadline ms from now, for timed waits. */
struct timespec sim_deadline_ms(long ms);
struct timespec sim_ns_to_timespec(uint64_t ns);


/* Full pread/pwrite: loops over short transfers; 0 or -errno. */
int sim_pread_full(int fd, void *buf, size_t len, uint64_t off);
int sim_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * Opens an image read-write: a regular file whose size is a positive
 * multiple of 4 KiB, locked (flock) against a second daemon.  0 or
 * -errno with err set.
 */
int sim_open_image(const char *path, int *fd, uint64_t *size, struct xlmig_error *err);

/* Daemon log on stderr, prefixed with the program name and pid. */
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int sim_verbose;
#define sim_debug(...) do { if (sim_verbose) sim_log(__VA_ARGS__); } while (0)

#endif
