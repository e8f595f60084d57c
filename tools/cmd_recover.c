/*
 * xlmig recover --session FILE [DEST]: resume a post-copy whose source
 * (xlmig send) died or gave up, from the session it saved after the
 * hand-off (--session-file): serve the destination's stale blocks from
 * the source images until it has them all.  DEST (default: the session's)
 * may be another way to the same destination, e.g. a new port.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "transport.h"

struct recover_args {
    struct cli_common c;
    struct xlmig_source_opts o;
    const char *session, *dest;
    struct xlmig_endpoint ep;
    pid_t child;
};

#define OFF(f) offsetof(struct recover_args, f)
static const struct cli_opt recover_opts[] = {
    { .name = "session", .type = CLI_STRING, .offset = OFF(session),
      .metavar = "FILE", .help = "the session `xlmig send --session-file` "
      "saved (required)" },
};
#undef OFF

static void usage(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    fprintf(f,
"usage: xlmig recover [options] --session FILE [DEST]\n"
"Resumes a paused post-copy from the session `xlmig send --session-file`\n"
"saved; DEST (default: the session's) reaches the same destination.\n"
"Options:\n");
    cli_print_options(f, sets, nsets);
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

/* 0, or an exit status with *done. */
static int parse(int argc, char **argv, struct recover_args *a, bool *done)
{
    struct cli_optset sets[] = {
        { recover_opts, sizeof(recover_opts) / sizeof(recover_opts[0]), a,
          0 },
        { cli_timeout_opts, cli_timeout_nopts, &a->c, 0 },
        { cli_basic_opts, cli_basic_nopts, &a->c, 0 },
    };
    int first, status;

    cli_common_defaults(&a->c);
    *done = true;
    first = cli_parse_command("recover", sets, 3, argc, argv, &a->c.help,
                              &a->c.version, usage, &status);
    if (first < 0)
        return status;
    if (!a->session || argc - first > 1) {
        fprintf(stderr, "xlmig recover: %s\n(xlmig recover --help lists "
                "the options)\n", !a->session ? "give --session FILE"
                                              : "at most one destination");
        return 2;
    }
    a->dest = first < argc ? argv[first] : NULL;
    xlmig_source_opts_init(&a->o);
    a->o.peer_timeout_ms = (int)a->c.peer_timeout_ms;
    a->o.recover_timeout_s = (int)(a->c.recover_timeout_ms / 1000);
    *done = false;
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
    bool done;
    int rc = parse(argc, argv, &a, &done);

    if (done)
        return rc;
    cli_lower_priority(a.c.nice);
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
    cli_out_init(&out, a.c.json, a.c.quiet, "source", -1, -1);
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
    cli_out_finish(&out);
    if (a.c.json) {
        char line[4096];
        xlmig_source_report_json(s, line, sizeof(line));
        printf("%s\n", line);
    } else {
        xlmig_source_get_report(s, &rep);
        cli_print_source_report(stderr, &rep);
    }
    cli_signals_source(NULL);
    cli_out_destroy(&out);
    xlmig_source_free(s);
    if (a.child > 0)
        waitpid(a.child, NULL, 0);
    return rc == 0 ? 0 : 3;
}
