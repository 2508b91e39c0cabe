//! Per-process clock skew: through `LD_PRELOAD`, or by patching a running
//! process's vDSO.
//!
//! Containers share the host kernel's clock: setting the time with
//! `CAP_SYS_TIME` in one node moves the host and every other node. A clock
//! fault on one node therefore has to change what that node's *processes*
//! read, not what the kernel keeps. This crate carries small C programs,
//! built by `build.rs` and embedded as bytes, that do that: the two below
//! for dynamically linked services (Redis, the in-house lock service), and
//! [`CLOCKINJECT`] for any process, Go included (see "Two ways into a
//! process"):
//!
//! - [`SHIM_SO`], `libclockshim.so`, preloaded into the service. It defines
//!   `clock_gettime`, `gettimeofday`, `time` and `timespec_get`. Each call
//!   reads the real clock from the kernel's vDSO (located by walking its ELF
//!   symbol table from `getauxval(AT_SYSINFO_EHDR)`, falling back to the raw
//!   syscall), then adds the skew described by a state file whose path is in
//!   the [`SHIM_FILE_ENV`] environment variable. The file is mapped read-only
//!   and shared on the first clock call; if it is missing the shim returns real
//!   time and looks again at most once a second.
//! - [`CLOCKCTL`], a static executable that is the only writer of that file:
//!   `clockctl set PATH HEX` publishes a [`ClockState`] in place under a
//!   seqlock, so a running process sees the change on its next clock call,
//!   without restarting and never half-written.
//!
//! # The model
//!
//! A [`ClockState`] is an offset, a rate and an optional strobe. Publishing
//! one at real monotonic instant `A` (the anchor) makes, for real readings
//! `real_c` of clock `c` and real monotonic `m`:
//!
//! - wall clocks (`REALTIME`, `REALTIME_COARSE`, `REALTIME_ALARM`, `TAI`):
//!   `real_c + offset + (m - A)(rate - 1)`, plus the strobe delta during every
//!   odd half-period since `A`. Publishing is an NTP-style step: the wall clock
//!   jumps to `real + offset` and slews from there, and [`ClockState::REAL`]
//!   puts it back on real time.
//! - monotonic clocks (`MONOTONIC`, `MONOTONIC_RAW`, `MONOTONIC_COARSE`,
//!   `BOOTTIME`, `BOOTTIME_ALARM`): `real_c + D + (m - A)(rate - 1)`, where
//!   `D` is the drift the earlier states had accumulated when this one was
//!   published. Offsets and strobes never touch them (an NTP step never moves
//!   a monotonic clock); a rate does, and since `D` carries over, they stay
//!   continuous across every change and never go backwards (a per-process
//!   high-water mark covers the microseconds between clockctl computing `A`
//!   and the state becoming visible). After a heal they run at real speed,
//!   still `D` ahead or behind.
//! - CPU-time clocks pass through untouched.
//!
//! # The state file (layout version [`LAYOUT_VERSION`])
//!
//! A [`FILE_SIZE`]-byte file, little-endian; only the first [`RECORD_LEN`]
//! bytes are used. `csrc/clockfile.h` is the authoritative description and
//! a test checks this crate against it through clockctl.
//!
//! | byte | field | |
//! |---|---|---|
//! | 0 | `u32 magic` | [`MAGIC`] once a state was published |
//! | 4 | `u32 version` | [`LAYOUT_VERSION`] |
//! | 8 | `u32 seq` | odd while clockctl writes |
//! | 12 | `u32` | reserved, zero |
//! | 16 | `i64 realtime_offset_ns` | [`ClockState::offset_ns`] |
//! | 24 | `f64 rate` | [`ClockState::rate`] |
//! | 32 | `i64 strobe_delta_ns` | [`Strobe::delta_ns`], 0 without strobe |
//! | 40 | `i64 strobe_period_ns` | [`Strobe::period_ns`], 0 = no strobe |
//! | 48 | `i64 anchor_mono_ns` | `A`, set by clockctl |
//! | 56 | `i64 anchor_drift_ns` | `D`, set by clockctl |
//!
//! Bytes 16..48 are [`ClockState::encode`]; clockctl fills in the anchors
//! from the previous record at the instant it publishes, inside the node, so
//! the harness never needs the node's view of time to keep monotonic clocks
//! continuous. A file without the magic, of another version, or caught
//! mid-write for longer than the shim's bounded wait (a thousand spins, then
//! twenty yields) reads as real time, except that a monotonic clock a rate
//! left ahead holds still until real time catches up instead of stepping
//! back.
//!
//! # Why not libfaketime
//!
//! Debian's libfaketime 0.9.10 cannot run Debian's redis-server. Tried in
//! the base image: with `LD_PRELOAD=libfaketime.so.1 FAKETIME=+120s`,
//! `redis-server` printed nothing and was still hung when a 10 s timeout
//! killed it, and even `date` printed libfaketime's own "Unexpected recursive
//! calls to clock_gettime() without proper initialization" and the real,
//! unskewed time. libfaketime sets itself up lazily, inside the first clock
//! call, with code that reaches the clock (and the allocator) again; jemalloc,
//! Redis's allocator, reads the clock while it initialises, closing the loop.
//! This shim has no set-up to re-enter: it allocates nothing, takes no lock
//! and calls no `dlsym`; real time comes from the vDSO or a raw syscall, the
//! state from one `mmap` of a file, and all its state is static words updated
//! with atomics, so a clock call is safe from the first instruction of a
//! process, from any thread.
//!
//! # Two ways into a process
//!
//! Preloading only replaces calls that go through the dynamic linker.
//! Statically linked programs, and Go programs in particular (etcd), read the
//! time by calling the vDSO directly, which no preload sees. For them there
//! is [`CLOCKINJECT`], a static executable run in the node against a running
//! process:
//!
//! ```text
//! clockinject patch PID STATE_PATH    clockinject restore PID [--force]
//!
//!  PID's memory after patch:
//!  [vdso] __vdso_clock_gettime: movabs $blob, %r11; jmp *%r11   (13 bytes)
//!         __vdso_gettimeofday:  movabs $blob+8, ...
//!         __vdso_time:          movabs $blob+16, ...
//!  [anon] blob code page (r-x): entries -> replacement functions
//!         blob data page (rw-): state pointer, high-water marks, original bytes
//!  STATE_PATH (r--, shared):    the same state file the shim reads
//! ```
//!
//! It stops every thread with ptrace, has the process itself run `mmap`,
//! `openat` and `mprotect` (a `syscall` instruction of its vDSO single-stepped
//! with borrowed registers), writes the blob through `/proc/PID/mem` (which
//! copies the vDSO page for that process alone) and detaches. The
//! replacements read the real clock by raw syscall and apply the same model
//! (`csrc/skew.h`, shared with the shim), so clockctl drives both kinds of
//! process alike. `restore` writes the original bytes back, read from the
//! blob, and unmaps it; it refuses (exit 3) while a rate fault has left the
//! monotonic clocks ahead, since the real vDSO would step them back. This is
//! Chaos Mesh's TimeChaos technique without Kubernetes.
//!
//! glibc's own internal clock reads (`pthread_cond_timedwait` deadlines, for
//! example) are not interposed by the shim, and kernel waits (`nanosleep`,
//! `epoll_wait` timeouts, timerfds) keep real durations under both
//! mechanisms: a rate changes what a process reads, not how long the kernel
//! makes it wait. (A Go program's timers are the exception that proves the
//! rule: the runtime computes each sleep from its own monotonic readings, so
//! a fast clock makes its timers fire early in real time.)

