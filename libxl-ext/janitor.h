/*
 * Cleanup that survives our own death.  A migration endpoint that is
 * killed (SIGKILL, OOM) cannot remove what it created; the janitor, a tiny
 * child forked before any thread exists, holds a pipe from its parent and
 * a list of things to undo.  If the pipe closes without a "keep" first, it
 * deletes the listed files and terminates the listed processes.
 */
#ifndef XLMIG_JANITOR_H
#define XLMIG_JANITOR_H

#include <stdbool.h>
#include <sys/types.h>

struct xlmig_janitor {
    pid_t pid;
    int fd;
};

/* Forks the janitor (call before starting threads); 0 or -1. */
int xlmig_janitor_start(struct xlmig_janitor *j);
int xlmig_janitor_add_file(struct xlmig_janitor *j, const char *path);
int xlmig_janitor_add_pid(struct xlmig_janitor *j, pid_t pid);
/* Everything listed is to be kept: the janitor exits without acting. */
void xlmig_janitor_keep(struct xlmig_janitor *j);
/* Undo now (the same as dying), and wait for it. */
void xlmig_janitor_undo(struct xlmig_janitor *j);

#endif
