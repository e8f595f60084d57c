/*
 * xlmig migrate-receive --with-storage: the destination of xlmig migrate,
 * speaking xl migrate-receive's protocol on stdin/stdout.  Chooses the
 * disks' targets by its own policy (tpolicy.h), rewrites pdev_path, has the
 * engine create and fill them while the source pushes, creates the domain
 * from libxl's stream (paused, as xl), lets the engine arm the post-copy
 * gates, then READY / GO / unpause / REPORT exactly as xl.
 *
 * With --data-channel SESSION it is the helper of the ssh data channel.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_migrate_common.h"
#include "ctlmsg.h"
#include "datachan.h"
#include "engine.h"
#include "tpolicy.h"
#include "transport.h"
#include "xlproto.h"

#define SEND_FD 1
#define RECV_FD 0

struct ropts {
    bool debug, pause;
    int verbose, nice;
    const char *data_port;
    struct xtpolicy pol;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig migrate-receive [-e] [-F] [-d] [-p] --with-storage [options]\n"
"       (run by xlmig migrate on the destination, on stdin/stdout)\n"
"  --target-dir=DIR     put images in DIR (file name of the source path)\n"
"  --map=VDEV=PATH      put disk VDEV at PATH (repeatable)\n"
"  --allow-existing     write into existing target files\n"
"  --data-port=PORT     TCP data channel: listen on PORT (default any)\n"
"  --nice=N             the engine runs at nice N (default 10)\n"
"  --data-channel=ID    (internal) hand this ssh session to migrate-receive\n"
"Default target: the source's path, if clean; an image's directory must\n"
"exist, a block device must exist and be big enough.\n");
}

static int parse(int argc, char **argv, struct ropts *o,
                 const char **session)
{
    static const struct option lo[] = {
        { "with-storage", no_argument, NULL, 0x100 },
        { "target-dir", required_argument, NULL, 0x101 },
        { "map", required_argument, NULL, 0x102 },
        { "allow-existing", no_argument, NULL, 0x103 },
        { "data-port", required_argument, NULL, 0x104 },
        { "data-channel", required_argument, NULL, 0x105 },
        { "nice", required_argument, NULL, 0x106 },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char err[XLMIG_ERRLEN];
    bool storage = false;
    int c;

    memset(o, 0, sizeof(*o));
    o->nice = 10;
    *session = NULL;
    while ((c = getopt_long(argc, argv, "Fedpvh", lo, NULL)) != -1) {
        switch (c) {
        case 'F': case 'e': break;     /* xlmig never daemonizes */
        case 'd': o->debug = true; break;
        case 'p': o->pause = true; break;
        case 'v': o->verbose++; break;
        case 0x100: storage = true; break;
        case 0x101: o->pol.target_dir = optarg; break;
        case 0x102:
            if (xtp_add_map(&o->pol, optarg, err) < 0) {
                fprintf(stderr, "xlmig: %s\n", err);
                return -1;
            }
            break;
        case 0x103: o->pol.allow_existing = true; break;
        case 0x104: o->data_port = optarg; break;
        case 0x105: *session = optarg; break;
        case 0x106: o->nice = atoi(optarg); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (!storage || argc != optind) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* The data channel the ACCEPT announces: listening, not yet connected. */
static int prepare_data(const struct ropts *o, const struct xctl_msg *offer,
                        struct xctl_msg *acc, char *sock_path, char *err)
{
    char hex[33];
    int port = 0;

    if (xlmig_random_token(acc->token, err) < 0)
        return -1;
    if (offer->flags & XCTL_F_TCP) {
        int fd = xlmig_tcp_listen(NULL, o->data_port ? o->data_port : "0",
                                  &port, err);
        acc->chan = XCTL_CHAN_TCP;
        acc->port = (uint16_t)port;
        return fd;
    }
    acc->chan = XCTL_CHAN_SSH;
    xctl_session_hex(acc->token, hex);
    return dch_session_listen(hex, sock_path, 4096, err);
}

static void refuse(const char *why)
{
    struct xctl_msg m;
    char err[XLMIG_ERRLEN];

    memset(&m, 0, sizeof(m));
    m.type = XCTL_REFUSE;
    m.code = EINVAL;
    snprintf(m.reason, sizeof(m.reason), "%s", why);
    xctl_send(SEND_FD, &m, err);
}

/* While the disks stream: the source's MEMORY or ABORT, or the engine's
 * failure (then the source hears it on the data channel). */
static int wait_memory(struct eng *e, char *err)
{
    struct pollfd p[2] = { { .fd = RECV_FD, .events = POLLIN },
                           { .fd = e->sock, .events = POLLIN } };
    struct xctl_msg m;
    struct em_msg r;

    while (poll(p, 2, -1) < 0)
        if (errno != EINTR)
            return -1;
    if (p[1].revents) {
        if (eng_reply(e, &r, 1000, err) == 0)
            snprintf(err, XLMIG_ERRLEN, "disk engine: unexpected reply");
        return -1;
    }
    return xctl_recv(RECV_FD, &m, XCTL_MEMORY, err);
}