use thiserror::Error;

/// The shared object to preload (`LD_PRELOAD=/path/libclockshim.so`).
pub const SHIM_SO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libclockshim.so"));

/// The statically linked writer of the state file; see the crate docs.
pub const CLOCKCTL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/clockctl"));

/// The statically linked vDSO patcher; see the crate docs and
/// `csrc/clockinject.c`.
pub const CLOCKINJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/clockinject"));

/// The environment variable holding the state file's path in a preloaded
/// process.
pub const SHIM_FILE_ENV: &str = "SPLITBRAIN_CLOCK_FILE";

/// `"SBCK"` as little-endian bytes.
pub const MAGIC: u32 = 0x4b43_4253;
/// The version of the state file layout this crate and the C code share.
pub const LAYOUT_VERSION: u32 = 1;
/// Size of the state file; the shim maps exactly this much.
pub const FILE_SIZE: usize = 4096;
/// Length of the record at the start of the state file.
pub const RECORD_LEN: usize = 64;
/// Length of [`ClockState::encode`]'s output (bytes 16..48 of the record).
pub const PARAMS_LEN: usize = 32;

/// Slowest and fastest accepted rates; clockctl enforces the same bounds.
pub const MIN_RATE: f64 = 0.001;
/// See [`MIN_RATE`].
pub const MAX_RATE: f64 = 1000.0;
/// Shortest accepted strobe period: a faster strobe would flip the wall clock
/// between two reads of a single request.
pub const MIN_STROBE_PERIOD_NS: i64 = 2_000_000;
/// Longest accepted strobe period: one day.
pub const MAX_STROBE_PERIOD_NS: i64 = 86_400 * 1_000_000_000;
/// Largest accepted offset or strobe delta in either direction: ten years,
/// which keeps `real + offset` far from `i64` overflow.
pub const MAX_OFFSET_NS: i64 = 10 * 366 * 24 * 3600 * 1_000_000_000;

