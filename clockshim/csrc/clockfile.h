/*
 * The clock state file shared by the shim (reader, in every preloaded
 * process of a node) and clockctl (the only writer, run by the harness).
 *
 * Layout version 1: one page-sized file; only the first 64 bytes are used,
 * all fields little-endian (x86_64 native). The Rust mirror is
 * `splitbrain_clockshim::ClockState` and the `RECORD_*` offsets in lib.rs;
 * a Rust test checks the two agree byte for byte.
 *
 * Byte  Field
 *  0    u32 magic            SB_CLOCK_MAGIC once clockctl published a state
 *  4    u32 version          SB_CLOCK_VERSION
 *  8    u32 seq              seqlock counter: odd while clockctl writes
 * 12    u32 reserved         zero
 * 16    i64 realtime_offset_ns   step of the wall clocks
 * 24    f64 rate                 speed of every clock since anchor_mono_ns
 * 32    i64 strobe_delta_ns      extra wall offset during odd half-periods
 * 40    i64 strobe_period_ns     0 = no strobe
 * 48    i64 anchor_mono_ns       real CLOCK_MONOTONIC when the state was set
 * 56    i64 anchor_drift_ns      monotonic drift accumulated before that
 *
 * Bytes 16..48 are the parameters the harness chooses (ClockState::encode);
 * the anchors are filled in by clockctl at the instant it publishes, from the
 * previous state, so the monotonic clocks stay continuous across changes.
 */
#ifndef SPLITBRAIN_CLOCKFILE_H
#define SPLITBRAIN_CLOCKFILE_H

#include <stdint.h>

#define SB_CLOCK_MAGIC 0x4b434253u /* "SBCK" read as little-endian bytes */
#define SB_CLOCK_VERSION 1u
#define SB_CLOCK_FILE_SIZE 4096
#define SB_CLOCK_FILE_ENV "SPLITBRAIN_CLOCK_FILE"

struct sb_clock_params {
	int64_t realtime_offset_ns;
	double rate;
	int64_t strobe_delta_ns;
	int64_t strobe_period_ns;
};

struct sb_clock_record {
	uint32_t magic;
	uint32_t version;
	uint32_t seq;
	uint32_t reserved;
	struct sb_clock_params params;
	int64_t anchor_mono_ns;
	int64_t anchor_drift_ns;
};

_Static_assert(sizeof(struct sb_clock_params) == 32, "params layout");
_Static_assert(sizeof(struct sb_clock_record) == 64, "record layout");

/*
 * Monotonic drift (fake minus real) at real monotonic time `mono_ns`: the
 * drift carried over from earlier states plus what the current rate added.
 * Double precision keeps nanoseconds exact for about 100 days of elapsed
 * time, far beyond a test run.
 */
static inline int64_t sb_clock_drift_ns(const struct sb_clock_record *r, int64_t mono_ns)
{
	double elapsed = (double)(mono_ns - r->anchor_mono_ns);
	return r->anchor_drift_ns + (int64_t)(elapsed * (r->params.rate - 1.0));
}

#endif
