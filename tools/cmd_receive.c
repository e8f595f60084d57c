/*
 * xlmig receive: the destination of `xlmig send`.  Creates the target
 * images per its own policy, starts a simulated VBD (paused guest) on each,
 * and after GO runs the guest while post-copy completes the disks.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "receiver.h"
#include "sim/sim_client.h"
#include "transport.h"

struct recv_ctx {
    struct xlmig_janitor janitor;
    const char *run_dir;
    const char *daemon;
    const char *daemon_args;
    pid_t pids[XLMIG_RECV_MAX_DISKS];
    struct xlmig_vbd *vbds[XLMIG_RECV_MAX_DISKS];
    unsigned n;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig receive [options] SOURCE\n"
"  SOURCE: tcp-listen:ADDR:PORT | fd:R,W | -\n"
"  --target-dir DIR      put disk NAME at DIR/NAME.img\n"
"  --map NAME=PATH       put disk NAME at PATH (wins over --target-dir)\n"
"  --allow-existing      write into existing targets (devices, files)\n"
"  --run-dir DIR         sockets and logs of the destination VBDs\n"
"                        (default: the target directory)\n"
"  --vbd-args ARGS       extra arguments for xlmig-vbdsim serve\n"
"  --port-file FILE      write the listening port there (with port 0)\n"
"  --accept-timeout S    wait at most S seconds for the sender (600)\n"
"  --nice N             run at this nice level (default 10: the guests and\n"
"                       their block backends come first; 0 to disable)\n"
"  --json                progress events and the report as JSON on stdout\n"
"  --quiet               no human progress on stderr\n");
}

/* Starts `xlmig-vbdsim serve --dest` on each target: the paused guest. */
static int start_vbds(void *opaque, struct xlmig_receiver *r)
{
    struct recv_ctx *c = opaque;

    for (unsigned i = 0; i < r->ndisks; i++) {
        struct xlmig_recv_disk *d = &r->disks[i];
        char sock[4200], log[4200], cmd[12000], err[XLMIG_ERRLEN];
        const char *dir = c->run_dir;
        pid_t pid;

        if (!dir) {
            /* Next to the target. */
            static char buf[4096];
            snprintf(buf, sizeof(buf), "%s", d->path);
            char *slash = strrchr(buf, '/');
            if (slash)
                *slash = '\0';
            dir = slash ? buf : ".";
        }
        snprintf(sock, sizeof(sock), "%s/%s.sock", dir, d->name);
        snprintf(log, sizeof(log), "%s/%s.vbd.log", dir, d->name);
        unlink(sock);
        snprintf(cmd, sizeof(cmd), "exec '%s' serve --dest --image '%s' "
                 "--socket '%s' %s", c->daemon, d->path, sock,
                 c->daemon_args ? c->daemon_args : "");
        pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            /* Detached: the guest outlives this receiver. */
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            setsid();
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            int nul = open("/dev/null", O_RDONLY);
            if (nul >= 0)
                dup2(nul, 0);
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        c->pids[c->n] = pid;
        xlmig_janitor_add_pid(&c->janitor, pid);
        xlmig_janitor_add_file(&c->janitor, sock);
        c->vbds[c->n] = sim_open_wait(sock, 10000, err, sizeof(err));
        if (!c->vbds[c->n]) {
            snprintf(r->err, sizeof(r->err), "disk %s: destination VBD did "
                     "not start (%s; see %s)", d->name, err, log);
            c->n++;
            return -1;
        }
        xlmig_receiver_attach_vbd(r, i, c->vbds[c->n]);
        c->n++;
        fprintf(stderr, "xlmig: disk %s -> %s (VBD %s, pid %d)\n", d->name,
                d->path, sock, (int)pid);
    }
    return 0;
}

static int load_state(void *opaque, struct xlmig_receiver *r,
                      const void *blob, size_t len)
{
    struct recv_ctx *c = opaque;

    for (unsigned i = 0; i < c->n; i++) {
        const void *st;
        size_t sl;

        if (sim_unpack_state(blob, len, i, &st, &sl) < 0) {
            snprintf(r->err, sizeof(r->err), "guest state for disk %u "
                     "missing or malformed", i);
            return -1;
        }
        if (xlmig_sim_guest_load(c->vbds[i], st, sl) < 0) {
            snprintf(r->err, sizeof(r->err), "loading the guest state of %s: "
                     "%s", r->disks[i].name, c->vbds[i]->err);
            return -1;
        }
    }
    return 0;
}

static void stop_vbds(struct recv_ctx *c);

/*
 * After GO.  If the guest cannot start here, destroy our copy before the
 * REPORT tells the source to resume: never two running copies.
 */
