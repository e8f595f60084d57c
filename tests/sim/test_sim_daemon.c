/*
 * Integration tests: the simulated VBD daemon (xlmig-vbdsim serve) driven
 * through vbd_sim.c exactly as the engine drives it.  Each test starts its
 * daemons as child processes on small images and checks that they exit
 * cleanly (status 0: no sanitizer report).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim_harness.h"
#include "sim/sim_pattern.h"
#include "sim/sim_proto.h"

#define BS4K 4096u

struct ctx {
    char dir[64];
    char src[128], dst[128];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    h_tmpdir(c->dir, sizeof(c->dir));
    snprintf(c->src, sizeof(c->src), "%s/src.img", c->dir);
    snprintf(c->dst, sizeof(c->dst), "%s/dst.img", c->dir);
    h_mkimage(c->src, "16M", "256K", 21);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;

    h_kill_all();
    h_rmdir(c->dir);
    free(c);
    return 0;
}

static unsigned shift_of(uint32_t bs)
{
    return (unsigned)__builtin_ctz(bs / BS4K);
}

static struct xlmig_sim_report report(struct xlmig_vbd *v)
{
    struct xlmig_sim_report r;

    if (xlmig_sim_guest_report(v, &r))
        fail_msg("report: %s", v->err.msg);
    return r;
}

static struct xlmig_vbd_stats stats(struct xlmig_vbd *v)
{
    struct xlmig_vbd_stats st;

    if (v->ops->stats(v, &st))
        fail_msg("stats: %s", v->err.msg);
    return st;
}

#define OK(v, call) do { \
        int rc_ = (call); \
        if (rc_ < 0) \
            fail_msg("%s: %d: %s", #call, rc_, (v)->err.msg); \
    } while (0)

/* ---- tracking ---------------------------------------------------------- */

/*
 * Every acknowledged write shows up in a snapshot, and every snapshot
 * block was written.  The test hook T_k lists the 4 KiB blocks whose
 * writes were acknowledged since T_(k-1); each round reads T_k, then
 * snapshot S_k.  A write acked in round k was marked before S_k was
 * taken, and after the previous write to the block was acked (the guest
 * never overlaps writes to a block), i.e. after T_(p-1) where p is the
 * previous round whose T held the block: so some S_j with p-1 <= j <= k
 * must hold it.  Conversely a block in S_k was marked after S_(k-1), so
 * its ack lands in some T_j with j >= k.
 */
