/*
 * A disk migration through libxlmig's public API alone: the way a
 * toolstack (a Ganeti node daemon, libvirt's libxl driver) would drive one,
 * with simulated guests standing in for Xen domains.
 *
 *   cc example.c $(pkg-config --cflags --libs libxlmig) -lpthread
 *   example VBDSIM SOURCE_SOCKET TARGET_DIR
 *
 * VBDSIM is the xlmig-vbdsim program; SOURCE_SOCKET is a running
 * `xlmig-vbdsim serve` (the source guest).  Both sides run in this
 * process, the source in a thread, joined by a socketpair; the
 * destination starts `xlmig-vbdsim serve --dest` on the target it creates.
 * Prints both reports (JSON) and exits 0 if the migration succeeded.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xlmig.h>

struct src_ctx {
    struct xlmig_vbd *vbd;
    struct xlmig_source *s;
    int rc;
};

struct dst_ctx {
    const char *vbdsim;
    char sock[4200];
    pid_t pid;
    struct xlmig_vbd *vbd;
};

/* ---- source hooks: the "toolstack" suspends and resumes the guest ---- */

static int src_suspend(void *opaque, struct xlmig_source *s)
{
    struct src_ctx *c = opaque;
    void *state;
    size_t len;
    int rc;

    xlmig_source_mark_suspended(s);
    rc = xlmig_sim_guest_suspend(c->vbd, &state, &len);
    if (rc < 0)
        return xlmig_source_set_error(s, -rc, "suspend: %s",
                                      xlmig_vbd_error(c->vbd));
    /* One disk: its guest's state is sent as it is (xlmig send packs
     * several; the destination below reads it back the same way). */
    rc = xlmig_source_send_state(s, state, len);
    free(state);
    return rc;
}

static int src_handoff(void *opaque, struct xlmig_source *s)
{
    struct src_ctx *c = opaque;
    int rc = xlmig_sim_guest_handoff(c->vbd);

    if (rc < 0)
        return xlmig_source_set_error(s, -rc, "handoff: %s",
                                      xlmig_vbd_error(c->vbd));
    return xlmig_source_handoff_default(s);
}

static int src_resume(void *opaque, struct xlmig_source *s)
{
    struct src_ctx *c = opaque;

    (void)s;
    return xlmig_sim_guest_resume(c->vbd);
}

static void src_after_go(void *opaque, struct xlmig_source *s)
{
    struct src_ctx *c = opaque;

    (void)s;
    xlmig_sim_shutdown(c->vbd);
}

static void *src_main(void *arg)
{
    struct src_ctx *c = arg;

    c->rc = xlmig_source_run(c->s);
    return NULL;
}

/* ---- destination hooks: the "toolstack" creates the guest ---- */

static int dst_targets(void *opaque, struct xlmig_dest *d)
{
    struct dst_ctx *c = opaque;
    struct xlmig_error err;
    const char *path = xlmig_dest_disk_path(d, 0);

    if (xlmig_dest_disk_count(d) != 1)
        return xlmig_dest_set_error(d, EINVAL, "this example takes one "
                                    "disk");
    snprintf(c->sock, sizeof(c->sock), "%s.sock", path);
    c->pid = fork();
    if (c->pid == 0) {
        execl(c->vbdsim, c->vbdsim, "serve", "--dest", "--image", path,
              "--socket", c->sock, (char *)NULL);
        _exit(127);
    }
    if (c->pid < 0)
        return xlmig_dest_set_error(d, errno, "fork: %s", strerror(errno));
    xlmig_dest_janitor_add_pid(d, c->pid);
    for (int i = 0; i < 500; i++) {
        struct timespec t = { 0, 20 * 1000 * 1000 };

        if (xlmig_vbd_sim_open(c->sock, &c->vbd, &err) == 0) {
            xlmig_dest_attach_vbd(d, 0, c->vbd);
            return 0;
        }
        nanosleep(&t, NULL);
    }
    return xlmig_dest_set_error(d, err.code, "%s", err.msg);
}

