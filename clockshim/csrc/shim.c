/*
 * libclockshim: per-process clock skew by LD_PRELOAD.
 *
 * Interposes clock_gettime, gettimeofday, time and timespec_get. Real time
 * comes from the kernel's vDSO, found by walking the vDSO's ELF symbol table
 * (getauxval(AT_SYSINFO_EHDR)), or from a raw syscall when no vDSO is
 * present; the skew comes from a state file (clockfile.h) mapped read-only
 * and shared with clockctl, the writer.
 *
 * Nothing here allocates, takes a lock or calls dlsym: libfaketime sets
 * itself up inside the first clock call (dlsym for the real functions, which
 * can allocate, and its own clock reads), and an allocator that reads the
 * clock while it initialises (jemalloc in Debian's redis-server) re-enters it
 * half set up; redis-server hangs. Every piece of state here is a static
 * word updated with atomics, so a call from any thread at any point of
 * process start-up (even before constructors run) is safe.
 *
 * x86_64 only: there time_t is 64-bit and there is no clock_gettime64 or
 * __clock_gettime64 for 32-bit time to interpose.
 */
#if !defined(__x86_64__)
#error "libclockshim supports x86_64 only (64-bit ELF vDSO walk, pause instruction)"
#endif
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clockfile.h"
#define SB_YIELD() syscall(SYS_sched_yield)
#include "skew.h"
#include "vdso_blob.h"
#include "vdso_elf.h"

#define EXPORT __attribute__((visibility("default")))
/* A missing state file is looked for again at most this often. */
#define RETRY_INTERVAL_NS SB_NS_PER_SEC

typedef long (*vdso_clock_gettime_fn)(clockid_t, struct timespec *);

/* 0 = not looked up yet, 1 = looked up (vdso_fn may still be NULL). */
static int vdso_resolved;
static vdso_clock_gettime_fn vdso_fn;

static const struct sb_clock_record *mapped_record;
static int env_missing;
static int64_t next_map_attempt_ns;
/* Per-clock high-water marks; see sb_raise_high_water. */
static int64_t monotonic_high_water[SB_MAX_FIXED_CLOCK];

/* The kernel's own image, trusted: bounded only so the shared walker has a
 * limit (vDSO images are a few pages). */
#define VDSO_IMAGE_BOUND (1u << 20)

static void *vdso_lookup(const char *name)
{
	uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	uint64_t offset, size;
	if (base == 0 || !sb_vdso_function((const uint8_t *)base, VDSO_IMAGE_BOUND, name, &offset, &size))
		return NULL;
	return (void *)(base + offset);
}

static vdso_clock_gettime_fn vdso_clock_gettime(void)
{
	if (__atomic_load_n(&vdso_resolved, __ATOMIC_ACQUIRE))
		return vdso_fn;
	/* Racing threads compute the same answer, so last store wins harmlessly. */
	vdso_clock_gettime_fn f = (vdso_clock_gettime_fn)vdso_lookup("__vdso_clock_gettime");
	__atomic_store_n(&vdso_fn, f, __ATOMIC_RELAXED);
	__atomic_store_n(&vdso_resolved, 1, __ATOMIC_RELEASE);
	return f;
}

/* The kernel's own clock_gettime; returns 0 or -1 with errno like libc. */
/* Whether clockinject has pointed this vDSO function at its blob (the
 * movabs to %r11 it writes, vdso_blob.h). A process can be both
 * preloaded and patched (a cgo program: the patch is what reaches its Go
 * runtime), and the patched vDSO already returns skewed time, so the shim
 * must then read the kernel by syscall or it would add the skew twice. */
static int vdso_patched(vdso_clock_gettime_fn f)
{
	const volatile uint8_t *entry = (const volatile uint8_t *)(uintptr_t)f;
	return entry[0] == SB_PATCH_MOVABS_R11_0 && entry[1] == SB_PATCH_MOVABS_R11_1;
}

