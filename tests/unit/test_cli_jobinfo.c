/*
 * `xlmig jobinfo`'s text (tools/cli_jobinfo.c) from a job's keys: the
 * disk rows, auto-converge's throttle, steps and original cap, and a cap
 * record a migration that died left behind (running or gone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cli_jobinfo.h"

struct kv {
    const char *k, *v;
};

static const char *get(const void *job, const char *key)
{
    for (const struct kv *p = job; p->k; p++)
        if (!strcmp(p->k, key))
            return p->v;
    return NULL;
}

static void print(const struct kv *job, const char *role, char *buf,
                  size_t len)
{
    FILE *f = fmemopen(buf, len - 1, "w");

    assert_non_null(f);
    memset(buf, 0, len);
    cli_jobinfo_print(f, "u1", role, get, job);
    fclose(f);
}

static void test_autoconverge(void **state)
{
    static const struct kv job[] = {
        { "name", "g1" }, { "state", "active" }, { "phase", "keepup" },
        { "mem_state", "live" }, { "mem_pass", "3" },
        { "ac_throttle_pct", "70" }, { "ac_cap", "24" },
        { "ac_orig_cap", "80" }, { "ac_sched", "credit2" },
        { "ac_steps", "12.3:50:40 15.25:70:24" }, { NULL, NULL },
    };
    char buf[4096];

    (void)state;
    print(job, "source", buf, sizeof(buf));
    assert_string_equal(buf,
        "Job:                     storage migration, source side\n"
        "UUID:                    u1\n"
        "Domain                   g1\n"
        "State                    active\n"
        "Phase                    keepup\n"
        "Memory:                  live, pass 3\n"
        "Page size:               4096 bytes\n"
        "Auto converge throttle:  70 % (CPU cap 24)\n"
        "Auto converge steps:     50 % at 12.3 s (cap 40), "
        "70 % at 15.2 s (cap 24)\n"
        "Original CPU cap:        80 (credit2)\n");
}

static void test_restored(void **state)
{
    static const struct kv job[] = {
        { "mem_state", "complete" }, { "ac_throttle_pct", "90" },
        { "ac_cap", "0" }, { "ac_orig_cap", "0" }, { "ac_sched", "credit" },
        { "ac_restored", "yes" }, { NULL, NULL },
    };
    static const struct kv bad[] = {
        { "ac_orig_cap", "0" }, { "ac_sched", "credit" },
        { "ac_restored", "no" }, { NULL, NULL },
    };
    char buf[4096];

    (void)state;
    print(job, "source", buf, sizeof(buf));
    assert_non_null(strstr(buf, "Original CPU cap:        0, none (credit), "
                                "restored\n"));
    print(bad, "source", buf, sizeof(buf));
    assert_non_null(strstr(buf, "(credit), NOT restored\n"));
    assert_null(strstr(buf, "Memory"));
}

static void test_record(void **state)
{
    static const struct kv gone[] = {
        { "name", "g1" }, { "acrec_sched", "credit2" }, { "acrec_cap", "0" },
        { "acrec_current", "20" }, { "acrec_owner", "1234:5678" },
        { "acrec_alive", "no" }, { NULL, NULL },
    };
    static const struct kv alive[] = {
        { "acrec_sched", "credit" }, { "acrec_cap", "50" },
        { "acrec_current", "25" }, { "acrec_owner", "77:1" },
        { "acrec_alive", "yes" }, { NULL, NULL },
    };
    char buf[4096];

    (void)state;
    print(gone, "source", buf, sizeof(buf));
    assert_non_null(strstr(buf, "Auto converge:           CPU cap 20 left by "
                                "process 1234 (gone); original 0 (credit2): "
                                "run xlmig recover-cap g1\n"));
    print(alive, "source", buf, sizeof(buf));
    /* no name: the UUID */
    assert_non_null(strstr(buf, "Auto converge:           CPU cap 25 set by "
                                "process 77 (migrating); original 50 "
                                "(credit)\n"));
    assert_null(strstr(buf, "recover-cap"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autoconverge),
        cmocka_unit_test(test_restored),
        cmocka_unit_test(test_record),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