static void check_tracking(struct ctx *c, uint32_t bs, const char *workload)
{
    struct daemon d = h_start(c->dir, "src", c->src, "--paused",
                              "--test-hooks", "--write-rate", "0", "--qd",
                              "8", "--seed", "3", "--workload", workload,
                              NULL);
    struct xlmig_vbd *v = h_open(&d);
    unsigned sh = shift_of(bs);
    uint64_t n4k = v->size / BS4K, ntb = n4k >> sh, cnt, k = 0, acked = 0;
    struct xlmig_bitmap *T = xlmig_bitmap_new(n4k);
    struct xlmig_bitmap *S = xlmig_bitmap_new(ntb);
    uint32_t *lastT = calloc(n4k, sizeof(*lastT));
    uint32_t *lastS = calloc(ntb, sizeof(*lastS));
    uint64_t end, written = 0;
    bool enough = false;
    struct xlmig_sim_report r;
    unsigned char buf[BS4K];
    void *blob;
    size_t len;
    int fd;

    OK(v, v->ops->track_start(v, bs));
    OK(v, xlmig_sim_test_written(v, T, &cnt));
    assert_int_equal(cnt, 0);               /* paused: nothing yet */
    OK(v, xlmig_sim_guest_unpause(v));
    /* At least 1.5 s and 5000 writes (sanitizer builds are slow). */
    end = h_now_ms() + 1500;
    for (int final = 0; final < 3; final++) {
        if (final == 1)         /* everything acknowledged from here */
            OK(v, xlmig_sim_guest_suspend(v, &blob, &len));
        do {
            k++;
            xlmig_bitmap_clear_all(T);
            xlmig_bitmap_clear_all(S);
            OK(v, xlmig_sim_test_written(v, T, &cnt));
            OK(v, v->ops->snapshot(v, S, &cnt));
            assert_int_equal(cnt, xlmig_bitmap_count(S));
            if (final == 2) {
                /* Suspended: nothing new is written or marked. */
                assert_int_equal(xlmig_bitmap_count(T), 0);
                assert_int_equal(cnt, 0);
            }
            for (uint64_t b = xlmig_bitmap_next_set(S, 0); b < ntb;
                 b = xlmig_bitmap_next_set(S, b + 1))
                lastS[b] = (uint32_t)k;
            for (uint64_t x = xlmig_bitmap_next_set(T, 0); x < n4k;
                 x = xlmig_bitmap_next_set(T, x + 1)) {
                uint32_t p = lastT[x], need = p > 1 ? p - 1 : 1;

                if (lastS[x >> sh] < need)
                    fail_msg("round %" PRIu64 ": block %" PRIu64 " acked "
                             "but in no snapshot since round %u", k, x,
                             need);
                lastT[x] = (uint32_t)k;
                acked++;
            }
            if (final == 0 && k % 64 == 0)
                enough = report(v).writes >= 5000 && h_now_ms() >= end;
            h_sleep_ms(1);
        } while (final == 0 && !enough && h_now_ms() < end + 30000);
    }
    free(blob);
    assert_true(k > 20);
    for (uint64_t b = 0; b < ntb; b++) {
        uint32_t maxT = 0;

        for (uint64_t x = b << sh; x < (b + 1) << sh; x++)
            if (lastT[x] > maxT)
                maxT = lastT[x];
        if (lastS[b] > maxT)
            fail_msg("block %" PRIu64 " in snapshot %u but written no later "
                     "than round %u", b, lastS[b], maxT);
    }
    /* Independently: whatever the image holds above generation 0 was
     * both acknowledged and tracked. */
    fd = open(c->src, O_RDONLY);
    assert_true(fd >= 0);
    for (uint64_t x = 0; x < n4k; x++) {
        struct sim_tag t;

        assert_int_equal(pread(fd, buf, BS4K, (off_t)(x * BS4K)), BS4K);
        if (sim_pattern_inspect(buf, &t) == SIM_FOUND_TAGGED && t.gen) {
            written++;
            assert_true(lastT[x] > 0);
            assert_true(lastS[x >> sh] > 0);
        } else {
            assert_int_equal(lastT[x], 0);
        }
    }
    close(fd);
    r = report(v);
    assert_true(r.writes >= 5000);
    assert_true(written > 300);
    assert_true(acked >= written);
    assert_true(stats(v).marked >= written >> sh);
    print_message("tracking bs %u, %s: %" PRIu64 " rounds, %" PRIu64
                  " writes, %" PRIu64 " blocks written\n", bs, workload, k,
                  r.writes, written);
    h_close(v);
    h_stop(&d);
    xlmig_bitmap_free(T);
    xlmig_bitmap_free(S);
    free(lastT);
    free(lastS);
}

static void test_tracking_4k(void **state)
{
    check_tracking(*state, 4096, "random");
}

static void test_tracking_64k(void **state)
{
    check_tracking(*state, 65536, "hotspot");
}

/* ---- quiesce ----------------------------------------------------------- */

