/*
 * xlmig migrate --with-storage: xl migrate (Xen 4.17's protocol, libxl's
 * memory stream) with the guest's local disks moved alongside:
 *
 *   banner, header + config          as xl
 *   OFFER / ACCEPT                   storage negotiation (ctlmsg.h)
 *   data channel, engine negotiate   targets created on the destination
 *   PUSH until converged             guest runs here
 *   MEMORY, libxl_domain_suspend     keep-up continues on the data channel
 *   stop-copy                        guest suspended: quiesce, final data
 *   READY, rename, GO, REPORT        as xl
 *   post-copy                        the engine, detached, until DONE
 *
 * Any failure before GO resumes the guest here (as xl does), after the
 * engine has released blkback and told the destination to delete its
 * copies.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxl_utils.h>

#include "cmd_migrate_common.h"
#include "ctlmsg.h"
#include "datachan.h"
#include "disks.h"
#include "engine.h"
#include "transport.h"
#include "xlproto.h"

#define FWD_MAX 8192

struct mopts {
    const char *config, *ssh, *data_host;
    bool daemonize_off, pause, preserve_domid, debug, tcp, notrack;
    bool remove_source, quiet;
    int verbose, idle_s, nice;
    struct xsel sel;
    struct xlmig_sender_opts so;
    char fwd[FWD_MAX];          /* receiver-side options, quoted */
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig migrate [options] --with-storage <domain> <host>\n"
"xl's options:\n"
"  -C CONFIG          send this config instead of the running domain's\n"
"                     (JSON, or xl.cfg turned to JSON by `xl -N create`)\n"
"  -s SSHCOMMAND      default ssh; -s \"\": <host> is the whole command\n"
"  -e, -F             do not daemonize on the destination (passed on)\n"
"  -p                 leave the domain paused on the destination\n"
"  -D                 keep the same domid on the destination\n"
"  --debug            LIBXL_SUSPEND_DEBUG (and -d remotely)\n"
"storage:\n"
"  --storage=local|all|VDEV[,VDEV...]   which disks (default local)\n"
"  --shared=VDEV[,VDEV...]   disks the destination already reaches\n"
"  --target-dir=DIR   destination: images go to DIR/<file name>\n"
"  --map=VDEV=PATH    destination: this disk goes to PATH (repeatable)\n"
"  --allow-existing   destination: write into existing target files\n"
"  --data=ssh|tcp     data channel: second ssh session (default) or TCP\n"
"  --data-host=HOST   TCP: connect here (default: <host> without user@)\n"
"  --data-port=PORT   TCP: destination listens there (default any)\n"
"  --no-postcopy      send every block before the guest moves\n"
"  --bandwidth=RATE   limit the data channel (100M, 1000Mbit, ...)\n"
"  --max-downtime=MS  disk downtime budget (default 50)\n"
"  --max-passes=N     dirty passes at most (default 30)\n"
"  --idle-timeout=S   post-copy gives up after S idle seconds (600)\n"
"  --nice=N           both engines run at nice N (default 10: the guests'\n"
"                     I/O in dom0 goes first)\n"
"  --remove-source    delete source image files once post-copy is done\n"
"  --no-tracking      without the patched blkback (testing): re-send\n"
"                     whole disks while the guest is suspended\n"
"  -v, --quiet        more libxl messages / no progress line\n");
}

static bool fwd_add(struct mopts *o, const char *opt, const char *val)
{
    char q[4200];
    size_t n = strlen(o->fwd);

    if (val && !xm_shell_quote(val, q, sizeof(q)))
        return false;
    return (size_t)snprintf(o->fwd + n, sizeof(o->fwd) - n, " %s%s%s", opt,
                            val ? "=" : "", val ? q : "") <
           sizeof(o->fwd) - n;
}

