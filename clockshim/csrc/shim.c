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
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clockfile.h"

#define EXPORT __attribute__((visibility("default")))
#define NS_PER_SEC 1000000000LL
/* A write takes well under a microsecond, so a reader spins briefly, then
 * yields in case the writer was preempted mid-write; a writer that died
 * mid-write must not hang the service, so after that the state is ignored
 * for this call (the next clockctl run repairs the file). */
#define SEQ_SPINS 1000
#define SEQ_YIELDS 20
/* A missing state file is looked for again at most this often. */
#define RETRY_INTERVAL_NS NS_PER_SEC
/* Clock ids 0..11 are the fixed ones; dynamic (negative) ids are CPU clocks. */
#define MAX_FIXED_CLOCK 12

typedef long (*vdso_clock_gettime_fn)(clockid_t, struct timespec *);

/* 0 = not looked up yet, 1 = looked up (vdso_fn may still be NULL). */
static int vdso_resolved;
static vdso_clock_gettime_fn vdso_fn;

static const struct sb_clock_record *mapped_record;
static int env_missing;
static int64_t next_map_attempt_ns;
/* Per-clock high-water marks: a rate change published a few microseconds
 * after clockctl computed its anchor must not step a monotonic clock back. */
static int64_t monotonic_high_water[MAX_FIXED_CLOCK];

static int same_name(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Number of dynamic symbols from a GNU hash table: one past the highest
 * symbol index reachable from any bucket. */
static uint32_t gnu_hash_symbol_count(const uint32_t *gh)
{
	uint32_t nbuckets = gh[0];
	uint32_t symoffset = gh[1];
	uint32_t bloom_words = gh[2];
	const uint32_t *buckets = gh + 4 + bloom_words * (sizeof(uint64_t) / sizeof(uint32_t));
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;
	for (uint32_t b = 0; b < nbuckets; b++)
		if (buckets[b] > last)
			last = buckets[b];
	if (last < symoffset)
		return symoffset;
	while ((chain[last - symoffset] & 1) == 0)
		last++;
	return last + 1;
}

static void *vdso_lookup(const char *name)
{
	uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
	if (base == 0)
		return NULL;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;

	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	uintptr_t load_offset = 0;
	int have_load = 0;
	const Elf64_Dyn *dyn = NULL;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_load) {
			load_offset = base + ph[i].p_offset - ph[i].p_vaddr;
			have_load = 1;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
		}
	}
	if (!have_load || dyn == NULL)
		return NULL;

	const Elf64_Sym *symtab = NULL;
	const char *strtab = NULL;
	const uint32_t *hash = NULL;
	const uint32_t *gnu_hash = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = load_offset + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = (const Elf64_Sym *)p; break;
		case DT_STRTAB: strtab = (const char *)p; break;
		case DT_HASH: hash = (const uint32_t *)p; break;
		case DT_GNU_HASH: gnu_hash = (const uint32_t *)p; break;
		default: break;
		}
	}
	if (symtab == NULL || strtab == NULL)
		return NULL;
	uint32_t count;
	if (hash != NULL)
		count = hash[1];
	else if (gnu_hash != NULL)
		count = gnu_hash_symbol_count(gnu_hash);
	else
		return NULL;

	for (uint32_t i = 0; i < count; i++) {
		const Elf64_Sym *s = &symtab[i];
		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF)
			continue;
		if (same_name(strtab + s->st_name, name))
			return (void *)(load_offset + s->st_value);
	}
	return NULL;
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
static int real_clock_gettime(clockid_t clk, struct timespec *ts)
{
	vdso_clock_gettime_fn f = vdso_clock_gettime();
	long r;
	if (f != NULL)
		r = f(clk, ts); /* vDSO returns 0 or a negative errno */
	else
		r = syscall(SYS_clock_gettime, clk, ts) == 0 ? 0 : -errno;
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

static int64_t ts_to_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * NS_PER_SEC + ts->tv_nsec;
}

static void ns_to_ts(int64_t ns, struct timespec *ts)
{
	int64_t sec = ns / NS_PER_SEC;
	int64_t rem = ns % NS_PER_SEC;
	if (rem < 0) {
		rem += NS_PER_SEC;
		sec -= 1;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)rem;
}

