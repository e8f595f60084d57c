/*
 * A TCP proxy for fault tests: listens on 127.0.0.1 (port written to a
 * file), connects to the real receiver, and relays both ways.  One fault:
 *   --cut-after N    close both connections once N bytes have passed
 *   --flip-at N      invert the bits of byte N
 *   --stall-after N  stop relaying after N bytes: the connections stay
 *                    open, nothing more is delivered (a hung host, a
 *                    black-holed route); the proxy then never closes
 *                    anything until it is killed or the stall ends
 * counted in the direction given by
 *   --dir s2r|r2s|both  sender-to-receiver (default), receiver-to-sender,
 *                    or both together (bytes of both directions counted
 *                    as one stream; a stall stops both directions)
 * or, instead of a byte offset,
 *   --at-ms T        at T ms after the sender connected: cut at once,
 *                    flip the next byte relayed, or stall from then on
 *                    (give the fault option with any N, e.g. --cut-after 0)
 *   --on-usr1        when the proxy gets SIGUSR1 (a test's own trigger,
 *                    e.g. a migration phase): as --at-ms at that moment
 *   --stall-ms D     the stall ends after D ms (default: never)
 *   --at-record T[+] at the first xlmig record of type T (hex, e.g. 0x0071
 *                    for GO) in the direction given (s2r or r2s): just
 *                    before it, or with "+" just after it (give the fault
 *                    option with any N, e.g. --cut-after 0)
 *   --again          after a cut, accept further connections and relay
 *                    them without faults (a link that comes back: the
 *                    sender reconnects through the same port)
 *   --conn K         several connections at once (--connections): each is
 *                    relayed by a process of its own, the fault only on
 *                    the K-th accepted (1: the first); the proxy serves
 *                    until it is killed
 * When the fault fires, one line "faultproxy: FIRED kind dir s2r=X r2s=Y
 * t=MS" goes to stderr; at exit a line with the byte totals.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum kind { F_NONE, F_CUT, F_FLIP, F_STALL };
enum { S2R = 0, R2S = 1 };
#define BOTH 2
#define BUFSZ 65536

struct dir {
    int from, to;
    bool eof;                   /* source closed, passed on once drained */
    bool dead;                  /* destination gone: data is dropped */
    long long count;            /* bytes relayed (written) */
    char buf[BUFSZ];            /* read, not yet written */
    size_t off, len;
};

static enum kind kind = F_NONE;
static int fdir = S2R;
static long long at_byte = -1, at_ms = -1, stall_ms = -1;
static bool fired, stalled, flip_armed, on_usr1, again, cut;
static volatile sig_atomic_t usr1;
static long long t0, stall_end = -1;
static struct dir d[2];

/* --at-record: the record boundaries of direction fdir, followed. */
static int want_type = -1;
static bool want_after;
static struct {
    long long pos, next;        /* bytes scanned; where a header starts */
    unsigned char hdr[16];
    int hlen;
} rt;

/* Scans n bytes read in direction fdir (their first is byte rt.pos):
 * sets at_byte at the wanted record's start (or end). */