/// A wall clock oscillating between `offset_ns` and `offset_ns + delta_ns`,
/// switching every half `period_ns`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strobe {
    pub delta_ns: i64,
    pub period_ns: i64,
}

/// The skew of one node's clocks; see the crate docs for what each field
/// does to which clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockState {
    /// Step of the wall clocks.
    pub offset_ns: i64,
    /// Speed of every clock relative to real time (1.0 = real speed).
    pub rate: f64,
    pub strobe: Option<Strobe>,
}

/// A [`ClockState`] outside the bounds the shim and clockctl accept.
#[derive(Debug, Error, PartialEq)]
pub enum ClockStateError {
    #[error("failed to accept rate {0}: it must be finite and within [{MIN_RATE}, {MAX_RATE}]")]
    Rate(f64),
    #[error("failed to accept offset {0} ns: its magnitude exceeds {MAX_OFFSET_NS} ns")]
    Offset(i64),
    #[error(
        "failed to accept strobe period {0} ns: it must be at least {MIN_STROBE_PERIOD_NS} ns"
    )]
    StrobePeriod(i64),
    #[error("failed to accept strobe delta {0} ns: its magnitude exceeds {MAX_OFFSET_NS} ns")]
    StrobeDelta(i64),
}

impl Default for ClockState {
    fn default() -> Self {
        Self::REAL
    }
}

impl ClockState {
    /// No skew: every clock reads real time (monotonic clocks keep any drift
    /// an earlier rate left, so that they never step back).
    pub const REAL: ClockState = ClockState {
        offset_ns: 0,
        rate: 1.0,
        strobe: None,
    };

    /// Wall clocks stepped by `offset_ns`, everything else real.
    pub fn offset(offset_ns: i64) -> Self {
        Self {
            offset_ns,
            ..Self::REAL
        }
    }

