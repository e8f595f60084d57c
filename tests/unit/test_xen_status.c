/*
 * The migration status that xlmig jobinfo reads (status.c): what one phase
 * reported must not linger into the next, and a finished job shows nothing
 * remaining.  (No xenstore here: the status goes to the file alone.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "status.h"

static const char *get(const struct xst *s, const char *key)
{
    for (unsigned i = 0; i < s->nkv; i++)
        if (!strcmp(s->kv[i].key, key))
            return s->kv[i].val;
    return NULL;
}

static void test_phases_and_done(void **state)
{
    char dir[] = "xlmig-status-XXXXXX";       /* in the build tree */
    struct xst s;
    struct xlmig_event ev;

    (void)state;
    assert_non_null(mkdtemp(dir));
    xst_open(&s, dir, "00000000-test-status-0000-000000000000", "source",
             false);
    ev = xlmig_event_make("pass", "dirty");
    ev.pass = 3;
    ev.remaining_bytes = 8192;
    ev.eta_s = 1.5;
    ev.expected_downtime_ms = 1500;
    xst_progress_hook(&s, &ev);
    ev = xlmig_event_make("stopcopy", "stopcopy");
    ev.remaining_blocks = 11375;
    ev.message = "handing the stale bitmap over (post-copy)";
    xst_progress_hook(&s, &ev);
    assert_string_equal(get(&s, "remaining_blocks"), "11375");
    assert_null(get(&s, "eta_s"));          /* the dirty pass's, gone */
    assert_null(get(&s, "remaining_bytes"));
    assert_non_null(get(&s, "message"));

    ev = xlmig_event_make("phase", "postcopy");
    ev.remaining_blocks = 11375;
    xst_progress_hook(&s, &ev);
    assert_string_equal(get(&s, "state"), "postcopy");
    assert_null(get(&s, "message"));        /* stop-copy's, gone */
    ev = xlmig_event_make("progress", "postcopy");
    ev.remaining_blocks = 20;
    ev.eta_s = 0.5;
    xst_progress_hook(&s, &ev);
    assert_string_equal(get(&s, "remaining_blocks"), "20");
    assert_string_equal(get(&s, "pass"), "3");      /* not per phase */

    ev = xlmig_event_make("done", "done");
    xst_progress_hook(&s, &ev);
    assert_string_equal(get(&s, "state"), "completed");
    assert_string_equal(get(&s, "remaining_blocks"), "0");
    assert_string_equal(get(&s, "remaining_bytes"), "0");
    assert_null(get(&s, "eta_s"));

    /* set again after an unset: back, and no longer queued for removal */
    xst_unset(&s, "pass");
    assert_null(get(&s, "pass"));
    xst_set(&s, "pass", "%d", 4);
    assert_string_equal(get(&s, "pass"), "4");
    for (unsigned i = 0; i < s.ngone; i++)
        assert_string_not_equal(s.gone[i], "pass");
    xst_flush(&s);
    assert_int_equal(access(s.file, R_OK), 0);
    unlink(s.file);
    xst_close(&s);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phases_and_done),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
