/* Strict, typed option values: see cli_opt.h for the units. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_opt.h"

/* ---- messages -------------------------------------------------------- */

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

/* 1048576 -> "1M", 4096 -> "4k", 3000 -> "3000" (binary prefixes). */
const char *cli_fmt_size(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "kMGT";
    int u = -1;

    while (u < 3 && v && !(v & 1023)) {
        v >>= 10;
        u++;
    }
    snprintf(buf, len, "%" PRIu64 "%.*s", v, u >= 0 ? 1 : 0,
             u >= 0 ? &units[u] : "");
    return buf;
}

/* 125000000 -> "125M" (decimal prefixes). */
const char *cli_fmt_rate(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "kMGT";
    int u = -1;

    while (u < 3 && v && v % 1000 == 0) {
        v /= 1000;
        u++;
    }
    snprintf(buf, len, "%" PRIu64 "%.*s", v, u >= 0 ? 1 : 0,
             u >= 0 ? &units[u] : "");
    return buf;
}

const char *cli_fmt_ms(double ms, char *buf, size_t len)
{
    if (ms >= 3600000 && ms == (double)(uint64_t)(ms / 3600000) * 3600000)
        snprintf(buf, len, "%gh", ms / 3600000);
    else if (ms >= 60000 && ms == (double)(uint64_t)(ms / 60000) * 60000)
        snprintf(buf, len, "%gm", ms / 60000);
    else if (ms >= 1000 && ms == (double)(uint64_t)(ms / 1000) * 1000)
        snprintf(buf, len, "%gs", ms / 1000);
    else
        snprintf(buf, len, "%gms", ms);
    return buf;
}

/* The accepted range, as the end of every message about a value. */
static const char *range_rate(uint64_t min, uint64_t max, unsigned flags,
                              char *buf, size_t len)
{
    char a[32], b[32];

    snprintf(buf, len, "a rate from %s to %s bytes/s%s (e.g. 125M, 1G, "
             "1000Mbit, 64k; M and G are decimal)", cli_fmt_rate(min, a, 32),
             cli_fmt_rate(max, b, 32), flags & CLI_ZERO_OK ? ", or 0" : "");
    return buf;
}

static const char *range_size(uint64_t min, uint64_t max, unsigned flags,
                              char *buf, size_t len)
{
    char a[32], b[32];

    snprintf(buf, len, "%s from %s to %s bytes%s (e.g. 4096, 64k, 1M; k, M, "
             "G, T are binary)", flags & CLI_POW2 ? "a power of two"
                                                  : "a size",
             cli_fmt_size(min, a, 32), cli_fmt_size(max, b, 32),
             flags & CLI_ZERO_OK ? ", or 0" : "");
    return buf;
}

static const char *range_duration(double min, double max, enum cli_unit u,
                                  char *buf, size_t len)
{
    char a[32], b[32];

    snprintf(buf, len, "a duration from %s to %s (ms, s, m or h; a bare "
             "number is in %s)", cli_fmt_ms(min, a, 32), cli_fmt_ms(max, b, 32),
             u == CLI_UNIT_S ? "seconds" : "milliseconds");
    return buf;
}

static const char *range_count(uint64_t min, uint64_t max, char *buf,
                               size_t len)
{
    snprintf(buf, len, "a whole number from %" PRIu64 " to %" PRIu64, min,
             max);
    return buf;
}

/* ---- numbers ----------------------------------------------------------- */

enum { NUM_OK, NUM_EMPTY, NUM_NEG, NUM_NAN, NUM_BIG };

#define FRAC_DIGITS 9

struct num {
    uint64_t ip;        /* integer part */
    uint64_t frac;      /* the first FRAC_DIGITS decimals, as an integer */
    uint64_t fden;      /* 10^(decimals kept); 1 without decimals */
    bool more;          /* non-zero decimals beyond those kept */
    const char *end;    /* the unit */
};

/* A plain decimal: digits, and with allow_frac "." and digits.  No sign,
 * no space, no hex, no exponent, no nan/inf. */
static int scan_num(const char *s, bool allow_frac, struct num *n)
{
    char *end;

    memset(n, 0, sizeof(*n));
    n->fden = 1;
    if (!s || !*s)
        return NUM_EMPTY;
    if (*s == '-' && s[1])
        return NUM_NEG;
    if (*s < '0' || *s > '9')
        return NUM_NAN;
    errno = 0;
    n->ip = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return NUM_BIG;
    if (allow_frac && *end == '.') {
        const char *p = end + 1;
        int k = 0;

        if (*p < '0' || *p > '9')
            return NUM_NAN;     /* "5." or "5.x" */
        for (; *p >= '0' && *p <= '9'; p++) {
            if (k < FRAC_DIGITS) {
                n->frac = n->frac * 10 + (uint64_t)(*p - '0');
                n->fden *= 10;
                k++;
            } else if (*p != '0') {
                n->more = true;
            }
        }
        end = (char *)p;
    }
    n->end = end;
    return NUM_OK;
}

