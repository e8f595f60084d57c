/*
 * xlmig send: migrate the disks of simulated guests (and the guests) to an
 * `xlmig receive`.  The library runs the same state machine as for
 * `xlmig migrate --with-storage`; the hooks here stand in for libxl: the
 * simulated guest's state travels on the data channel as its memory would
 * in libxl's stream.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sim/sim_client.h"
#include "transport.h"
#include "wire.h"

struct send_disk {
    char socket[4096];
    char image[4096];           /* --image: a stopped guest's file */
    char name[XLMIG_MAX_NAME + 1];
    struct xlmig_vbd *vbd;
    bool suspended;
};

struct send_args {
    struct cli_common c;
    struct xlmig_source_opts o;
    struct send_disk disks[XLMIG_MAX_DISKS];
    unsigned ndisks;
    bool no_postcopy, keep_source;
    bool verify, remove_source, offline, shutdown;
    double memory_ms;
    const char *dest;
    const char *session_file;
    struct xlmig_endpoint ep;
    pid_t child;                /* cmd: endpoints, the current one */
    const char *paths[XLMIG_MAX_DISKS];         /* the source images */
};

/* A new disk's slot; -1 when full or named twice. */
static int new_disk(struct send_args *a, const char *name, char *err,
                    size_t errlen)
{
    for (unsigned i = 0; i < a->ndisks; i++)
        if (!strcmp(a->disks[i].name, name)) {
            snprintf(err, errlen, "two disks named %s", name);
            return -1;
        }
    a->ndisks++;
    return 0;
}

/* --vbd sim:SOCKET[,name=NAME] (repeatable). */
static int opt_vbd(void *base, const char *spec, char *err, size_t errlen)
{
    struct send_args *a = base;
    struct send_disk *d;

    if (a->ndisks == XLMIG_MAX_DISKS) {
        snprintf(err, errlen, "--vbd: at most %d disks", XLMIG_MAX_DISKS);
        return -1;
    }
    d = &a->disks[a->ndisks];
    if (cli_vbd_spec(spec, a->ndisks, d->socket, sizeof(d->socket), d->name,
                     sizeof(d->name), err, errlen) < 0)
        return -1;
    return new_disk(a, d->name, err, errlen);
}

/* --image NAME=PATH (repeatable, --offline). */
static int opt_image(void *base, const char *spec, char *err, size_t errlen)
{
    struct send_args *a = base;
    struct send_disk *d;

    if (a->ndisks == XLMIG_MAX_DISKS) {
        snprintf(err, errlen, "--image: at most %d disks", XLMIG_MAX_DISKS);
        return -1;
    }
    d = &a->disks[a->ndisks];
    if (cli_image_spec(spec, d->name, sizeof(d->name), d->image,
                       sizeof(d->image), err, errlen) < 0)
        return -1;
    return new_disk(a, d->name, err, errlen);
}

#define OFF(f) offsetof(struct send_args, f)
static const struct cli_opt send_opts[] = {
    { .name = "vbd", .type = CLI_CALL, .fn = opt_vbd,
      .metavar = "sim:SOCKET[,name=NAME]",
      .help = "a disk: a source xlmig-vbdsim serve (repeatable)" },
    { .name = "no-postcopy", .type = CLI_FLAG, .offset = OFF(no_postcopy),
      .help = "send every block before the hand-off" },
    { .name = "memory-seconds", .type = CLI_DURATION,
      .offset = OFF(memory_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 0, .fmax = 3600000,
      .help = "stand-in for a real guest's memory pre-copy: keep the "
      "disk up to date for S before suspending (default 0)" },
    { .name = "keep-source", .type = CLI_FLAG, .offset = OFF(keep_source),
      .help = "leave the source VBD running (its guest suspended) after "
      "the hand-off" },
    { .name = "session-file", .type = CLI_STRING, .offset = OFF(session_file),
      .metavar = "FILE", .help = "after the hand-off, save what `xlmig "
      "recover` needs to finish post-copy if this process dies" },
    { .name = "verify", .type = CLI_FLAG, .offset = OFF(verify),
      .help = "check every extent end to end: SHA-256 as read here against "
      "what the receiver reads back from its disk (one connection)" },
    { .name = "remove-source", .type = CLI_FLAG,
      .offset = OFF(remove_source), .help = "delete the source images once "
      "the receiver has every block (refused, exit 4, when --verify found "
      "a mismatch)" },
    { .name = "offline", .type = CLI_FLAG, .offset = OFF(offline),
      .help = "cold migration of stopped guests: their disks, once; run "
      "again after a cut, it resumes where it stopped (one connection)" },
    { .name = "image", .type = CLI_CALL, .fn = opt_image,
      .metavar = "NAME=PATH", .help = "(--offline) a stopped guest's disk "
      "image (repeatable)" },
    { .name = "shutdown", .type = CLI_FLAG, .offset = OFF(shutdown),
      .help = "(--offline) shut the running simulated guests of --vbd down "
      "first" },
};
#undef OFF

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig send [options] --vbd sim:SOCKET[,name=NAME] ... DEST\n"
"       xlmig send --offline [options] --image NAME=PATH ... DEST\n"
"  DEST: tcp:HOST:PORT | cmd:COMMAND | fd:R,W | -\n"
"Migrates simulated guests (xlmig-vbdsim) and their disks to xlmig receive;\n"
"with --offline, stopped guests' disks.\n"
"Options (rates decimal: 125M = 125 MB/s, 1000Mbit; sizes binary: 4k):\n");
    cli_print_options(f, sets, nsets);
}

