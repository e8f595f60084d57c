/*
 * The shared option parser: every bad input of issue 10 is refused with a
 * message naming the option and the accepted range, and each type's
 * boundaries hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli_opt.h"

static char err[CLI_ERRLEN];

/* The message names the option and says what is accepted. */
#define assert_msg(opt, ...)                                                 \
    do {                                                                     \
        const char *want_[] = { __VA_ARGS__, NULL };                         \
        assert_non_null(strstr(err, opt));                                   \
        for (int i_ = 0; want_[i_]; i_++)                                    \
            if (!strstr(err, want_[i_]))                                     \
                fail_msg("'%s' not in message: %s", want_[i_], err);         \
    } while (0)

static uint64_t rate_ok(const char *s)
{
    uint64_t v = 12345;

    err[0] = '\0';
    if (cli_parse_rate("--bandwidth", s, 1000, 1000000000000ull, CLI_ZERO_OK,
                       &v, err, sizeof(err)))
        fail_msg("rate '%s' refused: %s", s, err);
    return v;
}

static void rate_bad(const char *s)
{
    uint64_t v = 777;

    err[0] = '\0';
    if (!cli_parse_rate("--bandwidth", s, 1000, 1000000000000ull,
                        CLI_ZERO_OK, &v, err, sizeof(err)))
        fail_msg("rate '%s' accepted as %llu", s, (unsigned long long)v);
    assert_int_equal(v, 777);           /* untouched on failure */
    assert_msg("--bandwidth", "1k", "1T");
}

static void test_rate(void **state)
{
    (void)state;
    /* Decimal prefixes, as xlmig_parse_rate. */
    assert_int_equal(rate_ok("125M"), 125000000);
    assert_int_equal(rate_ok("125m"), 125000000);
    assert_int_equal(rate_ok("125MB"), 125000000);
    assert_int_equal(rate_ok("125MB/s"), 125000000);
    assert_int_equal(rate_ok("1G"), 1000000000);
    assert_int_equal(rate_ok("64k"), 64000);
    assert_int_equal(rate_ok("64K"), 64000);
    assert_int_equal(rate_ok("1000Mbit"), 125000000);
    assert_int_equal(rate_ok("1000mbit"), 125000000);
    assert_int_equal(rate_ok("1Gbit/s"), 125000000);
    assert_int_equal(rate_ok("8kbit"), 1000);
    assert_int_equal(rate_ok("1.5G"), 1500000000);
    assert_int_equal(rate_ok("2.3k"), 2300);      /* exact, no float */
    assert_int_equal(rate_ok("0.7M"), 700000);
    assert_int_equal(rate_ok("4.1k"), 4100);
    /* Binary only when spelled so. */
    assert_int_equal(rate_ok("1MiB"), 1048576);
    assert_int_equal(rate_ok("2KiB/s"), 2048);
    /* Boundaries: 0 (no limit), min, max. */
    assert_int_equal(rate_ok("0"), 0);
    assert_int_equal(rate_ok("0M"), 0);
    assert_int_equal(rate_ok("1000"), 1000);
    assert_int_equal(rate_ok("1k"), 1000);
    assert_int_equal(rate_ok("1T"), 1000000000000ull);
    assert_int_equal(rate_ok("8000Gbit"), 1000000000000ull);
    rate_bad("999");
    rate_bad("1.001T");
    rate_bad("1TB1");
    rate_bad("0.0001k");        /* 0.1 B/s is not 0 = unlimited */
    /* Garbage. */
    rate_bad("");
    rate_bad("abc");
    rate_bad("-5M");
    rate_bad("+5M");
    rate_bad(" 5M");
    rate_bad("5M ");
    rate_bad("5 M");
    rate_bad("5X");
    rate_bad("5.M");
    rate_bad(".5M");
    rate_bad("nan");
    rate_bad("inf");
    rate_bad("infinity");
    rate_bad("0x10M");
    rate_bad("1e6");
    rate_bad("99999999999999999999999");        /* strtoull overflow */
    rate_bad("18446744073709551615T");          /* overflow when scaled */
    rate_bad("5Mbits");
    {
        /* A long value does not push the range out of the message. */
        char big[600];
        memset(big, '7', sizeof(big) - 2);
        big[sizeof(big) - 2] = 'Q';
        big[sizeof(big) - 1] = '\0';
        rate_bad(big);
    }
    rate_bad("5M/");
    /* Bits or bytes? Refused rather than guessed. */
    rate_bad("100Mb");
    assert_non_null(strstr(err, "bits or bytes"));
    assert_non_null(strstr(err, "MB"));
    assert_non_null(strstr(err, "Mbit"));
    rate_bad("100kb");
    rate_bad("1gb");
    assert_non_null(strstr(err, "write GB for bytes/s or Gbit"));
    rate_bad("100b");
}

