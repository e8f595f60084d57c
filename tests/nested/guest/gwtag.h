/* Tagged 4 KiB blocks shared by guest-writer (in the guest) and imgcheck (in
 * dom0 / on the host). Every block of a test disk carries a tag:
 *
 *   off  0  u64 magic  "XLMIGGW1"
 *   off  8  u64 block number (its own position on the disk)
 *   off 16  u64 generation (0 = initial fill, then +1 per guest write)
 *   off 24  u64 guest CLOCK_BOOTTIME ns at write time (0 for the fill)
 *   off 32  u32 run id (0 for the fill)
 *   off 36  u32 CRC-32 of the whole block with this field zeroed
 *   off 40  pseudo-random payload derived from (block, generation)
 *
 * The digest of a disk is the CRC-32 over (u64 block, u64 generation), little
 * endian, for every block in order: the guest computes it from its in-memory
 * model, imgcheck from the image. Equal digests = the image holds exactly the
 * latest generation the guest wrote to every block.
 */
#ifndef GWTAG_H
#define GWTAG_H
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define GW_BLOCK 4096u
#define GW_MAGIC 0x31574747494d4c58ull /* "XLMIGGW1" little endian */

struct gw_tag {
	uint64_t magic, blkno, gen, ts_ns;
	uint32_t run, crc;
};

static uint32_t gw_crc_table[256];

static inline void gw_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		gw_crc_table[i] = c;
	}
}

/* zlib-compatible: crc = gw_crc(0, ...) then chain */
static inline uint32_t gw_crc(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	crc = ~crc;
	while (n--)
		crc = gw_crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static inline uint64_t gw_xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static inline uint32_t gw_block_crc(const uint8_t *blk)
{
	uint8_t tmp[GW_BLOCK];
	memcpy(tmp, blk, GW_BLOCK);
	memset(tmp + offsetof(struct gw_tag, crc), 0, sizeof(uint32_t));
	return gw_crc(0, tmp, GW_BLOCK);
}

/* Fill blk with the tagged content of (blkno, gen). */
static inline void gw_make_block(uint8_t *blk, uint64_t blkno, uint64_t gen,
				 uint64_t ts_ns, uint32_t run)
{
	struct gw_tag t = { GW_MAGIC, blkno, gen, ts_ns, run, 0 };
	uint64_t s = (blkno + 1) * 0x9E3779B97F4A7C15ull ^ (gen + 1) * 0xD1B54A32D192ED03ull;
	if (!s)
		s = 1;
	for (size_t off = sizeof(t); off < GW_BLOCK; off += 8) {
		uint64_t v = gw_xorshift(&s);
		memcpy(blk + off, &v, 8);
	}
	memcpy(blk, &t, sizeof(t));
	t.crc = gw_block_crc(blk);
	memcpy(blk, &t, sizeof(t));
}

enum gw_bad { GW_OK = 0, GW_BAD_MAGIC, GW_BAD_BLKNO, GW_BAD_CRC };

/* Check a block read from position blkno; on success *gen gets its generation. */
static inline enum gw_bad gw_check_block(const uint8_t *blk, uint64_t blkno, uint64_t *gen)
{
	struct gw_tag t;
	memcpy(&t, blk, sizeof(t));
	if (t.magic != GW_MAGIC)
		return GW_BAD_MAGIC;
	if (t.blkno != blkno)
		return GW_BAD_BLKNO;
	if (t.crc != gw_block_crc(blk))
		return GW_BAD_CRC;
	*gen = t.gen;
	return GW_OK;
}

static inline const char *gw_bad_str(enum gw_bad b)
{
	static const char *s[] = { "ok", "bad-magic", "bad-blkno", "bad-crc" };
	return s[b];
}

/* Running digest: feed (blkno, gen) for every block in order. */
static inline uint32_t gw_digest_add(uint32_t d, uint64_t blkno, uint64_t gen)
{
	uint8_t rec[16];
	for (int i = 0; i < 8; i++) {
		rec[i] = (uint8_t)(blkno >> (8 * i));
		rec[8 + i] = (uint8_t)(gen >> (8 * i));
	}
	return gw_crc(d, rec, sizeof(rec));
}
#endif
