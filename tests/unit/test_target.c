/*
 * Unit tests for target.c: what an estimate may conclude about a target
 * without creating anything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "target.h"

/*
 * A --target-dir that does not exist yet (the receiver makes it with one
 * mkdir when it really migrates): the check counts its parent's file
 * system, creates nothing, and says a new file would be made.
 */
static void test_check_missing_target_dir(void **state)
{
    char tmpl[] = "/tmp/xlmig-target.XXXXXX", dir[512], path[600];
    struct xlmig_target_policy p = { 0 };
    struct xlmig_target_space sp;
    struct xlmig_error err = { 0 };
    struct stat st;
    bool would = false;

    (void)state;
    assert_non_null(mkdtemp(tmpl));
    snprintf(dir, sizeof(dir), "%s/fresh", tmpl);
    snprintf(path, sizeof(path), "%s/xvda.img", dir);
    p.target_dir = dir;
    if (xlmig_target_check(&p, path, 1 << 20, 1 << 16, NULL, 0, &sp, &would,
                           &err) != 0)
        fail_msg("check refused: %s", err.msg);
    assert_true(would);
    assert_true(sp.checked);
    assert_int_equal(stat(dir, &st), -1);       /* nothing was made */
    /* a directory that is not the target dir must exist */
    p.target_dir = NULL;
    assert_true(xlmig_target_check(&p, path, 1 << 20, 1 << 16, NULL, 0,
                                   &sp, &would, &err) < 0);
    assert_int_equal(rmdir(tmpl), 0);
}

/* The directory that holds a path, and a directory's parent. */
static void test_parent(void **state)
{
    static const char *const cases[][3] = {
        /* path, xlmig_path_parent, xlmig_dir_parent */
        { "/a/b/c", "/a/b", "/a/b" },
        { "/a/b/", "/a/b", "/a" },
        { "/a//", "/a/", "/" },
        { "/a", "/", "/" },
        { "/", "/", "/" },
        { "a/b", "a", "a" },
        { "a", ".", "." },
        { "a/", "a", "." },
    };
    char buf[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "%s", cases[i][0]);
        xlmig_path_parent(buf, sizeof(buf));
        assert_string_equal(buf, cases[i][1]);
        snprintf(buf, sizeof(buf), "%s", cases[i][0]);
        xlmig_dir_parent(buf, sizeof(buf));
        assert_string_equal(buf, cases[i][2]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_missing_target_dir),
        cmocka_unit_test(test_parent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
