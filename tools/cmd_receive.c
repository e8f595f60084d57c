/*
 * xlmig receive: the destination of `xlmig send`.  The library creates the
 * target images per this side's policy; the hooks start a simulated VBD
 * (a paused guest) on each, load the guest's state, and after GO run the
 * guest while post-copy completes the disks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
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
    struct cli_common c;
    struct xlmig_dest_opts o;
    const char *maps[XLMIG_MAX_DISKS];
    unsigned nmaps;
    const char *target_dir, *run_dir, *daemon, *daemon_args, *port_file;
    const char *source;
    double accept_ms;
    bool allow_existing, page_cache, start;
    bool was_estimate;          /* the session only measured */
    struct cli_out out;
    int lfd;                    /* tcp-listen: kept for recovery */
    /* the destination VBDs, started by hook_targets */
    pid_t pids[XLMIG_MAX_DISKS];
    struct xlmig_vbd *vbds[XLMIG_MAX_DISKS];
    unsigned n;
};

/* --map NAME=PATH (repeatable): the form is checked here, the rest by
 * the library (xlmig_dest_map). */
static int opt_map(void *base, const char *arg, char *err, size_t errlen)
{
    struct recv_args *a = base;
    const char *eq = strchr(arg, '=');

    if (a->nmaps == XLMIG_MAX_DISKS) {
        snprintf(err, errlen, "--map: at most %d", XLMIG_MAX_DISKS);
        return -1;
    }
    if (!eq || eq == arg || eq - arg > XLMIG_MAX_NAME || !eq[1]) {
        snprintf(err, errlen, "--map '%.80s': expected NAME=PATH", arg);
        return -1;
    }
    a->maps[a->nmaps++] = arg;
    return 0;
}

#define OFF(f) offsetof(struct recv_args, f)
static const struct cli_opt recv_opts[] = {
    { .name = "target-dir", .type = CLI_STRING, .offset = OFF(target_dir),
      .metavar = "DIR", .help = "put disk NAME at DIR/NAME.img" },
    { .name = "map", .type = CLI_CALL, .fn = opt_map,
      .metavar = "NAME=PATH", .help = "put disk NAME at PATH (wins over "
      "--target-dir; repeatable)" },
    { .name = "allow-existing", .type = CLI_FLAG,
      .offset = OFF(allow_existing),
      .help = "write into existing targets (files, devices)" },
    { .name = "run-dir", .type = CLI_STRING, .offset = OFF(run_dir),
      .metavar = "DIR", .help = "sockets and logs of the destination VBDs "
      "(default: next to each target)" },
    { .name = "vbd-args", .type = CLI_STRING, .offset = OFF(daemon_args),
      .metavar = "ARGS", .help = "extra arguments for xlmig-vbdsim serve" },
    { .name = "port-file", .type = CLI_STRING, .offset = OFF(port_file),
      .metavar = "FILE", .help = "write the listening port there (with "
      "port 0)" },
    { .name = "page-cache", .type = CLI_FLAG, .offset = OFF(page_cache),
      .help = "write the copied blocks through the page cache (default: "
      "writes of 256 KiB or more past it, O_DIRECT, where the file system "
      "takes it)" },
    { .name = "start", .type = CLI_FLAG, .offset = OFF(start),
      .help = "(cold migration) start the guests here once their disks are "
      "in place (without it they stay stopped)" },
    { .name = "accept-timeout", .type = CLI_DURATION,
      .offset = OFF(accept_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 1000, .fmax = 86400000,
      .help = "wait at most S for the sender (default 600)" },
};
#undef OFF

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig receive [options] SOURCE\n"
"  SOURCE: tcp-listen:ADDR:PORT (PORT 0: any free port) | fd:R,W | -\n"
"The destination of xlmig send: creates the targets, starts a paused\n"
"xlmig-vbdsim on each, runs the guest after the hand-off.  A cold migration\n"
"(send --offline) keeps a partial copy for the next attempt and starts the\n"
"guests only with --start; an estimate (xlmig estimate) creates nothing.\n"
"Options:\n");
    cli_print_options(f, sets, nsets);
}