/* 0, or an exit status (after --help: 0 with *done). */
static int parse_args(int argc, char **argv, struct send_args *a, bool *done)
{
    struct cli_optset sets[] = {
        { send_opts, sizeof(send_opts) / sizeof(send_opts[0]), a, 0 },
        { cli_common_opts, cli_common_nopts, &a->c, 0 },
        { cli_timeout_opts, cli_timeout_nopts, &a->c, 0 },
    };
    const char *bad = NULL;
    int first, status;

    cli_common_defaults(&a->c);
    *done = true;
    first = cli_parse_command("send", sets, 3, argc, argv, &a->c.help,
                              &a->c.version, usage, &status);
    if (first < 0)
        return status;
    if (!a->ndisks || first != argc - 1) {
        fprintf(stderr, "xlmig send: %s\n(xlmig send --help lists the "
                "options)\n", !a->ndisks ? "give at least one --vbd (or "
                "--image with --offline)"
                : first == argc ? "give the destination (e.g. "
                                  "tcp:HOST:PORT)"
                                : "give exactly one destination");
        return 2;
    }
    if (a->remove_source && a->keep_source)
        bad = "--remove-source and --keep-source exclude each other";
    else if (a->shutdown && !a->offline)
        bad = "--shutdown is for --offline (a live migration keeps its "
              "guests running)";
    for (unsigned i = 0; i < a->ndisks && !a->offline && !bad; i++)
        if (a->disks[i].image[0])
            bad = "--image is for --offline (a running guest is given "
                  "with --vbd)";
    if (bad) {
        fprintf(stderr, "xlmig send: %s\n", bad);
        return 2;
    }
    a->dest = argv[first];
    xlmig_source_opts_init(&a->o);
    cli_common_to_source(&a->c, &a->o);
    a->o.postcopy = !a->no_postcopy;
    a->o.verify = a->verify;
    a->o.offline = a->offline;
    *done = false;
    return 0;
}

/* ---- hooks: the simulated guests stand in for libxl's domain ---- */

/*
 * With Xen, libxl's memory pre-copy runs here (a minute under emulation)
 * while the disk engine keeps up with the guest's writes; --memory-seconds
 * reproduces that interval.  Then the guests stop and their state goes.
 */
static int hook_suspend(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;
    void *blobs[XLMIG_MAX_DISKS] = { NULL }, *packed = NULL;
    size_t lens[XLMIG_MAX_DISKS] = { 0 }, plen;
    struct timespec tick = { 0, 50 * 1000 * 1000 };
    int rc = 0;

    for (double t = 0; t < a->memory_ms && !xlmig_source_failed(s); t += 50)
        nanosleep(&tick, NULL);
    if (xlmig_source_failed(s))
        return -ECANCELED;
    xlmig_source_mark_suspended(s);
    for (unsigned i = 0; i < a->ndisks && !rc; i++) {
        struct send_disk *d = &a->disks[i];

        rc = xlmig_sim_guest_suspend(d->vbd, &blobs[i], &lens[i]);
        if (rc < 0)
            rc = xlmig_source_set_error(s, -rc, "suspending the guest of "
                                        "%s: %s", d->name,
                                        xlmig_vbd_error(d->vbd));
        else
            d->suspended = true;
    }
    if (!rc && sim_pack_states(blobs, lens, a->ndisks, &packed, &plen) < 0)
        rc = xlmig_source_set_error(s, ENOMEM, "out of memory");
    if (!rc)
        rc = xlmig_source_send_state(s, packed, plen);
    for (unsigned i = 0; i < a->ndisks; i++)
        free(blobs[i]);
    free(packed);
    return rc;
}