/* Who the source is, for jobinfo: the TCP peer, else ssh's SSH_CLIENT. */
static void source_peer(int fd, char *out, size_t len)
{
    struct sockaddr_storage a;
    socklen_t al = sizeof(a);
    const char *ssh = getenv("SSH_CLIENT");
    char host[NI_MAXHOST];

    if (fd >= 0 && !getpeername(fd, (struct sockaddr *)&a, &al) &&
        !getnameinfo((struct sockaddr *)&a, al, host, sizeof(host), NULL, 0,
                     NI_NUMERICHOST)) {
        snprintf(out, len, "%s", host);
    } else if (ssh && *ssh) {
        snprintf(out, len, "%.*s", (int)strcspn(ssh, " "), ssh);
    } else {
        snprintf(out, len, "source");
    }
}

static int disk_devids(libxl_ctx *ctx, uint32_t domid,
                       libxl_domain_config *dc, const struct xctl_msg *offer,
                       struct em_msg *m)
{
    for (uint32_t k = 0; k < offer->ndisks; k++)
        for (int i = 0; i < dc->num_disks; i++) {
            libxl_diskinfo di;
            if (strcmp(dc->disks[i].vdev, offer->disks[k].name))
                continue;
            libxl_diskinfo_init(&di);
            if (libxl_device_disk_getinfo(ctx, domid, &dc->disks[i], &di))
                return -1;
            m->devids[k] = (uint32_t)di.devid;
            libxl_diskinfo_dispose(&di);
        }
    m->ndevids = offer->ndisks;
    return 0;
}

