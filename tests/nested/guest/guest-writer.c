/* guest-writer: tagged write workload for the nested migration tests.
 *
 * Runs in the PV guest. Writes 4 KiB tagged blocks (gwtag.h) with O_DIRECT to
 * random positions of a region of the disk, keeps the latest generation of
 * every block in memory, re-reads each written block and random other blocks
 * of the whole disk and checks them against that model. Prints to stdout:
 *
 *   GW_START ...                          once
 *   GW_HB t=<s> writes=N reads=N vfail=N ioerr=N maxgap_ms=N mode=M   heartbeat
 *                                          (writes counts blocks: -b N writes N per I/O)
 *   GW_GAP ms=N at=<s> mono_ms=N rt_ms=N   an I/O completion gap above -g
 *                                          (same gap on CLOCK_MONOTONIC / REALTIME)
 *   GW_VFAIL blk=N why=... want=G got=G    a verification failure (first 20)
 *   GW_MODE <write|quiet>                  control change
 *   GW_FINAL digest=XXXXXXXX ...           on stop: digest of the model
 *   GW_LEARNED digest=XXXXXXXX bad=N ...   with -L: the model read from
 *                                          the disk at start (every block's
 *                                          tag checked), its digest
 *
 * maxgap_ms is the largest gap between two consecutive I/O completions: the
 * downtime the guest saw. Stop: SIGTERM/SIGINT, -t seconds, or the xenstore
 * key data/gwctl (relative to the guest's own domain) set to "stop"; "quiet"
 * stops writing (reads go on), "write" resumes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "gwtag.h"

static volatile sig_atomic_t stop_sig;
static void on_sig(int s) { stop_sig = s; }

/* CLOCK_BOOTTIME, not CLOCK_MONOTONIC: a Xen PV guest's monotonic clock does
 * not advance while the domain is suspended (the stop-and-copy phase of a
 * migration), so it would hide exactly the downtime we want to see. */
static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: guest-writer [-d dev] [-r blocks_per_s (0=unthrottled)] [-R region_MiB (0=all)]\n"
		"  [-v verify_reads_per_write] [-t seconds (0=until stopped)] [-H heartbeat_ms]\n"
		"  [-b blocks_per_write (burst: one I/O of N consecutive blocks)]\n"
		"  [-g gap_report_ms] [-s run_id] [-x xenstore_key (\"\"=none)]\n"
		"  [-L (learn the model from the disk first: a guest started again)]\n");
	exit(2);
}

/* --- minimal xenstore client over /dev/xen/xenbus (XS_READ only) --- */
struct xs_hdr { uint32_t type, req_id, tx_id, len; };
#define XS_READ 2
#define XS_ERROR 16