static void track_records(const char *b, size_t n)
{
    for (size_t k = 0; k < n; k++, rt.pos++) {
        unsigned type, len;

        if (rt.pos < rt.next)
            continue;
        rt.hdr[rt.hlen++] = (unsigned char)b[k];
        if (rt.hlen < 16)
            continue;
        type = rt.hdr[4] | rt.hdr[5] << 8;
        len = rt.hdr[8] | rt.hdr[9] << 8 | rt.hdr[10] << 16 |
              (unsigned)rt.hdr[11] << 24;
        if ((int)type == want_type && at_byte < 0 && !fired)
            at_byte = rt.next + (want_after ? 16 + (long long)len : 0);
        rt.next += 16 + (long long)len;
        rt.hlen = 0;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    usr1 = 1;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_any(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) ||
        getsockname(fd, (struct sockaddr *)&a, &l))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_to(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (connect(fd, (struct sockaddr *)&a, sizeof(a)))
        return -1;
    return fd;
}

static const char *kind_name(void)
{
    return kind == F_CUT ? "cut" : kind == F_FLIP ? "flip" : "stall";
}

static void fire(void)
{
    static const char *dn[] = { "s2r", "r2s", "both" };

    fired = true;
    fprintf(stderr, "faultproxy: FIRED %s %s s2r=%lld r2s=%lld t=%lld\n",
            kind_name(), dn[fdir], d[S2R].count, d[R2S].count,
            now_ms() - t0);
    if (kind == F_STALL) {
        stalled = true;
        if (stall_ms >= 0)
            stall_end = now_ms() + stall_ms;
    }
}

static void finish(int code) __attribute__((noreturn));
static void finish(int code)
{
    fprintf(stderr, "faultproxy: exit s2r=%lld r2s=%lld t=%lld\n",
            d[S2R].count, d[R2S].count, now_ms() - t0);
    exit(code);
}

/* Whether direction i is held by the stall. */
static bool held(int i)
{
    return stalled && (fdir == BOTH || fdir == i);
}

/* Bytes counted for the fault's offset, before direction i relays more. */
static long long counted(int i)
{
    if (fdir == BOTH)
        return d[S2R].count + d[R2S].count;
    return fdir == i ? d[i].count : -1;
}

/*
 * How many of the pending bytes of direction i may go now: all of them,
 * or up to the fault's byte offset (where it then fires).
 */
static size_t allowed(int i, size_t n)
{
    long long c = counted(i);

    if (fired || at_byte < 0 || c < 0 || kind == F_FLIP)
        return n;
    if (c + (long long)n <= at_byte)
        return n;
    return (size_t)(at_byte > c ? at_byte - c : 0);
}

/* Writes what direction i may write now; false if the proxy must end. */
static bool pump(int i)
{
    struct dir *x = &d[i];

    while (x->len && !held(i)) {
        size_t n = allowed(i, x->len);
        long long c = counted(i);
        ssize_t w;

        if (!n) {
            fire();
            if (kind == F_CUT) {
                cut = true;
                return false;
            }
            continue;           /* a stall now holds i */
        }
        if (kind == F_FLIP && !fired && c >= 0) {
            long long target = flip_armed ? c : at_byte;
            if (target >= c && target < c + (long long)n) {
                x->buf[x->off + (size_t)(target - c)] ^= (char)0xff;
                fire();
            }
        }
        if (x->dead) {
            w = (ssize_t)n;
        } else {
            w = send(x->to, x->buf + x->off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && (errno == EAGAIN || errno == EINTR))
                return true;
            if (w < 0) {
                if (!fired || kind != F_STALL)
                    return false;
                x->dead = true; /* black hole: never tell the other side */
                continue;
            }
        }
        x->off += (size_t)w;
        x->len -= (size_t)w;
        x->count += w;
        if (!x->len)
            x->off = 0;
    }
    if (!x->len && x->eof && !held(i) && !x->dead) {
        shutdown(x->to, SHUT_WR);
        x->dead = true;
    }
    return true;
}

static int relay_fd(int a, int target);

/* Accepts one sender and relays it to the receiver; 0 at the end of
 * both streams or a cut (cut is set), 1 on an error. */
static int relay(int lfd, int target)
{
    return relay_fd(accept(lfd, NULL, NULL), target);
}

/* --conn K: every connection in a process of its own, the fault on the
 * K-th only. */
static void serve_each(int lfd, int target, int k)
{
    enum kind fault = kind;

    signal(SIGCHLD, SIG_IGN);
    for (int n = 1;; n++) {
        int a = accept(lfd, NULL, NULL);
        pid_t pid;

        if (a < 0)
            continue;
        pid = fork();
        if (pid == 0) {
            close(lfd);
            if (n != k)
                kind = F_NONE, at_byte = -1, at_ms = -1, want_type = -1,
                on_usr1 = false;
            else
                kind = fault;
            exit(relay_fd(a, target));
        }
        close(a);
    }
}

static int relay_fd(int a, int target)
{
    int b;

    cut = false;
    memset(d, 0, sizeof(d));
    b = connect_to(target);
    if (a < 0 || b < 0)
        return 1;
    t0 = now_ms();
    d[S2R].from = a;
    d[S2R].to = b;
    d[R2S].from = b;
    d[R2S].to = a;
    /* Relay both ways; an end-of-stream is passed on as a half-close, so
     * that a peer's last words (an ERROR before it closes) still arrive. */
    for (;;) {
        struct pollfd p[4];
        int timeout = -1, np = 0, idx[2] = { -1, -1 };
        long long now = now_ms();

        if (usr1 && on_usr1) {
            on_usr1 = false;
            at_ms = now - t0;   /* now */
        }
        if (kind != F_NONE && !fired && at_ms >= 0 && now - t0 >= at_ms) {
            if (kind == F_FLIP)
                flip_armed = true, fired = false;
            else
                fire();
            at_ms = -1;
            if (kind == F_CUT) {
                cut = true;
                break;
            }
        }
        if (stalled && stall_end >= 0 && now >= stall_end) {
            stalled = false;
            stall_end = -1;
            fprintf(stderr, "faultproxy: stall ended t=%lld\n", now - t0);
        }
        bool ok = true;

        for (int i = 0; i < 2 && ok; i++)
            ok = pump(i);
        if (cut)
            break;
        if (!ok) {
            close(a);
            close(b);
            return 1;
        }
        if ((d[S2R].eof || d[S2R].dead) && !d[S2R].len &&
            (d[R2S].eof || d[R2S].dead) && !d[R2S].len && !stalled)
            break;
        for (int i = 0; i < 2; i++) {
            struct dir *x = &d[i];
            /* Read only when there is room and the direction flows. */
            if (!x->eof && !x->len && !held(i)) {
                p[np] = (struct pollfd){ .fd = x->from, .events = POLLIN };
                idx[i] = np++;
            }
            if (x->len && !held(i) && !x->dead) {
                p[np] = (struct pollfd){ .fd = x->to, .events = POLLOUT };
                np++;
            }
        }
        if (kind != F_NONE && !fired && at_ms >= 0)
            timeout = at_ms - (now - t0) > 0 ? (int)(at_ms - (now - t0)) : 0;
        if (stalled && stall_end >= 0)
            timeout = stall_end > now ? (int)(stall_end - now) : 0;
        if (on_usr1 && (timeout < 0 || timeout > 100))
            timeout = 100;      /* a signal just before poll() waits less */
        if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR) {
            close(a);
            close(b);
            return 1;
        }
        for (int i = 0; i < 2; i++) {
            struct dir *x = &d[i];
            ssize_t n;

            if (idx[i] < 0 || !p[idx[i]].revents)
                continue;
            n = read(x->from, x->buf, sizeof(x->buf));
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0) {
                x->eof = true;  /* a reset as well: passed on as a close */
            } else {
                x->off = 0;
                x->len = (size_t)n;
                if (want_type >= 0 && i == fdir)
                    track_records(x->buf, (size_t)n);
            }
        }
    }
    close(a);
    close(b);
    return 0;
}