int cmd_migrate_receive(int argc, char **argv)
{
    struct ropts o;
    struct eng eng;
    struct em_msg m, rep;
    struct xctl_msg offer, acc;
    struct xlmig_target_policy ep;
    libxl_domain_config dc;
    libxl_domain_restore_params params;
    libxl_ctx *ctx = NULL;
    void *lg = NULL;
    const char *session;
    char err[XLMIG_ERRLEN], sock_path[4096] = "", uuid[40];
    char *json = NULL, *common = NULL;
    uint32_t flags, domid = INVALID_DOMID;
    int lfd = -1, fds[3] = { -1, -1, -1 }, nfds, rc, lock = -1;
    bool created = false;
    char rc_buf;

    if (parse(argc, argv, &o, &session) < 0)
        return 2;
    if (session)
        return dch_helper(session);
    signal(SIGPIPE, SIG_IGN);
    if (eng_spawn(&eng, ENG_DEST, err) < 0) {
        fprintf(stderr, "xlmig: %s\n", err);
        return 1;
    }
    libxl_domain_config_init(&dc);
    ctx = xm_ctx_alloc(o.verbose, &lg);
    if (!ctx)
        return 1;
    fprintf(stderr, "migration target: Ready to receive domain.\n");
    if (xlp_write_all(SEND_FD, xlp_banner, xlp_banner_len) < 0)
        return 1;
    if (xlp_read_header(RECV_FD, &json, &flags, err, sizeof(err)) < 0 ||
        libxl_domain_config_from_json(ctx, &dc, json)) {
        fprintf(stderr, "xlmig: %s\n", json ? "bad config" : err);
        return 1;
    }
    xm_uuid_string(&dc.c_info.uuid, uuid);

    /* Storage negotiation: our policy decides every target. */
    if (xctl_recv(RECV_FD, &offer, XCTL_OFFER, err) < 0)
        goto fail_msg;
    memset(&acc, 0, sizeof(acc));
    acc.type = XCTL_ACCEPT;
    if (xtp_choose(&o.pol, &dc, &offer, true, &ep, &acc, err) < 0) {
        refuse(err);
        goto fail_msg;
    }
    if (o.pol.target_dir && mkdir(o.pol.target_dir, 0700) < 0 &&
        errno != EEXIST) {
        snprintf(err, sizeof(err), "%s: %s", o.pol.target_dir,
                 strerror(errno));
        refuse(err);
        goto fail_msg;
    }
    lfd = prepare_data(&o, &offer, &acc, sock_path, err);
    if (lfd < 0) {
        refuse(err);
        goto fail_msg;
    }
    for (unsigned i = 0; i < ep.nmap; i++) {
        em_init(&m, EM_MAP);
        snprintf(m.name, sizeof(m.name), "%s", ep.map[i].name);
        snprintf(m.path, sizeof(m.path), "%s", ep.map[i].path);
        if (eng_send(&eng, &m, NULL, 0, err) < 0)
            goto fail_msg;
    }
    if (xctl_send(SEND_FD, &acc, err) < 0)
        goto fail_msg;

    /* The data channel arrives; the engine negotiates and creates. */
    if (acc.chan == XCTL_CHAN_TCP) {
        fds[0] = xlmig_tcp_accept(lfd, 120000, acc.token, err);
        nfds = fds[0] < 0 ? 0 : 1;
    } else {
        nfds = dch_session_accept(lfd, 120000, &fds[0], &fds[1], &fds[2],
                                  err) < 0 ? 0 : 3;
        unlink(sock_path);
    }
    close(lfd);
    if (!nfds)
        goto fail_msg;
    em_init(&m, EM_SETUP);
    m.allow_existing = o.pol.allow_existing;
    m.nice = o.nice;
    snprintf(m.uuid, sizeof(m.uuid), "%s", uuid);
    snprintf(m.domname, sizeof(m.domname), "%s",
             dc.c_info.name ? dc.c_info.name : "");
    source_peer(acc.chan == XCTL_CHAN_TCP ? fds[0] : -1, m.text,
                sizeof(m.text));
    rc = eng_send(&eng, &m, fds, nfds, err);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    if (rc < 0 || eng_reply(&eng, &rep, -1, err) < 0)
        goto fail_msg;
    for (unsigned i = 0; i < ep.nmap; i++)
        fprintf(stderr, "xlmig: disk %s -> %s\n", ep.map[i].name,
                ep.map[i].path);

    /* PUSH runs in the engine until the source starts the memory. */
    if (wait_memory(&eng, err) < 0)
        goto abort_msg;

    /* Received under a temporary name, as xl does. */
    if (dc.c_info.name) {
        common = dc.c_info.name;
        if (asprintf(&dc.c_info.name, "%s--incoming", common) < 0)
            goto abort_msg;
    }
    libxl_domain_restore_params_init(&params);
    params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_NONE;
    params.stream_version = (flags & XLP_FLAG_STREAMV2) ? 2 : 1;
    lock = xm_lock();
    rc = libxl_domain_create_restore(ctx, &dc, &domid, RECV_FD, SEND_FD,
                                     &params, NULL, NULL);
    xm_unlock(lock);
    libxl_domain_restore_params_dispose(&params);
    if (rc) {
        snprintf(err, sizeof(err), "domain creation failed (code %d)", rc);
        goto abort_msg;
    }
    created = true;

    /* The domain and its backends exist: the engine can arm the gates. */
    em_init(&m, EM_ATTACH);
    m.domid = domid;
    if (disk_devids(ctx, domid, &dc, &offer, &m) < 0) {
        snprintf(err, sizeof(err), "no device information for the disks");
        goto abort_msg;
    }
    if (eng_send(&eng, &m, NULL, 0, err) < 0 ||
        eng_reply(&eng, &rep, -1, err) < 0)
        goto abort_msg;
    if (rep.cmd != EM_SYNCED) {
        snprintf(err, sizeof(err), "disk engine: unexpected reply");
        goto abort_msg;
    }

    fprintf(stderr, "migration target: Transfer complete, requesting "
            "permission to start domain.\n");
    if (xlp_write_all(SEND_FD, xlp_ready, xlp_ready_len) < 0)
        goto abort_quiet;
    if (xlp_expect(RECV_FD, xlp_go, xlp_go_len, "GO message", err,
                   sizeof(err)) < 0) {
        rc = ERROR_FAIL;
        goto report;
    }
    fprintf(stderr, "migration target: Got permission, starting domain.\n");
    rc = common ? libxl_domain_rename(ctx, domid, dc.c_info.name, common)
                : 0;
    if (!rc && !o.pause)
        rc = libxl_domain_unpause(ctx, domid, NULL);
    if (!rc) {
        /* Running: the engine pulls what the gates still hold. */
        eng_call(&eng, EM_GO, 0, NULL, NULL, err);
        fprintf(stderr, "migration target: Domain started successsfully.\n");
    }
report:
    if (xlp_write_all(SEND_FD, xlp_report, xlp_report_len) < 0)
        return 1;
    rc_buf = (char)-rc;
    if (xlp_write_all(SEND_FD, &rc_buf, 1) < 0)
        return 1;
    if (rc) {
        fprintf(stderr, "migration target: Failure, destroying our copy.\n");
        em_init(&m, EM_ABORT);
        m.flags = EM_UNDO_AFTER_GO;
        eng_send(&eng, &m, NULL, 0, err);
        eng_reply(&eng, &rep, 30000, err);
        if (libxl_domain_destroy(ctx, domid, 0)) {
            fprintf(stderr, "migration target: Failed to destroy our copy\n");
            return 1;
        }
        fprintf(stderr, "migration target: Cleanup OK, granting sender "
                "permission to resume.\n");
        xlp_write_all(SEND_FD, xlp_go, xlp_go_len);
        return 1;
    }
    close(eng.sock);
    free(json);
    libxl_domain_config_dispose(&dc);
    xm_ctx_free(ctx, lg);
    return 0;

abort_msg:
    fprintf(stderr, "xlmig: %s\n", err);
abort_quiet:
    if (created)
        libxl_domain_destroy(ctx, domid, 0);
    em_init(&m, EM_ABORT);
    eng_send(&eng, &m, NULL, 0, err);
    /* The engine deletes the targets it created, then exits. */
    eng_reply(&eng, &rep, 30000, err);
    fprintf(stderr, "migration target: nothing kept here.\n");
    return 1;
fail_msg:
    fprintf(stderr, "xlmig: %s\n", err);
    if (sock_path[0])
        unlink(sock_path);
    return 1;
}