static void test_quiesce_drains(void **state)
{
    struct ctx *c = *state;
    struct daemon d = h_start(c->dir, "src", c->src, "--write-rate", "0",
                              "--qd", "8", NULL);
    struct xlmig_vbd *v = h_open(&d), *v2;
    struct xlmig_bitmap *S;
    struct xlmig_sim_report r1, r2, r3;
    uint64_t cnt;

    S = xlmig_bitmap_new(v->size / BS4K);
    OK(v, v->ops->track_start(v, BS4K));
    h_sleep_ms(200);
    OK(v, v->ops->quiesce(v, 5000));
    OK(v, v->ops->snapshot(v, S, &cnt));
    assert_true(cnt > 0);
    r1 = report(v);
    h_sleep_ms(300);
    r2 = report(v);
    /* In flight was 0: nothing completes, nothing is marked. */
    assert_int_equal(r1.writes, r2.writes);
    assert_int_equal(r1.reads, r2.reads);
    OK(v, v->ops->snapshot(v, S, &cnt));
    assert_int_equal(cnt, 0);
    OK(v, v->ops->unquiesce(v));
    h_sleep_ms(100);
    r3 = report(v);
    assert_true(r3.writes > r2.writes);

    /* A client that vanishes while holding a quiesce releases it. */
    v2 = h_open(&d);
    OK(v2, v2->ops->quiesce(v2, 5000));
    r1 = report(v);
    h_sleep_ms(100);
    assert_int_equal(report(v).writes, r1.writes);
    h_close(v2);
    h_sleep_ms(200);
    assert_true(report(v).writes > r1.writes);
    assert_true(xlmig_sim_report_ok(&r3));
    xlmig_bitmap_free(S);
    h_close(v);
    h_stop(&d);
}

/* ---- the gate ---------------------------------------------------------- */

struct puller {
    struct xlmig_vbd *v;
    int src_fd, dst_fd;
    uint32_t bs;
    struct xlmig_bitmap *mine;      /* blocks we installed */
    uint64_t demanded, installed;
};

/* Installs what is still stale in [start, start+count), as the engine. */
static void install(struct puller *p, uint64_t start, uint64_t count,
                    struct xlmig_bitmap *refused)
{
    unsigned long mask[4096 / (8 * sizeof(long))];
    char *buf = malloc(p->bs);

    while (count) {
        uint32_t n = count > 4096 ? 4096 : (uint32_t)count;
        int got = p->v->ops->claim(p->v, start, n, mask);

        if (got < 0)
            fail_msg("claim: %s", p->v->err.msg);
        for (uint32_t i = 0; i < n; i++) {
            off_t off = (off_t)((start + i) * p->bs);

            if (!(mask[i / (8 * sizeof(long))] &
                  (1UL << (i % (8 * sizeof(long)))))) {
                if (refused && !xlmig_bitmap_test(p->mine, start + i))
                    xlmig_bitmap_set_range(refused, start + i, 1);
                continue;
            }
            assert_int_equal(pread(p->src_fd, buf, p->bs, off), p->bs);
            assert_int_equal(pwrite(p->dst_fd, buf, p->bs, off), p->bs);
            xlmig_bitmap_set_range(p->mine, start + i, 1);
            p->installed++;
        }
        OK(p->v, p->v->ops->commit(p->v, start, n));
        start += n;
        count -= n;
    }
    free(buf);
}

/* Serves demand for ms, and on until something was demanded (20 s). */
static void serve_demand(struct puller *p, uint64_t ms)
{
    struct xlmig_extent e[64];
    uint64_t end = h_now_ms() + ms;
    int fd = p->v->ops->wanted_fd(p->v);

    assert_true(fd >= 0);
    while (h_now_ms() < end || (!p->demanded && h_now_ms() < end + 20000)) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n;

        if (poll(&pfd, 1, 50) <= 0)
            continue;
        n = p->v->ops->wanted_pop(p->v, e, 64);
        if (n < 0)
            fail_msg("wanted pop: %s", p->v->err.msg);
        for (int i = 0; i < n; i++) {
            p->demanded += e[i].count;
            install(p, e[i].start, e[i].count, NULL);
        }
    }
}