static double num_double(const struct num *n)
{
    return (double)n->ip + (double)n->frac / (double)n->fden;
}

/*
 * n * mul_num / mul_den, exactly.  Returns NUM_BIG past UINT64_MAX;
 * *inexact says whether a fraction of a unit was dropped.
 */
static int num_scale(const struct num *n, uint64_t mul_num, uint64_t mul_den,
                     uint64_t *out, bool *inexact)
{
    unsigned __int128 whole = (unsigned __int128)n->ip * mul_num, t, d;

    if (whole / mul_den > UINT64_MAX)
        return NUM_BIG;
    t = whole * n->fden + (unsigned __int128)n->frac * mul_num;
    d = (unsigned __int128)n->fden * mul_den;
    if (t / d > UINT64_MAX)
        return NUM_BIG;
    *out = (uint64_t)(t / d);
    *inexact = t % d != 0 || n->more;
    return NUM_OK;
}

/* The common failures of scan_num, worded for the option. */
static int num_fail(int rc, const char *opt, const char *s, const char *want,
                    char *err, size_t errlen)
{
    switch (rc) {
    case NUM_EMPTY:
        return fail(err, errlen, "%s: empty value; give %s", opt, want);
    case NUM_NEG:
        return fail(err, errlen, "%s: '%.40s' is negative; give %s", opt, s,
                    want);
    case NUM_BIG:
        return fail(err, errlen, "%s: '%.40s' is too large; give %s", opt, s,
                    want);
    default:
        return fail(err, errlen, "%s: '%.40s' is not a number; give %s", opt, s,
                    want);
    }
}

/* ---- rates ------------------------------------------------------------- */

static int rate_unit(const char *u, uint64_t *num, uint64_t *den)
{
    static const struct { const char *name; uint64_t num, den; } units[] = {
        { "", 1, 1 }, { "B", 1, 1 },
        { "k", 1000, 1 }, { "kB", 1000, 1 },
        { "M", 1000000, 1 }, { "MB", 1000000, 1 },
        { "G", 1000000000, 1 }, { "GB", 1000000000, 1 },
        { "T", 1000000000000ull, 1 }, { "TB", 1000000000000ull, 1 },
        { "KiB", 1ull << 10, 1 }, { "MiB", 1ull << 20, 1 },
        { "GiB", 1ull << 30, 1 }, { "TiB", 1ull << 40, 1 },
        { "kbit", 1000, 8 }, { "Mbit", 1000000, 8 },
        { "Gbit", 1000000000, 8 }, { "Tbit", 1000000000000ull, 8 },
    };
    char buf[16];
    size_t l = strlen(u);

    /* An optional "/s". */
    if (l >= 2 && !strcmp(u + l - 2, "/s"))
        l -= 2;
    if (l >= sizeof(buf))
        return -1;
    memcpy(buf, u, l);
    buf[l] = '\0';
    /* "Mb", "kb", "b": bits or bytes?  Refuse rather than guess. */
    if ((l == 2 && buf[1] == 'b') || (l == 1 && buf[0] == 'b'))
        return -2;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        const char *n = units[i].name;
        /* The prefix letter in either case, the rest as written (bit in
         * any case). */
        if (strlen(n) != l || (l && (buf[0] | 0x20) != (n[0] | 0x20)))
            continue;
        if (l > 1 && strcmp(buf + 1, n + 1) &&
            !(l == 4 && !strcasecmp(buf + 1, "bit") &&
              !strcmp(n + 1, "bit")))
            continue;
        *num = units[i].num;
        *den = units[i].den;
        return 0;
    }
    return -1;
}

