/*
 * Strict command-line option parsing shared by the xlmig commands.
 *
 * Typed value parsers: each returns 0, or -1 with a message in err that
 * names the option and the accepted range ("--workers: '0' is out of
 * range: give a count from 1 to 8").  Nothing is accepted silently: no
 * empty strings, no trailing garbage, no sign where none is allowed, no
 * overflow, no NaN/inf, no hexadecimal or exponent forms.
 *
 * Units (the same everywhere in xlmig, as in xlmig_parse_rate):
 *   rates     bytes per second, DECIMAL prefixes (network convention):
 *             125M = 125 000 000 B/s, 1G = 10^9 B/s, 64k = 64 000 B/s;
 *             an optional B (125MB); binary only when spelled KiB, MiB,
 *             GiB, TiB; bits per second with kbit, Mbit, Gbit, Tbit
 *             (1000Mbit = 125M); an optional "/s".  Prefix letters are
 *             case-insensitive; "Mb", "kb" (lower-case b after a prefix)
 *             are refused as ambiguous.
 *   sizes     bytes, BINARY prefixes (storage convention, as
 *             xlmig-vbdsim's sizes): 4k = 4096, 1M = 1048576, 2G, 1T; an
 *             optional B or iB (4KiB, 4KB).  Fractions only when the
 *             result is a whole number of bytes (0.5k = 512).
 *   durations a number with ms, s, m or h; a bare number is in the
 *             option's documented unit (CLI_UNIT_MS or CLI_UNIT_S).
 *   counts    plain decimal integers.
 *
 * A table of struct cli_opt describes a command's options; cli_parse()
 * runs getopt_long over one or more tables (the common options of
 * cli_common_opts plus the command's own) and stores typed values, so
 * that every value is checked before anything connects or is created.
 *
 * Only libc: the library can take this file as it is.
 */
#ifndef XLMIG_CLI_OPT_H
#define XLMIG_CLI_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_ERRLEN 256

/* ---- typed value parsers ------------------------------------------------ */

/* Flags for sizes, rates and ports. */
#define CLI_POW2     0x1u       /* sizes: a power of two */
#define CLI_ZERO_OK  0x2u       /* 0 is accepted outside [min, max] (e.g.
                                   "0 = unlimited", port 0 = any) */
#define CLI_OPTARG   0x4u       /* CLI_CALL: the value is optional
                                   (--opt or --opt=VALUE; fn gets NULL) */

enum cli_unit { CLI_UNIT_MS, CLI_UNIT_S };

/* opt: the option's name as the user wrote it, e.g. "--bandwidth". */
int cli_parse_rate(const char *opt, const char *s, uint64_t min, uint64_t max,
                   unsigned flags, uint64_t *Bps, char *err, size_t errlen);
int cli_parse_size(const char *opt, const char *s, uint64_t min, uint64_t max,
                   unsigned flags, uint64_t *bytes, char *err, size_t errlen);
/* The result is in milliseconds; min_ms/max_ms bound it. */
int cli_parse_duration(const char *opt, const char *s, enum cli_unit bare,
                       double min_ms, double max_ms, double *ms, char *err,
                       size_t errlen);
int cli_parse_count(const char *opt, const char *s, uint64_t min,
                    uint64_t max, uint64_t *v, char *err, size_t errlen);
/* -20..19, as setpriority(2). */
int cli_parse_nice(const char *opt, const char *s, int *v, char *err,
                   size_t errlen);
/* "N" or "N%", decimals allowed, within [min, max]. */
int cli_parse_percent(const char *opt, const char *s, double min, double max,
                      double *v, char *err, size_t errlen);
/* 1..65535; with allow_any, 0 too ("any free port"). */
int cli_parse_port(const char *opt, const char *s, bool allow_any,
                   uint16_t *port, char *err, size_t errlen);
/* One of a NULL-terminated list; *index gets its position. */
int cli_parse_choice(const char *opt, const char *s,
                     const char *const *choices, int *index, char *err,
                     size_t errlen);

/*
 * The port field of an endpoint: "tcp:HOST:PORT" needs 1..65535,
 * "tcp-listen:ADDR:PORT" accepts 0 (any).  Other kinds of endpoint (cmd:,
 * fd:, -) pass untouched; the endpoint parser checks the rest.  Meant to
 * be called by xlmig_endpoint_parse() (or before it).
 */
