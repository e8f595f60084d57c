/*
 * Disk selection from real xl.cfg samples (parsed by libxlutil) and JSON
 * configurations (parsed by libxl), and the destination's path policy.
 * Samples live in tests/xen/; XLMIG_XEN_SAMPLES points there.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "disks.h"
#include "tpolicy.h"
#include "xcold.h"

static libxl_ctx *ctx;
static struct xlmig_error err;

static const char *sample(const char *name)
{
    static char path[4096];
    const char *dir = getenv("XLMIG_XEN_SAMPLES");

    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/xen", name);
    return path;
}

/* /dev/...: a block device; /nfs/...: an image on NFS; else an image. */
static int fake_probe(const char *path, struct xprobe_result *r)
{
    r->kind = !strncmp(path, "/dev/", 5) ? XCTL_KIND_BLOCK : XCTL_KIND_FILE;
    r->netfs = !strncmp(path, "/nfs/", 5) ? "nfs" : NULL;
    return path[0] == '/' ? 0 : -1;
}

static void load_cfg(const char *name, libxl_domain_config *c)
{
    libxl_domain_config_init(c);
    assert_int_equal(xdisk_load_xlcfg(sample(name), c, &err), 0);
}

static void load_json(const char *name, libxl_domain_config *c)
{
    FILE *f = fopen(sample(name), "r");
    char *buf = calloc(1, 65536);

    assert_non_null(f);
    assert_non_null(buf);
    assert_true(fread(buf, 1, 65535, f) > 0);
    fclose(f);
    libxl_domain_config_init(c);
    assert_int_equal(libxl_domain_config_from_json(ctx, c, buf), 0);
    free(buf);
}

static int setup(void **state)
{
    (void)state;
    return libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, NULL) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    libxl_ctx_free(ctx);
    return 0;
}

/* ---- selection ---- */

static void test_file_and_phy_local(void **state)
{
    libxl_domain_config c;
    struct xsel sel = { .mode = XSEL_LOCAL };
    struct xdisk d[XLMIG_MAX_DISKS];
    unsigned n;

    (void)state;
    load_cfg("g1-file-phy.cfg", &c);
    assert_string_equal(c.c_info.name, "g1");
    assert_int_equal(xdisk_select(&c, &sel, fake_probe, d, &n, &err), 2);
    assert_int_equal(n, 2);
    assert_string_equal(d[0].vdev, "xvda");
    assert_string_equal(d[0].path, "/var/lib/xen/images/g1.img");
    assert_int_equal(d[0].kind, XCTL_KIND_FILE);
    assert_int_equal(d[1].kind, XCTL_KIND_BLOCK);
    assert_int_equal(d[1].action, XDISK_MIGRATE);
    libxl_domain_config_dispose(&c);
}

static void test_mixed_shared(void **state)
{
    libxl_domain_config c;
    struct xsel sel = { .mode = XSEL_LOCAL };
    struct xdisk d[XLMIG_MAX_DISKS];
    unsigned n;

    (void)state;
    load_cfg("g2-mixed.cfg", &c);
    assert_int_equal(xdisk_select(&c, &sel, fake_probe, d, &n, &err), 1);
    assert_int_equal(n, 5);
    assert_int_equal(d[0].action, XDISK_MIGRATE);       /* local image */
    assert_int_equal(d[1].action, XDISK_SHARED);        /* block-iscsi */
    assert_non_null(strstr(d[1].why, "block-iscsi"));
    assert_int_equal(d[2].action, XDISK_SHARED);        /* on NFS */
    assert_non_null(strstr(d[2].why, "nfs"));
    assert_int_equal(d[3].action, XDISK_SHARED);        /* ISO */
    assert_int_equal(d[4].action, XDISK_EMPTY);         /* empty CD-ROM */

    /* --shared marks the local one shared too: nothing left to move. */
    assert_int_equal(xdisk_parse_shared(&sel, "xvda", &err), 0);
    assert_int_equal(xdisk_select(&c, &sel, fake_probe, d, &n, &err), 0);
    assert_int_equal(d[0].action, XDISK_SHARED);

    /* An explicit list: exactly those; the iSCSI one cannot be copied. */
    memset(&sel, 0, sizeof(sel));
    assert_int_equal(xdisk_parse_storage(&sel, "xvda,xvdc", &err), 0);
    assert_int_equal(xdisk_select(&c, &sel, fake_probe, d, &n, &err), 2);
    assert_int_equal(d[2].action, XDISK_MIGRATE);
    assert_int_equal(d[1].action, XDISK_SHARED);
    assert_int_equal(xdisk_parse_storage(&sel, "xvdb", &err), 0);
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "script"));
    assert_int_equal(xdisk_parse_storage(&sel, "hdc", &err), 0);
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "CD-ROM"));
    assert_int_equal(xdisk_parse_storage(&sel, "xvdz", &err), 0);
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "does not have"));

    /* all: the NFS image too, but not the iSCSI LUN. */
    memset(&sel, 0, sizeof(sel));
    assert_int_equal(xdisk_parse_storage(&sel, "all", &err), 0);
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    libxl_domain_config_dispose(&c);
}

