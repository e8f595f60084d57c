/*
 * The CPU cap for auto-converge (xconv_cap.c) against a fake host: a
 * table of domains with their scheduler and cap, an in-memory xenstore
 * with transactions, owners alive or dead, and failures on demand.
 * Checks the throttle-to-cap arithmetic, that no cap is ever set before
 * the original is recorded, and that the original comes back on every
 * path: success, failure, a failed set, and a crashed migrating process
 * (recovery from the record), without touching what is not ours.
 * The owner check against /proc runs for real.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "err.h"
#include "fake_cap.h"
#include "xconv_cap.h"

#define U1 "6f0c7a52-1d7e-4b8e-9a51-0c1d2e3f4a5b"
#define U2 "00000000-1111-2222-3333-444444444444"
#define DIR1 "/local/domain/0/xlmig/" U1 "/cap"

static const struct xconv_cap_ops *const ops = &fake_cap_ops;

static const char *kv(struct host *h, const char *key)
{
    char path[192];
    int j;

    snprintf(path, sizeof(path), "%s/%s", DIR1, key);
    j = fake_cap_kv_find(h, path);
    return j < 0 ? NULL : h->kv[j].v;
}

static struct host *host_new(void)
{
    struct host *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    fake_cap_add_dom(h, 7, U1, "credit2", 0, 2);
    return h;
}

/* ---- tests ------------------------------------------------------------ */

static void test_cap_for(void **state)
{
    struct xconv_orig o = { "credit", 0, 256, 1 };

    (void)state;
    assert_int_equal(xconv_cap_for(&o, 50), 50);
    assert_int_equal(xconv_cap_for(&o, 99), 1);
    assert_int_equal(xconv_cap_for(&o, 0), 0);      /* the original */
    o.vcpus = 4;
    assert_int_equal(xconv_cap_for(&o, 20), 320);
    assert_int_equal(xconv_cap_for(&o, 90), 40);
    o.cap = 150;                                    /* an existing cap */
    assert_int_equal(xconv_cap_for(&o, 50), 75);
    assert_int_equal(xconv_cap_for(&o, 0), 150);
    o.cap = 1;                                      /* never 0 (= none) */
    assert_int_equal(xconv_cap_for(&o, 99), 1);
    assert_int_equal(xconv_cap_for(&o, 50), 1);
    o.cap = 1000;                                   /* above what it has */
    assert_int_equal(xconv_cap_for(&o, 50), 200);
    o.cap = 0;
    o.vcpus = 0;                                    /* treated as 1 */
    assert_int_equal(xconv_cap_for(&o, 30), 70);
}

static void test_success_path(void **state)
{
    struct host *h = host_new();
    struct xconv_cap c;
    struct xlmig_error err;
    int cap;

    (void)state;
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "123:456", &err),
                     0);
    /* recorded, nothing set */
    assert_int_equal(h->nset, 0);
    assert_string_equal(kv(h, "sched"), "credit2");
    assert_string_equal(kv(h, "cap"), "0");
    assert_string_equal(kv(h, "weight"), "256");
    assert_string_equal(kv(h, "vcpus"), "2");
    assert_string_equal(kv(h, "domid"), "7");
    assert_string_equal(kv(h, "owner"), "123:456");
    assert_non_null(kv(h, "started"));
    assert_int_equal(h->nput, 1);               /* one transaction */

    assert_int_equal(xconv_cap_throttle(&c, 50, &cap, &err), 0);
    assert_int_equal(cap, 100);                 /* 2 vCPUs, half */
    assert_int_equal(fake_cap_find(h, 7)->cap, 100);
    assert_int_equal(xconv_cap_throttle(&c, 90, &cap, &err), 0);
    assert_int_equal(cap, 20);
    assert_string_equal(kv(h, "current"), "20");
    assert_string_equal(kv(h, "pending"), "20");
    assert_string_equal(kv(h, "throttle"), "90");
    /* write-ahead: the record before any set, pending before each */
    assert_string_equal(h->log, "put put set:100 put put set:20 put ");

    /* success: the source domain is suspended, then destroyed */
    assert_int_equal(xconv_cap_restore(&c, &err), 0);
    assert_int_equal(fake_cap_find(h, 7)->cap, 0);
    assert_null(kv(h, "sched"));
    assert_int_equal(h->nkv, 0);
    /* twice is harmless */
    assert_int_equal(xconv_cap_restore(&c, &err), 0);
    assert_int_equal(h->nset, 3);
    free(h);
}

