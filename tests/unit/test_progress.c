/* Progress events: the JSON contract scripts rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "progress.h"

static char *emit(struct xlmig_event *ev)
{
    struct xlmig_emitter em;
    char *buf;
    size_t n;

    /* As a side's emitter stamps it, then as --json prints it. */
    xlmig_emitter_init(&em, "source", NULL, NULL, NULL);
    xlmig_emit(&em, ev);
    n = xlmig_event_json(ev, NULL, 0);
    buf = malloc(n + 2);
    assert_non_null(buf);
    assert_int_equal(xlmig_event_json(ev, buf, n + 1), n);
    strcat(buf, "\n");
    return buf;
}

static void test_truncation(void **state)
{
    struct xlmig_event ev = xlmig_event_make("phase", "push");
    char small[16];
    size_t need;

    (void)state;
    ev.message = "a message longer than the buffer";
    need = xlmig_event_json(&ev, small, sizeof(small));
    /* Like snprintf: the length it needed, a terminated prefix. */
    assert_true(need > sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "{\"event\":\"phase", sizeof(small) - 1);
}

static void test_fields(void **state)
{
    struct xlmig_event ev = xlmig_event_make("pass", "dirty");
    char *out;

    (void)state;
    ev.pass = 3;
    ev.remaining_blocks = 12;
    ev.remaining_bytes = 49152;
    ev.rate_Bps = 117000000;
    ev.eta_s = 0.0004;
    ev.expected_downtime_ms = 0.4;
    out = emit(&ev);
    assert_non_null(strstr(out, "{\"event\":\"pass\",\"t\":"));
    assert_non_null(strstr(out, "\"role\":\"source\",\"phase\":\"dirty\","
                                "\"pass\":3,\"remaining_blocks\":12,"
                                "\"remaining_bytes\":49152"));
    assert_non_null(strstr(out, "\"rate_Bps\":117000000"));
    assert_non_null(strstr(out, "\"expected_downtime_ms\":0.4}"));
    /* Not applicable: left out rather than printed as -1. */
    assert_null(strstr(out, "sent_bytes"));
    assert_null(strstr(out, "message"));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
}

static void test_escaping(void **state)
{
    struct xlmig_event ev = xlmig_event_make("error", NULL);
    char *out;

    (void)state;
    ev.message = "disk \"xvda\": bad\\path\n\ttab";
    out = emit(&ev);
    assert_non_null(strstr(out, "\"message\":\"disk \\\"xvda\\\": "
                                "bad\\\\path\\u000a\\u0009tab\"}"));
    /* One event, one line. */
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
}

static void test_memory(void **state)
{
    struct xlmig_event ev = xlmig_event_make("autoconverge", "memory");
    struct xlmig_memory m;
    char *out;

    (void)state;
    xlmig_memory_init(&m);
    /* nothing known but the state: only the state */
    ev.memory = &m;
    m.state = "started";
    out = emit(&ev);
    assert_non_null(strstr(out, "\"phase\":\"memory\","
                                "\"mem_state\":\"started\"}"));
    free(out);
    m.state = "live";
    m.pass = 2;
    m.iteration = 2;
    m.total_pages = 32768;
    m.iter_pages = 30000;
    m.iter_sent_pages = 0;
    m.sent_pages = 60000;
    m.remaining_pages = 30000;
    m.dirty_rate_pps = 12345.5;
    m.page_size = 4096;
    m.throttle_pct = 50;
    m.cap = 50;
    m.orig_cap = 0;
    m.sched = "credit2";
    ev.message = "throttle";
    out = emit(&ev);
    assert_non_null(strstr(out, "\"mem_state\":\"live\",\"mem_pass\":2,"
        "\"mem_iteration\":2,\"mem_final\":false,"
        "\"mem_total_pages\":32768,\"mem_iter_pages\":30000,"
        "\"mem_iter_sent_pages\":0,\"mem_sent_pages\":60000,"
        "\"mem_remaining_pages\":30000,\"mem_dirty_rate_pps\":12345.500,"
        "\"mem_page_size\":4096,\"ac_throttle_pct\":50,\"ac_cap\":50,"
        "\"ac_orig_cap\":0,\"ac_sched\":\"credit2\","
        "\"message\":\"throttle\"}"));
    /* the disk fields of the event still follow their rules */
    assert_null(strstr(out, "remaining_bytes"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