static void test_qcow_refused(void **state)
{
    libxl_domain_config c;
    struct xsel sel = { .mode = XSEL_LOCAL };
    struct xdisk d[XLMIG_MAX_DISKS];
    unsigned n;

    (void)state;
    load_cfg("g3-qcow.cfg", &c);
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "xvdb"));
    assert_non_null(strstr(err.msg, "--shared xvdb"));
    assert_int_equal(xdisk_parse_shared(&sel, "xvdb", &err), 0);
    assert_int_equal(xdisk_select(&c, &sel, fake_probe, d, &n, &err), 1);
    libxl_domain_config_dispose(&c);
}

static void test_json_retrieved(void **state)
{
    libxl_domain_config c;
    struct xsel sel = { .mode = XSEL_LOCAL };
    struct xdisk d[XLMIG_MAX_DISKS];
    unsigned n;

    (void)state;
    load_json("g1-retrieved.json", &c);
    assert_int_equal(xdisk_select(&c, &sel, fake_probe, d, &n, &err), 2);
    assert_int_equal(d[0].kind, XCTL_KIND_FILE);
    assert_int_equal(d[1].kind, XCTL_KIND_BLOCK);
    libxl_domain_config_dispose(&c);

    load_json("g6-qdisk.json", &c);
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "blkback"));
    assert_int_equal(xdisk_parse_shared(&sel, "xvdb", &err), 0);
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "driver domain"));
    assert_int_equal(xdisk_parse_shared(&sel, "xvdc", &err), 0);
    assert_int_equal(xdisk_select(&c, &sel, fake_probe, d, &n, &err), 1);
    libxl_domain_config_dispose(&c);
}

static void test_json_hostile_vdev(void **state)
{
    libxl_domain_config c;
    struct xsel sel = { .mode = XSEL_LOCAL };
    struct xdisk d[XLMIG_MAX_DISKS];
    unsigned n;

    (void)state;
    load_json("g5-hostile.json", &c);
    /* "../../etc" cannot be a name on the wire. */
    assert_true(xdisk_select(&c, &sel, fake_probe, d, &n, &err) < 0);
    assert_non_null(strstr(err.msg, "vdev"));
    libxl_domain_config_dispose(&c);
}

static void test_option_lists(void **state)
{
    struct xsel s;

    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(xdisk_parse_storage(&s, "local", &err), 0);
    assert_int_equal(s.mode, XSEL_LOCAL);
    assert_true(xdisk_parse_storage(&s, "xvda,", &err) < 0);
    assert_true(xdisk_parse_storage(&s, ",xvda", &err) < 0);
    assert_true(xdisk_parse_storage(&s, "xvda,xvda", &err) < 0);
    assert_true(xdisk_parse_storage(&s, "../x", &err) < 0);
    assert_true(xdisk_parse_storage(&s, "", &err) < 0);
    assert_int_equal(xdisk_parse_storage(&s, "xvda,xvdb", &err), 0);
    assert_int_equal(s.nlist, 2);
}

/* ---- destination path policy ---- */

static struct xctl_msg offer_for(const libxl_domain_config *c)
{
    struct xctl_msg o;

    memset(&o, 0, sizeof(o));
    o.type = XCTL_OFFER;
    for (int i = 0; i < c->num_disks && i < 2; i++) {
        snprintf(o.disks[i].name, sizeof(o.disks[i].name), "%s",
                 c->disks[i].vdev);
        o.disks[i].kind = !strncmp(c->disks[i].pdev_path, "/dev/", 5)
                              ? XCTL_KIND_BLOCK : XCTL_KIND_FILE;
        o.disks[i].size = 1 << 20;
        o.ndisks++;
    }
    return o;
}