/* Past this, the source guests are never resumed behind our back. */
static int hook_handoff(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;

    for (unsigned i = 0; i < a->ndisks; i++) {
        struct send_disk *d = &a->disks[i];
        int rc = xlmig_sim_guest_handoff(d->vbd);

        if (rc < 0)
            return xlmig_source_set_error(s, -rc, "committing the hand-off "
                                          "of %s: %s", d->name,
                                          xlmig_vbd_error(d->vbd));
    }
    return xlmig_source_handoff_default(s);
}

static int hook_resume(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;
    int rc = 0;

    (void)s;
    for (unsigned i = 0; i < a->ndisks; i++)
        if (a->disks[i].suspended) {
            if (xlmig_sim_guest_resume(a->disks[i].vbd) == 0)
                a->disks[i].suspended = false;
            else
                rc = -EIO;
        }
    return rc;
}

/* The destination runs the guest: the source copy is destroyed, as xl
 * destroys the source domain; its image stays for post-copy. */
static void hook_after_go(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;

    (void)s;
    for (unsigned i = 0; i < a->ndisks; i++) {
        if (!a->keep_source)
            xlmig_sim_shutdown(a->disks[i].vbd);
        a->disks[i].suspended = false;
    }
}

/* After GO: what `xlmig recover` needs if this process dies. */
static void hook_postcopy_start(void *opaque, struct xlmig_source *s)
{
    struct send_args *a = opaque;

    if (a->session_file && cli_save_session(s, a->session_file, a->dest) < 0)
        fprintf(stderr, "xlmig: warning: cannot write %s: %s\n",
                a->session_file, strerror(errno));
}

/* Post-copy paused: the same destination again (its listener waits). */
static int hook_reconnect(void *opaque, struct xlmig_source *s, int *rfd,
                          int *wfd)
{
    struct send_args *a = opaque;

    (void)s;
    return cli_reconnect(&a->ep, &a->child, rfd, wfd);
}

/* ---- the command ---- */

static const char *guest_state_name(uint64_t st)
{
    switch (st) {
    case XLMIG_SIM_GUEST_EMPTY: return "has no guest (a destination VBD?)";
    case XLMIG_SIM_GUEST_PAUSED: return "is paused (a destination's guest "
                                        "not started yet)";
    case XLMIG_SIM_GUEST_SUSPENDED: return "is suspended (another "
                                           "migration has it)";
    case XLMIG_SIM_GUEST_STOPPED: return "is stopped (xlmig sim verify "
                                         "--stop stops it)";
    default: return "is not running";
    }
}

/* Every disk's VBD answers and its guest runs (--offline: it is stopped,
 * and its image is read): checked before anything is copied. */
static int open_vbds(struct send_args *a)
{
    struct xlmig_error e;

    for (unsigned i = 0; i < a->ndisks; i++) {
        struct send_disk *d = &a->disks[i];

        if (!d->image[0]) {
            struct xlmig_sim_report rep;

            if (xlmig_vbd_sim_open(d->socket, &d->vbd, &e) < 0)
                return cli_error("--vbd sim:%s: %s", d->socket, e.msg);
            if (a->o.offline) {
                /* Cold: the guest must not run; then its image is the
                 * disk. */
                snprintf(d->image, sizeof(d->image), "%s",
                         xlmig_vbd_data_path(d->vbd));
                if (cli_stop_sim_guest(d->vbd, d->socket, a->shutdown,
                                       30000))
                    return 1;
                xlmig_vbd_close(d->vbd);
                d->vbd = NULL;
            } else {
                if (xlmig_sim_guest_report(d->vbd, &rep) < 0)
                    return cli_error("--vbd sim:%s: %s", d->socket,
                                     xlmig_vbd_error(d->vbd));
                if (rep.state != XLMIG_SIM_GUEST_RUNNING)
                    return cli_error("--vbd sim:%s: the guest %s; only a "
                                     "running guest can be migrated: nothing "
                                     "was sent", d->socket,
                                     guest_state_name(rep.state));
            }
        }
        if (!d->vbd && xlmig_vbd_image_open(d->image, &d->vbd, &e) < 0)
            return cli_error("--image %s=%s: %s", d->name, d->image, e.msg);
        a->paths[i] = xlmig_vbd_data_path(d->vbd);
    }
    return 0;
}

static bool all_resumed(const struct send_args *a)
{
    for (unsigned i = 0; i < a->ndisks; i++)
        if (a->disks[i].suspended)
            return false;
    return true;
}

