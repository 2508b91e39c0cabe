/*
 * clockctl: the only writer of a node's clock state file (clockfile.h).
 *
 *   clockctl set PATH HEX   publish the 32 parameter bytes given as 64 hex
 *                           digits (ClockState::encode), creating PATH
 *   clockctl show PATH      print the published record
 *   clockctl now            print the real CLOCK_REALTIME and
 *                           CLOCK_MONOTONIC in nanoseconds
 *
 * It runs inside the node (docker exec) because the state must change in
 * place: replacing the file, as an archive upload does, would leave running
 * processes reading the old inode. It is linked statically, so it runs in
 * any image and no preload can skew its own readings.
 *
 * Exit status: 0 on success, 2 on bad usage or parameters, 1 on I/O errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clockfile.h"

#define MIN_RATE 0.001
#define MAX_RATE 1000.0
/* A strobe faster than this would flip between readings of one request. */
#define MIN_STROBE_PERIOD_NS 2000000LL
#define MAX_STROBE_PERIOD_NS 86400000000000LL
/* Ten years, as MAX_OFFSET_NS in lib.rs: far from overflowing real + offset. */
#define MAX_OFFSET_NS 316224000000000000LL

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_params(const char *hex, struct sb_clock_params *p)
{
	unsigned char bytes[sizeof *p];
	if (strlen(hex) != 2 * sizeof bytes) {
		fprintf(stderr, "clockctl: failed to parse parameters: want %zu hex digits\n", 2 * sizeof bytes);
		return -1;
	}
	for (size_t i = 0; i < sizeof bytes; i++) {
		int hi = hex_digit(hex[2 * i]);
		int lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			fprintf(stderr, "clockctl: failed to parse parameters: not hex at %zu\n", 2 * i);
			return -1;
		}
		bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	memcpy(p, bytes, sizeof bytes);
	if (!isfinite(p->rate) || p->rate < MIN_RATE || p->rate > MAX_RATE) {
		fprintf(stderr, "clockctl: failed to accept rate %g: outside [%g, %g]\n", p->rate, MIN_RATE,
			MAX_RATE);
		return -1;
	}
	if (p->strobe_period_ns != 0 &&
	    (p->strobe_period_ns < MIN_STROBE_PERIOD_NS || p->strobe_period_ns > MAX_STROBE_PERIOD_NS)) {
		fprintf(stderr, "clockctl: failed to accept strobe period %" PRId64 " ns: outside [%lld, %lld]\n",
			p->strobe_period_ns, MIN_STROBE_PERIOD_NS, MAX_STROBE_PERIOD_NS);
		return -1;
	}
	if (p->realtime_offset_ns > MAX_OFFSET_NS || p->realtime_offset_ns < -MAX_OFFSET_NS ||
	    p->strobe_delta_ns > MAX_OFFSET_NS || p->strobe_delta_ns < -MAX_OFFSET_NS) {
		fprintf(stderr, "clockctl: failed to accept an offset or strobe delta beyond %lld ns\n",
			MAX_OFFSET_NS);
		return -1;
	}
	return 0;
}

static int make_parents(const char *path)
{
	char dir[4096];
	if (strlen(path) >= sizeof dir)
		return -1;
	strcpy(dir, path);
	for (char *s = dir + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

/* Opens PATH read-write, creating it full-size in one rename so that a
 * process mapping it never sees a short file. */
static int open_state(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (make_parents(path) != 0)
		return -1;
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int t = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (t < 0)
		return -1;
	if (ftruncate(t, SB_CLOCK_FILE_SIZE) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		close(t);
		unlink(tmp);
		errno = e;
		return -1;
	}
	close(t);
	return open(path, O_RDWR | O_CLOEXEC);
}

static struct sb_clock_record *map_state(const char *path, int writable, int *fd_out)
{
	int fd = writable ? open_state(path) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "clockctl: failed to open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (writable && flock(fd, LOCK_EX) != 0) {
		fprintf(stderr, "clockctl: failed to lock %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < SB_CLOCK_FILE_SIZE) {
		fprintf(stderr, "clockctl: failed to use %s: shorter than %d bytes\n", path, SB_CLOCK_FILE_SIZE);
		close(fd);
		return NULL;
	}
	void *m = mmap(NULL, SB_CLOCK_FILE_SIZE, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		fprintf(stderr, "clockctl: failed to map %s: %s\n", path, strerror(errno));
		close(fd);
		return NULL;
	}
	*fd_out = fd;
	return m;
}

static void store_i64(int64_t *p, int64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static void print_record(const struct sb_clock_record *r)
{
	printf("magic=%08" PRIx32 " version=%" PRIu32 " seq=%" PRIu32 " realtime_offset_ns=%" PRId64
	       " rate=%.17g strobe_delta_ns=%" PRId64 " strobe_period_ns=%" PRId64 " anchor_mono_ns=%" PRId64
	       " anchor_drift_ns=%" PRId64 "\n",
	       r->magic, r->version, r->seq, r->params.realtime_offset_ns, r->params.rate,
	       r->params.strobe_delta_ns, r->params.strobe_period_ns, r->anchor_mono_ns, r->anchor_drift_ns);
}

static int cmd_set(const char *path, const char *hex)
{
	struct sb_clock_params p;
	if (parse_params(hex, &p) != 0)
		return 2;
	int fd;
	struct sb_clock_record *r = map_state(path, 1, &fd);
	if (r == NULL)
		return 1;

	/* The flock makes this the only writer, so plain reads are current. */
	uint32_t seq = r->seq;
	/* An odd seq means a writer died mid-update: its payload is garbage,
	 * so the drift restarts from zero rather than from torn anchors. */
	int intact = (seq & 1) == 0 && r->magic == SB_CLOCK_MAGIC && r->version == SB_CLOCK_VERSION;
	seq |= 1;
	__atomic_store_n(&r->seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);

	int64_t mono = now_ns(CLOCK_MONOTONIC);
	int64_t drift = intact ? sb_clock_drift_ns(r, mono) : 0;
	int64_t rate_bits;
	memcpy(&rate_bits, &p.rate, sizeof rate_bits);
	__atomic_store_n(&r->magic, SB_CLOCK_MAGIC, __ATOMIC_RELAXED);
	__atomic_store_n(&r->version, SB_CLOCK_VERSION, __ATOMIC_RELAXED);
	store_i64(&r->params.realtime_offset_ns, p.realtime_offset_ns);
	store_i64((int64_t *)(void *)&r->params.rate, rate_bits);
	store_i64(&r->params.strobe_delta_ns, p.strobe_delta_ns);
	store_i64(&r->params.strobe_period_ns, p.strobe_period_ns);
	store_i64(&r->anchor_mono_ns, mono);
	store_i64(&r->anchor_drift_ns, drift);
	__atomic_store_n(&r->seq, seq + 1, __ATOMIC_RELEASE);

	print_record(r);
	munmap(r, SB_CLOCK_FILE_SIZE);
	close(fd);
	return 0;
}

static int cmd_show(const char *path)
{
	int fd;
	struct sb_clock_record *r = map_state(path, 0, &fd);
	if (r == NULL)
		return 1;
	print_record(r);
	munmap(r, SB_CLOCK_FILE_SIZE);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "set") == 0)
		return cmd_set(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return cmd_show(argv[2]);
	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("realtime_ns=%" PRId64 " monotonic_ns=%" PRId64 "\n", now_ns(CLOCK_REALTIME),
		       now_ns(CLOCK_MONOTONIC));
		return 0;
	}
	fprintf(stderr, "usage: clockctl set PATH HEX64 | clockctl show PATH | clockctl now\n");
	return 2;
}