    /// Checks the bounds clockctl will enforce, so a bad state fails in the
    /// harness with a message instead of in a container.
    pub fn validate(&self) -> Result<(), ClockStateError> {
        if !self.rate.is_finite() || !(MIN_RATE..=MAX_RATE).contains(&self.rate) {
            return Err(ClockStateError::Rate(self.rate));
        }
        if self.offset_ns.unsigned_abs() > MAX_OFFSET_NS.unsigned_abs() {
            return Err(ClockStateError::Offset(self.offset_ns));
        }
        if let Some(s) = self.strobe {
            if !(MIN_STROBE_PERIOD_NS..=MAX_STROBE_PERIOD_NS).contains(&s.period_ns) {
                return Err(ClockStateError::StrobePeriod(s.period_ns));
            }
            if s.delta_ns.unsigned_abs() > MAX_OFFSET_NS.unsigned_abs() {
                return Err(ClockStateError::StrobeDelta(s.delta_ns));
            }
        }
        Ok(())
    }

    /// The parameter bytes of the record, `struct sb_clock_params` in
    /// `csrc/clockfile.h` (record bytes 16..48).
    pub fn encode(&self) -> [u8; PARAMS_LEN] {
        let (delta_ns, period_ns) = self.strobe.map_or((0, 0), |s| (s.delta_ns, s.period_ns));
        let mut out = [0u8; PARAMS_LEN];
        out[0..8].copy_from_slice(&self.offset_ns.to_le_bytes());
        out[8..16].copy_from_slice(&self.rate.to_le_bytes());
        out[16..24].copy_from_slice(&delta_ns.to_le_bytes());
        out[24..32].copy_from_slice(&period_ns.to_le_bytes());
        out
    }

    /// Inverse of [`ClockState::encode`]; a zero strobe period means none.
    pub fn decode(bytes: &[u8; PARAMS_LEN]) -> Self {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            w
        };
        let period_ns = i64::from_le_bytes(word(24));
        Self {
            offset_ns: i64::from_le_bytes(word(0)),
            rate: f64::from_le_bytes(word(8)),
            strobe: (period_ns != 0).then(|| Strobe {
                delta_ns: i64::from_le_bytes(word(16)),
                period_ns,
            }),
        }
    }

    /// The argument vector publishing this state: `clockctl set PATH HEX`,
    /// with `clockctl` the path clockctl was installed at. Validates first.
    pub fn clockctl_set_argv(
        &self,
        clockctl: &str,
        state_path: &str,
    ) -> Result<Vec<String>, ClockStateError> {
        self.validate()?;
        let hex: String = self.encode().iter().map(|b| format!("{b:02x}")).collect();
        Ok(vec![
            clockctl.to_owned(),
            "set".to_owned(),
            state_path.to_owned(),
            hex,
        ])
    }
}

/// A whole published record, as read back from a state file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockRecord {
    pub magic: u32,
    pub version: u32,
    pub seq: u32,
    pub state: ClockState,
    /// Real `CLOCK_MONOTONIC` when the state was published.
    pub anchor_mono_ns: i64,
    /// Monotonic drift carried over from earlier states.
    pub anchor_drift_ns: i64,
}

