/* imgcheck: fill or check a disk image of tagged blocks (gwtag.h).
 *
 *   imgcheck fill IMAGE SIZE_MiB   write generation-0 tags into every block
 *   imgcheck check IMAGE           validate every block, print the digest
 *
 * check prints "IMGCHECK blocks=N bad=N written=N maxgen=N digest=XXXXXXXX"
 * (written = blocks with generation > 0) and exits 0 only if no block is bad.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gwtag.h"

#define CHUNK 256 /* blocks per I/O */

static int do_fill(const char *path, uint64_t mib)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "imgcheck: %s: %s\n", path, strerror(errno));
		return 2;
	}
	static uint8_t buf[CHUNK * GW_BLOCK];
	uint64_t n = mib * 256;
	for (uint64_t b = 0; b < n; b += CHUNK) {
		uint64_t k = n - b < CHUNK ? n - b : CHUNK;
		for (uint64_t i = 0; i < k; i++)
			gw_make_block(buf + i * GW_BLOCK, b + i, 0, 0, 0);
		if (pwrite(fd, buf, k * GW_BLOCK, (off_t)(b * GW_BLOCK)) != (ssize_t)(k * GW_BLOCK)) {
			fprintf(stderr, "imgcheck: write %s: %s\n", path, strerror(errno));
			return 2;
		}
	}
	if (fsync(fd) || close(fd)) {
		fprintf(stderr, "imgcheck: sync %s: %s\n", path, strerror(errno));
		return 2;
	}
	printf("IMGFILL blocks=%" PRIu64 "\n", n);
	return 0;
}

static int do_check(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "imgcheck: %s: %s\n", path, strerror(errno));
		return 2;
	}
	uint64_t bytes = 0;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	else if (ioctl(fd, BLKGETSIZE64, &bytes)) {
		fprintf(stderr, "imgcheck: size of %s: %s\n", path, strerror(errno));
		return 2;
	}
	static uint8_t buf[CHUNK * GW_BLOCK];
	uint64_t n = bytes / GW_BLOCK, bad = 0, written = 0, maxgen = 0;
	uint32_t d = 0;
	for (uint64_t b = 0; b < n; b += CHUNK) {
		uint64_t k = n - b < CHUNK ? n - b : CHUNK;
		if (pread(fd, buf, k * GW_BLOCK, (off_t)(b * GW_BLOCK)) != (ssize_t)(k * GW_BLOCK)) {
			fprintf(stderr, "imgcheck: read %s: %s\n", path, strerror(errno));
			return 2;
		}
		for (uint64_t i = 0; i < k; i++) {
			uint64_t g = 0;
			enum gw_bad why = gw_check_block(buf + i * GW_BLOCK, b + i, &g);
			if (why) {
				if (bad++ < 10)
					printf("IMGBAD blk=%" PRIu64 " why=%s\n", b + i, gw_bad_str(why));
				g = UINT64_MAX; /* poisons the digest */
			} else {
				written += g > 0;
				maxgen = g > maxgen ? g : maxgen;
			}
			d = gw_digest_add(d, b + i, g);
		}
	}
	close(fd);
	printf("IMGCHECK blocks=%" PRIu64 " bad=%" PRIu64 " written=%" PRIu64 " maxgen=%" PRIu64
	       " digest=%08" PRIx32 "%s\n", n, bad, written, maxgen, d, bytes % GW_BLOCK ? " partial-tail" : "");
	return bad || n == 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	gw_crc_init();
	if (argc == 4 && !strcmp(argv[1], "fill"))
		return do_fill(argv[2], strtoull(argv[3], NULL, 10));
	if (argc == 3 && !strcmp(argv[1], "check"))
		return do_check(argv[2]);
	fprintf(stderr, "usage: imgcheck fill IMAGE SIZE_MiB | imgcheck check IMAGE\n");
	return 2;
}
