/*
 * Replacements for the vDSO's clock_gettime, gettimeofday and time, linked
 * into a flat position-independent blob (vdso_blob.ld) that clockinject maps
 * into a running process; see vdso_blob.h for the layout.
 *
 * Freestanding: it runs inside an arbitrary process (a Go runtime on its g0
 * or signal stack, glibc, anything), so it calls no library, touches no
 * thread-local state and uses a few hundred bytes of stack. Everything it
 * addresses is reached RIP-relative, so the blob works wherever it is mapped.
 */
#if !defined(__x86_64__)
#error "the vDSO blob supports x86_64 only"
#endif
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

#include "vdso_blob.h"

static long sb_syscall2(long nr, long a, long b)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return r;
}

#define SB_YIELD() sb_syscall2(SYS_sched_yield, 0, 0)
#include "skew.h"

_Static_assert(SB_FIXED_CLOCKS == SB_MAX_FIXED_CLOCK, "one high-water mark per fixed clock");


static struct sb_blob_data sb_data __attribute__((section(".sbdata"), used)) = {
	.magic = SB_BLOB_MAGIC,
};

/* The entries, in the order of enum sb_vdso_fn. */
__asm__(".pushsection .text.entry,\"ax\",@progbits\n"
	".globl sb_entries\n"
	"sb_entries:\n"
	".balign 8\n"
	"jmp sb_clock_gettime\n"
	".balign 8\n"
	"jmp sb_gettimeofday\n"
	".balign 8\n"
	"jmp sb_time\n"
	".balign 8\n"
	".popsection\n");

long sb_clock_gettime(long clk, struct timespec *ts) __attribute__((used, visibility("hidden")));
long sb_gettimeofday(struct timeval *tv, void *tz) __attribute__((used, visibility("hidden")));
long sb_time(long *out) __attribute__((used, visibility("hidden")));

static int64_t real_monotonic_ns(void)
{
	struct timespec ts;
	if (sb_syscall2(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts) != 0)
		return 0;
	return sb_ts_to_ns(&ts);
}

static const struct sb_clock_record *state(void)
{
	return (const struct sb_clock_record *)(uintptr_t)__atomic_load_n(&sb_data.state_addr,
									 __ATOMIC_ACQUIRE);
}

/* As the vDSO: 0, or a negative errno from the kernel. */
long sb_clock_gettime(long clk, struct timespec *ts)
{
	long r = sb_syscall2(SYS_clock_gettime, clk, (long)ts);
	if (r != 0 || clk < 0 || clk >= SB_MAX_FIXED_CLOCK)
		return r;
	int64_t real = sb_ts_to_ns(ts);
	sb_ns_to_ts(sb_skewed_ns((int)clk, real, state(), sb_data.high_water, real_monotonic_ns), ts);
	return 0;
}

long sb_gettimeofday(struct timeval *tv, void *tz)
{
	if (tz != NULL) {
		long r = sb_syscall2(SYS_gettimeofday, 0, (long)tz);
		if (r != 0)
			return r;
	}
	if (tv == NULL)
		return 0;
	struct timespec ts;
	long r = sb_clock_gettime(CLOCK_REALTIME, &ts);
	if (r != 0)
		return r;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

long sb_time(long *out)
{
	struct timespec ts;
	long r = sb_clock_gettime(CLOCK_REALTIME, &ts);
	if (r != 0)
		return r;
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}
