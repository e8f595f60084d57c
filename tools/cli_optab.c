/*
 * Option tables: getopt_long over struct cli_opt arrays, every value
 * checked by its typed parser, and the common options of send/migrate.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opt.h"

#define LONG_BASE 0x1000
#define MAX_TOTAL 256

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A CLI_CALL without a metavar is a flag (its fn gets NULL). */
static bool takes_arg(const struct cli_opt *o)
{
    return o->type != CLI_FLAG && !(o->type == CLI_CALL && !o->metavar);
}

/* Every option of every set, in one list. */
struct flat {
    const struct cli_opt *o;
    size_t set, idx;
};

static int flatten(struct cli_optset *sets, size_t nsets, struct flat *f,
                   size_t *total, char *err, size_t errlen)
{
    size_t n = 0;

    for (size_t s = 0; s < nsets; s++) {
        if (sets[s].n > CLI_MAX_OPTS)
            return fail(err, errlen, "internal: more than %d options in a "
                        "table", CLI_MAX_OPTS);
        for (size_t i = 0; i < sets[s].n; i++) {
            if (n == MAX_TOTAL)
                return fail(err, errlen, "internal: too many options");
            f[n++] = (struct flat){ &sets[s].opts[i], s, i };
        }
    }
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (!strcmp(f[a].o->name, f[b].o->name) ||
                (f[a].o->short_name &&
                 f[a].o->short_name == f[b].o->short_name))
                return fail(err, errlen, "internal: option --%s declared "
                            "twice", f[a].o->name);
    *total = n;
    return 0;
}

/* Parses one value into the set's base struct. */
static int store(const struct cli_opt *o, void *base, const char *arg,
                 char *err, size_t errlen)
{
    char name[80];
    char *p = (char *)base + o->offset;

    snprintf(name, sizeof(name), "--%s", o->name);
    switch (o->type) {
    case CLI_FLAG:
        *(bool *)p = true;
        return 0;
    case CLI_RATE:
        return cli_parse_rate(name, arg, o->min, o->max, o->flags,
                              (uint64_t *)p, err, errlen);
    case CLI_SIZE:
        return cli_parse_size(name, arg, o->min, o->max, o->flags,
                              (uint64_t *)p, err, errlen);
    case CLI_DURATION:
        return cli_parse_duration(name, arg, o->unit, o->fmin, o->fmax,
                                  (double *)p, err, errlen);
    case CLI_COUNT:
        return cli_parse_count(name, arg, o->min, o->max, (uint64_t *)p, err,
                               errlen);
    case CLI_NICE:
        return cli_parse_nice(name, arg, (int *)p, err, errlen);
    case CLI_PERCENT:
        return cli_parse_percent(name, arg, o->fmin, o->fmax, (double *)p,
                                 err, errlen);
    case CLI_PORT:
        return cli_parse_port(name, arg, o->flags & CLI_ZERO_OK,
                              (uint16_t *)p, err, errlen);
    case CLI_CHOICE:
        return cli_parse_choice(name, arg, o->choices, (int *)p, err,
                                errlen);
    case CLI_STRING:
        if (!*arg)
            return fail(err, errlen, "%s: empty value", name);
        *(const char **)p = arg;
        return 0;
    case CLI_CALL:
        return o->fn(base, arg, err, errlen);
    }
    return fail(err, errlen, "internal: option %s has no type", name);
}

int cli_parse(struct cli_optset *sets, size_t nsets, int argc, char **argv,
              char *err, size_t errlen)
{
    struct flat f[MAX_TOTAL];
    struct option lo[MAX_TOTAL + 1];
    char shorts[2 * MAX_TOTAL + 2];
    size_t total = 0, ns = 0;
    int c;

    if (flatten(sets, nsets, f, &total, err, errlen) < 0)
        return -1;
    shorts[ns++] = ':';         /* ':' for a missing value, silently */
    for (size_t k = 0; k < total; k++) {
        const struct cli_opt *o = f[k].o;
        lo[k] = (struct option){ o->name,
                                 !takes_arg(o) ? no_argument
                                 : o->flags & CLI_OPTARG ? optional_argument
                                 : required_argument,
                                 NULL, LONG_BASE + (int)k };
        if (o->short_name) {
            shorts[ns++] = (char)o->short_name;
            if (takes_arg(o))
                shorts[ns++] = ':';
        }
    }
    memset(&lo[total], 0, sizeof(lo[total]));
    shorts[ns] = '\0';
    for (size_t i = 0; i < nsets; i++)
        sets[i].seen = 0;

    optind = 0;                 /* GNU: start afresh */
    opterr = 0;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        size_t k = total;

        if (c == '?' || c == ':') {
            const char *bad = optind > 0 && optind <= argc ? argv[optind - 1]
                                                           : "?";
            if (optopt >= LONG_BASE && optopt < LONG_BASE + (int)total) {
                const struct cli_opt *o = f[optopt - LONG_BASE].o;
                return c == ':'
                           ? fail(err, errlen, "--%s needs a value (%s)",
                                  o->name, o->metavar ? o->metavar : "")
                           : fail(err, errlen, "--%s takes no value",
                                  o->name);
            }
            if (optopt > 0 && optopt < 256) {
                return c == ':'
                           ? fail(err, errlen, "-%c needs a value", optopt)
                           : fail(err, errlen, "unknown option '-%c'",
                                  optopt);
            }
            return fail(err, errlen, "unknown option '%s'", bad);
        }
        if (c >= LONG_BASE) {
            k = (size_t)(c - LONG_BASE);
        } else {
            for (size_t j = 0; j < total; j++)
                if (f[j].o->short_name == c)
                    k = j;
        }
        if (k >= total)
            return fail(err, errlen, "internal: option %d unknown", c);
        if (store(f[k].o, sets[f[k].set].base, optarg, err, errlen) < 0)
            return -1;
        sets[f[k].set].seen |= 1ull << f[k].idx;
    }
    return optind;
}

