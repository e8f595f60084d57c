/*
 * xlmig receive: the destination of `xlmig send`.  The library creates the
 * target images per this side's policy; the hooks start a simulated VBD
 * (a paused guest) on each, load the guest's state, and after GO run the
 * guest while post-copy completes the disks.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"

struct recv_args {
    struct xlmig_dest_opts o;
    const char *maps[XLMIG_MAX_DISKS];
    unsigned nmaps;
    const char *run_dir, *daemon, *daemon_args, *port_file, *source;
    int accept_s, nice_level;
    bool json, quiet, start;
    bool was_estimate;          /* the session only measured */
    int lfd;                    /* tcp-listen: kept for recovery */
    /* the destination VBDs, started by hook_targets */
    pid_t pids[XLMIG_MAX_DISKS];
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS];
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
"  --peer-timeout S      a silent sender is gone after S s (30)\n"
"  --recover-timeout S   a broken post-copy waits this long for the sender\n"
"                        to come back (3600); the guest runs meanwhile\n"
"  --start               (cold migration) start the guests here once their\n"
"                        disks are in place (without it they stay stopped)\n"
"  --json                progress events and the report as JSON on stdout\n"
"  --quiet               no human progress on stderr\n");
}

static int parse_opt(struct recv_args *a, int c)
{
    switch (c) {
    case 't': a->o.target_dir = optarg; return 0;
    case 'm':
        if (a->nmaps == XLMIG_MAX_DISKS)
            return cli_error("too many --map");
        a->maps[a->nmaps++] = optarg;
        return 0;
    case 'a': a->o.allow_existing = true; return 0;
    case 'r': a->run_dir = optarg; return 0;
    case 'V': a->daemon_args = optarg; return 0;
    case 'P': a->port_file = optarg; return 0;
    case 'T': a->accept_s = atoi(optarg); return 0;
    case 'j': a->json = true; return 0;
    case 'N': a->nice_level = atoi(optarg); return 0;
    case 'q': a->quiet = true; return 0;
    case 'E': a->o.peer_timeout_ms = atoi(optarg) * 1000; return 0;
    case 'R': a->o.recover_timeout_s = atoi(optarg); return 0;
    case 'S': a->start = true; return 0;
    default: return 2;
    }
}

