//! What a check concludes: the `results.json` document and its human summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::verdict::{Anomaly, Validity};

/// The whole verdict on one history; serializes to `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// All checkers merged: false > "unknown" > true.
    pub valid: Validity,
    /// Why the verdict is not `true`, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every anomaly found, up to [`MAX_LISTED_PER_KEY`] per checker and key.
    pub anomalies: Vec<Anomaly>,
    /// How many anomalies were found in all, listed or not.
    pub anomaly_count: u64,
    /// One section per checker, by checker name.
    pub checkers: BTreeMap<String, CheckerReport>,
    pub stats: Stats,
    /// Warnings from reading the history (cut-off tail, pending operations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Anomalies and possible overlaps listed per checker and key; the rest are counted.
pub const MAX_LISTED_PER_KEY: usize = 100;

/// One checker's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckerReport {
    pub valid: Validity,
    /// Why it is unknown, failed, or had nothing to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keys that gave this checker something to check.
    pub keys_checked: u64,
    pub anomaly_count: u64,
    /// Overlaps with an operation that ended `info`: not proof, worth a look.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub possible: Vec<Possible>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub possible_count: u64,
    /// Verdict per key checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, Validity>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An overlap that would be an anomaly if an `info` operation took effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Possible {
    pub key: String,
    pub ops: Vec<u64>,
    pub explanation: String,
}

/// Counts of what the history holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub events: u64,
    pub client_ops: u64,
    pub processes: u64,
    pub keys: u64,
    /// Client operations by `f`, then by outcome.
    pub ops: BTreeMap<String, OutcomeCounts>,
    /// Nemesis records by `f`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nemesis: BTreeMap<String, u64>,
    /// Time of the last record, ns.
    pub end_time_ns: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeCounts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Never completed (cut-off history); counts as `info`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pending: u64,
}

fn validity_word(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "valid",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "unknown",
    }
}

impl Report {
    /// A few lines for a terminal: the verdict, each checker, the first anomalies.
    pub fn human_summary(&self) -> String {
        const SHOWN: usize = 10;
        let mut out = String::new();
        let s = &self.stats;
        let _ = writeln!(
            out,
            "history: {}, {} by {} on {}, {}, {:.3} s",
            plural(s.events, "record", "records"),
            plural(s.client_ops, "client op", "client ops"),
            plural(s.processes, "process", "processes"),
            plural(s.keys, "key", "keys"),
            plural(
                s.nemesis.values().sum::<u64>(),
                "nemesis record",
                "nemesis records"
            ),
            seconds(s.end_time_ns)
        );
        for (f, c) in &s.ops {
            let _ = write!(
                out,
                "  {f:<9} ok {:>8}  fail {:>8}  info {:>8}",
                c.ok, c.fail, c.info
            );
            if c.pending > 0 {
                let _ = write!(out, "  pending {}", c.pending);
            }
            out.push('\n');
        }
        let _ = write!(out, "verdict: {}", validity_word(self.valid));
        match (self.anomaly_count, &self.reason) {
            (0, Some(r)) => {
                let _ = write!(out, " ({r})");
            }
            (0, None) => {}
            (n, _) => {
                let _ = write!(out, " ({})", plural(n, "anomaly", "anomalies"));
            }
        }
        out.push('\n');
        for (name, c) in &self.checkers {
            let _ = write!(out, "  {name:<22} {:<8}", validity_word(c.valid));
            if c.anomaly_count > 0 {
                let _ = write!(out, " {}", plural(c.anomaly_count, "anomaly", "anomalies"));
            }
            if c.possible_count > 0 {
                let _ = write!(
                    out,
                    " {} with an `info` grant",
                    plural(c.possible_count, "possible overlap", "possible overlaps")
                );
            }
            if let Some(r) = &c.reason {
                let _ = write!(out, " {r}");
            }
            out.push('\n');
        }
        if !self.anomalies.is_empty() {
            out.push_str("anomalies:\n");
            for a in self.anomalies.iter().take(SHOWN) {
                let _ = writeln!(out, "  {} on `{}`: {}", a.kind, a.key, a.explanation);
            }
            if self.anomaly_count > SHOWN as u64 {
                let _ = writeln!(
                    out,
                    "  ... and {} more (see results.json)",
                    self.anomaly_count - SHOWN as u64
                );
            }
        }
        let possible: Vec<&Possible> = self.checkers.values().flat_map(|c| &c.possible).collect();
        if !possible.is_empty() {
            out.push_str("possible (not proof):\n");
            for p in possible.iter().take(SHOWN) {
                let _ = writeln!(out, "  `{}`: {}", p.key, p.explanation);
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Nanoseconds on the history clock as seconds, for explanations.
pub(crate) fn seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}