static void test_restore_after_destroy(void **state)
{
    struct host *h = host_new();
    struct xconv_cap c;
    struct xlmig_error err;

    (void)state;
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), 0);
    h->dom[0].exists = false;                  /* destroyed after GO */
    assert_int_equal(xconv_cap_restore(&c, &err), 0);
    assert_int_equal(h->nkv, 0);
    free(h);
    /* a new domain took domid 7: not ours, not touched */
    h = host_new();
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), 0);
    snprintf(h->dom[0].uuid, sizeof(h->dom[0].uuid), "%s", U2);
    assert_int_equal(xconv_cap_restore(&c, &err), 0);
    assert_int_equal(h->dom[0].cap, 100);
    assert_int_equal(h->nkv, 0);
    free(h);
}

static void test_refusals(void **state)
{
    struct host *h = host_new();
    struct xconv_cap c, c2;
    struct xlmig_error err;

    (void)state;
    fake_cap_add_dom(h, 8, U2, "rtds", 0, 1);
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 8, U2, "1:1", &err),
                     -EINVAL);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "credit or credit2"));
    assert_non_null(strstr(err.msg, "rtds"));
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 9, U2, "1:1", &err),
                     -ENOENT);
    assert_non_null(strstr(err.msg, "no domain 9"));
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U2, "1:1", &err),
                     -ENOENT);
    /* libxl fails: its code and message come through */
    h->fail_get = true;
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err),
                     -EIO);
    assert_string_equal(err.msg, "get failed");
    h->fail_get = false;
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, "../../x", "1:1",
                                       &err), -EINVAL);
    assert_int_equal(h->nkv, 0);
    /* no record, no throttle */
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), -EINVAL);
    /* xenstore refuses the record: nothing is set */
    h->fail_put = true;
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), -EIO);
    assert_non_null(strstr(err.msg, "cannot record"));
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), -EINVAL);
    assert_int_equal(h->nset, 0);
    assert_int_equal(xconv_cap_restore(&c, &err), 0);
    h->fail_put = false;
    /* an earlier record must be recovered first */
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_prepare(&c2, ops, h, 7, U1, "2:2", &err),
                     -EEXIST);
    assert_non_null(strstr(err.msg, "recover it first"));
    assert_string_equal(kv(h, "owner"), "1:1");
    /* pending cannot be written: the cap is not set either */
    h->fail_put = true;
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), -EIO);
    assert_int_equal(h->nset, 0);
    h->fail_put = false;
    assert_int_equal(xconv_cap_restore(&c, &err), 0);
    free(h);
}

/* The cap cannot be set back: the record stays for a later recovery. */
static void test_failed_restore(void **state)
{
    struct host *h = host_new();
    struct xconv_cap c;
    struct xconv_recovery r;
    struct xlmig_error err;

    (void)state;
    h->dom[0].cap = 150;
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), 0);
    assert_int_equal(h->dom[0].cap, 75);
    h->fail_set = true;
    assert_int_equal(xconv_cap_throttle(&c, 70, NULL, &err), -EIO);
    assert_string_equal(kv(h, "pending"), "45");
    assert_string_equal(kv(h, "current"), "75");
    assert_int_equal(xconv_cap_restore(&c, &err), -EIO);
    assert_string_equal(err.msg, "set failed");
    assert_non_null(kv(h, "sched"));
    h->fail_set = false;
    /* the process died meanwhile: recovery finds our 75 */
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_RESTORED);
    assert_int_equal(r.found_cap, 75);
    assert_int_equal(r.orig.cap, 150);
    assert_int_equal(h->dom[0].cap, 150);
    assert_int_equal(h->nkv, 0);
    free(h);
}

