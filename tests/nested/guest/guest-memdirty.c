/* guest-memdirty: a guest that dirties its memory fast, for the memory
 * scenarios of the nested migration tests (auto-converge, issue 11).
 *
 * Runs in the PV guest beside guest-writer. Allocates -m MiB (at most what
 * /proc/meminfo says is available, less -k MiB for the rest of the guest:
 * the OOM killer would take it), touches every page once, then writes one word to every page of it in a tight loop
 * (sequential sweeps), or at most -r pages a second, at nice -n (10: the
 * disk writer, which mostly sleeps, goes first). Prints to stdout:
 *
 *   GM_START mib=N pages=N                 once
 *   GM_HB t=<s> pages=N rate=N sweeps=N    every -H ms: pages written so far
 *                                          and the rate since the last line
 *
 * Times are CLOCK_BOOTTIME (see guest-writer.c). Stops on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_sig;
static void on_sig(int s) { stop_sig = s; }

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* MemAvailable in MiB, 0 if unknown. */
static unsigned long mem_available_mib(void)
{
	char line[128];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %lu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb / 1024;
}

static void usage(void)
{
	fprintf(stderr, "usage: guest-memdirty [-m MiB] [-k MiB_to_keep_free] [-r pages_per_s (0=unthrottled)]\n"
		"  [-n nice] [-H heartbeat_ms]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long mib = 64, rate = 0, hb_ms = 2000, keep = 40, avail;
	int nice_level = 10;
	uint64_t t0, last, last_pages = 0, pages = 0, sweeps = 0;
	size_t npages, i = 0;
	volatile uint64_t *mem;
	long ps = sysconf(_SC_PAGESIZE);
	int c;

	while ((c = getopt(argc, argv, "m:k:r:n:H:")) != -1) {
		switch (c) {
		case 'k': keep = strtoul(optarg, NULL, 10); break;
		case 'n': nice_level = atoi(optarg); break;
		case 'm': mib = strtoul(optarg, NULL, 10); break;
		case 'r': rate = strtoul(optarg, NULL, 10); break;
		case 'H': hb_ms = strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!mib || ps <= 0 || !hb_ms)
		usage();
	if (setpriority(PRIO_PROCESS, 0, nice_level) < 0)
		printf("GM_ERROR setpriority %d failed\n", nice_level);
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	setvbuf(stdout, NULL, _IOLBF, 0);
	avail = mem_available_mib();
	if (avail && mib + keep > avail)
		mib = avail > keep + 8 ? avail - keep : 8;
	npages = (size_t)mib * 1048576 / (size_t)ps;
	mem = mmap(NULL, npages * (size_t)ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) {
		printf("GM_ERROR mmap %lu MiB failed\n", mib);
		return 1;
	}
	printf("GM_START mib=%lu pages=%zu rate=%lu nice=%d available_mib=%lu\n",
	       mib, npages, rate, nice_level, avail);
	t0 = last = now_ns();
	while (!stop_sig) {
		/* one word per page: the page is dirty for the migration */
		mem[i * ((size_t)ps / sizeof(uint64_t))] = pages;
		pages++;
		if (++i == npages) {
			i = 0;
			sweeps++;
		}
		if ((pages & 255) == 0) {
			uint64_t t = now_ns();

			if (t - last >= hb_ms * 1000000ull) {
				printf("GM_HB t=%.3f pages=%llu rate=%.0f sweeps=%llu\n",
				       (double)(t - t0) * 1e-9,
				       (unsigned long long)pages,
				       (double)(pages - last_pages) * 1e9 /
					       (double)(t - last),
				       (unsigned long long)sweeps);
				last = t;
				last_pages = pages;
			}
			if (rate) {
				/* pages so far may not be ahead of the schedule */
				uint64_t due = t0 + pages * 1000000000ull / rate;

				if (due > t) {
					struct timespec ts = {
						(time_t)((due - t) / 1000000000ull),
						(long)((due - t) % 1000000000ull) };
					nanosleep(&ts, NULL);
				}
			}
		}
	}
	printf("GM_STOP pages=%llu sweeps=%llu\n", (unsigned long long)pages,
	       (unsigned long long)sweeps);
	return 0;
}