int cli_parse_rate(const char *opt, const char *s, uint64_t min, uint64_t max,
                   unsigned flags, uint64_t *Bps, char *err, size_t errlen)
{
    char want[200];
    uint64_t num, den, v;
    bool inexact;
    struct num n;
    int rc;

    range_rate(min, max, flags, want, sizeof(want));
    rc = scan_num(s, true, &n);
    if (rc != NUM_OK)
        return num_fail(rc, opt, s, want, err, errlen);
    rc = rate_unit(n.end, &num, &den);
    if (rc == -2) {
        char c = n.end[1] ? n.end[0] : 'k';
        char pre[2] = { c == 'k' || c == 'K' ? 'k' : (char)(c & ~0x20),
                        '\0' };
        return fail(err, errlen, "%s: '%.40s': is '%.40s' bits or bytes? write "
                    "%sB for bytes/s or %sbit for bits/s; give %s", opt, s,
                    n.end, n.end[1] ? pre : "", pre, want);
    }
    if (rc < 0)
        return fail(err, errlen, "%s: '%.40s' has an unknown unit '%.40s'; give "
                    "%s", opt, s, n.end, want);
    if (num_scale(&n, num, den, &v, &inexact) != NUM_OK)
        return num_fail(NUM_BIG, opt, s, want, err, errlen);
    if (v == 0 && (flags & CLI_ZERO_OK) && !inexact) {
        *Bps = 0;
        return 0;
    }
    if (v < min || v > max)
        return fail(err, errlen, "%s: '%.40s' is out of range; give %s", opt, s,
                    want);
    *Bps = v;
    return 0;
}

/* ---- sizes ------------------------------------------------------------- */

static int size_shift(const char *u)
{
    static const char prefixes[] = "kmgt";
    const char *p;

    if (!*u)
        return 0;
    if (!strcmp(u, "B"))
        return 0;
    p = strchr(prefixes, *u | 0x20);
    if (!p || !*p)
        return -1;
    if (u[1] && strcmp(u + 1, "B") && strcmp(u + 1, "iB"))
        return -1;
    return 10 * (int)(p - prefixes + 1);
}

int cli_parse_size(const char *opt, const char *s, uint64_t min, uint64_t max,
                   unsigned flags, uint64_t *bytes, char *err, size_t errlen)
{
    char want[200];
    bool inexact;
    struct num n;
    uint64_t v;
    int rc, shift;

    range_size(min, max, flags, want, sizeof(want));
    rc = scan_num(s, true, &n);
    if (rc != NUM_OK)
        return num_fail(rc, opt, s, want, err, errlen);
    shift = size_shift(n.end);
    if (shift < 0)
        return fail(err, errlen, "%s: '%.40s' has an unknown unit '%.40s'; give "
                    "%s", opt, s, n.end, want);
    if (num_scale(&n, 1ull << shift, 1, &v, &inexact) != NUM_OK)
        return num_fail(NUM_BIG, opt, s, want, err, errlen);
    if (inexact)
        return fail(err, errlen, "%s: '%.40s' is not a whole number of bytes; "
                    "give %s", opt, s, want);
    if (v == 0 && (flags & CLI_ZERO_OK)) {
        *bytes = 0;
        return 0;
    }
    if (v < min || v > max)
        return fail(err, errlen, "%s: '%.40s' is out of range; give %s", opt, s,
                    want);
    if ((flags & CLI_POW2) && (v & (v - 1)))
        return fail(err, errlen, "%s: '%.40s' is not a power of two; give %s",
                    opt, s, want);
    *bytes = v;
    return 0;
}

/* ---- durations, counts, nice, percentages ------------------------------ */

int cli_parse_duration(const char *opt, const char *s, enum cli_unit bare,
                       double min_ms, double max_ms, double *ms, char *err,
                       size_t errlen)
{
    char want[200];
    struct num n;
    double mul, v;
    int rc;

    range_duration(min_ms, max_ms, bare, want, sizeof(want));
    rc = scan_num(s, true, &n);
    if (rc != NUM_OK)
        return num_fail(rc, opt, s, want, err, errlen);
    if (!*n.end)
        mul = bare == CLI_UNIT_S ? 1000 : 1;
    else if (!strcmp(n.end, "ms"))
        mul = 1;
    else if (!strcmp(n.end, "s"))
        mul = 1000;
    else if (!strcmp(n.end, "m") || !strcmp(n.end, "min"))
        mul = 60000;
    else if (!strcmp(n.end, "h"))
        mul = 3600000;
    else
        return fail(err, errlen, "%s: '%.40s' has an unknown unit '%.40s'; give "
                    "%s", opt, s, n.end, want);
    v = num_double(&n) * mul;
    if (!(v >= min_ms && v <= max_ms))
        return fail(err, errlen, "%s: '%.40s' is out of range; give %s", opt, s,
                    want);
    *ms = v;
    return 0;
}