int main(int argc, char **argv)
{
    int lport, lfd, target = 0, conn_k = 0;
    const char *port_file = NULL;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(o, "--on-usr1")) {
            on_usr1 = true;
            continue;
        }
        if (!strcmp(o, "--again")) {
            again = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "faultproxy: bad argument %s\n", o);
            return 2;
        }
        i++;
        if (!strcmp(o, "--to"))
            target = atoi(v);
        else if (!strcmp(o, "--port-file"))
            port_file = v;
        else if (!strcmp(o, "--conn"))
            conn_k = atoi(v);
        else if (!strcmp(o, "--cut-after"))
            kind = F_CUT, at_byte = atoll(v);
        else if (!strcmp(o, "--flip-at"))
            kind = F_FLIP, at_byte = atoll(v);
        else if (!strcmp(o, "--stall-after"))
            kind = F_STALL, at_byte = atoll(v);
        else if (!strcmp(o, "--at-ms"))
            at_ms = atoll(v);
        else if (!strcmp(o, "--stall-ms"))
            stall_ms = atoll(v);
        else if (!strcmp(o, "--at-record"))
            want_type = (int)strtol(v, NULL, 0),
            want_after = v[strlen(v) - 1] == '+';
        else if (!strcmp(o, "--dir") && !strcmp(v, "s2r"))
            fdir = S2R;
        else if (!strcmp(o, "--dir") && !strcmp(v, "r2s"))
            fdir = R2S;
        else if (!strcmp(o, "--dir") && !strcmp(v, "both"))
            fdir = BOTH;
        else {
            fprintf(stderr, "faultproxy: bad argument %s %s\n", o, v);
            return 2;
        }
    }
    if (at_ms >= 0 || on_usr1 || want_type >= 0)
        at_byte = -1;
    if (want_type >= 0 && fdir == BOTH) {
        fprintf(stderr, "faultproxy: --at-record needs --dir s2r or r2s\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (on_usr1) {
        /* poll() returns EINTR all the same; accept() restarts */
        struct sigaction sa = { .sa_handler = on_signal,
                                .sa_flags = SA_RESTART };
        sigaction(SIGUSR1, &sa, NULL);
    }
    lfd = listen_any(&lport);
    if (lfd < 0 || !target || !port_file)
        return 2;
    FILE *f = fopen(port_file, "w");
    if (!f)
        return 2;
    fprintf(f, "%d\n", lport);
    fclose(f);
    if (conn_k > 0)
        serve_each(lfd, target, conn_k);
    do {
        int rc = relay(lfd, target);

        if (rc)
            finish(rc);
    } while (again && cut);
    finish(0);
}

