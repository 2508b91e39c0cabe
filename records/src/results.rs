//! `results.json`: the verdict. `splitbrain check` writes the checkers'
//! [`Report`] alone; `splitbrain run` adds the [`Liveness`] section.

use serde::{Deserialize, Serialize};
use splitbrain_checkers::verdict::Validity;
use splitbrain_checkers::Report;

/// The whole of `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsRecord {
    /// The checkers' verdict, its fields at the top level of the document
    /// (see docs/history-format.md). After a run, `valid` also accounts for
    /// liveness: a valid history with a liveness problem is `"unknown"`.
    #[serde(flatten)]
    pub report: Report,
    /// What the run's liveness phase saw; absent from `splitbrain check`'s results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<Liveness>,
}

/// What the run saw after the final heal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liveness {
    /// Grants (lock acquisitions, election wins) that succeeded in the
    /// recovery window after the final heal.
    pub grants_after_heal: u64,
    /// Ctrl-C cut the schedule or the recovery window short.
    #[serde(default)]
    pub interrupted: bool,
    /// Resources whose final read failed: their lost updates cannot be judged.
    #[serde(default)]
    pub final_reads_missing: Vec<String>,
    /// Why liveness made a valid verdict unknown, one line each.
    #[serde(default)]
    pub problems: Vec<String>,
}

/// The few `results.json` fields a listing of runs shows. Reads any
/// `results.json` that has a verdict, however old or partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ResultsHeadline {
    /// The verdict.
    pub valid: Validity,
    /// All anomalies found, listed or not.
    #[serde(default)]
    pub anomaly_count: Option<u64>,
}
