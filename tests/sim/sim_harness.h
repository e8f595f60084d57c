/*
 * Helpers for the simulated VBD's integration tests: temporary images,
 * daemons started as child processes, handles through vbd_sim.c.
 */
#ifndef XLMIG_SIM_HARNESS_H
#define XLMIG_SIM_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vbd.h"
#include "sim/sim_client.h"

struct daemon {
    pid_t pid;
    char sock[128];
};

/* The daemon binary: $VBDSIM, $XLMIG_VBDSIM or tools/xlmig-vbdsim. */
const char *h_binary(void);
/* A fresh temporary directory (removed by h_rmdir). */
void h_tmpdir(char *dir, size_t len);
void h_rmdir(const char *dir);
/* mkimage with the daemon binary. */
void h_mkimage(const char *path, const char *size, const char *chunk,
               unsigned seed);
void h_copy(const char *from, const char *to);
/*
 * Starts `xlmig-vbdsim serve --image image --socket dir/name.sock ARGS...`
 * (NULL-terminated) and waits until it answers.
 */
struct daemon h_start(const char *dir, const char *name, const char *image,
                      ...);
/* Asks it to shut down and checks that it exits with status 0. */
void h_stop(struct daemon *d);
/* Kills (SIGKILL) every daemon still running: for teardown after a
 * failed test. */
void h_kill_all(void);
/* Waits for the exit and returns the status (as waitpid's). */
int h_wait(struct daemon *d);
struct xlmig_vbd *h_open(const struct daemon *d);
void h_close(struct xlmig_vbd *v);
void h_sleep_ms(long ms);
uint64_t h_now_ms(void);

#endif