static void test_policy_same_path(void **state)
{
    libxl_domain_config c;
    struct xtpolicy p;
    struct xlmig_target_policy ep;
    struct xctl_msg o, acc;

    (void)state;
    memset(&p, 0, sizeof(p));
    load_json("g1-retrieved.json", &c);
    o = offer_for(&c);
    assert_int_equal(xtp_choose(&p, &c, &o, false, &ep, &acc, &err), 0);
    assert_int_equal(ep.nmap, 2);
    assert_string_equal(ep.map[0].name, "xvda");
    assert_string_equal(ep.map[0].path, "/var/lib/xen/images/g1.img");
    assert_string_equal(ep.map[1].path, "/dev/vg0/g1-data");
    assert_string_equal(c.disks[0].pdev_path, "/var/lib/xen/images/g1.img");
    assert_int_equal(acc.ndisks, 2);
    /* Neither /var/lib/xen/images nor /dev/vg0/g1-data exists on this
     * test host: refused, with advice. */
    assert_true(xtp_choose(&p, &c, &o, true, &ep, &acc, &err) < 0);
    assert_non_null(strstr(err.msg, "here"));
    libxl_domain_config_dispose(&c);
}

static void test_policy_target_dir_and_map(void **state)
{
    libxl_domain_config c;
    struct xtpolicy p;
    struct xlmig_target_policy ep;
    struct xctl_msg o, acc;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.target_dir = "/srv/migrated";
    load_json("g1-retrieved.json", &c);
    o = offer_for(&c);
    assert_int_equal(xtp_add_map(&p, "xvdb=/dev/vg1/g1-data", &err), 0);
    assert_int_equal(xtp_choose(&p, &c, &o, false, &ep, &acc, &err), 0);
    assert_string_equal(ep.map[0].path, "/srv/migrated/g1.img");
    assert_string_equal(ep.map[1].path, "/dev/vg1/g1-data");
    /* The config the destination hands libxl names the targets. */
    assert_string_equal(c.disks[0].pdev_path, "/srv/migrated/g1.img");
    assert_string_equal(c.disks[1].pdev_path, "/dev/vg1/g1-data");
    assert_string_equal(acc.disks[1].path, "/dev/vg1/g1-data");
    libxl_domain_config_dispose(&c);

    /* A map for a disk not offered, a relative map, a dirty map. */
    assert_true(xtp_add_map(&p, "xvdc=relative.img", &err) < 0);
    assert_true(xtp_add_map(&p, "xvdc=/a/../b.img", &err) < 0);
    assert_true(xtp_add_map(&p, "../x=/a/b.img", &err) < 0);
    assert_true(xtp_add_map(&p, "xvdb=/dev/other", &err) < 0);
    assert_int_equal(xtp_add_map(&p, "xvdz=/srv/z.img", &err), 0);
    load_json("g1-retrieved.json", &c);
    assert_true(xtp_choose(&p, &c, &o, false, &ep, &acc, &err) < 0);
    assert_non_null(strstr(err.msg, "not being migrated"));
    libxl_domain_config_dispose(&c);
}