impl ClockRecord {
    /// The record as `struct sb_clock_record` lays it out. The harness never
    /// needs it (clockctl writes records); tests use it to forge files.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0..4].copy_from_slice(&self.magic.to_le_bytes());
        out[4..8].copy_from_slice(&self.version.to_le_bytes());
        out[8..12].copy_from_slice(&self.seq.to_le_bytes());
        out[16..16 + PARAMS_LEN].copy_from_slice(&self.state.encode());
        out[48..56].copy_from_slice(&self.anchor_mono_ns.to_le_bytes());
        out[56..64].copy_from_slice(&self.anchor_drift_ns.to_le_bytes());
        out
    }

    /// Parses the line `clockctl set` and `clockctl show` print
    /// (`magic=... version=... seq=... realtime_offset_ns=... rate=...
    /// strobe_delta_ns=... strobe_period_ns=... anchor_mono_ns=...
    /// anchor_drift_ns=...`); `None` if a field is missing or malformed.
    pub fn parse_clockctl(line: &str) -> Option<Self> {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        let int = |key: &str| field(key)?.parse::<i64>().ok();
        let u32_dec = |key: &str| field(key)?.parse::<u32>().ok();
        let period_ns = int("strobe_period_ns")?;
        let delta_ns = int("strobe_delta_ns")?;
        Some(Self {
            magic: u32::from_str_radix(field("magic")?, 16).ok()?,
            version: u32_dec("version")?,
            seq: u32_dec("seq")?,
            state: ClockState {
                offset_ns: int("realtime_offset_ns")?,
                rate: field("rate")?.parse().ok()?,
                strobe: (period_ns != 0).then_some(Strobe {
                    delta_ns,
                    period_ns,
                }),
            },
            anchor_mono_ns: int("anchor_mono_ns")?,
            anchor_drift_ns: int("anchor_drift_ns")?,
        })
    }

    /// Reads the first [`RECORD_LEN`] bytes of a state file. Not a seqlock
    /// read: meant for inspecting a file no one is writing.
    pub fn decode(bytes: &[u8; RECORD_LEN]) -> Self {
        let u32_at =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let i64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            i64::from_le_bytes(w)
        };
        let mut params = [0u8; PARAMS_LEN];
        params.copy_from_slice(&bytes[16..16 + PARAMS_LEN]);
        Self {
            magic: u32_at(0),
            version: u32_at(4),
            seq: u32_at(8),
            state: ClockState::decode(&params),
            anchor_mono_ns: i64_at(48),
            anchor_drift_ns: i64_at(56),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips_every_field() {
        let s = ClockState {
            offset_ns: -7,
            rate: 2.5,
            strobe: Some(Strobe {
                delta_ns: 10_000_000_000,
                period_ns: 200_000_000,
            }),
        };
        assert_eq!(ClockState::decode(&s.encode()), s);
        assert_eq!(
            ClockState::decode(&ClockState::REAL.encode()),
            ClockState::REAL
        );
    }

    #[test]
    fn record_encode_then_decode_round_trips() {
        let r = ClockRecord {
            magic: MAGIC,
            version: LAYOUT_VERSION,
            seq: 7,
            state: ClockState::offset(5),
            anchor_mono_ns: 11,
            anchor_drift_ns: -13,
        };
        assert_eq!(ClockRecord::decode(&r.encode()), r);
    }

    #[test]
    fn validate_rejects_what_clockctl_rejects() {
        assert_eq!(
            ClockState {
                rate: f64::NAN,
                ..ClockState::REAL
            }
            .validate()
            .map_err(|e| matches!(e, ClockStateError::Rate(_))),
            Err(true)
        );
        assert!(ClockState {
            rate: 0.0,
            ..ClockState::REAL
        }
        .validate()
        .is_err());
        assert!(ClockState {
            rate: 1001.0,
            ..ClockState::REAL
        }
        .validate()
        .is_err());
        assert!(ClockState::offset(i64::MIN).validate().is_err());
        let fast_strobe = ClockState {
            strobe: Some(Strobe {
                delta_ns: 1,
                period_ns: 1_000,
            }),
            ..ClockState::REAL
        };
        assert_eq!(
            fast_strobe.validate(),
            Err(ClockStateError::StrobePeriod(1_000))
        );
        let slow_strobe = ClockState {
            strobe: Some(Strobe {
                delta_ns: 1,
                period_ns: MAX_STROBE_PERIOD_NS + 1,
            }),
            ..ClockState::REAL
        };
        assert!(slow_strobe.validate().is_err());
        assert!(ClockState::offset(120_000_000_000).validate().is_ok());
    }

    #[test]
    fn embedded_artifacts_are_elf_files() {
        assert_eq!(&SHIM_SO[..4], b"\x7fELF");
        assert_eq!(&CLOCKCTL[..4], b"\x7fELF");
        assert_eq!(&CLOCKINJECT[..4], b"\x7fELF");
    }
}
