/*
 * A TCP proxy for fault tests: listens on 127.0.0.1 (port written to a
 * file), and for each connection it accepts connects to the real receiver
 * and relays both ways.  Connections come one after the other or together
 * (a sender that reconnects to resume a post-copy, `xlmig recover`); the
 * proxy runs until it is killed.  One fault, on the FIRST connection only
 * (the later ones are relayed faithfully, as a repaired link):
 *   --cut-after N    close both sockets once N bytes have passed
 *   --flip-at N      invert the bits of byte N
 *   --stall-after N  stop relaying after N bytes: the sockets stay open,
 *                    nothing more is delivered (a hung host, a black-holed
 *                    route); the first connection's sockets are then
 *                    never closed until the proxy is killed or the stall
 *                    ends
 * counted in the direction given by
 *   --dir s2r|r2s|both  sender-to-receiver (default), receiver-to-sender,
 *                    or both together (bytes of both directions counted
 *                    as one stream; a stall stops both directions)
 * or, instead of a byte offset,
 *   --at-ms T        at T ms after the first connection: cut at once,
 *                    flip the next byte relayed, or stall from then on
 *                    (give the fault option with any N, e.g. --cut-after 0)
 *   --on-usr1        when the proxy gets SIGUSR1 (a test's own trigger,
 *                    e.g. a migration phase): as --at-ms at that moment
 *   --at-record T    at the first record of type T (e.g. 0x71, GO) in
 *                    the direction of --dir (s2r or r2s): N then counts
 *                    from that record's first byte (--cut-after 0 cuts
 *                    just before it, --flip-at 5 flips the high byte of
 *                    its type); records are followed by their 16-byte
 *                    headers (xlmig wire protocol: length at bytes 8..11)
 *   --stall-ms D     the stall ends after D ms (default: never)
 *   --once           serve one connection and exit when it ends (the
 *                    proxy's behaviour before it served several)
 *   --conn K         the fault on the K-th accepted connection instead of
 *                    the first (several at once: --connections N)
 * When the fault fires, one line "faultproxy: FIRED kind dir s2r=X r2s=Y
 * t=MS" goes to stderr; a line "faultproxy: connection K ..." when a
 * connection opens and when it ends (with its byte totals).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#define MAXLINKS 32

struct dir {
    int from, to;
    bool eof;                   /* source closed, passed on once drained */
    bool dead;                  /* destination gone: data is dropped */
    long long count;            /* bytes relayed (written) */
    char buf[BUFSZ];            /* read, not yet written */
    size_t off, len;
};

/* One relayed connection: the sender's socket a, the receiver's b. */
struct link {
    bool open;
    int no;                     /* 1, 2, ... in accept order */
    int a, b;
    struct dir d[2];
};

static enum kind kind = F_NONE;
static int fdir = S2R;
static long long at_byte = -1, at_ms = -1, stall_ms = -1;
static bool fired, stalled, flip_armed, on_usr1, once;
static volatile sig_atomic_t usr1;
static long long t0 = -1, stall_end = -1;
static struct link links[MAXLINKS];
static struct link *first;      /* the faulty one, while it is open */
static int accepted;
static int fault_conn = 1;      /* --conn: the faulty one's number */
/* --at-record: the record parser of the first connection's fdir stream */
static long at_record = -1;
static long long rec_off;       /* offset N, added to the record's start */
static unsigned char hdr[16];
static size_t hdr_have;
static long long body_left;

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

