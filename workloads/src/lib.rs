//! Seeded generators of client operations and fault schedules.
//!
//! A workload is a state machine per logical process: the run loop asks it for
//! the next [`Step`], performs it, and feeds the completion back. Given the
//! same seed and the same completions it emits the same steps, so a run's
//! client behaviour is reproducible up to what the service answered.
//!
//! ```text
//! lock:      acquire ─ok→ (sleep, renew)* ─→ release ─→ pause ─→ acquire …
//! append:    acquire ─ok→ read → think → write(elem) → release …
//! fenced:    same steps as append; the client guards the write with the token
//! election:  campaign ─ok→ (sleep, renew/proclaim)* → resign …   observers: observe, sleep …
//! ```

pub mod generator;
pub mod schedule;

pub use generator::{ProcessGenerator, Step, WorkloadConfig, WorkloadKind};
pub use schedule::{FaultSchedule, ScheduleConfig};