static int parse(int argc, char **argv, struct mopts *o)
{
    static const struct option lo[] = {
        { "debug", no_argument, NULL, 0x100 },
        { "live", no_argument, NULL, 0x101 },
        { "with-storage", no_argument, NULL, 0x102 },
        { "storage", required_argument, NULL, 0x103 },
        { "shared", required_argument, NULL, 0x104 },
        { "target-dir", required_argument, NULL, 0x105 },
        { "map", required_argument, NULL, 0x106 },
        { "allow-existing", no_argument, NULL, 0x107 },
        { "data", required_argument, NULL, 0x108 },
        { "data-host", required_argument, NULL, 0x109 },
        { "data-port", required_argument, NULL, 0x10a },
        { "no-postcopy", no_argument, NULL, 0x10b },
        { "bandwidth", required_argument, NULL, 0x10c },
        { "max-downtime", required_argument, NULL, 0x10d },
        { "max-passes", required_argument, NULL, 0x10e },
        { "idle-timeout", required_argument, NULL, 0x10f },
        { "remove-source", no_argument, NULL, 0x110 },
        { "no-tracking", no_argument, NULL, 0x111 },
        { "quiet", no_argument, NULL, 0x112 },
        { "nice", required_argument, NULL, 0x113 },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    char err[XLMIG_ERRLEN];
    bool storage = false;
    int c;

    memset(o, 0, sizeof(*o));
    o->ssh = "ssh";
    o->idle_s = 600;
    o->nice = 10;
    xlmig_sender_opts_default(&o->so);
    while ((c = getopt_long(argc, argv, "FC:s:epDvh", lo, NULL)) != -1) {
        switch (c) {
        case 'C': o->config = optarg; break;
        case 's': o->ssh = optarg; break;
        case 'F': case 'e': o->daemonize_off = true; break;
        case 'p': o->pause = true; break;
        case 'D': o->preserve_domid = true; break;
        case 'v': o->verbose++; break;
        case 0x100: o->debug = true; break;
        case 0x101: break;      /* ignored, as by xl */
        case 0x102: storage = true; break;
        case 0x103:
            if (xsel_parse_storage(&o->sel, optarg, err) < 0)
                goto bad;
            break;
        case 0x104:
            if (xsel_parse_shared(&o->sel, optarg, err) < 0)
                goto bad;
            break;
        case 0x105:
            if (!fwd_add(o, "--target-dir", optarg))
                goto toolong;
            break;
        case 0x106:
            if (!fwd_add(o, "--map", optarg))
                goto toolong;
            break;
        case 0x107:
            if (!fwd_add(o, "--allow-existing", NULL))
                goto toolong;
            break;
        case 0x108:
            if (strcmp(optarg, "ssh") && strcmp(optarg, "tcp")) {
                fprintf(stderr, "xlmig: --data=ssh or --data=tcp\n");
                return -1;
            }
            o->tcp = !strcmp(optarg, "tcp");
            break;
        case 0x109: o->data_host = optarg; break;
        case 0x10a:
            if (!fwd_add(o, "--data-port", optarg))
                goto toolong;
            break;
        case 0x10b: o->so.postcopy = false; break;
        case 0x10c:
            if (xlmig_parse_rate(optarg, &o->so.bandwidth_Bps)) {
                fprintf(stderr, "xlmig: bad --bandwidth '%s'\n", optarg);
                return -1;
            }
            break;
        case 0x10d: o->so.max_downtime_ms = atof(optarg); break;
        case 0x10e: o->so.max_passes = (unsigned)atoi(optarg); break;
        case 0x10f: o->idle_s = atoi(optarg); break;
        case 0x110: o->remove_source = true; break;
        case 0x111: o->notrack = true; break;
        case 0x112: o->quiet = true; break;
        case 0x113:
            o->nice = atoi(optarg);
            if (!fwd_add(o, "--nice", optarg))
                goto toolong;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (!storage) {
        fprintf(stderr, "xlmig: migrate needs --with-storage (without it, "
                "use xl migrate)\n");
        return -1;
    }
    if (argc - optind != 2) {
        usage(stderr);
        return -1;
    }
    if (o->notrack)
        o->so.postcopy = false;         /* no gate without tracking either */
    if (o->idle_s < 10)
        o->idle_s = 10;
    return 0;
bad:
    fprintf(stderr, "xlmig: %s\n", err);
    return -1;
toolong:
    fprintf(stderr, "xlmig: options too long\n");
    return -1;
}

/* The remote command, xl's rune plus --with-storage and what the
 * destination decides with. */
static char *make_rune(const struct mopts *o, const char *host,
                       const char *extra)
{
    char *r = NULL;
    int n;

    if (!o->ssh[0])
        n = asprintf(&r, "%s%s", host, extra);
    else
        n = asprintf(&r, "exec %s %s xl%s migrate-receive%s%s%s "
                     "--with-storage%s%s", o->ssh, host,
                     isatty(2) > 0 ? " -t" : "",
                     o->daemonize_off ? " -e" : "", o->debug ? " -d" : "",
                     o->pause ? " -p" : "", o->fwd, extra);
    return n < 0 ? NULL : r;
}

static pid_t spawn_control(const char *rune, int *send_fd, int *recv_fd)
{
    int sp[2], rp[2];
    pid_t pid;

    if (pipe(sp) < 0 || pipe(rp) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(sp[0], 0);
        dup2(rp[1], 1);
        close(sp[0]); close(sp[1]); close(rp[0]); close(rp[1]);
        execlp("sh", "sh", "-c", rune, (char *)NULL);
        perror("failed to exec sh");
        _exit(1);
    }
    close(sp[0]);
    close(rp[1]);
    *send_fd = sp[1];
    *recv_fd = rp[0];
    /* A dead receiver is an error to handle, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    return pid;
}

/* The config to send, as JSON (xl's save_domain_core_begin). */
static char *config_json(libxl_ctx *ctx, uint32_t domid,
                         const struct mopts *o, libxl_domain_config *dc)
{
    if (o->config) {
        char *text = NULL, *cmd = NULL, q[4200];
        size_t cap = 0;
        FILE *f;

        if (!xm_shell_quote(o->config, q, sizeof(q)))
            return NULL;
        /* xl's parser is not a library: let xl turn xl.cfg into JSON. */
        f = fopen(o->config, "r");
        if (f && fgetc(f) == '{') {
            fclose(f);
            f = fopen(o->config, "r");
        } else {
            if (f)
                fclose(f);
            if (asprintf(&cmd, "\"${XLMIG_REAL_XL:-xl}\" -N create %s", q)
                < 0)
                return NULL;
            f = popen(cmd, "r");
            free(cmd);
        }
        if (!f || getdelim(&text, &cap, '\0', f) < 0) {
            fprintf(stderr, "xlmig: cannot read config %s\n", o->config);
            free(text);
            return NULL;
        }
        fclose(f);
        if (libxl_domain_config_from_json(ctx, dc, text)) {
            fprintf(stderr, "xlmig: %s: not a domain configuration\n",
                    o->config);
            free(text);
            return NULL;
        }
        free(text);
    } else if (libxl_retrieve_domain_configuration(ctx, domid, dc, NULL)) {
        fprintf(stderr, "xlmig: unable to retrieve domain configuration\n");
        return NULL;
    }
    if (o->preserve_domid)
        dc->c_info.domid = domid;
    return libxl_domain_config_to_json(ctx, dc);
}

/* The host part of "user@host" for --data=tcp. */
static void data_host(const struct mopts *o, const char *host, char *out,
                      size_t len)
{
    const char *at = strrchr(host, '@');

    snprintf(out, len, "%s", o->data_host ? o->data_host
                                          : at ? at + 1 : host);
}

static int open_data(const struct mopts *o, const char *host,
                     const struct xctl_msg *acc, pid_t *child, char *err)
{
    if (acc->chan == XCTL_CHAN_TCP) {
        char h[256], port[8];
        int fd;

        data_host(o, host, h, sizeof(h));
        snprintf(port, sizeof(port), "%u", acc->port);
        fd = xlmig_tcp_connect(h, port, err);
        if (fd >= 0 && xlmig_tcp_send_token(fd, acc->token, err) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    } else {
        char hex[33], extra[64], *rune;
        int fd;

        xctl_session_hex(acc->token, hex);
        snprintf(extra, sizeof(extra), " --data-channel %s", hex);
        rune = make_rune(o, host, extra);
        if (!rune) {
            snprintf(err, XLMIG_ERRLEN, "out of memory");
            return -1;
        }
        fd = dch_spawn(rune, child, err);
        free(rune);
        return fd;
    }
}

int cmd_migrate_sender(int argc, char **argv)
{
    struct mopts o;
    struct eng eng;
    struct em_msg m, rep;
    struct xctl_msg offer, acc, ab;
    struct xdisk disks[XLMIG_XEN_MAX_DISKS];
    libxl_domain_config dc;
    libxl_ctx *ctx = NULL;
    void *lg = NULL;
    char err[XLMIG_ERRLEN], *json = NULL, *rune = NULL;
    char *away = NULL, *name = NULL, uuid[40];
    unsigned nd = 0;
    uint32_t domid;
    int send_fd = -1, recv_fd = -1, data = -1, rc, nmig;
    pid_t child = -1, dchild = -1;
    bool engine_up = false;
    char rc_buf;

    if (parse(argc, argv, &o) < 0)
        return 2;
    /* The engine first: before libxl and before any thread. */
    if (eng_spawn(&eng, ENG_SOURCE, err) < 0) {
        fprintf(stderr, "xlmig: %s\n", err);
        return 1;
    }
    libxl_domain_config_init(&dc);
    ctx = xm_ctx_alloc(o.verbose, &lg);
    if (!ctx)
        goto fail_early;
    if (xm_find_domain(ctx, argv[optind], &domid) < 0)
        goto fail_early;
    json = config_json(ctx, domid, &o, &dc);
    if (!json)
        goto fail_early;
    name = dc.c_info.name;
    xm_uuid_string(&dc.c_info.uuid, uuid);

    nmig = xdisk_select(&dc, &o.sel, xdisk_probe_host, disks, &nd, err);
    if (nmig < 0) {
        fprintf(stderr, "xlmig: %s\n", err);
        goto fail_early;
    }
    if (!nmig) {
        fprintf(stderr, "xlmig: no disk of %s to migrate: use xl migrate\n",
                name);
        goto fail_early;
    }
    memset(&offer, 0, sizeof(offer));
    offer.type = XCTL_OFFER;
    offer.flags = (o.so.postcopy ? XCTL_F_POSTCOPY : 0) |
                  (o.tcp ? XCTL_F_TCP : 0) | (o.notrack ? XCTL_F_NOTRACK : 0);
    for (unsigned i = 0; i < nd; i++) {
        libxl_diskinfo di;
        struct xdisk *x = &disks[i];

        fprintf(stderr, "xlmig: %s %s: %s%s%s\n", x->vdev,
                x->action == XDISK_MIGRATE ? "migrates" : "stays",
                x->path[0] ? x->path : "(empty)", x->why[0] ? " - " : "",
                x->why);
        if (x->action != XDISK_MIGRATE)
            continue;
        libxl_diskinfo_init(&di);
        if (libxl_device_disk_getinfo(ctx, domid, &dc.disks[x->index], &di)) {
            fprintf(stderr, "xlmig: disk %s: no device information\n",
                    x->vdev);
            goto fail_early;
        }
        em_init(&m, EM_DISK);
        snprintf(m.name, sizeof(m.name), "%s", x->vdev);
        snprintf(m.path, sizeof(m.path), "%s", x->path);
        m.devid = (uint32_t)di.devid;
        m.kind = x->kind;
        libxl_diskinfo_dispose(&di);
        if (eng_send(&eng, &m, NULL, 0, err) < 0)
            goto fail_early_msg;
        struct xctl_disk *od = &offer.disks[offer.ndisks++];
        snprintf(od->name, sizeof(od->name), "%s", x->vdev);
        od->kind = x->kind;
        od->size = 0;
    }

    /* xl's preamble. */
    rune = make_rune(&o, argv[optind + 1], "");
    if (!rune)
        goto fail_early;
    child = spawn_control(rune, &send_fd, &recv_fd);
    if (child < 0)
        goto fail_early;
    if (xlp_expect(recv_fd, xlp_banner, xlp_banner_len, "banner", err,
                   sizeof(err)) < 0) {
        fprintf(stderr, "xlmig: %s\n(command run was: %s )\n", err, rune);
        goto fail_early;
    }
    if (xlp_write_header(send_fd, json, err, sizeof(err)) < 0)
        goto fail_early_msg;

    /* Storage negotiation: sizes travel with the engine's DISK records;
     * OFFER says which disks and how. */
    for (uint32_t i = 0; i < offer.ndisks; i++) {
        struct xdisk *x = NULL;
        for (unsigned j = 0; j < nd; j++)
            if (!strcmp(disks[j].vdev, offer.disks[i].name))
                x = &disks[j];
        struct xlmig_image im = { .fd = -1 };
        if (!x || xlmig_image_open(&im, x->path, false, err) < 0)
            goto fail_early_msg;
        offer.disks[i].size = im.size;
        xlmig_image_close(&im);
    }
    if (xctl_send(send_fd, &offer, err) < 0 ||
        xctl_recv(recv_fd, &acc, XCTL_ACCEPT, err) < 0)
        goto fail_early_msg;
    for (uint32_t i = 0; i < acc.ndisks; i++)
        fprintf(stderr, "xlmig: %s -> %s:%s\n", acc.disks[i].name,
                argv[optind + 1], acc.disks[i].path);

    data = open_data(&o, argv[optind + 1], &acc, &dchild, err);
    if (data < 0)
        goto abort_msg;
    em_init(&m, EM_SETUP);
    m.so = o.so;
    m.flags = (o.notrack ? EM_NOTRACK : 0) |
              (o.remove_source ? EM_REMOVE_SOURCE : 0) |
              (o.quiet ? EM_QUIET : 0);
    m.domid = domid;
    snprintf(m.uuid, sizeof(m.uuid), "%s", uuid);
    snprintf(m.domname, sizeof(m.domname), "%s", name);
    snprintf(m.text, sizeof(m.text), "%s", argv[optind + 1]);
    m.idle_timeout_s = o.idle_s;
    m.nice = o.nice;
    if (eng_send(&eng, &m, &data, 1, err) < 0)
        goto abort_msg;
    close(data);
    data = -1;
    engine_up = true;
    if (eng_reply(&eng, &rep, -1, err) < 0 ||
        eng_call(&eng, EM_PUSH, 0, NULL, NULL, err) < 0)
        goto abort_msg;

    /* Memory, as xl: the disks keep up meanwhile. */
    memset(&ab, 0, sizeof(ab));
    ab.type = XCTL_MEMORY;
    if (xctl_send(send_fd, &ab, err) < 0)
        goto abort_msg;
    rc = libxl_domain_suspend(ctx, domid, send_fd,
                              LIBXL_SUSPEND_LIVE |
                              (o.debug ? LIBXL_SUSPEND_DEBUG : 0), NULL);
    if (rc) {
        fprintf(stderr, "migration sender: libxl_domain_suspend failed "
                "(rc=%d)\n", rc);
        snprintf(err, sizeof(err), "libxl_domain_suspend failed (rc=%d)",
                 rc);
        if (rc == ERROR_GUEST_TIMEDOUT) {
            eng_call(&eng, EM_ABORT, 0, err, NULL, err);
            close(send_fd);
            fprintf(stderr, "Migration failed, failed to suspend at "
                    "sender.\n");
            goto out_fail;
        }
        goto failed_resume;
    }
    /* The guest is suspended: the disks' stop-and-copy. */
    if (eng_call(&eng, EM_STOPCOPY, 0, NULL, &rep, err) < 0)
        goto failed_resume_msg;
    fprintf(stderr, "xlmig: disks stopped and copied (%llu blocks %s)\n",
            (unsigned long long)rep.final_blocks,
            rep.postcopy ? "left for post-copy" : "sent");
    if (xlp_expect(recv_fd, xlp_ready, xlp_ready_len, "ready message", err,
                   sizeof(err)) < 0)
        goto failed_resume_msg;
    fprintf(stderr, "migration sender: Target has acknowledged transfer.\n");
    if (asprintf(&away, "%s--migratedaway", name) < 0 ||
        libxl_domain_rename(ctx, domid, name, away))
        goto failed_resume;

    /* The point of no return. */
    fprintf(stderr, "migration sender: Giving target permission to "
            "start.\n");
    if (xlp_write_all(send_fd, xlp_go, xlp_go_len) < 0 ||
        xlp_expect(recv_fd, xlp_report, xlp_report_len,
                   "success/failure report message", err, sizeof(err)) < 0 ||
        xlp_read_all(recv_fd, &rc_buf, 1) < 0)
        goto failed_badly;
    if (rc_buf) {
        fprintf(stderr, "migration sender: Target reports startup failure "
                "(status code %d).\n", rc_buf);
        /* The destination destroys its copy; our disks are untouched. */
        eng_call(&eng, EM_ABORT, 0, "the destination could not start the "
                 "guest", NULL, err);
        if (xlp_expect(recv_fd, xlp_go, xlp_go_len,
                       "permission for sender to resume", err,
                       sizeof(err)) < 0)
            goto failed_badly;
        fprintf(stderr, "migration sender: Trying to resume at our end.\n");
        libxl_domain_rename(ctx, domid, away, name);
        if (!libxl_domain_resume(ctx, domid, 1, 0))
            fprintf(stderr, "migration sender: Resumed OK.\n");
        fprintf(stderr, "Migration failed due to problems at target.\n");
        goto out_fail;
    }
    fprintf(stderr, "migration sender: Target reports successful "
            "startup.\n");
    /* The engine serves post-copy from the image files on its own. */
    if (eng_call(&eng, EM_GO, 0, NULL, NULL, err) < 0)
        fprintf(stderr, "xlmig: WARNING: the post-copy server did not "
                "start: %s\n", err);
    libxl_domain_destroy(ctx, domid, 0);
    fprintf(stderr, "Migration successful.\n");
    rc = 0;
    goto out;

failed_badly:
    fprintf(stderr,
" ** Migration failed during final handshake **\n"
"Domain state is now undefined !\n"
"Please CHECK AT BOTH ENDS for running instances, before renaming and\n"
" resuming at most one instance.  Two simultaneous instances of the domain\n"
" would probably result in SEVERE DATA LOSS and it is now your\n"
" responsibility to avoid that.  Sorry.\n"
"xlmig: the post-copy server keeps serving the destination in case it\n"
" runs the guest (see xlmig jobinfo %s); it stops after %d idle s.\n",
            name, o.idle_s);
    eng_call(&eng, EM_GO, 0, NULL, NULL, err);
    close(send_fd);
    goto out_fail;

failed_resume_msg:
    fprintf(stderr, "xlmig: %s\n", err);
failed_resume:
    eng_call(&eng, EM_ABORT, 0, err[0] ? err : "memory migration failed",
             NULL, err);
    close(send_fd);
    send_fd = -1;
    fprintf(stderr, "Migration failed, resuming at sender.\n");
    libxl_domain_resume(ctx, domid, 1, 0);
    goto out_fail;

abort_msg:
    fprintf(stderr, "xlmig: %s\n", err);
    if (engine_up)
        eng_call(&eng, EM_ABORT, 0, err, NULL, err);
    memset(&ab, 0, sizeof(ab));
    ab.type = XCTL_ABORT;
    ab.code = EIO;
    snprintf(ab.reason, sizeof(ab.reason), "%s", err);
    xctl_send(send_fd, &ab, err);
    fprintf(stderr, "Migration failed; the guest kept running here.\n");
    goto out_fail;

fail_early_msg:
    fprintf(stderr, "xlmig: %s\n", err);
fail_early:
    fprintf(stderr, "Migration failed; the guest kept running here.\n");
out_fail:
    rc = 1;
out:
    if (data >= 0)
        close(data);
    if (send_fd >= 0)
        close(send_fd);
    if (recv_fd >= 0)
        close(recv_fd);
    close(eng.sock);
    if (child > 0)
        waitpid(child, NULL, WNOHANG);
    free(rune);
    free(away);
    free(json);
    libxl_domain_config_dispose(&dc);
    xm_ctx_free(ctx, lg);
    (void)dchild;
    return rc;
}
