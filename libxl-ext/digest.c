#include <openssl/evp.h>

#include "digest.h"

#define GRAIN_BYTES (64u << 10)

int xlmig_sha256(const void *p, size_t n, uint8_t *out)
{
    unsigned int len = 0;

    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 ||
        len != XLMIG_DIGEST_LEN)
        return -1;
    return 0;
}

uint32_t xlmig_digest_grain(uint32_t block_size)
{
    uint32_t g = GRAIN_BYTES / block_size;

    return g ? g : 1;
}

void xlmig_digest_grain_range(size_t len, uint32_t block_size,
                              uint32_t grain, uint32_t g, size_t *off,
                              size_t *n)
{
    size_t step = (size_t)grain * block_size;

    *off = (size_t)g * step;
    if (*off >= len) {
        *off = len;
        *n = 0;
        return;
    }
    *n = len - *off < step ? len - *off : step;
}

int xlmig_digest_run(const uint8_t *p, size_t len, uint32_t block_size,
                     uint32_t count, uint32_t grain, uint8_t *out)
{
    uint32_t n = xlmig_digest_count(count, grain);

    for (uint32_t g = 0; g < n; g++) {
        size_t off, l;

        xlmig_digest_grain_range(len, block_size, grain, g, &off, &l);
        if (xlmig_sha256(p + off, l, out + (size_t)g * XLMIG_DIGEST_LEN) < 0)
            return -1;
    }
    return 0;
}
