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
    return 0;
}