/*
 * A migration with post-copy: the destination image is the source's
 * initial content, the blocks the source wrote since are stale, the guest
 * runs on at the destination while the test pulls demanded blocks and
 * then pushes the rest, as the engine does.
 */
static void check_gate(struct ctx *c, uint32_t bs)
{
    struct daemon ds, dd;
    struct xlmig_vbd *vs, *vd, *vq;
    struct puller p = { .bs = bs };
    struct xlmig_bitmap *D, *refused;
    struct xlmig_extent *ext = NULL;
    struct xlmig_sim_report r, r0;
    struct xlmig_vbd_stats st;
    uint64_t nd, ntb, next = 0;
    size_t n = 0, len;
    void *blob;
    int rc;

    h_copy(c->src, c->dst);         /* the "PUSH" phase, all of it */
    ds = h_start(c->dir, "src", c->src, "--paused", "--write-rate", "20M",
                 "--seed", "7", NULL);
    vs = h_open(&ds);
    ntb = vs->size / bs;
    OK(vs, vs->ops->track_start(vs, bs));
    OK(vs, xlmig_sim_guest_unpause(vs));
    h_sleep_ms(700);
    for (int i = 0; i < 200 && report(vs).writes < 1500; i++)
        h_sleep_ms(100);        /* slow (sanitizer) builds */
    OK(vs, xlmig_sim_guest_suspend(vs, &blob, &len));
    D = xlmig_bitmap_new(ntb);
    OK(vs, vs->ops->snapshot(vs, D, &nd));
    assert_true(nd > 200);

    dd = h_start(c->dir, "dst", c->dst, "--dest", "--qd", "8", NULL);
    vd = h_open(&dd);
    OK(vd, vd->ops->gate_start(vd, bs));
    ext = calloc(ntb, sizeof(*ext));
    while (xlmig_bitmap_next_extent(D, &next, UINT64_MAX, &ext[n]))
        n++;
    OK(vd, vd->ops->gate_add_stale(vd, ext, n));
    assert_int_equal(stats(vd).stale, nd);
    OK(vd, xlmig_sim_guest_load(vd, blob, len));
    free(blob);
    r0 = report(vd);
    OK(vd, xlmig_sim_guest_unpause(vd));

    /* Reads of stale blocks park; parked requests count as in flight. */
    for (int i = 0; i < 200 && !stats(vd).parked; i++)
        h_sleep_ms(10);
    assert_true(stats(vd).parked > 0);
    assert_true(stats(vd).wanted > 0);
    vq = h_open(&dd);
    rc = vq->ops->quiesce(vq, 200);
    assert_int_equal(rc, -ETIMEDOUT);
    h_close(vq);

    /* Post-copy: serve what the guest asks for. */
    p.v = vd;
    p.src_fd = open(c->src, O_RDONLY);
    p.dst_fd = open(c->dst, O_WRONLY);
    assert_true(p.src_fd >= 0 && p.dst_fd >= 0);
    p.mine = xlmig_bitmap_new(ntb);
    serve_demand(&p, 1500);
    assert_true(p.demanded > 0);
    r = report(vd);
    assert_true(r.reads_verified > r0.reads_verified);
    assert_true(r.writes > r0.writes);
    assert_int_equal(r.verify_failures, 0);

    /* Background push of the rest; refused claims are blocks the guest
     * has overwritten in full meanwhile. */
    refused = xlmig_bitmap_new(ntb);
    for (size_t i = 0; i < n; i++)
        install(&p, ext[i].start, ext[i].count, refused);
    for (int i = 0; i < 100 && stats(vd).stale; i++)
        h_sleep_ms(10);
    st = stats(vd);
    assert_int_equal(st.stale, 0);
    OK(vd, vd->ops->gate_stop(vd));
    h_sleep_ms(300);            /* the guest runs on, gate off */
    OK(vd, xlmig_sim_guest_stop_and_verify(vd, &r));
    if (!xlmig_sim_report_ok(&r))
        fail_msg("destination check failed: %s", r.detail);
    assert_true(r.verified);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(r.verify_failures, 0);
    assert_int_equal(r.io_errors, 0);
    st = stats(vd);
    assert_int_equal(st.installed + st.overwritten, nd);
    assert_int_equal(st.installed, p.installed);
    assert_int_equal(xlmig_bitmap_count(refused), st.overwritten);
    print_message("gate bs %u: %" PRIu64 " stale, %" PRIu64 " demanded, %"
                  PRIu64 " installed, %" PRIu64 " overwritten by the guest, "
                  "%" PRIu64 " reads checked\n", bs, nd, p.demanded,
                  st.installed, st.overwritten, r.reads_verified);
    if (bs == BS4K) {
        /* 4 KiB guest writes cover 4 KiB blocks: some made stale blocks
         * current, and the install of those was refused. */
        uint64_t o = xlmig_bitmap_next_set(refused, 0);
        unsigned char buf[BS4K];
        char needle[64];

        assert_true(st.overwritten > 0);
        /* Negative control: install the source's (older) data anyway,
         * as a racy installer would: the check must fail. */
        assert_int_equal(pread(p.src_fd, buf, BS4K, (off_t)(o * BS4K)),
                         BS4K);
        assert_int_equal(pwrite(p.dst_fd, buf, BS4K, (off_t)(o * BS4K)),
                         BS4K);
        OK(vd, xlmig_sim_guest_stop_and_verify(vd, &r));
        assert_false(xlmig_sim_report_ok(&r));
        assert_int_equal(r.mismatches, 1);
        snprintf(needle, sizeof(needle), "block %" PRIu64 ": older", o);
        if (!strstr(r.detail, needle))
            fail_msg("detail '%s' lacks '%s'", r.detail, needle);
    } else {
        /* Partial writes never make a stale block current: they wait. */
        assert_int_equal(st.overwritten, 0);
    }
    close(p.src_fd);
    close(p.dst_fd);
    xlmig_bitmap_free(p.mine);
    xlmig_bitmap_free(refused);
    xlmig_bitmap_free(D);
    free(ext);
    h_close(vd);
    h_close(vs);
    h_stop(&dd);
    h_stop(&ds);
}