/* 0, 1 (error printed), 2 (usage), or -1 for --help. */
static int parse_args(int argc, char **argv, struct recv_args *a)
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
        { "peer-timeout", required_argument, NULL, 'E' },
        { "recover-timeout", required_argument, NULL, 'R' },
        { "start", no_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c, rc;

    xlmig_dest_opts_init(&a->o);
    a->o.janitor = true;
    a->lfd = -1;
    a->accept_s = 600;
    a->nice_level = 10;
    a->daemon = sim_daemon_path();
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return -1;
        if ((rc = parse_opt(a, c)) != 0) {
            if (rc == 2)
                usage(stderr);
            return rc;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    a->source = argv[optind];
    return 0;
}

/* ---- hooks: the simulated VBDs stand in for the new domain ---- */

/* The destination VBDs go away with the targets (before GO). */
static void stop_vbds(struct recv_args *a)
{
    for (unsigned i = 0; i < a->n; i++) {
        if (a->vbds[i])
            xlmig_sim_shutdown(a->vbds[i]);
        if (a->pids[i] > 0) {
            kill(a->pids[i], SIGTERM);
            waitpid(a->pids[i], NULL, 0);
            a->pids[i] = -1;
        }
    }
}

static pid_t spawn_vbd(const char *cmd, const char *log)
{
    pid_t pid = fork();

    if (pid == 0) {
        /* Detached: the guest outlives this receiver. */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDONLY);

        setsid();
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/*
 * Starts `xlmig-vbdsim serve --dest` on target i: the paused guest; or,
 * after a cold migration (cold), `serve` on its disk: the stopped guest
 * starts from what its image holds.
 */
static int start_vbd(struct recv_args *a, struct xlmig_dest *d, unsigned i,
                     bool cold)
{
    const char *path = xlmig_dest_disk_path(d, i);
    const char *name = xlmig_dest_disk_name(d, i);
    char dir[4096], sock[4200], log[4200], cmd[12000];
    struct xlmig_error e;
    int rc;

    snprintf(dir, sizeof(dir), "%s", a->run_dir ? a->run_dir : path);
    if (!a->run_dir) {                          /* next to the target */
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            strcpy(dir, ".");
    }
    snprintf(sock, sizeof(sock), "%s/%s.sock", dir, name);
    snprintf(log, sizeof(log), "%s/%s.vbd.log", dir, name);
    unlink(sock);
    snprintf(cmd, sizeof(cmd), "exec '%s' serve %s--image '%s' "
             "--socket '%s' %s", a->daemon, cold ? "" : "--dest ", path, sock,
             a->daemon_args ? a->daemon_args : "");
    a->pids[i] = spawn_vbd(cmd, log);
    if (a->pids[i] < 0)
        return xlmig_dest_set_error(d, errno, "fork: %s", strerror(errno));
    a->n = i + 1;
    if (!cold && ((rc = xlmig_dest_janitor_add_pid(d, a->pids[i])) < 0 ||
                  (rc = xlmig_dest_janitor_add_file(d, sock)) < 0))
        return rc;
    if ((rc = sim_open_wait(sock, 10000, &a->vbds[i], &e)) < 0)
        return xlmig_dest_set_error(d, -rc, "disk %s: destination VBD did "
                                    "not start (%s; see %s)", name, e.msg,
                                    log);
    xlmig_dest_attach_vbd(d, i, a->vbds[i]);
    fprintf(stderr, "xlmig: disk %s -> %s (VBD %s, pid %d)\n", name, path,
            sock, (int)a->pids[i]);
    return 0;
}

static int hook_targets(void *opaque, struct xlmig_dest *d)
{
    struct recv_args *a = opaque;
    int rc;

    /* Nothing runs for an estimate, nor yet for a cold migration. */
    if (xlmig_dest_estimate(d) || xlmig_dest_offline(d))
        return 0;
    for (unsigned i = 0; i < xlmig_dest_disk_count(d); i++)
        if ((rc = start_vbd(a, d, i, false)) < 0)
            return rc;
    return 0;
}

static int hook_state(void *opaque, struct xlmig_dest *d, const void *blob,
                      size_t len)
{
    struct recv_args *a = opaque;

    for (unsigned i = 0; i < a->n; i++) {
        const void *st;
        size_t sl;
        int rc;

        if (sim_unpack_state(blob, len, i, &st, &sl) < 0)
            return xlmig_dest_set_error(d, EPROTO, "guest state for disk "
                                        "%u missing or malformed", i);
        if ((rc = xlmig_sim_guest_load(a->vbds[i], st, sl)) < 0)
            return xlmig_dest_set_error(d, -rc, "loading the guest state "
                                        "of %s: %s",
                                        xlmig_dest_disk_name(d, i),
                                        xlmig_vbd_error(a->vbds[i]));
    }
    return 0;
}

/* After GO.  A guest that cannot start here is destroyed before the
 * REPORT tells the source to resume: never two running copies. */
static int hook_start(void *opaque, struct xlmig_dest *d)
{
    struct recv_args *a = opaque;

    /* Cold: the guest starts from its disks, and only when asked to. */
    if (xlmig_dest_offline(d)) {
        for (unsigned i = 0; a->start && i < xlmig_dest_disk_count(d); i++) {
            int rc = start_vbd(a, d, i, true);

            if (rc < 0) {
                stop_vbds(a);
                return rc;
            }
        }
        return 0;
    }

    for (unsigned i = 0; i < a->n; i++) {
        int rc = xlmig_sim_guest_unpause(a->vbds[i]);

        if (rc < 0) {
            xlmig_dest_set_error(d, -rc, "starting the guest of %s: %s",
                                 xlmig_dest_disk_name(d, i),
                                 xlmig_vbd_error(a->vbds[i]));
            stop_vbds(a);
            return rc;
        }
    }
    return 0;
}

static void hook_rollback(void *opaque, struct xlmig_dest *d)
{
    (void)d;
    stop_vbds(opaque);
}

/* Post-copy paused: the source comes back where it came first. */
static int hook_accept_recovery(void *opaque, struct xlmig_dest *d,
                                int timeout_ms, int *rfd, int *wfd)
{
    struct recv_args *a = opaque;
    struct xlmig_error e;
    int fd;

    (void)d;
    if (a->lfd < 0) {
        struct timespec t = { timeout_ms / 1000,
                              (long)(timeout_ms % 1000) * 1000000 };
        nanosleep(&t, NULL);
        return -ENOTCONN;
    }
    fd = xlmig_tcp_accept(a->lfd, timeout_ms, NULL, &e);
    if (fd < 0)
        return fd;
    *rfd = *wfd = fd;
    return 0;
}

/* ---- the command ---- */

static int verdict(struct xlmig_dest *d, int rc)
{
    if (rc == 0)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "xlmig: receive %s, %s: %s\n",
                cli_signal_seen() ? "cancelled" : "failed",
                xlmig_dest_offline(d) ? "what is flushed is kept for the "
                "next attempt" : "nothing kept here", xlmig_dest_error(d));
        return 1;
    }
    fprintf(stderr, "xlmig: the guest runs here but %s\n",
            xlmig_dest_error(d));
    return 3;
}