int cli_parse_count(const char *opt, const char *s, uint64_t min,
                    uint64_t max, uint64_t *v, char *err, size_t errlen)
{
    char want[100];
    struct num n;
    int rc;

    range_count(min, max, want, sizeof(want));
    rc = scan_num(s, false, &n);
    if (rc != NUM_OK)
        return num_fail(rc, opt, s, want, err, errlen);
    if (*n.end)
        return fail(err, errlen, "%s: '%.40s' is not a whole number; give %s",
                    opt, s, want);
    if (n.ip < min || n.ip > max)
        return fail(err, errlen, "%s: '%.40s' is out of range; give %s", opt, s,
                    want);
    *v = n.ip;
    return 0;
}

int cli_parse_nice(const char *opt, const char *s, int *v, char *err,
                   size_t errlen)
{
    static const char want[] = "a nice level from -20 (first) to 19 (last)";
    bool neg = s && s[0] == '-';
    struct num n;
    int rc;

    rc = scan_num(neg ? s + 1 : s, false, &n);
    if (neg && rc == NUM_EMPTY)
        rc = NUM_NAN;           /* a lone "-" */
    if (rc == NUM_NEG)
        rc = NUM_NAN;           /* "--5" */
    if (rc != NUM_OK)
        return num_fail(rc, opt, s, want, err, errlen);
    if (*n.end)
        return fail(err, errlen, "%s: '%.40s' is not a whole number; give %s",
                    opt, s, want);
    if ((neg && n.ip > 20) || (!neg && n.ip > 19))
        return fail(err, errlen, "%s: '%.40s' is out of range; give %s", opt, s,
                    want);
    *v = neg ? -(int)n.ip : (int)n.ip;
    return 0;
}

int cli_parse_percent(const char *opt, const char *s, double min, double max,
                      double *v, char *err, size_t errlen)
{
    char want[100];
    struct num n;
    double x;
    int rc;

    snprintf(want, sizeof(want), "a percentage from %g to %g", min, max);
    rc = scan_num(s, true, &n);
    if (rc != NUM_OK)
        return num_fail(rc, opt, s, want, err, errlen);
    if (*n.end && strcmp(n.end, "%"))
        return fail(err, errlen, "%s: '%.40s' has an unknown unit '%.40s'; give "
                    "%s", opt, s, n.end, want);
    x = num_double(&n);
    if (!(x >= min && x <= max))
        return fail(err, errlen, "%s: '%.40s' is out of range; give %s", opt, s,
                    want);
    *v = x;
    return 0;
}

int cli_parse_port(const char *opt, const char *s, bool allow_any,
                   uint16_t *port, char *err, size_t errlen)
{
    const char *want = allow_any ? "a port from 1 to 65535, or 0 for any"
                                 : "a port from 1 to 65535";
    struct num n;
    int rc;

    rc = scan_num(s, false, &n);
    if (rc != NUM_OK)
        return num_fail(rc, opt, s, want, err, errlen);
    if (*n.end)
        return fail(err, errlen, "%s: '%.40s' is not a port number; give %s",
                    opt, s, want);
    if (n.ip > 65535 || (n.ip == 0 && !allow_any))
        return fail(err, errlen, "%s: port %.40s is out of range; give %s", opt,
                    s, want);
    *port = (uint16_t)n.ip;
    return 0;
}

int cli_parse_choice(const char *opt, const char *s,
                     const char *const *choices, int *index, char *err,
                     size_t errlen)
{
    char want[200] = "";
    size_t l = 0;

    for (int i = 0; choices[i]; i++) {
        if (s && !strcmp(s, choices[i])) {
            *index = i;
            return 0;
        }
        l += (size_t)snprintf(want + l, sizeof(want) - l, "%s%s",
                              i ? ", " : "", choices[i]);
        if (l >= sizeof(want))
            l = sizeof(want) - 1;
    }
    if (!s || !*s)
        return fail(err, errlen, "%s: empty value; give one of %s", opt,
                    want);
    return fail(err, errlen, "%s: '%.40s' is not one of %s", opt, s, want);
}

int cli_check_endpoint_port(const char *spec, char *err, size_t errlen)
{
    const char *rest, *colon;
    bool listen;
    uint16_t port;

    if (!strncmp(spec, "tcp:", 4)) {
        rest = spec + 4;
        listen = false;
    } else if (!strncmp(spec, "tcp-listen:", 11)) {
        rest = spec + 11;
        listen = true;
    } else {
        return 0;
    }
    colon = strrchr(rest, ':');
    if (!colon || colon == rest)
        return fail(err, errlen, "'%.40s': expected %s", spec,
                    listen ? "tcp-listen:ADDR:PORT" : "tcp:HOST:PORT");
    return cli_parse_port(spec, colon + 1, listen, &port, err, errlen);
}