int cli_check_endpoint_port(const char *spec, char *err, size_t errlen);

/* Compact forms of a bound: 1048576 -> "1M" (binary), 125000000 ->
 * "125M" (decimal), 600000 -> "10m". */
const char *cli_fmt_size(uint64_t v, char *buf, size_t len);
const char *cli_fmt_rate(uint64_t v, char *buf, size_t len);
const char *cli_fmt_ms(double ms, char *buf, size_t len);

/* ---- option tables ------------------------------------------------------ */

enum cli_type {
    CLI_FLAG,           /* bool, no argument */
    CLI_RATE,           /* uint64_t bytes/s */
    CLI_SIZE,           /* uint64_t bytes */
    CLI_DURATION,       /* double ms */
    CLI_COUNT,          /* uint64_t */
    CLI_NICE,           /* int */
    CLI_PERCENT,        /* double */
    CLI_PORT,           /* uint16_t */
    CLI_CHOICE,         /* int: index into choices */
    CLI_STRING,         /* const char * (points into argv) */
    CLI_CALL,           /* fn(base, arg): repeatable or special options;
                           without a metavar a flag (arg NULL) */
};

struct cli_opt {
    const char *name;           /* long name, without "--" */
    int short_name;             /* 0: none */
    enum cli_type type;
    size_t offset;              /* of the value in the set's base struct */
    const char *metavar;        /* "RATE", "MS", ...; NULL for flags */
    const char *help;
    uint64_t min, max;          /* RATE, SIZE, COUNT */
    double fmin, fmax;          /* DURATION (ms), PERCENT */
    unsigned flags;             /* CLI_POW2, CLI_ZERO_OK */
    enum cli_unit unit;         /* DURATION: unit of a bare number */
    const char *const *choices; /* CHOICE */
    int (*fn)(void *base, const char *arg, char *err, size_t errlen);
};

struct cli_optset {
    const struct cli_opt *opts;
    size_t n;
    void *base;
    uint64_t seen;              /* out: bit i set when opts[i] was given */
};

#define CLI_MAX_OPTS 64         /* per set (seen is a 64-bit mask) */

/*
 * Parses argv[1..] against the sets.  Returns the index of the first
 * operand (getopt's optind; operands are moved to the end, as GNU getopt
 * does), or -1 with a message in err: an unknown option, a missing or bad
 * value, or the same option name in two sets.  Prints nothing.
 */
int cli_parse(struct cli_optset *sets, size_t nsets, int argc, char **argv,
              char *err, size_t errlen);
/* The options' help lines, with their ranges, as a command's usage. */
void cli_print_options(FILE *f, const struct cli_optset *sets, size_t nsets);
/* True when option `name` of the set was given on the command line. */
bool cli_seen(const struct cli_optset *set, const char *name);

/* ---- the options send and migrate share --------------------------------- */

enum cli_compress { CLI_COMPRESS_AUTO, CLI_COMPRESS_ALWAYS,
                    CLI_COMPRESS_NEVER };

struct cli_common {
    uint64_t bandwidth_Bps;     /* 0: unlimited */
    double max_downtime_ms;
    uint64_t block_size;
    uint64_t workers;
    uint64_t connections;       /* data connections (1..8) */
    int compress;               /* enum cli_compress */
    uint64_t max_passes;
    int nice;
    bool json, quiet, help, version;
    double stopcopy_timeout_ms;         /* sender: the hard limit */
    double keepup_share_pct;            /* 1..100 (100: no cap) */
    double peer_timeout_ms, recover_timeout_ms;  /* cli_timeout_opts */
};

/* The engine's defaults (xlmig_sender_opts_default), nice 10. */
void cli_common_defaults(struct cli_common *c);
extern const struct cli_opt cli_common_opts[];
extern const size_t cli_common_nopts;
/* Just help/version/json/quiet/nice, for the commands that do not send. */
extern const struct cli_opt cli_basic_opts[];
extern const size_t cli_basic_nopts;
/* --peer-timeout and --recover-timeout, for both sides. */
extern const struct cli_opt cli_timeout_opts[];
extern const size_t cli_timeout_nopts;
/* Just -h/--help and -V/--version (base: a struct cli_common). */
extern const struct cli_opt cli_help_opts[];
extern const size_t cli_help_nopts;

#endif
