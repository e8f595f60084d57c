/*
 * The memory figures as orchestration sees them (xmem_report.c): the
 * event's JSON (xlmig_event_json of an event carrying xmem_to_event's
 * fields), the status keys (written to the status file here: no xenstore)
 * and `xlmig jobinfo`'s lines (tools/cli_jobinfo.c), from a parser fed
 * libxc's reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli_jobinfo.h"
#include "progress.h"
#include "xmem_report.h"

#define MS 1000000ull

/* Pass 0 of 32768 pages done, pass 1 (6450 pages) 1024 pages in. */
static void stats(struct xmem_stats *st)
{
    struct xmem_parser p;
    uint64_t t = 1000 * MS;

    xmem_parser_init(&p, NULL);
    xmem_parser_feed(&p, t, "xc", "Start of stream", 0, 0);
    for (unsigned long w = 0; w < 32768; w += 1024)
        xmem_parser_feed(&p, t + w * 40 * MS / 1024, "xc",
                         "Frames iteration 0", w, 32768);
    t += 1280 * MS;
    xmem_parser_feed(&p, t, "xc", "Frames iteration 0", 32768, 32768);
    t += 10 * MS;
    xmem_parser_feed(&p, t, "xc", "Frames iteration 1", 0, 6450);
    t += 40 * MS;
    xmem_parser_feed(&p, t, "xc", "Frames iteration 1", 1024, 6450);
    xmem_parser_stats(&p, t, st);
    st->event = XMEM_EV_PROGRESS;
}

/* The event as `xlmig migrate --json` prints it, with its newline. */
static void json(char *buf, size_t len, double t,
                 const struct xmem_stats *st, const struct xmem_ac *ac)
{
    struct xlmig_event ev = xlmig_event_make("memory", "memory");
    struct xlmig_memory m;
    size_t n;

    xmem_to_event(st, ac, &m);
    ev.memory = &m;
    ev.role = "source";
    ev.t = t;
    n = xlmig_event_json(&ev, buf, len - 1);
    assert_true(n < len - 1);
    strcat(buf, "\n");
}

static void test_json(void **state)
{
    struct xmem_stats st;
    struct xmem_ac ac = { 50, 100 };
    char buf[1024] = "";

    (void)state;
    stats(&st);
    json(buf, sizeof(buf), 2.5, &st, &ac);
    /* Worked by hand.  rate: the last 32 reports (the ring), from
     * (120 ms, 3072) to (1330 ms, 33792): 30720 / 1.21 s = 25388.43 pps;
     * dirty: 6450 pages in 1.29 s = 5000 pps; remaining: 5426 + 5000 *
     * 0.04 s = 5626; ETA: 5426 left (0.2137 s), then sets of 1268.6
     * (dirtied in 0.04 + 0.2137 s), 249.8, 49.2 (< 50: sent live) and a
     * final of 9.69 pages: 0.276 s, final 9.69 / 25388 s = 0.382 ms */
    assert_string_equal(buf,
        "{\"event\":\"memory\",\"t\":2.500,\"role\":\"source\","
        "\"phase\":\"memory\",\"mem_state\":\"live\",\"mem_pass\":1,"
        "\"mem_iteration\":1,\"mem_final\":false,\"mem_total_pages\":32768,"
        "\"mem_iter_pages\":6450,\"mem_iter_sent_pages\":1024,"
        "\"mem_sent_pages\":33792,\"mem_remaining_pages\":5626,"
        "\"mem_rate_pps\":25388.430,\"mem_rate_Bps\":103991008,"
        "\"mem_dirty_rate_pps\":5000.000,\"mem_eta_s\":0.276,"
        "\"mem_eta_lower_bound\":false,"
        "\"mem_expected_downtime_ms\":0.382,\"mem_page_size\":4096,"
        "\"ac_throttle_pct\":50,\"ac_cap\":100}\n");

    /* before any pass: only what is known */
    memset(buf, 0, sizeof(buf));
    {
        struct xmem_parser p;
        xmem_parser_init(&p, NULL);
        xmem_parser_feed(&p, 5, "xc", "Start of stream", 0, 0);
        xmem_parser_stats(&p, 5, &st);
    }
    json(buf, sizeof(buf), 0, &st, NULL);
    assert_string_equal(buf,
        "{\"event\":\"memory\",\"t\":0.000,\"role\":\"source\","
        "\"phase\":\"memory\",\"mem_state\":\"started\","
        "\"mem_page_size\":4096}\n");
}

