/*
 * The disk-engine process.  The xlmig migrate / migrate-receive process
 * forks it first thing, before libxl_ctx_alloc and before any thread
 * (fork and threads do not mix), and drives it over a SOCK_SEQPACKET pair:
 *
 *   source       DISK* SETUP(data fd) -> OK   negotiated, targets exist
 *                PUSH -> OK                   converged; keep-up running
 *                STOPCOPY -> OK               quiesced, final data synced
 *                GO -> OK                     then serves post-copy alone
 *                ABORT -> OK                  rolls back (before GO)
 *   destination  MAP* SETUP(data fds) -> OK   targets created
 *                ATTACH(domid, devids)        the domain exists: gates can arm
 *                -> SYNCED | FAIL             stop-copy flushed, gates armed
 *                GO                           pulls alone until DONE
 *                ABORT                        deletes the targets
 *
 * The engine calls setsid() so that it outlives its parent: after GO the
 * source's xl is gone and the source domain destroyed, and the engine
 * serves post-copy from the image file until DONE or its idle timeout.
 * Before GO, the parent's death is an abort.
 */
#ifndef XLMIG_XEN_ENGINE_H
#define XLMIG_XEN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sender.h"
#include "target.h"

enum em_cmd {
    EM_DISK = 1, EM_MAP, EM_SETUP, EM_PUSH, EM_STOPCOPY, EM_GO, EM_ABORT,
    EM_ATTACH,
    EM_OK = 100, EM_FAIL, EM_SYNCED,
};

#define EM_NOTRACK (1u << 0)            /* source: stock blkback */
#define EM_REMOVE_SOURCE (1u << 1)      /* source: delete images after DONE */
#define EM_QUIET (1u << 2)              /* no human progress on stderr */
#define EM_UNDO_AFTER_GO (1u << 3)      /* ABORT: the dest guest never ran */

struct em_msg {
    uint32_t cmd;
    uint32_t flags;
    char text[XLMIG_ERRLEN];
    /* EM_DISK / EM_MAP: one entry */
    char name[XLMIG_MAX_NAME + 1];
    char path[4096];
    uint32_t devid;
    uint8_t kind;
    /* EM_SETUP */
    struct xlmig_sender_opts so;        /* progress pointer ignored */
    bool allow_existing;
    uint32_t domid;
    char uuid[40];
    char domname[128];
    int idle_timeout_s;
    int nice;                           /* > 0: lower the engine's priority */
    /* EM_ATTACH */
    uint32_t ndevids;
    uint32_t devids[XLMIG_MAX_DISKS];
    /* replies */
    bool postcopy;
    uint64_t final_blocks;
};

enum eng_role { ENG_SOURCE, ENG_DEST };

struct eng {
    int sock;
    pid_t pid;
};

/* Forks the engine; returns in the parent only (the child exits). */
int eng_spawn(struct eng *e, enum eng_role role, char *err);
int eng_send(struct eng *e, const struct em_msg *m, const int *fds,
             int nfds, char *err);
/* Waits for a reply (timeout_ms < 0: forever); EM_FAIL is returned as -1
 * with its text in err. */
int eng_reply(struct eng *e, struct em_msg *r, int timeout_ms, char *err);
/* Sends a bare command and waits for EM_OK. */
int eng_call(struct eng *e, uint32_t cmd, uint32_t flags, const char *text,
             struct em_msg *reply, char *err);
void em_init(struct em_msg *m, uint32_t cmd);

#endif