static void test_policy_hostile_paths(void **state)
{
    libxl_domain_config c;
    struct xtpolicy p;
    struct xlmig_target_policy ep;
    struct xctl_msg o, acc;
    static const char *const vdevs[] = { "xvda", "xvdb", "xvdc", "xvdd" };

    (void)state;
    memset(&p, 0, sizeof(p));
    load_cfg("g4-hostile.cfg", &c);
    /* Same path: every one of these is refused. */
    for (int i = 0; i < 3; i++) {
        memset(&o, 0, sizeof(o));
        o.type = XCTL_OFFER;
        o.ndisks = 1;
        snprintf(o.disks[0].name, sizeof(o.disks[0].name), "%s", vdevs[i]);
        o.disks[0].kind = XCTL_KIND_FILE;
        o.disks[0].size = 4096;
        assert_true(xtp_choose(&p, &c, &o, false, &ep, &acc, &err) < 0);
    }
    /* A target directory confines them all, names sanitized. */
    p.target_dir = "/srv/in";
    memset(&o, 0, sizeof(o));
    o.type = XCTL_OFFER;
    for (int i = 0; i < 4; i++) {
        snprintf(o.disks[i].name, sizeof(o.disks[i].name), "%s", vdevs[i]);
        o.disks[i].kind = XCTL_KIND_FILE;
        o.disks[i].size = 4096;
    }
    o.ndisks = 4;
    assert_int_equal(xtp_choose(&p, &c, &o, false, &ep, &acc, &err), 0);
    assert_string_equal(ep.map[0].path, "/srv/in/shadow");
    assert_string_equal(ep.map[1].path, "/srv/in/x.img");
    assert_string_equal(ep.map[2].path, "/srv/in/path.img");
    /* ".hidden img;rm -rf": hidden and with shell characters. */
    assert_string_equal(ep.map[3].path, "/srv/in/xvdd.img");
    for (unsigned i = 0; i < ep.nmap; i++)
        assert_true(xtp_path_clean(ep.map[i].path));
    libxl_domain_config_dispose(&c);

    /* Control characters in a path: refused as a same-path target. */
    load_json("g5-hostile.json", &c);
    memset(&p, 0, sizeof(p));
    memset(&o, 0, sizeof(o));
    o.type = XCTL_OFFER;
    o.ndisks = 1;
    snprintf(o.disks[0].name, sizeof(o.disks[0].name), "xvdb");
    o.disks[0].kind = XCTL_KIND_FILE;
    o.disks[0].size = 4096;
    assert_true(xtp_choose(&p, &c, &o, false, &ep, &acc, &err) < 0);
    /* An offered disk the config does not have. */
    snprintf(o.disks[0].name, sizeof(o.disks[0].name), "xvdq");
    assert_true(xtp_choose(&p, &c, &o, false, &ep, &acc, &err) < 0);
    libxl_domain_config_dispose(&c);
}

static void test_policy_collision(void **state)
{
    libxl_domain_config c;
    struct xtpolicy p;
    struct xlmig_target_policy ep;
    struct xctl_msg o, acc;

    (void)state;
    memset(&p, 0, sizeof(p));
    load_json("g1-retrieved.json", &c);
    o = offer_for(&c);
    assert_int_equal(xtp_add_map(&p, "xvda=/srv/same.img", &err), 0);
    assert_int_equal(xtp_add_map(&p, "xvdb=/srv/same.img", &err), 0);
    assert_true(xtp_choose(&p, &c, &o, false, &ep, &acc, &err) < 0);
    assert_non_null(strstr(err.msg, "both"));
    libxl_domain_config_dispose(&c);
}

static void test_path_clean(void **state)
{
    (void)state;
    assert_true(xtp_path_clean("/var/lib/xen/images/g1.img"));
    assert_true(xtp_path_clean("/a/..b/c."));
    assert_false(xtp_path_clean("/"));
    assert_false(xtp_path_clean("a/b"));
    assert_false(xtp_path_clean("/a//b"));
    assert_false(xtp_path_clean("/a/./b"));
    assert_false(xtp_path_clean("/a/../b"));
    assert_false(xtp_path_clean("/a/b/"));
    assert_false(xtp_path_clean("/a/b\n"));
    assert_false(xtp_path_clean("/a/.."));
}

/*
 * Cold migration's xl.cfg: parsed from text (name, disks, the original
 * strings), the moved disks' targets chosen by the policy, and the text
 * rewritten with a disk list that moves them and keeps the others; the
 * result parses again to exactly that.
 */
