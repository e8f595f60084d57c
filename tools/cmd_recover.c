/*
 * xlmig recover --session FILE [DEST]: resume a post-copy whose source
 * (xlmig send) died or gave up, from the session it saved after the
 * hand-off (--session-file): serve the destination's stale blocks from
 * the source images until it has them all.  DEST (default: the session's)
 * may be another way to the same destination, e.g. a new port.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"

struct recover_args {
    struct xlmig_source_opts o;
    const char *session, *dest;
    bool json, quiet;
    struct xlmig_endpoint ep;
    pid_t child;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: xlmig recover [options] --session FILE [DEST]\n"
"  Resume a paused post-copy from the session `xlmig send --session-file`\n"
"  saved; DEST (default: the session's) reaches the same destination.\n"
"  --peer-timeout S     a silent receiver is gone after S s (30)\n"
"  --recover-timeout S  keep trying this long (3600)\n"
"  --json               progress events and the report as JSON on stdout\n"
"  --quiet              no human progress on stderr\n");
}

static int hook_reconnect(void *opaque, struct xlmig_source *s, int *rfd,
                          int *wfd)
{
    struct recover_args *a = opaque;

    (void)s;
    return cli_reconnect(&a->ep, &a->child, rfd, wfd);
}

static char *read_session(const char *path, const char **dest)
{
    FILE *f = fopen(path, "r");
    char *text = NULL, *line;
    size_t cap = 0;

    if (!f || getdelim(&text, &cap, '\0', f) < 0) {
        if (f)
            fclose(f);
        free(text);
        return NULL;
    }
    fclose(f);
    line = strstr(text, "\nendpoint ");
    if (line) {
        line += 10;
        line[strcspn(line, "\n")] = '\0';
        if (!*dest)
            *dest = line;
    }
    return text;
}

static int parse(int argc, char **argv, struct recover_args *a)
{
    static const struct option opts[] = {
        { "session", required_argument, NULL, 's' },
        { "peer-timeout", required_argument, NULL, 'E' },
        { "recover-timeout", required_argument, NULL, 'R' },
        { "json", no_argument, NULL, 'j' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    xlmig_source_opts_init(&a->o);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': a->session = optarg; break;
        case 'E': a->o.peer_timeout_ms = atoi(optarg) * 1000; break;
        case 'R': a->o.recover_timeout_s = atoi(optarg); break;
        case 'j': a->json = true; break;
        case 'q': a->quiet = true; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return 2;
        }
    }
    if (!a->session || argc - optind > 1) {
        usage(stderr);
        return 2;
    }
    a->dest = optind < argc ? argv[optind] : NULL;
    return 0;
}

int cmd_recover(int argc, char **argv)
{
    struct recover_args a = { .child = -1 };
    struct xlmig_source_hooks h = { .opaque = &a,
                                    .reconnect = hook_reconnect };
    struct xlmig_source_report rep;
    struct xlmig_source *s;
    struct xlmig_error e;
    struct cli_out out;
    char *text;
    int rc = parse(argc, argv, &a);

    if (rc)
        return rc < 0 ? 0 : rc;
    text = read_session(a.session, &a.dest);
    if (!text)
        return cli_error("%s: %s", a.session, strerror(errno));
    if (!a.dest || xlmig_endpoint_parse(a.dest, &a.ep, &e) < 0) {
        free(text);
        return cli_error("%s", a.dest ? e.msg : "no destination");
    }
    rc = xlmig_source_new_resumed(text, &a.o, &h, &s, &e);
    free(text);
    if (rc < 0)
        return cli_error("%s: %s", a.session, e.msg);
    cli_out_init(&out, a.json, a.quiet);
    xlmig_source_set_observer(s, cli_on_event, cli_on_log, &out);
    cli_signals_source(s);
    rc = xlmig_source_run(s);
    if (rc == 0) {
        unlink(a.session);
        fprintf(stderr, "xlmig: post-copy resumed and finished: the "
                "destination has every block\n");
    } else {
        fprintf(stderr, "xlmig: POST-COPY FAILED: %s\nxlmig: %llu block(s) "
                "exist only in the source image(s): keep them; the session "
                "is still in %s\n", xlmig_source_error(s),
                (unsigned long long)xlmig_source_stale_blocks(s), a.session);
    }
    if (a.json) {
        char line[4096];
        xlmig_source_report_json(s, line, sizeof(line));
        printf("%s\n", line);
    } else {
        xlmig_source_get_report(s, &rep);
        cli_print_source_report(stderr, &rep);
    }
    cli_signals_source(NULL);
    xlmig_source_free(s);
    if (a.child > 0)
        waitpid(a.child, NULL, 0);
    return rc == 0 ? 0 : 3;
}