static int run(struct recv_args *a, int rfd, int wfd, struct xlmig_dest *d)
{
    struct xlmig_dest_report rep;
    int rc = xlmig_dest_set_channel(d, rfd, wfd);

    rc = rc ? rc : xlmig_dest_run(d);
    a->was_estimate = xlmig_dest_estimate(d);
    rc = verdict(d, rc);
    if (a->json) {
        char line[4096];
        xlmig_dest_report_json(d, line, sizeof(line));
        printf("%s\n", line);
        fflush(stdout);
    } else {
        xlmig_dest_get_report(d, &rep);
        cli_print_dest_report(stderr, d, &rep);
        cli_print_dest_extra(stderr, &rep);
    }
    return rc;
}

static int receive(struct recv_args *a, const struct xlmig_endpoint *ep)
{
    struct xlmig_dest_hooks h = {
        .opaque = a, .targets_ready = hook_targets, .guest_state = hook_state,
        .start_guest = hook_start, .rollback = hook_rollback,
        .accept_recovery = hook_accept_recovery,
    };
    struct cli_out out;
    struct xlmig_dest *d;
    struct xlmig_error e;
    int rfd, wfd, status = 1;
    pid_t child;

    cli_out_init(&out, a->json, a->quiet);
    /* Before any thread: the janitor undoes our work if we are killed. */
    if (xlmig_dest_new(&a->o, &h, &d, &e) < 0)
        return cli_error("%s", e.msg);
    xlmig_dest_set_observer(d, cli_on_event, cli_on_log, &out);
    for (unsigned i = 0; i < a->nmaps; i++) {
        const char *eq = strchr(a->maps[i], '=');
        char name[XLMIG_MAX_NAME + 1];

        if (!eq || eq == a->maps[i] || eq - a->maps[i] > XLMIG_MAX_NAME) {
            cli_error("bad --map '%s': expected NAME=PATH", a->maps[i]);
            goto out;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(eq - a->maps[i]),
                 a->maps[i]);
        if (xlmig_dest_map(d, name, eq + 1) < 0) {
            cli_error("%s", xlmig_dest_error(d));
            goto out;
        }
    }
    cli_signals_dest(d);
    if (ep->kind == XLMIG_EP_LISTEN) {
        /* Kept open: a broken post-copy resumes through it. */
        a->lfd = xlmig_endpoint_listen(ep, a->port_file, &e);
        rfd = wfd = a->lfd < 0 ? a->lfd
                               : xlmig_tcp_accept(a->lfd, a->accept_s * 1000,
                                                  NULL, &e);
        child = -1;
        if (rfd < 0) {
            cli_error("%s", e.msg);
            goto out;
        }
    } else if (xlmig_endpoint_open(ep, &rfd, &wfd, &child,
                                   a->accept_s * 1000, a->port_file,
                                   &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    status = run(a, rfd, wfd, d);
    if (rfd > 2)
        close(rfd);
out:
    cli_signals_dest(NULL);
    xlmig_dest_free(d);
    if (a->lfd >= 0)
        close(a->lfd);
    for (unsigned i = 0; i < a->n; i++)
        xlmig_vbd_close(a->vbds[i]);
    return status;
}

int cmd_receive(int argc, char **argv)
{
    bool made = false;
    struct recv_args *a = calloc(1, sizeof(*a));
    struct xlmig_endpoint ep;
    struct xlmig_error e;
    int status;

    if (!a)
        return cli_error("out of memory");
    status = parse_args(argc, argv, a);
    if (status) {
        if (status < 0)
            usage(stdout);
        free(a);
        return status < 0 ? 0 : status;
    }
    if (xlmig_endpoint_parse(a->source, &ep, &e) < 0)
        status = cli_error("%s", e.msg);
    else if (ep.kind == XLMIG_EP_TCP || ep.kind == XLMIG_EP_CMD)
        status = cli_error("the receiver listens or uses given fds");
    else if (a->o.target_dir && !(made = mkdir(a->o.target_dir, 0700) == 0) &&
             errno != EEXIST)
        status = cli_error("%s: %s", a->o.target_dir, strerror(errno));
    if (!status) {
        cli_lower_priority(a->nice_level);
        status = receive(a, &ep);
        /* An estimate leaves nothing behind, not even the directory. */
        if (made && a->was_estimate)
            rmdir(a->o.target_dir);
    }
    free(a);
    return status;
}