static int unpause(void *opaque, struct xlmig_receiver *r)
{
    struct recv_ctx *c = opaque;
    uint64_t t0 = xlmig_now_ns();

    for (unsigned i = 0; i < c->n; i++)
        if (xlmig_sim_guest_unpause(c->vbds[i]) < 0) {
            snprintf(r->err, sizeof(r->err), "starting the guest of %s: %s",
                     r->disks[i].name, c->vbds[i]->err);
            stop_vbds(c);
            return -EIO;
        }
    /* The guest runs here now: its disks must survive us. */
    xlmig_janitor_keep(&c->janitor);
    fprintf(stderr, "xlmig: [timing] GO to guest running %.1f ms, unpause %.1f ms\n",
            (double)(xlmig_now_ns() - r->st.t_go) / 1e6,
            (double)(xlmig_now_ns() - t0) / 1e6);
    return 0;
}

/* Before GO: the destination VBDs go away with the targets. */
static void stop_vbds(struct recv_ctx *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->vbds[i])
            xlmig_sim_shutdown(c->vbds[i]);
        if (c->pids[i] > 0) {
            kill(c->pids[i], SIGTERM);
            waitpid(c->pids[i], NULL, 0);
        }
    }
}

int cmd_receive(int argc, char **argv)
{
    static const struct option opts[] = {
        { "target-dir", required_argument, NULL, 't' },
        { "map", required_argument, NULL, 'm' },
        { "allow-existing", no_argument, NULL, 'a' },
        { "run-dir", required_argument, NULL, 'r' },
        { "vbd-args", required_argument, NULL, 'V' },
        { "port-file", required_argument, NULL, 'P' },
        { "accept-timeout", required_argument, NULL, 'T' },
        { "json", no_argument, NULL, 'j' },
        { "nice", required_argument, NULL, 'N' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct xlmig_target_policy policy;
    struct recv_ctx ctx = { .daemon = sim_daemon_path() };
    struct xlmig_receiver_hooks hooks = { .opaque = &ctx,
                                          .targets_ready = start_vbds,
                                          .guest_state = load_state,
                                          .start_guest = unpause };
    struct xlmig_progress prog;
    struct xlmig_endpoint ep;
    struct xlmig_receiver r;
    const char *port_file = NULL;
    char err[XLMIG_ERRLEN];
    bool json = false, quiet = false;
    int c, rfd, wfd, status = 1, accept_s = 600, nice_level = 10;
    pid_t child;

    memset(&policy, 0, sizeof(policy));
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            policy.target_dir = optarg;
            break;
        case 'm':
            if (xlmig_target_add_map(&policy, optarg, err) < 0)
                return cli_error("%s", err);
            break;
        case 'a':
            policy.allow_existing = true;
            break;
        case 'r':
            ctx.run_dir = optarg;
            break;
        case 'V':
            ctx.daemon_args = optarg;
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'T':
            accept_s = atoi(optarg);
            break;
        case 'j':
            json = true;
            break;
        case 'N':
            nice_level = atoi(optarg);
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (xlmig_endpoint_parse(argv[optind], &ep, err) < 0)
        return cli_error("%s", err);
    if (ep.kind == XLMIG_EP_TCP || ep.kind == XLMIG_EP_CMD)
        return cli_error("the receiver listens or uses given fds");
    if (policy.target_dir && mkdir(policy.target_dir, 0700) < 0 &&
        errno != EEXIST)
        return cli_error("%s: %s", policy.target_dir, strerror(errno));

    cli_lower_priority(nice_level);
    xlmig_progress_init(&prog, "destination", quiet ? NULL : stderr,
                        json ? stdout : NULL);
    /* Before any thread: if we are killed before GO, it undoes our work. */
    if (xlmig_janitor_start(&ctx.janitor) < 0)
        return cli_error("cannot start the cleanup process");
    if (xlmig_endpoint_open(&ep, &rfd, &wfd, &child, accept_s * 1000,
                            port_file, err) < 0) {
        xlmig_janitor_undo(&ctx.janitor);
        return cli_error("%s", err);
    }
    if (xlmig_receiver_init(&r, &policy, &hooks, &prog, rfd, wfd) == 0)
        r.janitor = &ctx.janitor;
    if (r.failed || xlmig_receiver_negotiate(&r) < 0 ||
        xlmig_receiver_receive(&r) < 0 || xlmig_receiver_handoff(&r) < 0) {
        if (ctx.janitor.fd >= 0) {
            /* The guest never started here: the source keeps it. */
            stop_vbds(&ctx);
            r.got_go = false;
            xlmig_receiver_abort(&r, r.err);
            xlmig_janitor_undo(&ctx.janitor);
            fprintf(stderr, "xlmig: receive failed, nothing kept here: %s\n",
                    r.err);
        } else {
            fprintf(stderr, "xlmig: failed after the guest started here: "
                    "%s\n", r.err);
        }
        goto out;
    }
    if (xlmig_receiver_pull(&r) < 0) {
        fprintf(stderr, "xlmig: %s\n", r.err);
        status = 3;
        goto out;
    }
    status = 0;
out:
    xlmig_receiver_report(&r, json ? stdout : stderr, json);
    xlmig_receiver_destroy(&r);
    for (unsigned i = 0; i < ctx.n; i++)
        xlmig_vbd_close(ctx.vbds[i]);
    if (rfd > 2)
        close(rfd);
    return status;
}
