/*
 * libFuzzer target: the receiver's record parser and every decoder, fed a
 * byte stream as it would arrive on the data channel.  Built with
 * --enable-fuzzing (clang); the CRC check is bypassed in fuzzing builds so
 * that mutations reach the decoders.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const struct xlmig_rec *r)
{
    static uint8_t out[XLMIG_MAX_DATA];
    static struct xlmig_inflater inf;
    struct xlmig_error err;
    union {
        struct xlmig_hello h;
        struct xlmig_error_rec e;
        struct xlmig_disk d;
        struct xlmig_disk_ack a;
        struct xlmig_data data;
        struct xlmig_phase p;
        struct xlmig_extent_list l;
        struct xlmig_bitmap_end be;
        struct xlmig_done done;
        struct xlmig_state_end se;
        struct xlmig_digest dg;
        struct xlmig_verified vf;
        struct xlmig_probe pr;
        struct xlmig_probe_ack pa;
        struct xlmig_join j;
    } u;
    uint8_t token[XLMIG_SESSION_TOKEN_LEN];
    uint64_t v;
    int32_t st;

    switch (r->type) {
    case XLMIG_REC_HELLO: xlmig_dec_hello(r, &u.h, &err); break;
    case XLMIG_REC_ERROR: xlmig_dec_error(r, &u.e, &err); break;
    case XLMIG_REC_DISK: xlmig_dec_disk(r, &u.d, &err); break;
    case XLMIG_REC_DISK_ACK: xlmig_dec_disk_ack(r, &u.a, &err); break;
    case XLMIG_REC_DATA:
        if (xlmig_dec_data(r, &u.data, &err) == 0 &&
            u.data.encoding == XLMIG_ENC_ZLIB) {
            /* As the receiver does: inflate to the declared block size. */
            size_t want = (size_t)u.data.count * 4096;
            if (want <= sizeof(out))
                xlmig_inflate(&inf, u.data.payload, u.data.payload_len, out,
                              want, &err);
        }
        break;
    case XLMIG_REC_PHASE: xlmig_dec_phase(r, &u.p, &err); break;
    case XLMIG_REC_DIGEST: xlmig_dec_digest(r, &u.dg, &err); break;
    case XLMIG_REC_VERIFIED: xlmig_dec_verified(r, &u.vf, &err); break;
    case XLMIG_REC_PROBE: xlmig_dec_probe(r, &u.pr, &err); break;
    case XLMIG_REC_PROBE_ACK: xlmig_dec_probe_ack(r, &u.pa, &err); break;
    case XLMIG_REC_OFFLINE:
        xlmig_dec_token(r, XLMIG_REC_OFFLINE, token, &err);
        break;
    case XLMIG_REC_BITMAP:
    case XLMIG_REC_PULL_REQ:
    case XLMIG_REC_MISMATCH:
        if (xlmig_dec_extents(r, &u.l, &err) == 0) {
            struct xlmig_extent e;
            for (uint32_t i = 0; i < u.l.n; i++) {
                xlmig_extent_at(&u.l, i, &e);
                xlmig_check_extent(e.start, e.count, 1 << 20, &err);
            }
        }
        break;
    case XLMIG_REC_BITMAP_END: xlmig_dec_bitmap_end(r, &u.be, &err); break;
    case XLMIG_REC_DONE: xlmig_dec_done(r, &u.done, &err); break;
    case XLMIG_REC_STATE_END: xlmig_dec_state_end(r, &u.se, &err); break;
    case XLMIG_REC_REPORT: xlmig_dec_report(r, &st, &err); break;
    case XLMIG_REC_JOIN: xlmig_dec_join(r, &u.j, &err); break;
    case XLMIG_REC_SYNC:
    case XLMIG_REC_SYNC_ACK: xlmig_dec_u64(r, &v, &err); break;
    default: xlmig_dec_empty(r, &err); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xlmig_error err;
    size_t off = 0;

    while (off < size) {
        struct xlmig_rec r;
        size_t used;
        int rc = xlmig_parse(data + off, size - off, &r, &used, &err);

        if (rc <= 0)
            break;
        decode(&r);
        off += used;
    }
    return 0;
}