static int full_read(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Returns 1 and fills val if the key exists, 0 if not, -1 on error. */
static int xs_read(int fd, const char *key, char *val, size_t vlen)
{
	uint8_t msg[sizeof(struct xs_hdr) + 256];
	static uint32_t req;
	struct xs_hdr h = { XS_READ, ++req, 0, (uint32_t)strlen(key) + 1 };
	if (h.len > 256)
		return -1;
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), key, h.len);
	if (write(fd, msg, sizeof(h) + h.len) != (ssize_t)(sizeof(h) + h.len))
		return -1;
	if (full_read(fd, &h, sizeof(h)) || h.len > 4096)
		return -1;
	char buf[4097];
	if (full_read(fd, buf, h.len))
		return -1;
	buf[h.len] = 0;
	if (h.type == XS_ERROR)
		return 0;
	size_t n = strlen(buf) < vlen - 1 ? strlen(buf) : vlen - 1;
	memcpy(val, buf, n);
	val[n] = 0;
	return 1;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/xvda", *xskey = "data/gwctl";
	double rate = 40;
	unsigned region_mib = 64, verify = 1, hb_ms = 2000, gap_ms = 500, secs = 0, burst = 1;
	uint32_t run = 0;
	int c, learn = 0;

	while ((c = getopt(argc, argv, "d:r:R:v:t:H:g:s:x:b:L")) != -1) {
		switch (c) {
		case 'd': dev = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'R': region_mib = (unsigned)atoi(optarg); break;
		case 'v': verify = (unsigned)atoi(optarg); break;
		case 't': secs = (unsigned)atoi(optarg); break;
		case 'H': hb_ms = (unsigned)atoi(optarg); break;
		case 'g': gap_ms = (unsigned)atoi(optarg); break;
		case 's': run = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'x': xskey = optarg; break;
		case 'b': burst = (unsigned)atoi(optarg); break;
		case 'L': learn = 1; break;
		default: usage();
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	gw_crc_init();
	if (!run)
		run = (uint32_t)(now_ns() ^ (uint64_t)getpid() << 16);

	struct sigaction sa = { .sa_handler = on_sig };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		printf("GW_ERROR open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	uint64_t bytes = 0;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		bytes = (uint64_t)st.st_size;
	else if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
		printf("GW_ERROR size of %s: %s\n", dev, strerror(errno));
		return 1;
	}
	uint64_t nblocks = bytes / GW_BLOCK;
	uint64_t wblocks = region_mib ? (uint64_t)region_mib * 256 : nblocks;
	if (nblocks == 0 || wblocks > nblocks)
		wblocks = nblocks;
	if (nblocks == 0) {
		printf("GW_ERROR empty disk\n");
		return 1;
	}
	if (burst < 1 || burst > 256 || burst > wblocks) {
		printf("GW_ERROR burst %u: 1..256 blocks, at most the region\n", burst);
		return 1;
	}
	uint32_t *gen = calloc(nblocks, sizeof(*gen)); /* model: every block starts at gen 0 (fill) */
	uint8_t *wbuf, *rbuf;
	if (!gen || posix_memalign((void **)&wbuf, GW_BLOCK, (size_t)burst * GW_BLOCK) ||
	    posix_memalign((void **)&rbuf, GW_BLOCK, (size_t)burst * GW_BLOCK)) {
		printf("GW_ERROR out of memory\n");
		return 1;
	}
	int xsfd = -1;
	if (*xskey)
		xsfd = open("/dev/xen/xenbus", O_RDWR);
	uint64_t learn_bad = 0;
	if (learn) {
		/* A guest started again (after a cold migration): what an earlier
		 * run wrote is the model, every block's tag checked. */
		uint32_t d = 0;
		for (uint64_t b = 0; b < nblocks; b++) {
			uint64_t g = 0;
			enum gw_bad bad = GW_OK;
			if (pread(fd, rbuf, GW_BLOCK, (off_t)(b * GW_BLOCK)) != (ssize_t)GW_BLOCK)
				bad = GW_BAD_MAGIC;
			else
				bad = gw_check_block(rbuf, b, &g);
			if (bad) {
				if (learn_bad++ < 20)
					printf("GW_VFAIL blk=%" PRIu64 " why=learn-%s\n", b, gw_bad_str(bad));
				g = 0;
			}
			gen[b] = (uint32_t)g;
			d = gw_digest_add(d, b, gen[b]);
		}
		printf("GW_LEARNED digest=%08" PRIx32 " blocks=%" PRIu64 " bad=%" PRIu64 "\n", d,
		       nblocks, learn_bad);
	}

	printf("GW_START run=%08" PRIx32 " dev=%s blocks=%" PRIu64 " region_blocks=%" PRIu64
	       " rate=%g burst=%u verify=%u secs=%u control=%s\n", run, dev, nblocks, wblocks, rate,
	       burst, verify, secs, xsfd >= 0 ? xskey : "none");

	uint64_t rng = ((uint64_t)run << 1) | 1;
	uint64_t writes = 0, reads = 0, vfail = learn_bad, ioerr = 0, iters = 0;
	uint64_t t0 = now_ns(), last_io = t0, maxgap = 0, maxgap_at = 0;
	uint64_t last_mono = clock_ns(CLOCK_MONOTONIC), last_rt = clock_ns(CLOCK_REALTIME);
	uint64_t next_hb = t0 + hb_ms * 1000000ull, next_ctl = t0, mode_since = t0;
	int quiet = 0;

#define IO_DONE() do { uint64_t _t = now_ns(), _g = _t - last_io; \
	uint64_t _m = clock_ns(CLOCK_MONOTONIC), _r = clock_ns(CLOCK_REALTIME); \
	if (_g > maxgap) { maxgap = _g; maxgap_at = _t; } \
	if (_g / 1000000 >= gap_ms) \
		printf("GW_GAP ms=%" PRIu64 " at=%.3f mono_ms=%" PRIu64 " rt_ms=%" PRId64 "\n", _g / 1000000, \
		       (_t - t0) / 1e9, (_m - last_mono) / 1000000, ((int64_t)_r - (int64_t)last_rt) / 1000000); \
	last_io = _t; last_mono = _m; last_rt = _r; } while (0)

	while (!stop_sig) {
		uint64_t t = now_ns();
		if (secs && t - t0 >= (uint64_t)secs * 1000000000ull)
			break;
		if (xsfd >= 0 && t >= next_ctl) {
			char v[64] = "";
			int r = xs_read(xsfd, xskey, v, sizeof(v));
			next_ctl = now_ns() + 300000000ull;
			if (r < 0) {
				printf("GW_NOTE xenstore read failed, control off\n");
				close(xsfd);
				xsfd = -1;
			} else if (r == 1 && !strcmp(v, "stop")) {
				break;
			} else if (r == 1 && quiet != !strcmp(v, "quiet")) {
				quiet = !quiet;
				mode_since = now_ns();
				iters = 0;
				printf("GW_MODE %s writes=%" PRIu64 "\n", quiet ? "quiet" : "write", writes);
			}
			/* the control read is not guest I/O downtime */
			last_io = now_ns();
			last_mono = clock_ns(CLOCK_MONOTONIC);
			last_rt = clock_ns(CLOCK_REALTIME);
		}
		if (t >= next_hb) {
			printf("GW_HB t=%.1f writes=%" PRIu64 " reads=%" PRIu64 " vfail=%" PRIu64
			       " ioerr=%" PRIu64 " maxgap_ms=%" PRIu64 " mode=%s\n", (t - t0) / 1e9,
			       writes, reads, vfail, ioerr, maxgap / 1000000, quiet ? "quiet" : "write");
			next_hb = t + hb_ms * 1000000ull;
		}
		if (rate > 0) { /* throttle: iteration i starts no earlier than mode_since + i/rate */
			uint64_t due = mode_since + (uint64_t)(iters * 1e9 / rate);
			if (t < due) {
				uint64_t d = due - t;
				if (d > 100000000ull)
					d = 100000000ull;
				struct timespec ts = { 0, (long)d };
				nanosleep(&ts, NULL);
				continue;
			}
		}
		iters++;
		if (!quiet) {
			/* one write of burst consecutive blocks, each tagged as its own block */
			size_t len = (size_t)burst * GW_BLOCK;
			uint64_t b = gw_xorshift(&rng) % (wblocks - burst + 1), tw = now_ns();
			for (unsigned k = 0; k < burst; k++)
				gw_make_block(wbuf + (size_t)k * GW_BLOCK, b + k, (uint64_t)gen[b + k] + 1, tw, run);
			ssize_t w = pwrite(fd, wbuf, len, (off_t)(b * GW_BLOCK));
			if (w != (ssize_t)len) {
				if (ioerr++ < 20)
					printf("GW_IOERR write blk=%" PRIu64 " ret=%zd %s\n", b, w, strerror(errno));
				continue; /* the blocks' content is now unknown: model unchanged, counted */
			}
			for (unsigned k = 0; k < burst; k++)
				gen[b + k]++;
			writes += burst;
			IO_DONE();
			ssize_t r = pread(fd, rbuf, len, (off_t)(b * GW_BLOCK));
			reads++;
			if (r != (ssize_t)len) {
				if (ioerr++ < 20)
					printf("GW_IOERR read blk=%" PRIu64 " ret=%zd %s\n", b, r, strerror(errno));
			} else {
				IO_DONE();
				if (memcmp(rbuf, wbuf, len) && vfail++ < 20)
					printf("GW_VFAIL blk=%" PRIu64 " why=readback-differs want=%" PRIu32 "\n", b, gen[b]);
			}
		}
		for (unsigned i = 0; i < (quiet ? verify + 1 : verify); i++) {
			uint64_t b = gw_xorshift(&rng) % nblocks, g = 0;
			ssize_t r = pread(fd, rbuf, GW_BLOCK, (off_t)(b * GW_BLOCK));
			reads++;
			if (r != (ssize_t)GW_BLOCK) {
				if (ioerr++ < 20)
					printf("GW_IOERR read blk=%" PRIu64 " ret=%zd %s\n", b, r, strerror(errno));
				continue;
			}
			IO_DONE();
			enum gw_bad bad = gw_check_block(rbuf, b, &g);
			if ((bad || g != gen[b]) && vfail++ < 20)
				printf("GW_VFAIL blk=%" PRIu64 " why=%s want=%" PRIu32 " got=%" PRIu64 "\n", b,
				       bad ? gw_bad_str(bad) : "stale-generation", gen[b], g);
		}
	}

	uint32_t d = 0;
	uint64_t maxgen = 0, touched = 0;
	for (uint64_t b = 0; b < nblocks; b++) {
		d = gw_digest_add(d, b, gen[b]);
		if (gen[b]) touched++;
		if (gen[b] > maxgen) maxgen = gen[b];
	}
	uint64_t t = now_ns();
	printf("GW_FINAL run=%08" PRIx32 " digest=%08" PRIx32 " blocks=%" PRIu64 " touched=%" PRIu64
	       " maxgen=%" PRIu64 " writes=%" PRIu64 " reads=%" PRIu64 " vfail=%" PRIu64 " ioerr=%" PRIu64
	       " maxgap_ms=%" PRIu64 " maxgap_at=%.3f t=%.1f why=%s\n", run, d, nblocks, touched, maxgen,
	       writes, reads, vfail, ioerr, maxgap / 1000000, (maxgap_at - t0) / 1e9, (t - t0) / 1e9,
	       stop_sig ? "signal" : (secs && t - t0 >= (uint64_t)secs * 1000000000ull) ? "time" : "xenstore");
	close(fd);
	return vfail || ioerr ? 3 : 0;
}