bool cli_seen(const struct cli_optset *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->opts[i].name, name))
            return set->seen & (1ull << i);
    return false;
}

/* ---- help -------------------------------------------------------------- */

static void print_range(FILE *f, const struct cli_opt *o)
{
    char a[32], b[32];

    switch (o->type) {
    case CLI_RATE:
        fprintf(f, "%s%s..%s bytes/s", o->flags & CLI_ZERO_OK ? "0, " : "",
                cli_fmt_rate(o->min, a, sizeof(a)),
                cli_fmt_rate(o->max, b, sizeof(b)));
        break;
    case CLI_SIZE:
        fprintf(f, "%s%s..%s%s", o->flags & CLI_ZERO_OK ? "0, " : "",
                cli_fmt_size(o->min, a, sizeof(a)),
                cli_fmt_size(o->max, b, sizeof(b)),
                o->flags & CLI_POW2 ? ", a power of two" : "");
        break;
    case CLI_DURATION:
        fprintf(f, "%s..%s, bare number in %s",
                cli_fmt_ms(o->fmin, a, sizeof(a)),
                cli_fmt_ms(o->fmax, b, sizeof(b)),
                o->unit == CLI_UNIT_S ? "s" : "ms");
        break;
    case CLI_COUNT:
        fprintf(f, "%" PRIu64 "..%" PRIu64, o->min, o->max);
        break;
    case CLI_NICE:
        fprintf(f, "-20..19");
        break;
    case CLI_PERCENT:
        fprintf(f, "%g..%g %%", o->fmin, o->fmax);
        break;
    case CLI_PORT:
        fprintf(f, "%s..65535", o->flags & CLI_ZERO_OK ? "0" : "1");
        break;
    case CLI_CHOICE:
        for (int i = 0; o->choices[i]; i++)
            fprintf(f, "%s%s", i ? "|" : "", o->choices[i]);
        break;
    default:
        break;
    }
}

void cli_print_options(FILE *f, const struct cli_optset *sets, size_t nsets)
{
    for (size_t s = 0; s < nsets; s++)
        for (size_t i = 0; i < sets[s].n; i++) {
            const struct cli_opt *o = &sets[s].opts[i];
            char lhs[80];
            int n;

            n = snprintf(lhs, sizeof(lhs), "  %c%c%s--%s%s%s%s",
                         o->short_name ? '-' : ' ',
                         o->short_name ? o->short_name : ' ',
                         o->short_name ? ", " : "  ", o->name,
                         !o->metavar ? "" : o->flags & CLI_OPTARG ? "[="
                                                                  : " ",
                         o->metavar ? o->metavar : "",
                         o->metavar && o->flags & CLI_OPTARG ? "]" : "");
            fprintf(f, "%s%*s%s", lhs, n < 28 ? 28 - n : 1, "", o->help);
            if (o->type != CLI_FLAG && o->type != CLI_STRING &&
                o->type != CLI_CALL) {
                fprintf(f, " [");
                print_range(f, o);
                fprintf(f, "]");
            }
            fputc('\n', f);
        }
}

/* ---- the options send and migrate share -------------------------------- */

static const char *const compress_modes[] = { "auto", "always", "never",
                                              NULL };

#define OFF(f) offsetof(struct cli_common, f)

