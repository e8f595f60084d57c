/* Writes a seed corpus of valid record streams for fuzz_records. */
#include <stdio.h>
#include <string.h>

#include "wire.h"

static uint8_t buf[1 << 16];

static void put(const char *dir, const char *name, size_t n)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f) {
        fwrite(buf, 1, n, f);
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    struct xlmig_hello h = { 1, 1, XLMIG_F_ALL, XLMIG_ROLE_SENDER };
    struct xlmig_disk d = { .id = 0, .count = 1, .block_size = 4096,
                            .size = 1 << 20, .allocated = 4096 };
    struct xlmig_data data = { .encoding = XLMIG_ENC_RAW, .first = 3,
                               .count = 1, .payload_len = 4096 };
    struct xlmig_extent e[2] = { { 1, 2 }, { 9, 1 } };
    struct xlmig_phase p = { XLMIG_PHASE_DIRTY, 1, 5 };
    size_t n = 0;

    strcpy(d.name, "xvda");
    n += xlmig_enc_hello(buf + n, &h);
    n += xlmig_enc_disk(buf + n, &d);
    put(dir, "negotiate", n);
    n = xlmig_enc_phase(buf, &p);
    memset(buf + n + XLMIG_HDR_LEN + XLMIG_DATA_HDR_LEN, 'x', 4096);
    n += xlmig_enc_data(buf + n, &data);
    put(dir, "data", n);
    n = xlmig_enc_extents(buf, XLMIG_REC_BITMAP, 0, e, 2);
    n += xlmig_enc_u64(buf + n, XLMIG_REC_SYNC, 1);
    put(dir, "bitmap", n);
    n = xlmig_enc_error(buf, 5, "boom");
    put(dir, "error", n);

    /* Each type at its smallest and largest body (zeros), so mutations
     * start at the edges of the per-type length bounds. */
    for (uint32_t t = 0; t <= 0xffff; t++) {
        uint32_t min, max;
        char name[64];

        if (xlmig_rec_len_bounds((uint16_t)t, &min, &max) < 0)
            continue;
        memset(buf, 0, XLMIG_HDR_LEN + min);
        xlmig_seal(buf, (uint16_t)t, min);
        snprintf(name, sizeof(name), "min-%s", xlmig_rec_name((uint16_t)t));
        put(dir, name, XLMIG_HDR_LEN + min);
        if (max > sizeof(buf) - XLMIG_HDR_LEN)
            continue;           /* the big ones: the header is what counts */
        memset(buf, 0, XLMIG_HDR_LEN + max);
        xlmig_seal(buf, (uint16_t)t, max);
        snprintf(name, sizeof(name), "max-%s", xlmig_rec_name((uint16_t)t));
        put(dir, name, XLMIG_HDR_LEN + max);
    }
    /* A stream cut in the middle of a record whose length field lies. */
    n = xlmig_enc_extents(buf, XLMIG_REC_PULL_REQ, 0, e, 2);
    buf[9] ^= 0x04;
    put(dir, "pullreq-bad-len", n - 8);
    return 0;
}