static uint64_t bs_ok(const char *s)
{
    uint64_t v = 0;

    if (cli_parse_size("--block-size", s, 512, 1u << 20, CLI_POW2, &v, err,
                       sizeof(err)))
        fail_msg("size '%s' refused: %s", s, err);
    return v;
}

static void bs_bad(const char *s, const char *why)
{
    uint64_t v = 777;

    err[0] = '\0';
    if (!cli_parse_size("--block-size", s, 512, 1u << 20, CLI_POW2, &v, err,
                        sizeof(err)))
        fail_msg("block size '%s' accepted as %llu", s,
                 (unsigned long long)v);
    assert_int_equal(v, 777);
    assert_msg("--block-size", "512", "1M", "power of two", why);
}

static void test_size(void **state)
{
    uint64_t v;

    (void)state;
    assert_int_equal(bs_ok("512"), 512);
    assert_int_equal(bs_ok("4096"), 4096);
    assert_int_equal(bs_ok("4k"), 4096);
    assert_int_equal(bs_ok("4K"), 4096);
    assert_int_equal(bs_ok("4KiB"), 4096);
    assert_int_equal(bs_ok("4KB"), 4096);
    assert_int_equal(bs_ok("0.5k"), 512);
    assert_int_equal(bs_ok("1M"), 1048576);
    assert_int_equal(bs_ok("1024k"), 1048576);
    /* Issue 10: 3000 and abc were taken ("block size 0"). */
    bs_bad("3000", "not a power of two");
    bs_bad("abc", "not a number");
    bs_bad("256", "out of range");
    bs_bad("511", "out of range");
    bs_bad("2M", "out of range");
    bs_bad("1048577", "out of range");
    bs_bad("0", "out of range");
    bs_bad("", "empty");
    bs_bad("-4096", "negative");
    bs_bad("4kb", "unknown unit");
    bs_bad("4096B2", "unknown unit");
    bs_bad("0.3k", "whole number");
    bs_bad("4096.5", "whole number");
    bs_bad("4096.0000000001", "whole number");
    bs_bad("99999999999999999999", "too large");
    /* General sizes: the full range, T, and overflow. */
    assert_int_equal(cli_parse_size("--size", "16T", 1, UINT64_MAX, 0, &v,
                                    err, sizeof(err)), 0);
    assert_int_equal(v, 16ull << 40);
    assert_int_equal(cli_parse_size("--size", "18446744073709551615", 1,
                                    UINT64_MAX, 0, &v, err, sizeof(err)), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(cli_parse_size("--size", "16777216T", 1, UINT64_MAX, 0,
                                    &v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too large"));
    assert_int_equal(cli_parse_size("--size", "0", 1, 100, CLI_ZERO_OK, &v,
                                    err, sizeof(err)), 0);
    assert_int_equal(v, 0);
}

static int dur(const char *s, enum cli_unit u, double *ms)
{
    err[0] = '\0';
    return cli_parse_duration("--max-downtime", s, u, 1, 600000, ms, err,
                              sizeof(err));
}

static void test_duration(void **state)
{
    double ms = -1;

    (void)state;
    assert_int_equal(dur("50", CLI_UNIT_MS, &ms), 0);
    assert_true(ms == 50);
    assert_int_equal(dur("50ms", CLI_UNIT_S, &ms), 0);
    assert_true(ms == 50);
    assert_int_equal(dur("2.5", CLI_UNIT_MS, &ms), 0);
    assert_true(ms == 2.5);
    assert_int_equal(dur("1.5s", CLI_UNIT_MS, &ms), 0);
    assert_true(ms == 1500);
    assert_int_equal(dur("3", CLI_UNIT_S, &ms), 0);
    assert_true(ms == 3000);
    assert_int_equal(dur("10m", CLI_UNIT_MS, &ms), 0);
    assert_true(ms == 600000);
    assert_int_equal(dur("1", CLI_UNIT_MS, &ms), 0);
    assert_true(ms == 1);
    ms = 42;
    /* Issue 10: -5 and abc were taken. */
    assert_int_equal(dur("-5", CLI_UNIT_MS, &ms), -1);
    assert_msg("--max-downtime", "negative", "1ms", "10m", "milliseconds");
    assert_int_equal(dur("abc", CLI_UNIT_MS, &ms), -1);
    assert_msg("--max-downtime", "not a number", "1ms", "10m");
    assert_true(ms == 42);
    assert_int_equal(dur("0.5", CLI_UNIT_MS, &ms), -1);
    assert_msg("--max-downtime", "out of range");
    assert_int_equal(dur("0", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("600001", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("11m", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("1h", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("601", CLI_UNIT_S, &ms), -1);
    assert_msg("--max-downtime", "seconds");
    assert_int_equal(dur("", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("50 ms", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("50msec", CLI_UNIT_MS, &ms), -1);
    assert_msg("--max-downtime", "unknown unit 'msec'");
    assert_int_equal(dur("nan", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("inf", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("1e3", CLI_UNIT_MS, &ms), -1);
    assert_int_equal(dur("99999999999999999999999", CLI_UNIT_MS, &ms), -1);
    assert_true(ms == 42);
}

static int count(const char *opt, const char *s, uint64_t min, uint64_t max,
                 uint64_t *v)
{
    err[0] = '\0';
    return cli_parse_count(opt, s, min, max, v, err, sizeof(err));
}

static void test_count(void **state)
{
    uint64_t v = 99;

    (void)state;
    assert_int_equal(count("--workers", "1", 1, 8, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(count("--workers", "8", 1, 8, &v), 0);
    assert_int_equal(v, 8);
    v = 99;
    /* Issue 10: --workers 0|abc|100000 and --max-passes -1. */
    assert_int_equal(count("--workers", "0", 1, 8, &v), -1);
    assert_msg("--workers", "out of range", "1 to 8");
    assert_int_equal(count("--workers", "abc", 1, 8, &v), -1);
    assert_msg("--workers", "not a number", "1 to 8");
    assert_int_equal(count("--workers", "100000", 1, 8, &v), -1);
    assert_msg("--workers", "out of range", "1 to 8");
    assert_int_equal(count("--workers", "9", 1, 8, &v), -1);
    assert_int_equal(count("--max-passes", "-1", 0, 1000, &v), -1);
    assert_msg("--max-passes", "negative", "0 to 1000");
    assert_int_equal(count("--workers", "2.0", 1, 8, &v), -1);
    assert_msg("--workers", "whole number");
    assert_int_equal(count("--workers", "2k", 1, 8, &v), -1);
    assert_int_equal(count("--workers", "", 1, 8, &v), -1);
    assert_msg("--workers", "empty");
    assert_int_equal(count("--workers", " 2", 1, 8, &v), -1);
    assert_int_equal(count("--workers", "0x2", 1, 8, &v), -1);
    assert_int_equal(count("--workers", "+2", 1, 8, &v), -1);
    assert_int_equal(v, 99);
    assert_int_equal(count("--seed", "18446744073709551615", 0, UINT64_MAX,
                           &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(count("--seed", "18446744073709551616", 0, UINT64_MAX,
                           &v), -1);
    assert_msg("--seed", "too large");
}

static void test_nice(void **state)
{
    int v = 99;

    (void)state;
    assert_int_equal(cli_parse_nice("--nice", "-20", &v, err, sizeof(err)),
                     0);
    assert_int_equal(v, -20);
    assert_int_equal(cli_parse_nice("--nice", "19", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 19);
    assert_int_equal(cli_parse_nice("--nice", "0", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cli_parse_nice("--nice", "-0", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 0);
    v = 99;
    /* Issue 10: --nice abc. */
    assert_int_equal(cli_parse_nice("--nice", "abc", &v, err, sizeof(err)),
                     -1);
    assert_msg("--nice", "not a number", "-20", "19");
    assert_int_equal(cli_parse_nice("--nice", "20", &v, err, sizeof(err)),
                     -1);
    assert_msg("--nice", "out of range", "-20", "19");
    assert_int_equal(cli_parse_nice("--nice", "-21", &v, err, sizeof(err)),
                     -1);
    assert_int_equal(cli_parse_nice("--nice", "-", &v, err, sizeof(err)), -1);
    assert_int_equal(cli_parse_nice("--nice", "--5", &v, err, sizeof(err)),
                     -1);
    assert_int_equal(cli_parse_nice("--nice", "", &v, err, sizeof(err)), -1);
    assert_int_equal(cli_parse_nice("--nice", "5x", &v, err, sizeof(err)),
                     -1);
    assert_int_equal(cli_parse_nice("--nice", "-99999999999999999999", &v,
                                    err, sizeof(err)), -1);
    assert_int_equal(v, 99);
}

static void test_percent(void **state)
{
    double v = -1;

    (void)state;
    assert_int_equal(cli_parse_percent("--read-pct", "0", 0, 95, &v, err,
                                       sizeof(err)), 0);
    assert_true(v == 0);
    assert_int_equal(cli_parse_percent("--read-pct", "95%", 0, 95, &v, err,
                                       sizeof(err)), 0);
    assert_true(v == 95);
    assert_int_equal(cli_parse_percent("--read-pct", "12.5", 0, 95, &v, err,
                                       sizeof(err)), 0);
    assert_true(v == 12.5);
    assert_int_equal(cli_parse_percent("--read-pct", "95.1", 0, 95, &v, err,
                                       sizeof(err)), -1);
    assert_msg("--read-pct", "out of range", "0 to 95");
    assert_int_equal(cli_parse_percent("--read-pct", "-1", 0, 95, &v, err,
                                       sizeof(err)), -1);
    assert_msg("--read-pct", "negative");
    assert_int_equal(cli_parse_percent("--read-pct", "5%%", 0, 95, &v, err,
                                       sizeof(err)), -1);
    assert_int_equal(cli_parse_percent("--read-pct", "nan", 0, 95, &v, err,
                                       sizeof(err)), -1);
    assert_true(v == 12.5);
}

static void test_port(void **state)
{
    uint16_t p = 7;

    (void)state;
    assert_int_equal(cli_parse_port("--data-port", "1", false, &p, err,
                                    sizeof(err)), 0);
    assert_int_equal(p, 1);
    assert_int_equal(cli_parse_port("--data-port", "65535", false, &p, err,
                                    sizeof(err)), 0);
    assert_int_equal(p, 65535);
    assert_int_equal(cli_parse_port("--data-port", "0", true, &p, err,
                                    sizeof(err)), 0);
    assert_int_equal(p, 0);
    p = 7;
    assert_int_equal(cli_parse_port("--data-port", "0", false, &p, err,
                                    sizeof(err)), -1);
    assert_msg("--data-port", "1 to 65535");
    assert_int_equal(cli_parse_port("--data-port", "65536", true, &p, err,
                                    sizeof(err)), -1);
    assert_msg("--data-port", "out of range", "0 for any");
    assert_int_equal(cli_parse_port("--data-port", "99999", true, &p, err,
                                    sizeof(err)), -1);
    assert_int_equal(cli_parse_port("--data-port", "ssh", true, &p, err,
                                    sizeof(err)), -1);
    assert_int_equal(cli_parse_port("--data-port", "80x", true, &p, err,
                                    sizeof(err)), -1);
    assert_int_equal(cli_parse_port("--data-port", "-1", true, &p, err,
                                    sizeof(err)), -1);
    assert_int_equal(p, 7);
}

static void test_endpoint_port(void **state)
{
    (void)state;
    /* Issue 10: 99999 silently became 34463. */
    assert_int_equal(cli_check_endpoint_port("tcp:127.0.0.1:99999", err,
                                             sizeof(err)), -1);
    assert_msg("tcp:127.0.0.1:99999", "port 99999 is out of range",
               "1 to 65535");
    assert_int_equal(cli_check_endpoint_port("tcp-listen:127.0.0.1:99999",
                                             err, sizeof(err)), -1);
    assert_msg("tcp-listen:127.0.0.1:99999", "0 for any");
    assert_int_equal(cli_check_endpoint_port("tcp:host:0", err,
                                             sizeof(err)), -1);
    assert_int_equal(cli_check_endpoint_port("tcp:host:", err, sizeof(err)),
                     -1);
    assert_int_equal(cli_check_endpoint_port("tcp:host:65536", err,
                                             sizeof(err)), -1);
    assert_int_equal(cli_check_endpoint_port("tcp:host", err, sizeof(err)),
                     -1);
    assert_int_equal(cli_check_endpoint_port("tcp:[::1]:http", err,
                                             sizeof(err)), -1);
    assert_int_equal(cli_check_endpoint_port("tcp:host:65535", err,
                                             sizeof(err)), 0);
    assert_int_equal(cli_check_endpoint_port("tcp:[::1]:7000", err,
                                             sizeof(err)), 0);
    assert_int_equal(cli_check_endpoint_port("tcp-listen:0.0.0.0:0", err,
                                             sizeof(err)), 0);
    /* As split_host_port: the address cannot be empty. */
    assert_int_equal(cli_check_endpoint_port("tcp-listen::7000", err,
                                             sizeof(err)), -1);
    /* Not TCP: left to the endpoint parser. */
    assert_int_equal(cli_check_endpoint_port("cmd:ssh h xlmig receive -",
                                             err, sizeof(err)), 0);
    assert_int_equal(cli_check_endpoint_port("fd:3,4", err, sizeof(err)), 0);
    assert_int_equal(cli_check_endpoint_port("-", err, sizeof(err)), 0);
}

static void test_choice(void **state)
{
    static const char *const modes[] = { "auto", "always", "never", NULL };
    int i = -1;

    (void)state;
    assert_int_equal(cli_parse_choice("--compress", "never", modes, &i, err,
                                      sizeof(err)), 0);
    assert_int_equal(i, 2);
    assert_int_equal(cli_parse_choice("--compress", "zstd", modes, &i, err,
                                      sizeof(err)), -1);
    assert_msg("--compress", "'zstd'", "auto, always, never");
    assert_int_equal(cli_parse_choice("--compress", "", modes, &i, err,
                                      sizeof(err)), -1);
    assert_int_equal(cli_parse_choice("--compress", "Auto", modes, &i, err,
                                      sizeof(err)), -1);
    assert_int_equal(i, 2);
}

/* ---- tables ---------------------------------------------------------- */

struct own {
    const char *vbd[4];
    int nvbd;
    double accept_ms;
    uint16_t port;
};

static int add_vbd(void *base, const char *arg, char *e, size_t el)
{
    struct own *o = base;

    if (o->nvbd == 4)
        return snprintf(e, el, "--vbd: at most 4"), -1;
    o->vbd[o->nvbd++] = arg;
    return 0;
}

static const struct cli_opt own_opts[] = {
    { .name = "vbd", .type = CLI_CALL, .metavar = "SPEC", .help = "a disk",
      .fn = add_vbd },
    { .name = "accept-timeout", .type = CLI_DURATION,
      .offset = offsetof(struct own, accept_ms), .metavar = "S",
      .help = "wait for the sender", .fmin = 1000, .fmax = 86400000,
      .unit = CLI_UNIT_S },
    { .name = "data-port", .type = CLI_PORT,
      .offset = offsetof(struct own, port), .metavar = "PORT",
      .help = "listen there", .flags = CLI_ZERO_OK },
};

/* Parses a command line given as one string (words split on spaces). */
static int run(struct cli_common *c, struct own *o, const char *line,
               struct cli_optset *sets, char ***argv_out)
{
    static char buf[1024];
    static char *argv[64];
    int argc = 0;

    cli_common_defaults(c);
    memset(o, 0, sizeof(*o));
    sets[0] = (struct cli_optset){ cli_common_opts, cli_common_nopts, c, 0 };
    sets[1] = (struct cli_optset){ own_opts, 3, o, 0 };
    snprintf(buf, sizeof(buf), "send %s", line);
    for (char *p = strtok(buf, " "); p && argc < 63; p = strtok(NULL, " "))
        argv[argc++] = strcmp(p, "''") ? p : (char *)"";
    argv[argc] = NULL;
    *argv_out = argv;
    err[0] = '\0';
    return cli_parse(sets, 2, argc, argv, err, sizeof(err));
}

static void bad_line(const char *line, const char *opt, const char *range)
{
    struct cli_optset sets[2];
    struct cli_common c;
    struct own o;
    char **argv;

    if (run(&c, &o, line, sets, &argv) >= 0)
        fail_msg("'%s' was accepted", line);
    if (!strstr(err, opt) || !strstr(err, range))
        fail_msg("'%s': message lacks '%s' or '%s': %s", line, opt, range,
                 err);
}

static void test_table(void **state)
{
    struct cli_optset sets[2];
    struct cli_common c;
    struct own o;
    char **argv;
    int first;

    (void)state;
    first = run(&c, &o, "--vbd sim:/a --bandwidth 1000Mbit --max-downtime "
                "20 --block-size 64k --workers 4 --compress never "
                "--max-passes 0 --nice -5 --json -q --vbd sim:/b "
                "tcp:h:7000 --accept-timeout 2m --data-port=0", sets, &argv);
    assert_true(first > 0);
    assert_string_equal(argv[first], "tcp:h:7000");
    assert_null(argv[first + 1]);
    assert_int_equal(c.bandwidth_Bps, 125000000);
    assert_true(c.max_downtime_ms == 20);
    assert_int_equal(c.block_size, 65536);
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.compress, CLI_COMPRESS_NEVER);
    assert_int_equal(c.max_passes, 0);
    assert_int_equal(c.nice, -5);
    assert_true(c.json && c.quiet && !c.help && !c.version);
    assert_int_equal(o.nvbd, 2);
    assert_string_equal(o.vbd[1], "sim:/b");
    assert_true(o.accept_ms == 120000);
    assert_int_equal(o.port, 0);
    assert_true(cli_seen(&sets[0], "nice"));
    assert_true(cli_seen(&sets[1], "data-port"));
    assert_false(cli_seen(&sets[0], "help"));

    /* Defaults stay when nothing is given; operands are found. */
    first = run(&c, &o, "-", sets, &argv);
    assert_int_equal(first, 1);
    assert_string_equal(argv[first], "-");
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.block_size, 4096);
    assert_true(c.max_downtime_ms == 50);
    assert_int_equal(c.max_passes, 30);
    assert_int_equal(c.nice, 10);
    assert_int_equal(sets[0].seen, 0);

    /* -h, -V, --help, --version everywhere. */
    assert_true(run(&c, &o, "-h", sets, &argv) >= 0 && c.help);
    assert_true(run(&c, &o, "--help", sets, &argv) >= 0 && c.help);
    assert_true(run(&c, &o, "-V", sets, &argv) >= 0 && c.version);
    assert_true(run(&c, &o, "--version", sets, &argv) >= 0 && c.version);

    /* Issue 10's bad inputs, through the table. */
    bad_line("--max-downtime -5 -", "--max-downtime", "1ms to 10m");
    bad_line("--max-downtime abc -", "--max-downtime", "1ms to 10m");
    bad_line("--workers 0 -", "--workers", "1 to 8");
    bad_line("--workers abc -", "--workers", "1 to 8");
    bad_line("--workers 100000 -", "--workers", "1 to 8");
    bad_line("--max-passes -1 -", "--max-passes", "0 to 1000");
    bad_line("--nice abc -", "--nice", "-20");
    bad_line("--block-size 3000 -", "--block-size", "power of two");
    bad_line("--block-size abc -", "--block-size", "512 to 1M");
    bad_line("--bandwidth 100Mb -", "--bandwidth", "Mbit");
    bad_line("--compress fast -", "--compress", "auto, always, never");
    bad_line("--accept-timeout 0 -", "--accept-timeout", "1s to 24h");
    bad_line("--data-port 99999 -", "--data-port", "0 for any");
    bad_line("--workers '' -", "--workers", "empty");
    /* Usage errors. */
    bad_line("--frobnicate -", "unknown option", "--frobnicate");
    bad_line("-x -", "unknown option", "-x");
    bad_line("--workers", "--workers", "needs a value");
    bad_line("--json=yes -", "--json", "takes no value");
    bad_line("--vbd 1 --vbd 2 --vbd 3 --vbd 4 --vbd 5 -", "--vbd",
             "at most 4");
}

static void test_table_duplicates(void **state)
{
    struct cli_common a, b;
    struct cli_optset sets[2] = {
        { cli_common_opts, cli_common_nopts, &a, 0 },
        { cli_basic_opts, cli_basic_nopts, &b, 0 },
    };
    char *argv[] = { (char *)"x", NULL };

    (void)state;
    assert_int_equal(cli_parse(sets, 2, 1, argv, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "declared twice"));
}

static void test_help_text(void **state)
{
    struct cli_common c;
    struct cli_optset set = { cli_common_opts, cli_common_nopts, &c, 0 };
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    cli_print_options(f, &set, 1);
    fclose(f);
    assert_non_null(strstr(buf, "--bandwidth RATE"));
    assert_non_null(strstr(buf, "[0, 1k..1T bytes/s]"));
    assert_non_null(strstr(buf, "[512..1M, a power of two]"));
    assert_non_null(strstr(buf, "[1ms..10m, bare number in ms]"));
    assert_non_null(strstr(buf, "--workers N"));
    assert_non_null(strstr(buf, "[1..8]"));
    assert_non_null(strstr(buf, "[auto|always|never]"));
    assert_non_null(strstr(buf, "-h, --help"));
    assert_non_null(strstr(buf, "-V, --version"));
    free(buf);
}

/* A callback without a metavar is a flag: it takes no value (xl's -v,
 * repeatable), so the next word stays an option or an operand. */
static int count_v(void *base, const char *arg, char *e, size_t el)
{
    (void)e;
    (void)el;
    assert_null(arg);
    (*(int *)base)++;
    return 0;
}

static void test_call_flag(void **state)
{
    static const struct cli_opt opts[] = {
        { .name = "verbose", .short_name = 'v', .type = CLI_CALL,
          .fn = count_v, .help = "more" },
        { .name = "with-storage", .type = CLI_FLAG, .offset = sizeof(int),
          .help = "x" },
    };
    struct { int v; bool storage; } b = { 0, false };
    struct cli_optset set = { opts, 2, &b, 0 };
    char a0[] = "migrate", a1[] = "-v", a2[] = "--with-storage", a3[] = "-v",
         a4[] = "dom";
    char *argv[] = { a0, a1, a2, a3, a4, NULL };

    (void)state;
    assert_int_equal(cli_parse(&set, 1, 5, argv, err, sizeof(err)), 4);
    assert_int_equal(b.v, 2);
    assert_true(b.storage);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_nice),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_endpoint_port),
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_call_flag),
        cmocka_unit_test(test_table_duplicates),
        cmocka_unit_test(test_help_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
