/* Little-endian integers in byte buffers: the wire format's, and the
 * storage negotiation's and the simulated guests' state packing. */
#ifndef XLMIG_LE_H
#define XLMIG_LE_H

#include <stdint.h>

static inline void xlmig_put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t xlmig_get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;

    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void put16(uint8_t *p, uint16_t v) { xlmig_put_le(p, v, 2); }
static inline void put32(uint8_t *p, uint32_t v) { xlmig_put_le(p, v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { xlmig_put_le(p, v, 8); }

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)xlmig_get_le(p, 2);
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)xlmig_get_le(p, 4);
}

static inline uint64_t get64(const uint8_t *p)
{
    return xlmig_get_le(p, 8);
}

#endif