/* The migrating process crashed mid-throttle. */
static void test_recover(void **state)
{
    struct host *h = host_new();
    struct xconv_cap c;
    struct xconv_recovery r;
    struct xlmig_error err;

    (void)state;
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_NONE);

    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_throttle(&c, 70, NULL, &err), 0);
    assert_int_equal(h->dom[0].cap, 60);
    /* still running: not ours to touch */
    h->alive = true;
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_BUSY);
    assert_string_equal(r.owner, "1:1");
    assert_int_equal(h->dom[0].cap, 60);
    assert_non_null(kv(h, "sched"));
    /* dead: the original back, the record gone */
    h->alive = false;
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_RESTORED);
    assert_int_equal(r.domid, 7);
    assert_string_equal(r.orig.sched, "credit2");
    assert_int_equal(h->dom[0].cap, 0);
    assert_int_equal(h->nkv, 0);
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_NONE);

    /* someone else set another cap meanwhile: left as it is */
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), 0);
    h->dom[0].cap = 60;
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_CHANGED);
    assert_int_equal(r.found_cap, 60);
    assert_int_equal(h->dom[0].cap, 60);
    assert_int_equal(h->nkv, 0);
    /* crashed inside a set that did happen: "pending" knows it was ours */
    h->dom[0].cap = 0;
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), 0);
    h->fail_set = true;
    assert_int_equal(xconv_cap_throttle(&c, 90, NULL, &err), -EIO);
    h->fail_set = false;
    h->dom[0].cap = 20;
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_RESTORED);
    assert_int_equal(h->dom[0].cap, 0);

    /* the domain had its cap already; the domain is gone; domid reused */
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_ALREADY);
    assert_int_equal(xconv_cap_prepare(&c, ops, h, 7, U1, "1:1", &err), 0);
    assert_int_equal(xconv_cap_throttle(&c, 50, NULL, &err), 0);
    snprintf(h->dom[0].uuid, sizeof(h->dom[0].uuid), "%s", U2);
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), 0);
    assert_int_equal(r.what, XCONV_GONE);
    assert_int_equal(h->dom[0].cap, 100);       /* the other one's */
    assert_int_equal(h->nkv, 0);
    free(h);
}

static void test_recover_bad_record(void **state)
{
    struct host *h = host_new();
    struct xconv_recovery r;
    struct xlmig_error err;
    const char *keys[] = { "sched", "cap", "domid", "vcpus" };
    const char *vals[] = { "credit", "x12", "7", "1" };

    (void)state;
    fake_cap_ops.put(h, DIR1, keys, vals, 4);
    assert_int_equal(xconv_cap_recover(ops, h, U1, &r, &err), -EIO);
    assert_non_null(strstr(err.msg, "unreadable"));
    assert_int_equal(h->dom[0].cap, 0);
    assert_int_equal(xconv_cap_recover(ops, h, "not-a-uuid", &r, &err),
                     -EINVAL);
    free(h);
}

/* The owner check, for real: this process, a dead child, a reused pid. */
static void test_owner(void **state)
{
    char me[64], child[64], fake[64];
    pid_t pid;

    (void)state;
    assert_int_equal(xconv_owner_self(me, sizeof(me)), 0);
    assert_true(xconv_owner_alive(me));
    {
        /* the start time: clock ticks since boot, so within the uptime */
        unsigned long long start = 0;
        double up = 0;
        FILE *f = fopen("/proc/uptime", "r");
        long self = -1;

        assert_int_equal(sscanf(me, "%ld:%llu", &self, &start), 2);
        assert_int_equal(self, (long)getpid());
        assert_non_null(f);
        assert_int_equal(fscanf(f, "%lf", &up), 1);
        fclose(f);
        assert_true(start > 0);
        assert_true((double)start / (double)sysconf(_SC_CLK_TCK) <= up + 1);
    }
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    assert_true(pid > 0);
    assert_int_equal(xconv_owner_of(pid, child, sizeof(child)), 0);
    assert_true(xconv_owner_alive(child));
    kill(pid, SIGKILL);
    for (int i = 0; i < 1000 && xconv_owner_alive(child); i++)
        usleep(1000);                   /* a zombie counts as dead */
    assert_false(xconv_owner_alive(child));
    waitpid(pid, NULL, 0);
    assert_false(xconv_owner_alive(child));
    snprintf(fake, sizeof(fake), "%ld:1", (long)getpid());
    assert_false(xconv_owner_alive(fake));     /* same pid, other start */
    assert_false(xconv_owner_alive("garbage"));
    assert_false(xconv_owner_alive(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_for),
        cmocka_unit_test(test_success_path),
        cmocka_unit_test(test_restore_after_destroy),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_failed_restore),
        cmocka_unit_test(test_recover),
        cmocka_unit_test(test_recover_bad_record),
        cmocka_unit_test(test_owner),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
