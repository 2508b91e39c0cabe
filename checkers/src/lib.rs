//! splitbrain's history format and safety checkers.
//!
//! This crate is pure: no async runtime, no Docker, no network. It reads a
//! history (JSON Lines, format v1: `docs/history-format.md`), validates the
//! contract the checkers rely on, and decides whether a lock or election
//! service kept its promises:
//!
//! ```text
//! time ->   0s        1s        2s        3s        4s
//! p1        |acquire ok token 7 ===========| release
//! p2                       |acquire ......... ok token 8 ======| release
//!                                          ^ fine: p1 released first
//! p3        |acquire ok token 9 ======================| lease bound
//! p4                            |acquire ok token 10 ======
//!                               ^ lost-mutual-exclusion: p3 still held it
//! ```
//!
//! Checkers, each per key, each `true`, `false` or `"unknown"`:
//!
//! | anomaly | means |
//! |---|---|
//! | `lost-mutual-exclusion` | two processes held one lock at overlapping instants |
//! | `token-regression` | a grant requested after another completed got a token no greater |
//! | `stale-token-accepted` | the resource accepted a write with a token below one it had acknowledged |
//! | `lost-update` | an acknowledged write is missing from the final read |
//! | `split-brain` | two processes led one election at once, or won the same term |
//!
//! Verdicts merge false > unknown > true. A history that never granted
//! anything is unknown, and so is a checker that failed. Overlaps with an
//! `info` grant are reported as `possible`, never as anomalies.
//!
//! ```
//! use splitbrain_checkers::{check, history::History, verdict::Validity};
//!
//! let jsonl = r#"
//! {"index":0,"time":0,"process":1,"type":"invoke","f":"acquire","key":"k"}
//! {"index":1,"time":1000000,"process":1,"type":"ok","f":"acquire","key":"k","token":7}
//! {"index":2,"time":2000000,"process":2,"type":"invoke","f":"acquire","key":"k"}
//! {"index":3,"time":3000000,"process":2,"type":"ok","f":"acquire","key":"k","token":8}
//! "#;
//! let (history, _warnings) =
//!     splitbrain_checkers::history::read_history_from(jsonl.as_bytes(), "example")?;
//! let report = check(&history);
//! assert_eq!(report.valid, Validity::Invalid);
//! assert_eq!(report.anomalies[0].ops, vec![1, 3]);
//! println!("{}", report.human_summary());
//! # Ok::<(), splitbrain_checkers::history::HistoryError>(())
//! ```

mod checks;
pub mod history;
pub mod report;
pub mod verdict;

pub use checks::{
    CheckError, EXERCISED, LOST_MUTUAL_EXCLUSION, LOST_UPDATE, SPLIT_BRAIN, STALE_TOKEN_ACCEPTED,
    TOKEN_REGRESSION,
};
pub use history::{read_history, History};
pub use report::Report;

/// Runs every checker over `history`. Never panics: a checker that fails
/// makes its section, and so the verdict, unknown.
pub fn check(history: &History) -> Report {
    checks::run_all(history)
}