static void test_gate_4k(void **state)
{
    check_gate(*state, 4096);
}

static void test_gate_16k(void **state)
{
    check_gate(*state, 16384);
}

/* ---- hostile clients --------------------------------------------------- */

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

    strcpy(sa.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_send(int fd, uint32_t magic, uint16_t version, uint16_t type,
                     uint32_t flags, int32_t status, const void *p,
                     size_t len)
{
    struct sim_hdr h = { magic, version, type, flags, status };
    char *buf = malloc(sizeof(h) + len);

    memcpy(buf, &h, sizeof(h));
    if (len)
        memcpy(buf + sizeof(h), p, len);
    assert_int_equal(send(fd, buf, sizeof(h) + len, 0),
                     (ssize_t)(sizeof(h) + len));
    free(buf);
}

static void req(int fd, uint16_t type, const void *p, size_t len)
{
    raw_send(fd, SIM_MAGIC, SIM_VERSION, type, 0, 0, p, len);
}

/* Reads one reply packet; returns its status. */
static int reply(int fd, char *msg, size_t msglen)
{
    static char buf[SIM_MAX_PACKET];
    struct sim_hdr h;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);

    assert_true(n >= (ssize_t)sizeof(h));
    memcpy(&h, buf, sizeof(h));
    assert_int_equal(h.magic, SIM_MAGIC);
    if (msg) {
        size_t m = (size_t)n - sizeof(h) < msglen - 1 ? (size_t)n - sizeof(h)
                                                      : msglen - 1;

        memcpy(msg, buf + sizeof(h), m);
        msg[m] = '\0';
    }
    return h.status;
}