static const char *sget(const struct xst *s, const char *key)
{
    for (unsigned i = 0; i < s->nkv; i++)
        if (!strcmp(s->kv[i].key, key))
            return s->kv[i].val;
    return NULL;
}

static const char *jget(const void *job, const char *key)
{
    return sget(job, key);
}

static void test_status_and_jobinfo(void **state)
{
    struct xst s;
    struct xmem_stats st;
    struct xmem_ac ac = { 70, 60 };
    char buf[2048] = "";
    FILE *f;

    (void)state;
    /* the migrating process' part of the source's status */
    xst_open_part(&s, ".", "00000000-test-xmem-0000-000000000000", "source",
                  "memory", false);
    stats(&st);
    xmem_status_update(&s, &st, &ac);
    assert_string_equal(sget(&s, "mem_state"), "live");
    assert_string_equal(sget(&s, "mem_pass"), "1");
    assert_string_equal(sget(&s, "mem_total_pages"), "32768");
    assert_string_equal(sget(&s, "mem_sent_pages"), "33792");
    assert_string_equal(sget(&s, "mem_remaining_pages"), "5626");
    assert_string_equal(sget(&s, "mem_dirty_rate_pps"), "5000.000");
    assert_string_equal(sget(&s, "ac_throttle_pct"), "70");
    assert_string_equal(sget(&s, "ac_cap"), "60");
    /* within the same engine status, under XST_MAX_KEYS */
    assert_true(s.nkv <= XST_MAX_KEYS);

    /* (the flush stamped the time) */
    assert_non_null(sget(&s, "updated"));
    xst_unset(&s, "updated");
    f = fmemopen(buf, sizeof(buf) - 1, "w");
    cli_jobinfo_print(f, "u", "source", jget, &s);
    fclose(f);
    assert_string_equal(buf,
        "Job:                     storage migration, source side\n"
        "UUID:                    u\n"
        "Memory:                  live, pass 1\n"
        "Memory processed:        132.000 MiB\n"
        "Memory remaining:        21.977 MiB\n"
        "Memory total:            128.000 MiB\n"
        "Memory bandwidth:        99.174 MiB/s\n"
        "Dirty rate:              5000 pages/s\n"
        "Page size:               4096 bytes\n"
        "Iteration:               1\n"
        "Memory ETA:              0.3 s\n"
        "Memory downtime (est.):  0.4 ms\n"
        "Auto converge throttle:  70 % (CPU cap 60)\n");

    /* unknown figures go away */
    st.dirty_pps = -1;
    st.eta_s = -1;
    xmem_status_update(&s, &st, NULL);
    assert_null(sget(&s, "mem_dirty_rate_pps"));
    assert_null(sget(&s, "mem_eta_s"));
    xst_flush(&s);
    unlink(s.file);
    xst_close(&s);

    /* no memory keys: no lines */
    memset(buf, 0, sizeof(buf));
    xst_open(&s, ".", "00000000-test-xmem-0000-000000000001",
             "destination", false);
    f = fmemopen(buf, sizeof(buf) - 1, "w");
    cli_jobinfo_print(f, "u", "destination", jget, &s);
    fclose(f);
    assert_null(strstr(buf, "Memory"));
    assert_null(strstr(buf, "Auto converge"));
    xst_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_status_and_jobinfo),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