static long long since_t0(void)
{
    return t0 < 0 ? 0 : now_ms() - t0;
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

    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

static const char *kind_name(void)
{
    return kind == F_CUT ? "cut" : kind == F_FLIP ? "flip" : "stall";
}

static void link_close(struct link *l, const char *why)
{
    if (!l->open)
        return;
    fprintf(stderr, "faultproxy: connection %d %s s2r=%lld r2s=%lld "
            "t=%lld\n", l->no, why, l->d[S2R].count, l->d[R2S].count,
            since_t0());
    close(l->a);
    close(l->b);
    l->open = false;
    if (l == first)
        first = NULL;
    if (once)
        exit(0);
}

static void fire(void)
{
    static const char *dn[] = { "s2r", "r2s", "both" };

    fired = true;
    fprintf(stderr, "faultproxy: FIRED %s %s s2r=%lld r2s=%lld t=%lld\n",
            kind_name(), dn[fdir], first->d[S2R].count,
            first->d[R2S].count, since_t0());
    if (kind == F_STALL) {
        stalled = true;
        if (stall_ms >= 0)
            stall_end = now_ms() + stall_ms;
    }
}

/* Whether direction i of l is held by the stall. */
static bool held(const struct link *l, int i)
{
    return l == first && stalled && (fdir == BOTH || fdir == i);
}

/* Bytes counted for the fault's offset, before direction i relays more;
 * -1 where the fault does not count (another direction or connection). */
static long long counted(const struct link *l, int i)
{
    if (l != first || fired)
        return -1;
    if (fdir == BOTH)
        return l->d[S2R].count + l->d[R2S].count;
    return fdir == i ? l->d[i].count : -1;
}

/*
 * How many of the pending bytes of direction i may go now: all of them,
 * or up to the fault's byte offset (where it then fires).
 */
static size_t allowed(const struct link *l, int i, size_t n)
{
    long long c = counted(l, i);

    if (at_byte < 0 || c < 0 || kind == F_FLIP)
        return n;
    if (c + (long long)n <= at_byte)
        return n;
    return (size_t)(at_byte > c ? at_byte - c : 0);
}

/* Writes what direction i of l may write now; false if l must end. */
static bool pump(struct link *l, int i)
{
    struct dir *x = &l->d[i];

    while (l->open && x->len && !held(l, i)) {
        size_t n = allowed(l, i, x->len);
        long long c = counted(l, i);
        ssize_t w;

        if (!n) {
            fire();
            if (kind == F_CUT) {
                link_close(l, "cut");
                return true;
            }
            continue;           /* a stall now holds i */
        }
        if (kind == F_FLIP && c >= 0) {
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
                if (l != first || !fired || kind != F_STALL)
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
    if (l->open && !x->len && x->eof && !held(l, i) && !x->dead) {
        shutdown(x->to, SHUT_WR);
        x->dead = true;
    }
    return true;
}

/*
 * --at-record: follows the record boundaries in n bytes just read (they
 * start at stream offset base); at the header of the wanted type the
 * fault's byte offset becomes that record's start + N.
 */
static void scan_records(const unsigned char *p, size_t n, long long base)
{
    size_t i = 0;

    while (i < n && at_record >= 0 && at_byte < 0) {
        if (body_left > 0) {
            size_t k = (long long)(n - i) < body_left ? n - i
                                                      : (size_t)body_left;
            body_left -= (long long)k;
            i += k;
            continue;
        }
        hdr[hdr_have++] = p[i++];
        if (hdr_have < sizeof(hdr))
            continue;
        hdr_have = 0;
        body_left = (long long)(hdr[8] | hdr[9] << 8 | hdr[10] << 16 |
                                (unsigned long)hdr[11] << 24);
        if ((hdr[4] | hdr[5] << 8) == at_record) {
            at_byte = base + (long long)i - (long long)sizeof(hdr) + rec_off;
            fprintf(stderr, "faultproxy: record 0x%04lx at byte %lld\n",
                    at_record, at_byte - rec_off);
        }
    }
}

static void take(int lfd, int target)
{
    struct link *l = NULL;
    int a = accept(lfd, NULL, NULL), b;

    if (a < 0)
        return;
    for (int i = 0; i < MAXLINKS && !l; i++)
        if (!links[i].open)
            l = &links[i];
    b = l ? connect_to(target) : -1;
    accepted++;
    if (b < 0) {
        /* nobody listens any more (or too many): the sender sees a close */
        fprintf(stderr, "faultproxy: connection %d refused (%s) t=%lld\n",
                accepted, l ? "the target does not answer" : "too many",
                since_t0());
        close(a);
        return;
    }
    memset(l, 0, sizeof(*l));
    l->open = true;
    l->no = accepted;
    l->a = a;
    l->b = b;
    l->d[S2R].from = a;
    l->d[S2R].to = b;
    l->d[R2S].from = b;
    l->d[R2S].to = a;
    if (accepted == 1)
        t0 = now_ms();
    if (accepted == fault_conn)
        first = l;
    fprintf(stderr, "faultproxy: connection %d opened t=%lld\n", l->no,
            since_t0());
}

int main(int argc, char **argv)
{
    int lport, lfd, target = 0;
    const char *port_file = NULL;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(o, "--on-usr1")) {
            on_usr1 = true;
            continue;
        }
        if (!strcmp(o, "--once")) {
            once = true;
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
        else if (!strcmp(o, "--conn") && atoi(v) >= 1)
            fault_conn = atoi(v);
        else if (!strcmp(o, "--at-record"))
            at_record = strtol(v, NULL, 0);
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
    if (at_ms >= 0 || on_usr1)
        at_byte = -1;
    if (at_record >= 0) {
        if (fdir == BOTH || kind == F_NONE) {
            fprintf(stderr, "faultproxy: --at-record needs a fault and "
                    "--dir s2r or r2s\n");
            return 2;
        }
        rec_off = at_byte;      /* from the record's start */
        at_byte = -1;           /* until the record shows */
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
    fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
    FILE *f = fopen(port_file, "w");
    if (!f)
        return 2;
    fprintf(f, "%d\n", lport);
    fclose(f);
    /* Relay both ways; an end-of-stream is passed on as a half-close, so
     * that a peer's last words (an ERROR before it closes) still arrive. */
    for (;;) {
        struct pollfd p[1 + 4 * MAXLINKS];
        int timeout = -1, np = 0, idx[MAXLINKS][2];
        long long now = now_ms();

        /* the fault's moment: only while the first connection is open */
        if (usr1 && on_usr1 && first) {
            on_usr1 = false;
            at_ms = now - t0;   /* now */
        }
        if (kind != F_NONE && !fired && first && at_ms >= 0 &&
            now - t0 >= at_ms) {
            if (kind == F_FLIP)
                flip_armed = true, fired = false;
            else
                fire();
            if (kind == F_CUT)
                link_close(first, "cut");
            at_ms = -1;
        }
        if (stalled && stall_end >= 0 && now >= stall_end) {
            stalled = false;
            stall_end = -1;
            fprintf(stderr, "faultproxy: stall ended t=%lld\n", now - t0);
        }
        for (int k = 0; k < MAXLINKS; k++) {
            struct link *l = &links[k];

            for (int i = 0; i < 2 && l->open; i++)
                if (!pump(l, i))
                    link_close(l, "broken");
            if (l->open && (l->d[S2R].eof || l->d[S2R].dead) &&
                !l->d[S2R].len && (l->d[R2S].eof || l->d[R2S].dead) &&
                !l->d[R2S].len && !held(l, S2R) && !held(l, R2S))
                link_close(l, "ended");
        }
        p[np++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
        for (int k = 0; k < MAXLINKS; k++) {
            struct link *l = &links[k];

            idx[k][0] = idx[k][1] = -1;
            for (int i = 0; i < 2 && l->open; i++) {
                struct dir *x = &l->d[i];
                /* Read only when there is room and the direction flows. */
                if (!x->eof && !x->len && !held(l, i)) {
                    p[np] = (struct pollfd){ .fd = x->from, .events = POLLIN };
                    idx[k][i] = np++;
                }
                if (x->len && !held(l, i) && !x->dead)
                    p[np++] = (struct pollfd){ .fd = x->to,
                                               .events = POLLOUT };
            }
        }
        if (kind != F_NONE && !fired && first && at_ms >= 0)
            timeout = at_ms - (now - t0) > 0 ? (int)(at_ms - (now - t0)) : 0;
        if (stalled && stall_end >= 0)
            timeout = stall_end > now ? (int)(stall_end - now) : 0;
        if (on_usr1 && (timeout < 0 || timeout > 100))
            timeout = 100;      /* a signal just before poll() waits less */
        if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR) {
            perror("faultproxy: poll");
            return 1;
        }
        if (p[0].revents & POLLIN)
            take(lfd, target);
        for (int k = 0; k < MAXLINKS; k++) {
            struct link *l = &links[k];

            for (int i = 0; i < 2 && l->open; i++) {
                struct dir *x = &l->d[i];
                ssize_t n;

                if (idx[k][i] < 0 || !p[idx[k][i]].revents)
                    continue;
                n = read(x->from, x->buf, sizeof(x->buf));
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (n <= 0) {
                    x->eof = true;  /* a reset as well: passed on as a close */
                } else {
                    x->off = 0;
                    x->len = (size_t)n;
                    if (l == first && i == fdir && !fired)
                        scan_records((unsigned char *)x->buf, (size_t)n,
                                     x->count);
                }
            }
        }
    }
}