const struct cli_opt cli_common_opts[] = {
    { .name = "bandwidth", .type = CLI_RATE, .offset = OFF(bandwidth_Bps),
      .metavar = "RATE", .help = "limit the data channel (default 0: no "
      "limit), e.g. 125M, 1000Mbit", .min = 1000, .max = 1000000000000ull,
      .flags = CLI_ZERO_OK },
    { .name = "max-downtime", .type = CLI_DURATION,
      .offset = OFF(max_downtime_ms), .metavar = "MS",
      .help = "disk downtime budget (default 50ms)", .fmin = 1,
      .fmax = 600000, .unit = CLI_UNIT_MS },
    { .name = "block-size", .type = CLI_SIZE, .offset = OFF(block_size),
      .metavar = "SIZE", .help = "tracking granularity (default 4096)",
      .min = 512, .max = 1u << 20, .flags = CLI_POW2 },
    { .name = "workers", .type = CLI_COUNT, .offset = OFF(workers),
      .metavar = "N", .help = "compression/read threads (default 2)",
      .min = 1, .max = 8 },
    { .name = "connections", .type = CLI_COUNT, .offset = OFF(connections),
      .metavar = "N", .help = "data connections carrying the blocks in "
      "parallel (default 1; TCP only)", .min = 1, .max = 8 },
    { .name = "compress", .type = CLI_CHOICE, .offset = OFF(compress),
      .metavar = "MODE", .help = "zlib on the data channel (default auto: "
      "when measured to be faster: link-bound, CPU to spare)", .choices = compress_modes },
    { .name = "max-passes", .type = CLI_COUNT, .offset = OFF(max_passes),
      .metavar = "N", .help = "dirty passes at most (default 30; 0: none, "
      "stop-copy right after the full pass)", .min = 0, .max = 1000 },
    { .name = "stopcopy-timeout", .type = CLI_DURATION,
      .offset = OFF(stopcopy_timeout_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 100, .fmax = 3600000, .help = "hard limit: the guest resumes "
      "here if the destination has not confirmed stop-copy S after the "
      "suspend (default 30)" },
    { .name = "keepup-share", .type = CLI_PERCENT,
      .offset = OFF(keepup_share_pct), .metavar = "PCT", .fmin = 1,
      .fmax = 100, .help = "while the memory moves, keep-up uses at most "
      "PCT of the link on average when post-copy can take the rest "
      "(default 25; 100: no cap)" },
    { .name = "nice", .type = CLI_NICE, .offset = OFF(nice),
      .metavar = "N", .help = "run at this nice level (default 10; 0 keeps "
      "the caller's)" },
    { .name = "json", .type = CLI_FLAG, .offset = OFF(json),
      .help = "progress events and the report as JSON on stdout" },
    { .name = "quiet", .short_name = 'q', .type = CLI_FLAG,
      .offset = OFF(quiet), .help = "no human progress on stderr" },
    { .name = "help", .short_name = 'h', .type = CLI_FLAG,
      .offset = OFF(help), .help = "this help" },
    { .name = "version", .short_name = 'V', .type = CLI_FLAG,
      .offset = OFF(version), .help = "the version" },
};
const size_t cli_common_nopts = sizeof(cli_common_opts) /
                                sizeof(cli_common_opts[0]);

const struct cli_opt cli_timeout_opts[] = {
    { .name = "peer-timeout", .type = CLI_DURATION,
      .offset = OFF(peer_timeout_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 1000, .fmax = 3600000, .help = "a peer that sends nothing, not "
      "even a heartbeat, for S is gone (default 30)" },
    { .name = "recover-timeout", .type = CLI_DURATION,
      .offset = OFF(recover_timeout_ms), .metavar = "S", .unit = CLI_UNIT_S,
      .fmin = 0, .fmax = 7 * 86400000.0, .help = "a broken post-copy is "
      "retried (waited for) this long; the guest runs meanwhile (default "
      "3600)" },
};
const size_t cli_timeout_nopts = sizeof(cli_timeout_opts) /
                                 sizeof(cli_timeout_opts[0]);

/* For the commands that do not send: nice, json, quiet, help, version. */
const struct cli_opt cli_basic_opts[] = {
    { .name = "nice", .type = CLI_NICE, .offset = OFF(nice),
      .metavar = "N", .help = "run at this nice level (default 10; 0 keeps "
      "the caller's)" },
    { .name = "json", .type = CLI_FLAG, .offset = OFF(json),
      .help = "progress events and the report as JSON on stdout" },
    { .name = "quiet", .short_name = 'q', .type = CLI_FLAG,
      .offset = OFF(quiet), .help = "no human progress on stderr" },
    { .name = "help", .short_name = 'h', .type = CLI_FLAG,
      .offset = OFF(help), .help = "this help" },
    { .name = "version", .short_name = 'V', .type = CLI_FLAG,
      .offset = OFF(version), .help = "the version" },
};
const size_t cli_basic_nopts = sizeof(cli_basic_opts) /
                               sizeof(cli_basic_opts[0]);

/* Only -h/--help and -V/--version. */
const struct cli_opt cli_help_opts[] = {
    { .name = "help", .short_name = 'h', .type = CLI_FLAG,
      .offset = OFF(help), .help = "this help" },
    { .name = "version", .short_name = 'V', .type = CLI_FLAG,
      .offset = OFF(version), .help = "the version" },
};
const size_t cli_help_nopts = sizeof(cli_help_opts) /
                              sizeof(cli_help_opts[0]);

void cli_common_defaults(struct cli_common *c)
{
    memset(c, 0, sizeof(*c));
    c->bandwidth_Bps = 0;
    c->max_downtime_ms = 50;
    c->block_size = 4096;
    c->workers = 2;
    c->connections = 1;
    c->compress = CLI_COMPRESS_AUTO;
    c->max_passes = 30;
    c->nice = 10;
    c->stopcopy_timeout_ms = 30000;
    c->keepup_share_pct = 25;
    c->peer_timeout_ms = 30000;
    c->recover_timeout_ms = 3600000;
}