static void test_cold_config_rewrite(void **state)
{
    static char specs[XLMIG_MAX_DISKS][XCFG_SPEC_MAX];
    static char specs2[XLMIG_MAX_DISKS][XCFG_SPEC_MAX];
    struct xtpolicy p = { .target_dir = "/srv/vm" };
    struct xlmig_target_policy ep;
    libxl_domain_config dc, again;
    struct xctl_msg offer, acc;
    unsigned n, n2;
    char *text = NULL, *out;
    size_t cap = 0;
    FILE *f = fopen(sample("g2-mixed.cfg"), "r");
    ssize_t len;

    (void)state;
    assert_non_null(f);
    len = getdelim(&text, &cap, '\0', f);
    fclose(f);
    assert_true(len > 0);
    libxl_domain_config_init(&dc);
    assert_int_equal(xcfg_parse(text, (size_t)len, &dc, specs, &n, &err), 0);
    assert_string_equal(dc.c_info.name, "g2");
    assert_int_equal(n, 5);
    assert_string_equal(dc.disks[0].vdev, "xvda");
    memset(&offer, 0, sizeof(offer));
    offer.type = XCTL_OFFER;
    offer.ndisks = 1;
    strcpy(offer.disks[0].name, "xvda");
    offer.disks[0].kind = XCTL_KIND_FILE;
    offer.disks[0].size = 1 << 20;
    memset(&acc, 0, sizeof(acc));
    assert_int_equal(xtp_choose(&p, &dc, &offer, false, &ep, &acc, &err), 0);
    assert_int_equal(acc.ndisks, 1);
    out = xcfg_rewrite(text, &dc, specs, n, &acc, &err);
    assert_non_null(out);
    /* The original text is kept: the appended list overrides it. */
    assert_non_null(strstr(out, "memory = 512"));
    libxl_domain_config_init(&again);
    assert_int_equal(xcfg_parse(out, strlen(out), &again, specs2, &n2, &err),
                     0);
    assert_int_equal(n2, 5);
    assert_string_equal(again.disks[0].vdev, "xvda");
    assert_string_equal(again.disks[0].pdev_path, acc.disks[0].path);
    assert_true(again.disks[0].readwrite);
    assert_non_null(strstr(acc.disks[0].path, "/srv/vm/"));
    /* The others as they were. */
    assert_string_equal(specs2[1], specs[1]);
    assert_string_equal(specs2[3], specs[3]);
    assert_true(again.disks[3].is_cdrom);
    free(out);
    /* A disk string with a quote is not rewritten blindly. */
    {
        const char *q = "name = \"x\"\ndisk = [ \"vdev=xvda, target=/a'b\" ]\n";

        assert_int_equal(xcfg_parse(q, strlen(q), &again, specs2, &n2, &err),
                         -1);
        assert_non_null(strstr(err.msg, "plain string"));
    }
    libxl_domain_config_dispose(&again);
    libxl_domain_config_dispose(&dc);
    free(text);
}

/* The configuration frame: round trip, and a damaged one refused. */
static void test_cold_config_frame(void **state)
{
    const char *cfg = "name = \"g1\"\nmemory = 128\n";
    int p[2];
    char *text = NULL;
    size_t len;
    uint32_t kind;
    uint8_t byte;

    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(xcfg_send(p[1], XCFG_XL, cfg, strlen(cfg), &err), 0);
    assert_int_equal(xcfg_recv(p[0], &kind, &text, &len, 1000, &err), 0);
    assert_int_equal(kind, XCFG_XL);
    assert_int_equal(len, strlen(cfg));
    assert_string_equal(text, cfg);
    free(text);
    /* One byte of the text changed in transit: the CRC says so. */
    assert_int_equal(xcfg_send(p[1], XCFG_XL, cfg, strlen(cfg), &err), 0);
    assert_int_equal(read(p[0], &byte, 1), 1);
    {
        uint8_t rest[256];
        ssize_t n = read(p[0], rest, sizeof(rest));

        assert_true(n > 20);
        rest[20] ^= 1;          /* inside the text */
        assert_int_equal(write(p[1], &byte, 1), 1);
        assert_int_equal(write(p[1], rest, (size_t)n), n);
    }
    assert_int_equal(xcfg_recv(p[0], &kind, &text, &len, 1000, &err),
                     -EPROTO);
    assert_non_null(strstr(err.msg, "checksum"));
    /* Silence is bounded. */
    assert_true(xcfg_recv(p[0], &kind, &text, &len, 100, &err) < 0);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_and_phy_local),
        cmocka_unit_test(test_mixed_shared),
        cmocka_unit_test(test_qcow_refused),
        cmocka_unit_test(test_json_retrieved),
        cmocka_unit_test(test_json_hostile_vdev),
        cmocka_unit_test(test_option_lists),
        cmocka_unit_test(test_policy_same_path),
        cmocka_unit_test(test_policy_target_dir_and_map),
        cmocka_unit_test(test_policy_hostile_paths),
        cmocka_unit_test(test_policy_collision),
        cmocka_unit_test(test_path_clean),
        cmocka_unit_test(test_cold_config_rewrite),
        cmocka_unit_test(test_cold_config_frame),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
