//! What every checker works with: each key's operations ([`ByKey`]), what
//! a checker found ([`Findings`]), and how it fails to decide
//! ([`CheckError`]).

use std::collections::BTreeMap;

use crate::history::{History, KeyId};
use crate::report::{CheckerReport, Possible, MAX_LISTED_PER_KEY};
use crate::verdict::{Anomaly, AnomalyType, Validity};

/// A checker's failure to decide.
#[derive(Debug, thiserror::Error)]
#[error("failed to check {checker}: {reason}")]
pub struct CheckError {
    pub checker: &'static str,
    pub reason: String,
}

/// Positions in [`History::ops`] of each key's operations, in invocation order.
pub(crate) struct ByKey {
    pub(super) ops: Vec<Vec<u32>>,
}

impl ByKey {
    pub(super) fn new(h: &History) -> ByKey {
        let mut ops = vec![Vec::new(); h.key_count()];
        for (pos, op) in h.ops().iter().enumerate() {
            // History caps ops at u32::MAX.
            ops[op.key as usize].push(pos as u32);
        }
        ByKey { ops }
    }

    pub fn keys(&self) -> impl Iterator<Item = (KeyId, &[u32])> {
        self.ops
            .iter()
            .enumerate()
            .map(|(k, v)| (k as KeyId, v.as_slice()))
    }
}

/// What one checker found, before it becomes a [`CheckerReport`].
pub(crate) struct Findings {
    pub(super) keys: BTreeMap<String, Validity>,
    pub(super) anomalies: Vec<Anomaly>,
    pub(super) anomaly_count: u64,
    pub(super) possible: Vec<Possible>,
    pub(super) possible_count: u64,
    /// Why an unknown verdict, or why nothing was checked.
    pub(super) reason: Option<String>,
    /// A verdict on the history as a whole, merged with the keys'.
    pub(super) whole: Validity,
    pub(super) listed_for_key: usize,
    pub(super) possible_for_key: usize,
}

impl Default for Findings {
    fn default() -> Findings {
        Findings {
            keys: BTreeMap::new(),
            anomalies: Vec::new(),
            anomaly_count: 0,
            possible: Vec::new(),
            possible_count: 0,
            reason: None,
            whole: Validity::Valid,
            listed_for_key: 0,
            possible_for_key: 0,
        }
    }
}

impl Findings {
    /// Starts a key; later anomalies and possibles belong to it.
    pub fn begin_key(&mut self, name: &str) {
        self.keys.insert(name.to_string(), Validity::Valid);
        self.listed_for_key = 0;
        self.possible_for_key = 0;
    }

    pub fn anomaly(&mut self, kind: AnomalyType, key: &str, ops: Vec<u64>, explanation: String) {
        self.anomaly_count += 1;
        if let Some(v) = self.keys.get_mut(key) {
            *v = Validity::Invalid;
        }
        if self.listed_for_key < MAX_LISTED_PER_KEY {
            self.listed_for_key += 1;
            self.anomalies.push(Anomaly {
                kind,
                key: key.to_string(),
                ops,
                explanation,
            });
        }
    }

    pub fn possible(&mut self, key: &str, ops: Vec<u64>, explanation: String) {
        self.possible_count += 1;
        if self.possible_for_key < MAX_LISTED_PER_KEY {
            self.possible_for_key += 1;
            self.possible.push(Possible {
                key: key.to_string(),
                ops,
                explanation,
            });
        }
    }

    /// This key could not be decided.
    pub fn unknown(&mut self, key: &str, reason: String) {
        if let Some(v) = self.keys.get_mut(key) {
            *v = v.merge(Validity::Unknown);
        }
        self.reason.get_or_insert(reason);
    }

    /// The history as a whole could not be decided.
    pub fn undecided(&mut self, reason: String) {
        self.whole = Validity::Unknown;
        self.reason.get_or_insert(reason);
    }

    /// Nothing to check at all; the checker is vacuously valid.
    pub fn nothing_to_check(&mut self, reason: &str) {
        self.reason = Some(reason.to_string());
    }

    pub(super) fn into_report(self) -> (CheckerReport, Vec<Anomaly>) {
        let valid = self.keys.values().fold(self.whole, |acc, v| acc.merge(*v));
        let report = CheckerReport {
            valid,
            reason: self.reason,
            keys_checked: self.keys.len() as u64,
            anomaly_count: self.anomaly_count,
            possible: self.possible,
            possible_count: self.possible_count,
            keys: self.keys,
        };
        (report, self.anomalies)
    }
}