static int64_t real_monotonic_ns(void)
{
	struct timespec ts;
	if (real_clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return ts_to_ns(&ts);
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

static int64_t load_i64(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Seqlock read of the shared record; 0 if no consistent published state. */
static int read_record(const struct sb_clock_record *shared, struct sb_clock_record *out)
{
	for (int i = 0; i < SEQ_SPINS + SEQ_YIELDS; i++) {
		uint32_t s1 = __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			if (i < SEQ_SPINS)
				__builtin_ia32_pause();
			else
				syscall(SYS_sched_yield);
			continue;
		}
		out->magic = __atomic_load_n(&shared->magic, __ATOMIC_RELAXED);
		out->version = __atomic_load_n(&shared->version, __ATOMIC_RELAXED);
		out->params.realtime_offset_ns = load_i64(&shared->params.realtime_offset_ns);
		int64_t rate_bits = load_i64((const int64_t *)(const void *)&shared->params.rate);
		memcpy(&out->params.rate, &rate_bits, sizeof rate_bits);
		out->params.strobe_delta_ns = load_i64(&shared->params.strobe_delta_ns);
		out->params.strobe_period_ns = load_i64(&shared->params.strobe_period_ns);
		out->anchor_mono_ns = load_i64(&shared->anchor_mono_ns);
		out->anchor_drift_ns = load_i64(&shared->anchor_drift_ns);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint32_t s2 = __atomic_load_n(&shared->seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return out->magic == SB_CLOCK_MAGIC && out->version == SB_CLOCK_VERSION;
	}
	return 0;
}

static int is_wall_clock(clockid_t clk)
{
	return clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE || clk == CLOCK_REALTIME_ALARM ||
	       clk == CLOCK_TAI;
}

static int is_monotonic_clock(clockid_t clk)
{
	return clk == CLOCK_MONOTONIC || clk == CLOCK_MONOTONIC_RAW || clk == CLOCK_MONOTONIC_COARSE ||
	       clk == CLOCK_BOOTTIME || clk == CLOCK_BOOTTIME_ALARM;
}

static int64_t raise_high_water(clockid_t clk, int64_t ns)
{
	int64_t prev = __atomic_load_n(&monotonic_high_water[clk], __ATOMIC_RELAXED);
	while (ns > prev) {
		if (__atomic_compare_exchange_n(&monotonic_high_water[clk], &prev, ns, 1, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return ns;
	}
	return prev > ns ? prev : ns;
}

/* Turns the real reading of `clk` in *ts into the node's skewed reading. */
static void skew(clockid_t clk, struct timespec *ts)
{
	int wall = is_wall_clock(clk);
	if (!wall && !is_monotonic_clock(clk))
		return;
	int saved_errno = errno;
	const struct sb_clock_record *shared = try_map_record();
	struct sb_clock_record rec;
	int ok = shared != NULL && read_record(shared, &rec);
	errno = saved_errno;
	int64_t real = ts_to_ns(ts);
	if (!ok) {
		/* Real time is the fallback, but a monotonic clock that was ahead
		 * must not step back to it: it holds still until real time catches
		 * up. A zero high-water mark means no rate was ever seen. */
		if (!wall && __atomic_load_n(&monotonic_high_water[clk], __ATOMIC_RELAXED) != 0)
			ns_to_ts(raise_high_water(clk, real), ts);
		return;
	}

	int rated = rec.params.rate != 1.0 || rec.anchor_drift_ns != 0;
	int strobing = wall && rec.params.strobe_period_ns > 0;
	if (wall && !rated && !strobing) {
		ns_to_ts(real + rec.params.realtime_offset_ns, ts);
		return;
	}
	if (!wall && !rated)
		return;

	int64_t mono = clk == CLOCK_MONOTONIC ? real : real_monotonic_ns();
	errno = saved_errno;
	/* The reading may predate the anchor of a state published meanwhile. */
	int64_t since_anchor = mono > rec.anchor_mono_ns ? mono - rec.anchor_mono_ns : 0;
	if (wall) {
		int64_t fake = real + rec.params.realtime_offset_ns +
			       (int64_t)((double)since_anchor * (rec.params.rate - 1.0));
		if (strobing) {
			int64_t half = rec.params.strobe_period_ns / 2;
			if (half > 0 && (since_anchor / half) % 2 == 1)
				fake += rec.params.strobe_delta_ns;
		}
		ns_to_ts(fake, ts);
		return;
	}
	int64_t drift = rec.anchor_drift_ns + (int64_t)((double)since_anchor * (rec.params.rate - 1.0));
	ns_to_ts(raise_high_water(clk, real + drift), ts);
}

/* Internal callers use this, not the exported symbol, so that they never
 * go through the PLT to whichever clock_gettime another preload put first. */
static int skewed_clock_gettime(clockid_t clk, struct timespec *ts)
{
	if (real_clock_gettime(clk, ts) != 0)
		return -1;
	if (clk >= 0 && clk < MAX_FIXED_CLOCK)
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