static int real_clock_gettime(clockid_t clk, struct timespec *ts)
{
	vdso_clock_gettime_fn f = vdso_clock_gettime();
	long r;
	if (f != NULL && !vdso_patched(f))
		r = f(clk, ts); /* vDSO returns 0 or a negative errno */
	else
		r = syscall(SYS_clock_gettime, clk, ts) == 0 ? 0 : -errno;
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

static int64_t real_monotonic_ns(void)
{
	struct timespec ts;
	if (real_clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return sb_ts_to_ns(&ts);
}

static const struct sb_clock_record *try_map_record(void)
{
	const struct sb_clock_record *r = __atomic_load_n(&mapped_record, __ATOMIC_ACQUIRE);
	if (r != NULL)
		return r;
	if (__atomic_load_n(&env_missing, __ATOMIC_RELAXED))
		return NULL;
	int64_t now = real_monotonic_ns();
	if (now < __atomic_load_n(&next_map_attempt_ns, __ATOMIC_RELAXED))
		return NULL;
	__atomic_store_n(&next_map_attempt_ns, now + RETRY_INTERVAL_NS, __ATOMIC_RELAXED);

	const char *path = getenv(SB_CLOCK_FILE_ENV);
	if (path == NULL || path[0] == '\0') {
		__atomic_store_n(&env_missing, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	/* Mapping past the end of a short file would SIGBUS on first read. */
	if (syscall(SYS_fstat, fd, &st) != 0 || st.st_size < SB_CLOCK_FILE_SIZE) {
		syscall(SYS_close, fd);
		return NULL;
	}
	long m = syscall(SYS_mmap, NULL, SB_CLOCK_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	syscall(SYS_close, fd);
	if (m == -1)
		return NULL;
	const struct sb_clock_record *expected = NULL;
	if (!__atomic_compare_exchange_n(&mapped_record, &expected, (const struct sb_clock_record *)m, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		syscall(SYS_munmap, m, SB_CLOCK_FILE_SIZE);
		return expected;
	}
	return (const struct sb_clock_record *)m;
}

/* Turns the real reading of `clk` in *ts into the node's skewed reading. */
static void skew(clockid_t clk, struct timespec *ts)
{
	if (!sb_is_wall_clock(clk) && !sb_is_monotonic_clock(clk))
		return;
	int saved_errno = errno;
	const struct sb_clock_record *shared = try_map_record();
	sb_ns_to_ts(sb_skewed_ns(clk, sb_ts_to_ns(ts), shared, monotonic_high_water, real_monotonic_ns), ts);
	errno = saved_errno;
}

/* Internal callers use this, not the exported symbol, so that they never
 * go through the PLT to whichever clock_gettime another preload put first. */
static int skewed_clock_gettime(clockid_t clk, struct timespec *ts)
{
	if (real_clock_gettime(clk, ts) != 0)
		return -1;
	if (clk >= 0 && clk < SB_MAX_FIXED_CLOCK)
		skew(clk, ts);
	return 0;
}

EXPORT int clock_gettime(clockid_t clk, struct timespec *ts)
{
	return skewed_clock_gettime(clk, ts);
}

EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	if (tz != NULL && syscall(SYS_gettimeofday, NULL, tz) != 0)
		return -1;
	/* glibc declares tv nonnull, yet the kernel accepts NULL and callers
	 * asking only for the zone rely on that; volatile keeps the check. */
	struct timeval *volatile out = tv;
	if (out == NULL)
		return 0;
	struct timespec ts;
	if (skewed_clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	out->tv_sec = ts.tv_sec;
	out->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

EXPORT time_t time(time_t *out)
{
	struct timespec ts;
	if (skewed_clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t)-1;
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}

/* glibc's timespec_get calls its internal clock_gettime, which no preload
 * reaches, and coreutils reads the time through it. */
EXPORT int timespec_get(struct timespec *ts, int base)
{
	if (base != TIME_UTC || skewed_clock_gettime(CLOCK_REALTIME, ts) != 0)
		return 0;
	return base;
}