static void expect_error(int fd, int want, const char *what)
{
    char msg[600];
    int st = reply(fd, msg, sizeof(msg));

    if (st != want)
        fail_msg("%s: status %d, want %d (%s)", what, st, want, msg);
    if (strlen(msg) < 5)
        fail_msg("%s: no error message", what);
}

static void send_u32(int fd, uint16_t type, uint32_t v)
{
    struct sim_u32 u = { v };

    req(fd, type, &u, sizeof(u));
}

static void send_range(int fd, uint16_t type, uint64_t start, uint32_t count,
                       uint32_t pad)
{
    struct sim_range r = { start, count, pad };

    req(fd, type, &r, sizeof(r));
}

static void test_hostile_client(void **state)
{
    struct ctx *c = *state;
    struct daemon d;
    struct sim_extent e[2];
    char junk[3] = "abc", *big;
    int fd;

    h_copy(c->src, c->dst);
    d = h_start(c->dir, "dst", c->dst, "--dest", NULL);
    fd = raw_connect(d.sock);

    assert_int_equal(send(fd, junk, 3, 0), 3);
    expect_error(fd, -EBADMSG, "short packet");
    raw_send(fd, 0xdeadbeef, SIM_VERSION, SIM_HELLO, 0, 0, NULL, 0);
    expect_error(fd, -EBADMSG, "bad magic");
    raw_send(fd, SIM_MAGIC, 99, SIM_HELLO, 0, 0, NULL, 0);
    expect_error(fd, -EBADMSG, "bad version");
    req(fd, 999, NULL, 0);
    expect_error(fd, -ENOSYS, "unknown type");
    raw_send(fd, SIM_MAGIC, SIM_VERSION, SIM_HELLO, 0, -5, NULL, 0);
    expect_error(fd, -EINVAL, "status in a request");
    raw_send(fd, SIM_MAGIC, SIM_VERSION, SIM_HELLO, 0x80, 0, NULL, 0);
    expect_error(fd, -EINVAL, "unknown flag");
    req(fd, SIM_HELLO, junk, 3);
    expect_error(fd, -EINVAL, "hello with payload");
    req(fd, SIM_TRACK_START, junk, 3);
    expect_error(fd, -EINVAL, "short u32");
    send_u32(fd, SIM_TRACK_START, 3000);
    expect_error(fd, -EINVAL, "block size 3000");
    send_u32(fd, SIM_TRACK_START, 1u << 21);
    expect_error(fd, -EINVAL, "block size 2 MiB");
    req(fd, SIM_SNAPSHOT, NULL, 0);
    expect_error(fd, -EINVAL, "snapshot, tracking off");
    send_range(fd, SIM_CLAIM, 0, 1, 0);
    expect_error(fd, -ENODEV, "claim, gate off");
    send_u32(fd, SIM_TRACK_START, 4096);
    assert_int_equal(reply(fd, NULL, 0), 0);
    send_u32(fd, SIM_GATE_START, 8192);
    expect_error(fd, -EBUSY, "gate with another geometry");
    req(fd, SIM_TRACK_STOP, NULL, 0);
    assert_int_equal(reply(fd, NULL, 0), 0);
    send_u32(fd, SIM_GATE_START, 4096);
    assert_int_equal(reply(fd, NULL, 0), 0);
    send_range(fd, SIM_CLAIM, 0, 0, 0);
    expect_error(fd, -EINVAL, "claim of 0");
    send_range(fd, SIM_CLAIM, 0, 5000, 0);
    expect_error(fd, -EINVAL, "claim of 5000");
    send_range(fd, SIM_CLAIM, 0, 1, 7);
    expect_error(fd, -EINVAL, "padding");
    send_range(fd, SIM_CLAIM, UINT64_MAX - 1, 10, 0);
    expect_error(fd, -ERANGE, "claim past the end");
    send_range(fd, SIM_COMMIT, 0, 0, 0);
    expect_error(fd, -EINVAL, "commit of 0");
    req(fd, SIM_GATE_ADD_STALE, junk, 3);
    expect_error(fd, -EINVAL, "partial extent");
    e[0] = (struct sim_extent){ 10, 5 };
    e[1] = (struct sim_extent){ 4000, 1000 };
    req(fd, SIM_GATE_ADD_STALE, e, sizeof(e));
    expect_error(fd, -ERANGE, "stale past the end");
    e[1] = (struct sim_extent){ UINT64_MAX, UINT64_MAX };
    req(fd, SIM_GATE_ADD_STALE, e, sizeof(e));
    expect_error(fd, -ERANGE, "stale overflow");
    send_u32(fd, SIM_QUIESCE, 0);
    expect_error(fd, -EINVAL, "quiesce 0 ms");
    send_u32(fd, SIM_QUIESCE, 700000);
    expect_error(fd, -EINVAL, "quiesce 700 s");
    send_u32(fd, SIM_WANTED_POP, 0);
    expect_error(fd, -EINVAL, "pop 0");
    send_u32(fd, SIM_WANTED_POP, 100000);
    expect_error(fd, -EINVAL, "pop 100000");
    send_u32(fd, SIM_GUEST_SUSPEND, 1000);
    expect_error(fd, -EINVAL, "suspend an empty guest");
    req(fd, SIM_GUEST_SUSPEND, NULL, 0);
    expect_error(fd, -EINVAL, "suspend without timeout");
    req(fd, SIM_GUEST_LOAD, junk, 3);
    expect_error(fd, -EINVAL, "load junk");
    req(fd, SIM_GUEST_LOAD, NULL, 0);
    expect_error(fd, -EINVAL, "load nothing");
    req(fd, SIM_GUEST_UNPAUSE, NULL, 0);
    expect_error(fd, -EINVAL, "unpause an empty guest");
    req(fd, SIM_GUEST_VERIFY, NULL, 0);
    expect_error(fd, -EINVAL, "verify an empty guest");
    req(fd, SIM_TEST_WRITTEN, NULL, 0);
    expect_error(fd, -EPERM, "test hook without --test-hooks");

    /* Framing: fragments must agree; sizes are bounded. */
    raw_send(fd, SIM_MAGIC, SIM_VERSION, SIM_HELLO, SIM_F_MORE, 0, junk, 3);
    raw_send(fd, SIM_MAGIC, SIM_VERSION, SIM_STATS, 0, 0, junk, 3);
    expect_error(fd, -EBADMSG, "fragments of two types");
    big = calloc(1, SIM_MAX_PACKET + 1000);
    raw_send(fd, SIM_MAGIC, SIM_VERSION, SIM_GUEST_LOAD, 0, 0, big,
             SIM_MAX_PACKET);
    expect_error(fd, -EMSGSIZE, "packet over the limit");
    {
        /* 5000 extents: a fragmented request over the extent limit. */
        size_t sz = 5000 * sizeof(struct sim_extent);
        char *ex = calloc(1, sz);

        for (size_t off = 0; off < sz; off += SIM_MAX_PAYLOAD) {
            size_t m = sz - off < SIM_MAX_PAYLOAD ? sz - off
                                                  : SIM_MAX_PAYLOAD;

            raw_send(fd, SIM_MAGIC, SIM_VERSION, SIM_GATE_ADD_STALE,
                     off + m < sz ? SIM_F_MORE : 0, 0, ex + off, m);
        }
        expect_error(fd, -EINVAL, "5000 extents");
        free(ex);
    }
    /* A message over SIM_MAX_MESSAGE is refused after being consumed. */
    for (size_t sent = 0; sent <= SIM_MAX_MESSAGE; sent += SIM_MAX_PAYLOAD)
        raw_send(fd, SIM_MAGIC, SIM_VERSION, SIM_GUEST_LOAD,
                 sent + SIM_MAX_PAYLOAD <= SIM_MAX_MESSAGE ? SIM_F_MORE : 0,
                 0, big, SIM_MAX_PAYLOAD);
    expect_error(fd, -EMSGSIZE, "message over the limit");
    free(big);

    /* Still in step and serving. */
    req(fd, SIM_HELLO, NULL, 0);
    assert_int_equal(reply(fd, NULL, 0), 0);
    close(fd);
    h_stop(&d);
}

