/*
 * The disk-engine process of the Xen flows.  xsrc_migrate() and
 * xdst_receive() fork it first thing, before libxl_ctx_alloc and before any
 * thread (fork and threads do not mix); it runs the library's state machine
 * (xlmig_source_run / xlmig_dest_run) while the parent, which owns libxl
 * and xl's control channel, does what the hooks ask, over a SOCK_SEQPACKET
 * pair of struct eng_msg:
 *
 *   parent -> engine       DISK* | MAP*, SETUP(data fds [, listener]),
 *                          ATTACH, CANCEL
 *   engine -> parent       source: SUSPEND, HANDOFF, RESUME, AFTER_GO
 *   (requests, one at a   destination: READY, START, ROLLBACK
 *    time; the parent      each answered OK / FAIL (/ REFUSED / UNKNOWN);
 *    answers each)         END(result) when the engine's run is over before
 *                          the parent was let go
 *
 * The engine calls setsid() so that it outlives its parent: after GO the
 * source's xl is gone and the source domain destroyed, and the engine
 * serves post-copy from the image files until DONE.  Before GO, the
 * parent's death (EOF) cancels the migration.
 *
 * Every wait is bounded (ENG_WAIT_*): a parent that does not answer a
 * request in time fails the hook, which rolls the migration back.
 *
 * Post-copy survives a broken data channel: the source engine reconnects
 * (TCP with the one-time secret, or the ssh command again) and the
 * destination engine accepts on the listener its parent handed over; the
 * source engine saves its session in XFLOW_STATEDIR/<uuid>.session (held
 * with an flock while it lives) so that `xlmig migrate-recover` can start
 * a new one if it dies.
 */
#ifndef XLMIG_XEN_ENGINE_H
#define XLMIG_XEN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "xflow.h"
#include "xlmig.h"

enum eng_cmd {
    /* parent -> engine */
    ENG_DISK = 1, ENG_MAP, ENG_SETUP, ENG_ATTACH, ENG_CANCEL,
    /* engine -> parent */
    ENG_SUSPEND = 20, ENG_HANDOFF, ENG_RESUME, ENG_AFTER_GO,
    ENG_READY = 30, ENG_START, ENG_ROLLBACK,
    ENG_END = 40,
    /* parent's answers */
    ENG_OK = 100, ENG_FAIL, ENG_REFUSED, ENG_UNKNOWN,
};

/* Bounds of the engine's waits for its parent, in seconds. */
#define ENG_WAIT_SUSPEND_S 3600 /* the whole memory pre-copy */
#define ENG_WAIT_HANDOFF_S 330  /* READY, GO, REPORT on xl's channel:
                                 * longer than the parent's own bounds */
#define ENG_WAIT_SHORT_S 120    /* resume, destroy, rename, unpause */
#define ENG_WAIT_ATTACH_S 900   /* destination: the domain's creation */

#define ENG_F_NOTRACK (1u << 0)         /* source: stock blkback */
#define ENG_F_REMOVE_SOURCE (1u << 1)   /* source: delete images after DONE */
#define ENG_F_SUSPENDED (1u << 2)       /* FAIL to SUSPEND: guest suspended */
#define ENG_F_TCP (1u << 3)             /* SETUP: the data channel is TCP */

struct eng_msg {
    uint32_t cmd;
    uint32_t flags;
    int32_t result;
    char text[XLMIG_ERRLEN];
    /* ENG_DISK / ENG_MAP: one disk */
    char name[XLMIG_MAX_NAME + 1];
    char path[4096];
    uint32_t devid;
    uint8_t kind;
    /* ENG_SETUP */
    struct xlmig_source_opts so;
    bool allow_existing;
    uint32_t domid;
    char uuid[40];
    char domname[128];
    char rundir[256], logdir[256];
    int nice;                           /* > 0: lower the engine's priority */
    uint64_t memory_bytes;              /* source: the guest's memory, for
                                         * the engine's own prediction */
    /* SETUP, how the data channel is opened again after a break: source:
     * TCP host/port + the one-time secret, or the ssh command; destination:
     * its listening socket (the last fd) and, for ssh, its path. */
    char data_host[256];
    uint16_t data_port;
    uint8_t data_token[32];
    char data_rune[2048];
    char sock_path[108];
    /* ENG_ATTACH */
    uint32_t ndevids;
    uint32_t devids[XLMIG_MAX_DISKS];
    /* ENG_HANDOFF (information for the parent's messages) */
    bool postcopy;
    uint64_t final_blocks;
};

enum eng_role { ENG_SOURCE, ENG_DEST };

struct eng {
    int sock;
    pid_t pid;
};

/*
 * Forks the engine; returns in the parent only.  obs (copied) is what the
 * engine reports its progress and log messages to, in the child.
 */
int eng_spawn(struct eng *e, enum eng_role role, const struct xflow_observer
              *obs, struct xlmig_error *err);
void eng_msg_init(struct eng_msg *m, uint32_t cmd);
int eng_send(struct eng *e, const struct eng_msg *m, const int *fds,
             int nfds, struct xlmig_error *err);
/* The engine's next message (timeout_ms < 0: until one comes or the
 * parent's cancel flag is raised); -ECONNRESET when the engine is gone. */
int eng_recv(struct eng *e, struct eng_msg *m, int timeout_ms,
             struct xlmig_error *err);
/* Answers the engine's current request. */
int eng_answer(struct eng *e, uint32_t cmd, int32_t result,
               const char *text);
void eng_close(struct eng *e);

#endif