/* 0, or an exit status with *done. */
static int parse_args(int argc, char **argv, struct recv_args *a, bool *done)
{
    struct cli_optset sets[] = {
        { recv_opts, sizeof(recv_opts) / sizeof(recv_opts[0]), a, 0 },
        { cli_basic_opts, cli_basic_nopts, &a->c, 0 },
        { cli_timeout_opts, cli_timeout_nopts, &a->c, 0 },
    };
    int first, status;

    cli_common_defaults(&a->c);
    a->accept_ms = 600000;
    a->lfd = -1;
    *done = true;
    first = cli_parse_command("receive", sets, 3, argc, argv, &a->c.help,
                              &a->c.version, usage, &status);
    if (first < 0)
        return status;
    if (first != argc - 1) {
        fprintf(stderr, "xlmig receive: %s\n(xlmig receive --help lists "
                "the options)\n", first == argc
                ? "give the source (e.g. tcp-listen:0.0.0.0:7000)"
                : "give exactly one source");
        return 2;
    }
    a->source = argv[first];
    xlmig_dest_opts_init(&a->o);
    a->o.janitor = true;
    a->o.target_dir = a->target_dir;
    a->o.allow_existing = a->allow_existing;
    a->o.page_cache = a->page_cache;
    a->o.peer_timeout_ms = (int)a->c.peer_timeout_ms;
    a->o.recover_timeout_s = (int)(a->c.recover_timeout_ms / 1000);
    a->daemon = sim_daemon_path();
    *done = false;
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
    cli_info(&a->out, "disk %s -> %s (VBD %s, pid %d)", name, path, sock,
             (int)a->pids[i]);
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

static void report(struct recv_args *a, struct xlmig_dest *d)
{
    struct xlmig_dest_report rep;
    const char *names[XLMIG_MAX_DISKS], *paths[XLMIG_MAX_DISKS];

    if (a->c.json) {
        char line[4096];
        xlmig_dest_report_json(d, line, sizeof(line));
        printf("%s\n", line);
        fflush(stdout);
        return;
    }
    xlmig_dest_get_report(d, &rep);
    for (unsigned i = 0; i < rep.ndisks && i < XLMIG_MAX_DISKS; i++) {
        names[i] = xlmig_dest_disk_name(d, i);
        paths[i] = xlmig_dest_disk_path(d, i);
    }
    cli_print_dest_report(stderr, &rep, names, paths);
    cli_print_dest_extra(stderr, &rep);
}

static int receive(struct recv_args *a, const struct xlmig_endpoint *ep)
{
    struct xlmig_dest_hooks h = {
        .opaque = a, .targets_ready = hook_targets, .guest_state = hook_state,
        .start_guest = hook_start, .rollback = hook_rollback,
        .accept_recovery = hook_accept_recovery,
    };
    struct xlmig_dest_report rep;
    struct xlmig_dest *d;
    struct xlmig_error e;
    int rfd, wfd, status = 1, rc;
    pid_t child;

    cli_out_init(&a->out, a->c.json, a->c.quiet, "destination", -1, -1);
    /* Before any thread: the janitor undoes our work if we are killed. */
    if (xlmig_dest_new(&a->o, &h, &d, &e) < 0) {
        cli_out_destroy(&a->out);
        return cli_error("%s", e.msg);
    }
    a->out.dst = d;
    xlmig_dest_set_observer(d, cli_on_event, cli_on_log, &a->out);
    for (unsigned i = 0; i < a->nmaps; i++) {
        const char *eq = strchr(a->maps[i], '=');
        char name[XLMIG_MAX_NAME + 1];

        snprintf(name, sizeof(name), "%.*s", (int)(eq - a->maps[i]),
                 a->maps[i]);
        if (xlmig_dest_map(d, name, eq + 1) < 0) {
            cli_error("--map %s: %s", a->maps[i], xlmig_dest_error(d));
            status = 2;
            goto out;
        }
    }
    cli_signals_dest(d);
    cli_signals_waiting("xlmig: receive cancelled while waiting for the "
                        "sender: nothing was created.\n");
    if (ep->kind == XLMIG_EP_LISTEN) {
        /* Kept open: a broken post-copy resumes through it. */
        a->lfd = xlmig_endpoint_listen(ep, a->port_file, &e);
        rfd = wfd = a->lfd < 0 ? a->lfd
                               : xlmig_tcp_accept(a->lfd, (int)a->accept_ms,
                                                  NULL, &e);
        child = -1;
        rc = rfd < 0 ? rfd : 0;
    } else {
        rc = xlmig_endpoint_open(ep, &rfd, &wfd, &child, (int)a->accept_ms,
                                 a->port_file, &e);
    }
    cli_signals_waiting(NULL);
    if (rc < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    rc = xlmig_dest_set_channel(d, rfd, wfd);
    rc = rc ? rc : xlmig_dest_run(d);
    a->was_estimate = xlmig_dest_estimate(d);
    cli_out_finish(&a->out);
    report(a, d);
    xlmig_dest_get_report(d, &rep);
    status = cli_dest_verdict(stderr, rc, &rep, xlmig_dest_stale_blocks(d),
                              cli_signal_seen());
    if (rfd > 2)
        close(rfd);
out:
    cli_signals_dest(NULL);
    xlmig_dest_free(d);
    cli_out_destroy(&a->out);
    if (a->lfd >= 0)
        close(a->lfd);
    for (unsigned i = 0; i < a->n; i++)
        xlmig_vbd_close(a->vbds[i]);
    return status;
}

int cmd_receive(int argc, char **argv)
{
    struct recv_args *a = calloc(1, sizeof(*a));
    struct xlmig_endpoint ep;
    struct xlmig_error e;
    char err[CLI_ERRLEN];
    int status;
    bool done, made = false;

    if (!a)
        return cli_error("out of memory");
    status = parse_args(argc, argv, a, &done);
    if (done) {
        free(a);
        return status;
    }
    status = 0;
    if (cli_check_endpoint_port(a->source, err, sizeof(err)) < 0)
        status = cli_error("%s", err) + 1;
    else if (xlmig_endpoint_parse(a->source, &ep, &e) < 0)
        status = cli_error("%s", e.msg) + 1;
    else if (ep.kind == XLMIG_EP_TCP || ep.kind == XLMIG_EP_CMD)
        status = cli_error("%s: the receiver listens (tcp-listen:ADDR:PORT) "
                           "or uses given fds", a->source) + 1;
    else if (!a->o.target_dir && !a->nmaps)
        status = cli_error("give --target-dir DIR or --map NAME=PATH: where "
                           "the disks go") + 1;
    else if (a->o.target_dir &&
             !(made = mkdir(a->o.target_dir, 0700) == 0) &&
             errno != EEXIST)
        status = cli_error("--target-dir %s: %s", a->o.target_dir,
                           strerror(errno));
    if (!status) {
        cli_lower_priority(a->c.nice);
        status = receive(a, &ep);
        /* An estimate leaves nothing behind, not even the directory. */
        if (made && a->was_estimate)
            rmdir(a->o.target_dir);
    }
    free(a);
    return status;
}