/* Claims belong to their connection: others cannot settle them, and they
 * are released when it goes away. */
static void test_claims_are_owned(void **state)
{
    struct ctx *c = *state;
    struct daemon d;
    struct xlmig_vbd *a, *b;
    struct xlmig_extent e = { 0, 100 };
    unsigned long mask[4096 / (8 * sizeof(long))];

    h_copy(c->src, c->dst);
    d = h_start(c->dir, "dst", c->dst, "--dest", NULL);
    a = h_open(&d);
    b = h_open(&d);
    OK(a, a->ops->gate_start(a, BS4K));
    OK(a, a->ops->gate_add_stale(a, &e, 1));
    assert_int_equal(a->ops->claim(a, 0, 10, mask), 10);
    assert_int_equal(mask[0], 0x3ff);
    assert_int_equal(b->ops->claim(b, 0, 20, mask), 10);   /* 10..19 */
    assert_int_equal(mask[0], 0xffc00);
    /* b cannot commit a's blocks. */
    OK(b, b->ops->commit(b, 0, 10));
    assert_int_equal(stats(b).claimed, 20);
    assert_int_equal(stats(b).stale, 100);
    OK(b, b->ops->commit(b, 10, 10));
    assert_int_equal(stats(b).stale, 90);
    /* a goes away: its claims are released, not committed. */
    h_close(a);
    for (int i = 0; i < 100 && stats(b).claimed; i++)
        h_sleep_ms(10);
    assert_int_equal(stats(b).claimed, 0);
    assert_int_equal(stats(b).stale, 90);
    assert_int_equal(b->ops->claim(b, 0, 20, mask), 10);
    assert_int_equal(mask[0], 0x3ff);
    OK(b, b->ops->unclaim(b, 0, 20));
    assert_int_equal(stats(b).claimed, 0);
    OK(b, b->ops->gate_stop(b));
    assert_int_equal(b->ops->claim(b, 0, 1, mask), -ENODEV);
    h_close(b);
    h_stop(&d);
}

