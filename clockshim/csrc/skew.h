/*
 * The clock model shared by both readers of the state file (clockfile.h):
 * the LD_PRELOAD shim (shim.c) and the code the vDSO patcher maps into a
 * process (vdso_blob.c). One definition, so a node whose service is
 * preloaded and a node whose vDSO is patched see the same skew for the same
 * published state.
 *
 * Freestanding: no libc call, no errno. The includer defines SB_YIELD(),
 * which gives up the CPU while a writer holds the seqlock.
 */
#ifndef SPLITBRAIN_SKEW_H
#define SPLITBRAIN_SKEW_H

#include <stdint.h>
#include <time.h>

#include "clockfile.h"

#ifndef SB_YIELD
#error "define SB_YIELD() before including skew.h"
#endif

/* A write takes well under a microsecond, so a reader spins briefly, then
 * yields in case the writer was preempted mid-write; a writer that died
 * mid-write must not hang the service, so after that the state is ignored
 * for this call (the next clockctl run repairs the file). */
#define SB_SEQ_SPINS 1000
#define SB_SEQ_YIELDS 20
/* Clock ids 0..11 are the fixed ones; dynamic (negative) ids are CPU clocks. */
#define SB_MAX_FIXED_CLOCK 12

#define SB_NS_PER_SEC 1000000000LL

static inline int64_t sb_ts_to_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * SB_NS_PER_SEC + ts->tv_nsec;
}

/* Floor division, so a negative time keeps tv_nsec in [0, 1e9). */
static inline void sb_ns_to_ts(int64_t ns, struct timespec *ts)
{
	int64_t sec = ns / SB_NS_PER_SEC;
	int64_t rem = ns % SB_NS_PER_SEC;
	if (rem < 0) {
		rem += SB_NS_PER_SEC;
		sec -= 1;
	}
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)rem;
}

static inline int64_t sb_load_i64(const int64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Seqlock read of the shared record; 0 if no consistent published state. */
static inline int sb_read_record(const struct sb_clock_record *shared, struct sb_clock_record *out)
{
	for (int i = 0; i < SB_SEQ_SPINS + SB_SEQ_YIELDS; i++) {
		uint32_t s1 = __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			if (i < SB_SEQ_SPINS)
				__builtin_ia32_pause();
			else
				SB_YIELD();
			continue;
		}
		out->magic = __atomic_load_n(&shared->magic, __ATOMIC_RELAXED);
		out->version = __atomic_load_n(&shared->version, __ATOMIC_RELAXED);
		out->params.realtime_offset_ns = sb_load_i64(&shared->params.realtime_offset_ns);
		union {
			int64_t bits;
			double value;
		} rate;
		rate.bits = sb_load_i64((const int64_t *)(const void *)&shared->params.rate);
		out->params.rate = rate.value;
		out->params.strobe_delta_ns = sb_load_i64(&shared->params.strobe_delta_ns);
		out->params.strobe_period_ns = sb_load_i64(&shared->params.strobe_period_ns);
		out->anchor_mono_ns = sb_load_i64(&shared->anchor_mono_ns);
		out->anchor_drift_ns = sb_load_i64(&shared->anchor_drift_ns);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		uint32_t s2 = __atomic_load_n(&shared->seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return out->magic == SB_CLOCK_MAGIC && out->version == SB_CLOCK_VERSION;
	}
	return 0;
}

static inline int sb_is_wall_clock(int clk)
{
	return clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE || clk == CLOCK_REALTIME_ALARM ||
	       clk == CLOCK_TAI;
}

static inline int sb_is_monotonic_clock(int clk)
{
	return clk == CLOCK_MONOTONIC || clk == CLOCK_MONOTONIC_RAW || clk == CLOCK_MONOTONIC_COARSE ||
	       clk == CLOCK_BOOTTIME || clk == CLOCK_BOOTTIME_ALARM;
}

/* Per-clock high-water marks: a rate change published a few microseconds
 * after clockctl computed its anchor must not step a monotonic clock back. */
static inline int64_t sb_raise_high_water(int64_t *mark, int64_t ns)
{
	int64_t prev = __atomic_load_n(mark, __ATOMIC_RELAXED);
	while (ns > prev) {
		if (__atomic_compare_exchange_n(mark, &prev, ns, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return ns;
	}
	return prev > ns ? prev : ns;
}

/*
 * The skewed reading of clock `clk` (0 <= clk < SB_MAX_FIXED_CLOCK) whose real
 * reading is `real` ns. `shared` is the mapped state, or NULL when there is
 * none; `high_water` is this process's array of SB_MAX_FIXED_CLOCK marks;
 * `real_mono` reads the real CLOCK_MONOTONIC and is called only when a rate
 * or strobe needs it.
 */
static inline int64_t sb_skewed_ns(int clk, int64_t real, const struct sb_clock_record *shared,
				   int64_t *high_water, int64_t (*real_mono)(void))
{
	int wall = sb_is_wall_clock(clk);
	if (!wall && !sb_is_monotonic_clock(clk))
		return real;
	struct sb_clock_record rec;
	if (shared == NULL || !sb_read_record(shared, &rec)) {
		/* Real time is the fallback, but a monotonic clock that was ahead
		 * must not step back to it: it holds still until real time catches
		 * up. A zero high-water mark means no rate was ever seen. */
		if (!wall && __atomic_load_n(&high_water[clk], __ATOMIC_RELAXED) != 0)
			return sb_raise_high_water(&high_water[clk], real);
		return real;
	}

	int rated = rec.params.rate != 1.0 || rec.anchor_drift_ns != 0;
	int strobing = wall && rec.params.strobe_period_ns > 0;
	if (wall && !rated && !strobing)
		return real + rec.params.realtime_offset_ns;
	if (!wall && !rated)
		return real;

	int64_t mono = clk == CLOCK_MONOTONIC ? real : real_mono();
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
		return fake;
	}
	int64_t drift = rec.anchor_drift_ns + (int64_t)((double)since_anchor * (rec.params.rate - 1.0));
	return sb_raise_high_water(&high_water[clk], real + drift);
}

#endif
