/*
 * A TCP proxy for fault tests: listens on 127.0.0.1 (port written to a
 * file), connects to the real receiver, and relays both ways.  Faults, in
 * the sender-to-receiver direction, counted in bytes relayed:
 *   --cut-after N    close both connections after N bytes
 *   --flip-at N      invert the bits of byte N
 *   --stall-after N  stop relaying after N bytes (connections stay open)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long long cut = -1, flip = -1, stall = -1;

static int listen_any(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1) ||
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

int main(int argc, char **argv)
{
    int lport, lfd, a, b, target = 0;
    const char *port_file = NULL;
    long long fwd = 0;
    char buf[65536];

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--to") && i + 1 < argc)
            target = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else if (!strcmp(argv[i], "--cut-after") && i + 1 < argc)
            cut = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--flip-at") && i + 1 < argc)
            flip = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--stall-after") && i + 1 < argc)
            stall = atoll(argv[++i]);
        else {
            fprintf(stderr, "faultproxy: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    lfd = listen_any(&lport);
    if (lfd < 0 || !target || !port_file)
        return 2;
    FILE *f = fopen(port_file, "w");
    fprintf(f, "%d\n", lport);
    fclose(f);
    a = accept(lfd, NULL, NULL);
    b = connect_to(target);
    if (a < 0 || b < 0)
        return 1;
    /* Relay both ways; an end-of-stream is passed on as a half-close, so
     * that a peer's last words (an ERROR before it closes) still arrive. */
    bool a_open = true, b_open = true;
    while (a_open || b_open) {
        struct pollfd p[2] = { { .fd = a_open ? a : -1, .events = POLLIN },
                               { .fd = b_open ? b : -1, .events = POLLIN } };
        if (poll(p, 2, -1) < 0)
            return 1;
        if (p[0].revents) {
            ssize_t n = read(a, buf, sizeof(buf));
            if (n <= 0) {
                a_open = false;
                shutdown(b, SHUT_WR);
            } else {
                if (stall >= 0 && fwd + n > stall) {
                    fprintf(stderr, "faultproxy: stalling after %lld bytes\n",
                            stall);
                    pause();
                }
                if (cut >= 0 && fwd + n > cut) {
                    fprintf(stderr, "faultproxy: cutting after %lld bytes\n",
                            cut);
                    break;
                }
                if (flip >= fwd && flip < fwd + n) {
                    buf[flip - fwd] ^= (char)0xff;
                    fprintf(stderr, "faultproxy: flipped byte %lld\n", flip);
                }
                if (write(b, buf, (size_t)n) != n)
                    break;
                fwd += n;
            }
        }
        if (p[1].revents) {
            ssize_t n = read(b, buf, sizeof(buf));
            if (n <= 0) {
                b_open = false;
                shutdown(a, SHUT_WR);
            } else if (write(a, buf, (size_t)n) != n) {
                break;
            }
        }
    }
    close(a);
    close(b);
    return 0;
}