static void report(struct send_args *a, struct xlmig_source *s)
{
    struct xlmig_source_report rep;

    xlmig_source_get_report(s, &rep);
    if (a->c.json) {
        char line[8192];
        xlmig_source_report_json(s, line, sizeof(line));
        printf("%s\n", line);
        fflush(stdout);
    } else {
        cli_print_source_report(stderr, &rep);
        cli_print_source_extra(stderr, &rep);
    }
}

/* The destination endpoint, parsed into a->ep and checked: -1 (said) if
 * it is no place to send to. */
static int check_destination(struct send_args *a)
{
    char err[CLI_ERRLEN];
    struct xlmig_error e;

    if (cli_check_endpoint_port(a->dest, err, sizeof(err)) < 0) {
        cli_error("%s", err);
        return -1;
    }
    if (xlmig_endpoint_parse(a->dest, &a->ep, &e) < 0) {
        cli_error("%s", e.msg);
        return -1;
    }
    if (a->ep.kind == XLMIG_EP_LISTEN) {
        cli_error("%s: the sender connects; tcp-listen: is for xlmig "
                  "receive", a->dest);
        return -1;
    }
    if (a->o.connections > 1 && a->ep.kind != XLMIG_EP_TCP) {
        cli_error("--connections %u: only to a tcp:HOST:PORT destination "
                  "(it is opened again for each)", a->o.connections);
        return -1;
    }
    return 0;
}

int cmd_send(int argc, char **argv)
{
    struct send_args *a = calloc(1, sizeof(*a));
    struct xlmig_source_hooks h = {
        .suspend = hook_suspend, .handoff = hook_handoff,
        .resume = hook_resume, .after_go = hook_after_go,
        .postcopy_start = hook_postcopy_start, .reconnect = hook_reconnect,
    };
    /* Cold: no guest runs; the hand-off is the library's own. */
    const struct xlmig_source_hooks cold = { .opaque = NULL };
    struct xlmig_source_report rep;
    struct xlmig_source *s = NULL;
    struct xlmig_endpoint *ep;
    struct xlmig_error e;
    struct cli_out out;
    int rfd, wfd, status, rc;
    bool done;

    if (!a)
        return cli_error("out of memory");
    status = parse_args(argc, argv, a, &done);
    if (done) {
        free(a);
        return status;
    }
    if (a->o.offline)
        h = cold;
    h.opaque = a;
    /* Everything that can be checked, before anything is connected. */
    status = 2;
    if (check_destination(a) < 0)
        goto out;
    status = 1;
    ep = &a->ep;
    cli_lower_priority(a->c.nice);
    if (open_vbds(a))
        goto out;
    if (xlmig_source_new(&a->o, &h, &s, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    cli_out_init(&out, a->c.json, a->c.quiet, "source", a->o.max_downtime_ms,
                 (int)a->o.max_passes);
    out.src = s;
    xlmig_source_set_observer(s, cli_on_event, cli_on_log, &out);
    cli_sim_expect(s, a->memory_ms / 1000.0, a->ndisks, a->o.offline);
    for (unsigned i = 0; i < a->ndisks; i++)
        if (xlmig_source_add_disk(s, a->disks[i].name, a->disks[i].vbd) < 0) {
            cli_error("%s", xlmig_source_error(s));
            goto out_free;
        }
    cli_signals_source(s);
    if (xlmig_endpoint_open(ep, &rfd, &wfd, &a->child, 0, NULL, &e) < 0) {
        cli_error("%s", e.msg);
        goto out_free;
    }
    rc = xlmig_source_set_channel(s, rfd, wfd);
    rc = rc ? rc : xlmig_source_run(s);
    cli_out_finish(&out);
    xlmig_source_get_report(s, &rep);
    report(a, s);
    status = cli_source_verdict(stderr, rc, &rep, xlmig_source_stale_blocks(s),
                                cli_signal_seen(), all_resumed(a));
    if (status == 0 && a->session_file)
        unlink(a->session_file);
    if (status == 0 && a->remove_source)
        status = cli_remove_sources(&rep, a->paths, a->ndisks);
    if (rfd > 2)
        close(rfd);
    if (wfd > 2 && wfd != rfd)
        close(wfd);
    if (a->child > 0)
        waitpid(a->child, NULL, 0);
out_free:
    cli_signals_source(NULL);
    cli_out_destroy(&out);
    xlmig_source_free(s);
out:
    for (unsigned i = 0; i < a->ndisks; i++)
        xlmig_vbd_close(a->disks[i].vbd);
    free(a);
    return status;
}