/* ---- process life ------------------------------------------------------ */

static void test_sigterm_and_socket_in_use(void **state)
{
    struct ctx *c = *state;
    struct daemon d = h_start(c->dir, "src", c->src, NULL), d2;
    struct stat st;
    int status;

    /* A second daemon on the same socket refuses to start. */
    d2.pid = fork();
    if (d2.pid == 0) {
        execlp(h_binary(), "xlmig-vbdsim", "serve", "--image", c->src,
               "--socket", d.sock, (char *)NULL);
        _exit(127);
    }
    status = h_wait(&d2);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_int_equal(stat(d.sock, &st), 0);     /* left alone */
    /* Nor may a second daemon serve the same image under another name. */
    {
        char sock2[160];

        snprintf(sock2, sizeof(sock2), "%s/other.sock", c->dir);
        d2.pid = fork();
        if (d2.pid == 0) {
            execlp(h_binary(), "xlmig-vbdsim", "serve", "--image", c->src,
                   "--socket", sock2, (char *)NULL);
            _exit(127);
        }
        status = h_wait(&d2);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 2);
        assert_int_not_equal(stat(sock2, &st), 0);
    }

    h_sleep_ms(200);
    assert_int_equal(kill(d.pid, SIGTERM), 0);
    status = h_wait(&d);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_not_equal(stat(d.sock, &st), 0);  /* cleaned up */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tracking_4k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tracking_64k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiesce_drains, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gate_4k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_16k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claims_are_owned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_and_socket_in_use,
                                        setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
