/*
 * A hostile sender for the receiver's input validation: it negotiates
 * properly (so that targets get created), then sends one malformed or
 * out-of-place record chosen by name, and prints the ERROR the receiver
 * answers with.  Exit 0 when the receiver rejected it with an ERROR
 * record or closed the channel, 1 if it swallowed it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "transport.h"
#include "wire.h"

static uint8_t buf[XLMIG_HDR_LEN + XLMIG_MAX_BODY];

static void must_send(struct xlmig_conn *c, size_t n)
{
    if (xlmig_conn_send(c, buf, n) < 0) {
        fprintf(stderr, "badpeer: send: %s\n", c->err.msg);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    struct xlmig_hello h = { 1, 1, XLMIG_F_ALL, XLMIG_ROLE_SENDER };
    struct xlmig_disk d = { .id = 0, .count = 1, .block_size = 4096,
                            .size = 1 << 20, .allocated = 0 };
    struct xlmig_conn c;
    struct xlmig_rec r;
    struct xlmig_error err;
    const char *what;
    int fd;

    if (argc != 3) {
        fprintf(stderr, "usage: badpeer PORT CASE\n");
        return 2;
    }
    what = argv[2];
    fd = xlmig_tcp_connect("127.0.0.1", argv[1], &err);
    if (fd < 0 || xlmig_conn_init(&c, fd, fd) < 0) {
        fprintf(stderr, "badpeer: %s\n", err.msg);
        return 2;
    }
    c.recv_timeout_ms = 10000;
    strcpy(d.name, !strcmp(what, "traversal") ? "../../escape" : "xvda");
    must_send(&c, xlmig_enc_hello(buf, &h));
    if (xlmig_conn_recv(&c, &r) != 1) {
        xlmig_conn_destroy(&c);
        return 0;
    }
    must_send(&c, xlmig_enc_disk(buf, &d));

    if (!strcmp(what, "traversal")) {
        /* already sent */
    } else if (!strcmp(what, "data-out-of-range")) {
        struct xlmig_data x = { .encoding = XLMIG_ENC_ZERO, .first = 256,
                                .count = 1 };
        xlmig_conn_recv(&c, &r);                /* DISK_ACK */
        must_send(&c, xlmig_enc_data(buf, &x));
    } else if (!strcmp(what, "data-short-payload")) {
        struct xlmig_data x = { .encoding = XLMIG_ENC_RAW, .first = 1,
                                .count = 2, .payload_len = 4096 };
        xlmig_conn_recv(&c, &r);
        must_send(&c, xlmig_enc_data(buf, &x));
    } else if (!strcmp(what, "bad-zlib")) {
        struct xlmig_data x = { .encoding = XLMIG_ENC_ZLIB, .first = 1,
                                .count = 1, .payload_len = 100 };
        xlmig_conn_recv(&c, &r);
        memset(buf + XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN, 0x5a, 100);
        must_send(&c, xlmig_enc_data(buf, &x));
    } else if (!strcmp(what, "unknown-type")) {
        xlmig_conn_recv(&c, &r);
        xlmig_seal(buf, 0x0777, 0);
        must_send(&c, XLMIG_HDR_LEN);
    } else if (!strcmp(what, "postcopy-early")) {
        struct xlmig_data x = { .encoding = XLMIG_ENC_ZERO, .first = 1,
                                .count = 1, .origin = XLMIG_ORIGIN_DEMAND };
        xlmig_conn_recv(&c, &r);
        must_send(&c, xlmig_enc_data(buf, &x));
    } else if (!strcmp(what, "garbage")) {
        xlmig_conn_recv(&c, &r);
        memset(buf, 0x41, 4096);
        must_send(&c, 4096);
    } else if (!strcmp(what, "truncated")) {
        struct xlmig_data x = { .encoding = XLMIG_ENC_RAW, .first = 1,
                                .count = 1, .payload_len = 4096 };
        xlmig_conn_recv(&c, &r);
        size_t n = xlmig_enc_data(buf, &x);
        must_send(&c, n / 2);
        shutdown(fd, SHUT_WR);
    } else {
        fprintf(stderr, "badpeer: unknown case %s\n", what);
        return 2;
    }
    /* The receiver must answer with an ERROR (or hang up). */
    int status = -1;
    while (status < 0) {
        int rc = xlmig_conn_recv(&c, &r);
        if (rc <= 0) {
            printf("receiver closed the channel\n");
            status = 0;
        } else if (r.type == XLMIG_REC_ERROR) {
            struct xlmig_error_rec e;
            if (xlmig_dec_error(&r, &e, &err) == 0)
                printf("receiver error: %s\n", e.reason);
            status = 0;
        } else if (r.type != XLMIG_REC_DISK_ACK &&
                   r.type != XLMIG_REC_SESSION) {
            printf("receiver sent %s\n", xlmig_rec_name(r.type));
            status = 1;
        }
    }
    xlmig_conn_destroy(&c);
    close(fd);
    return status;
}
