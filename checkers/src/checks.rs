//! Runs every checker over a [`History`] and merges their verdicts.
//!
//! Each checker works key by key over the operations of that key, and is
//! near-linear: a sort and a sweep, or a hash lookup per operation. A checker
//! that fails (returns an error, or trips an assertion) yields `unknown` with
//! the reason; it never takes the others down.

mod exclusion;
mod fencing;
mod findings;
mod holds;
mod lost_update;

use std::collections::{BTreeMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::history::{FId, History, Outcome};
use crate::report::{CheckerReport, OutcomeCounts, Report, Stats};
use crate::verdict::Validity;
pub use findings::CheckError;
use findings::{ByKey, Findings};

pub const LOST_MUTUAL_EXCLUSION: &str = "lost-mutual-exclusion";
pub const TOKEN_REGRESSION: &str = "token-regression";
pub const STALE_TOKEN_ACCEPTED: &str = "stale-token-accepted";
pub const LOST_UPDATE: &str = "lost-update";
pub const SPLIT_BRAIN: &str = "split-brain";
/// Unknown when nothing was ever granted.
pub const EXERCISED: &str = "exercised";

type Checker = fn(&History, &ByKey, &mut Findings) -> Result<(), CheckError>;

/// `exercised` runs first so that, when nothing was granted, its reason is
/// the one the report gives for the unknown verdict.
const CHECKERS: [(&str, Checker); 6] = [
    (EXERCISED, exercised),
    (LOST_MUTUAL_EXCLUSION, exclusion::lost_mutual_exclusion),
    (TOKEN_REGRESSION, fencing::token_regression),
    (STALE_TOKEN_ACCEPTED, fencing::stale_token_accepted),
    (LOST_UPDATE, lost_update::lost_update),
    (SPLIT_BRAIN, exclusion::split_brain),
];

fn exercised(h: &History, _: &ByKey, out: &mut Findings) -> Result<(), CheckError> {
    let granted = h
        .ops()
        .iter()
        .any(|op| op.outcome == Outcome::Ok && (op.f == FId::ACQUIRE || op.f == FId::CAMPAIGN));
    if !granted {
        out.undecided(
            "nothing was exercised: no lock was granted and no election was won".to_string(),
        );
    }
    Ok(())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

pub(crate) fn run_all(h: &History) -> Report {
    run(h, &CHECKERS)
}

fn run(h: &History, list: &[(&'static str, Checker)]) -> Report {
    let by_key = ByKey::new(h);
    let mut checkers = BTreeMap::new();
    let mut anomalies = Vec::new();
    let mut anomaly_count = 0;
    let mut valid = Validity::Valid;
    let mut reason = None;
    for &(name, checker) in list {
        let mut findings = Findings::default();
        let ran = catch_unwind(AssertUnwindSafe(|| checker(h, &by_key, &mut findings)));
        let failure = match ran {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(p) => Some(format!("failed to check {name}: {}", panic_text(&*p))),
        };
        let (section, found) = match failure {
            None => findings.into_report(),
            Some(why) => (
                CheckerReport {
                    valid: Validity::Unknown,
                    reason: Some(why),
                    keys_checked: 0,
                    anomaly_count: 0,
                    possible: Vec::new(),
                    possible_count: 0,
                    keys: BTreeMap::new(),
                },
                Vec::new(),
            ),
        };
        if section.valid == Validity::Unknown && reason.is_none() {
            reason.clone_from(&section.reason);
        }
        valid = valid.merge(section.valid);
        anomaly_count += section.anomaly_count;
        anomalies.extend(found);
        checkers.insert(name.to_string(), section);
    }
    anomalies.sort_by(|a, b| (a.kind, &a.key, &a.ops).cmp(&(b.kind, &b.key, &b.ops)));
    if valid != Validity::Unknown {
        reason = None;
    }
    Report {
        valid,
        reason,
        anomalies,
        anomaly_count,
        checkers,
        stats: stats(h),
        warnings: Vec::new(),
    }
}

fn stats(h: &History) -> Stats {
    let mut by_f: BTreeMap<FId, OutcomeCounts> = BTreeMap::new();
    let mut processes = HashSet::new();
    for op in h.ops() {
        processes.insert(op.process);
        let c = by_f.entry(op.f).or_default();
        match op.outcome {
            Outcome::Ok => c.ok += 1,
            Outcome::Fail => c.fail += 1,
            Outcome::Info => c.info += 1,
            Outcome::Pending => c.pending += 1,
        }
    }
    let mut nemesis = BTreeMap::new();
    for n in h.nemesis() {
        *nemesis.entry(h.f_name(n.f).to_string()).or_insert(0) += 1;
    }
    Stats {
        events: h.event_count(),
        client_ops: h.ops().len() as u64,
        processes: processes.len() as u64,
        keys: h.key_count() as u64,
        ops: by_f
            .into_iter()
            .map(|(f, c)| (h.f_name(f).to_string(), c))
            .collect(),
        nemesis,
        end_time_ns: if h.event_count() == 0 {
            0
        } else {
            h.end().time
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::read_history_from;

    fn broken(_: &History, _: &ByKey, _: &mut Findings) -> Result<(), CheckError> {
        panic!("an assertion inside a checker");
    }

    fn failing(_: &History, _: &ByKey, _: &mut Findings) -> Result<(), CheckError> {
        Err(CheckError {
            checker: "failing",
            reason: "it could not decide".into(),
        })
    }

    #[test]
    fn a_checker_that_panics_or_errors_yields_unknown_and_the_others_still_run() {
        let text = concat!(
            r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"acquire"}"#,
            "\n",
            r#"{"index":1,"time":1,"process":1,"type":"ok","f":"acquire","token":1}"#,
            "\n",
        );
        let (h, _) = read_history_from(text.as_bytes(), "t").unwrap();
        let r = run(
            &h,
            &[
                ("broken", broken),
                ("failing", failing),
                (TOKEN_REGRESSION, fencing::token_regression),
            ],
        );
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.checkers["broken"].valid, Validity::Unknown);
        let why = r.checkers["broken"].reason.as_deref().unwrap_or("");
        assert!(why.contains("an assertion inside a checker"), "{why}");
        assert_eq!(
            r.checkers["failing"].reason.as_deref(),
            Some("failed to check failing: it could not decide")
        );
        assert_eq!(r.checkers[TOKEN_REGRESSION].valid, Validity::Valid);
    }
}