static int dst_state(void *opaque, struct xlmig_dest *d, const void *blob,
                     size_t len)
{
    struct dst_ctx *c = opaque;

    (void)d;
    return xlmig_sim_guest_load(c->vbd, blob, len);
}

static int dst_start(void *opaque, struct xlmig_dest *d)
{
    struct dst_ctx *c = opaque;

    (void)d;
    return xlmig_sim_guest_unpause(c->vbd);
}

static void dst_rollback(void *opaque, struct xlmig_dest *d)
{
    struct dst_ctx *c = opaque;

    (void)d;
    if (c->vbd)
        xlmig_sim_shutdown(c->vbd);
    if (c->pid > 0)
        kill(c->pid, SIGTERM);
}

static void on_event(void *opaque, const struct xlmig_event *ev)
{
    char line[1024];

    (void)opaque;
    if (strcmp(ev->event, "progress")) {
        xlmig_event_json(ev, line, sizeof(line));
        fprintf(stderr, "%s\n", line);
    }
}

int main(int argc, char **argv)
{
    struct src_ctx sc = { 0 };
    struct dst_ctx dc = { 0 };
    struct xlmig_source_opts so;
    struct xlmig_dest_opts dopts;
    struct xlmig_source_hooks sh = {
        .opaque = &sc, .suspend = src_suspend, .handoff = src_handoff,
        .resume = src_resume, .after_go = src_after_go,
    };
    struct xlmig_dest_hooks dh = {
        .opaque = &dc, .targets_ready = dst_targets, .guest_state = dst_state,
        .start_guest = dst_start, .rollback = dst_rollback,
    };
    struct xlmig_dest *d;
    struct xlmig_error err;
    pthread_t th;
    char line[4096];
    int sv[2], rc;

    if (argc != 4) {
        fprintf(stderr, "usage: example VBDSIM SOURCE_SOCKET TARGET_DIR\n");
        return 2;
    }
    printf("libxlmig %s (API %d)\n", xlmig_version(), XLMIG_API_VERSION);
    signal(SIGPIPE, SIG_IGN);
    dc.vbdsim = argv[1];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 1;

    xlmig_dest_opts_init(&dopts);
    dopts.target_dir = argv[3];
    xlmig_source_opts_init(&so);
    if (xlmig_dest_new(&dopts, &dh, &d, &err) < 0 ||
        xlmig_vbd_sim_open(argv[2], &sc.vbd, &err) < 0 ||
        xlmig_source_new(&so, &sh, &sc.s, &err) < 0) {
        fprintf(stderr, "example: %s\n", err.msg);
        return 1;
    }
    xlmig_source_set_observer(sc.s, on_event, NULL, NULL);
    xlmig_dest_set_observer(d, on_event, NULL, NULL);
    if (xlmig_source_set_channel(sc.s, sv[0], sv[0]) < 0 ||
        xlmig_source_add_disk(sc.s, "xvda", sc.vbd) < 0 ||
        xlmig_dest_set_channel(d, sv[1], sv[1]) < 0) {
        fprintf(stderr, "example: %s%s\n", xlmig_source_error(sc.s),
                xlmig_dest_error(d));
        return 1;
    }
    pthread_create(&th, NULL, src_main, &sc);
    rc = xlmig_dest_run(d);
    pthread_join(th, NULL);

    xlmig_source_report_json(sc.s, line, sizeof(line));
    printf("%s\n", line);
    xlmig_dest_report_json(d, line, sizeof(line));
    printf("%s\n", line);
    printf("source %d (%s), destination %d (%s), guest socket %s\n", sc.rc,
           xlmig_source_error(sc.s), rc, xlmig_dest_error(d), dc.sock);
    xlmig_source_free(sc.s);
    xlmig_dest_free(d);
    xlmig_vbd_close(sc.vbd);
    xlmig_vbd_close(dc.vbd);
    return sc.rc == 0 && rc == 0 ? 0 : 1;
}
