//! Hand-written histories: each anomaly next to a twin that differs from it
//! by the one record that matters, and malformed files with the error each
//! must produce.

use std::collections::BTreeSet;
use std::path::PathBuf;

use splitbrain_checkers::history::{read_history, HistoryError};
use splitbrain_checkers::verdict::{AnomalyType, Validity};
use splitbrain_checkers::{check, Report};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(name)
}

fn checked(name: &str) -> Report {
    let (h, warnings) = read_history(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(warnings.is_empty(), "{name}: {warnings:?}");
    check(&h)
}

fn types(r: &Report) -> BTreeSet<AnomalyType> {
    r.anomalies.iter().map(|a| a.kind).collect()
}

/// Asserts `name` fails with exactly `kind`, and its `.valid` twin passes.
fn anomaly_and_twin(name: &str, twin: &str, kind: AnomalyType) -> Report {
    let bad = checked(name);
    assert_eq!(
        bad.valid,
        Validity::Invalid,
        "{name}:\n{}",
        bad.human_summary()
    );
    assert_eq!(types(&bad), BTreeSet::from([kind]), "{name}");
    let good = checked(twin);
    assert_eq!(
        good.valid,
        Validity::Valid,
        "{twin}:\n{}",
        good.human_summary()
    );
    assert!(good.anomalies.is_empty());
    let differing = std::fs::read_to_string(path(name))
        .unwrap()
        .lines()
        .zip(std::fs::read_to_string(path(twin)).unwrap().lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 1, "{name} and {twin} must differ by one record");
    bad
}

/// [`anomaly_and_twin`] for `{stem}.jsonl` and its twin `{stem}.valid.jsonl`.
fn anomaly_and_its_twin(stem: &str, kind: AnomalyType) -> Report {
    anomaly_and_twin(
        &format!("{stem}.jsonl"),
        &format!("{stem}.valid.jsonl"),
        kind,
    )
}

#[test]
fn a_grant_while_the_previous_lease_is_still_valid_loses_mutual_exclusion() {
    let r = anomaly_and_its_twin("lost-mutual-exclusion", AnomalyType::LostMutualExclusion);
    let a = &r.anomalies[0];
    assert_eq!(a.key, "k");
    assert_eq!(a.ops, vec![1, 3, 4]);
    assert_eq!(
        a.explanation,
        "p1 held lock `k` with token 1 from 0.100 s until 4.000 s (its release); \
         p2 was granted it with token 2 at 3.000 s"
    );
    assert_eq!(r.anomaly_count, 1);
    assert_eq!(r.checkers["lost-mutual-exclusion"].valid, Validity::Invalid);
    assert_eq!(r.checkers["token-regression"].valid, Validity::Valid);
}

#[test]
fn an_overlap_with_an_info_acquire_is_only_possible_but_with_an_ok_acquire_is_an_anomaly() {
    let r = anomaly_and_its_twin(
        "lost-mutual-exclusion-info",
        AnomalyType::LostMutualExclusion,
    );
    assert_eq!(r.anomalies[0].ops, vec![1, 3]);
    let twin = checked("lost-mutual-exclusion-info.valid.jsonl");
    let section = &twin.checkers["lost-mutual-exclusion"];
    assert_eq!(section.possible_count, 1);
    assert_eq!(section.possible[0].ops, vec![0, 3]);
    assert!(
        section.possible[0].explanation.contains("ended `info`"),
        "{}",
        section.possible[0].explanation
    );
}

#[test]
fn a_later_grant_with_a_lower_token_is_a_token_regression() {
    let r = anomaly_and_its_twin("token-regression", AnomalyType::TokenRegression);
    assert_eq!(r.anomalies[0].ops, vec![1, 4, 5]);
    assert_eq!(
        r.anomalies[0].explanation,
        "p1 was granted lock `k` with token 5 at 0.100 s; p2 asked for it later, at 2.000 s, \
         and was granted token 4 at 2.100 s"
    );
}

#[test]
fn a_later_grant_with_the_same_token_is_a_token_regression() {
    anomaly_and_twin(
        "token-regression-duplicate.jsonl",
        "token-regression.valid.jsonl",
        AnomalyType::TokenRegression,
    );
}

#[test]
fn a_resource_accepting_a_write_with_an_older_token_accepted_a_stale_token() {
    let r = anomaly_and_its_twin("stale-token-accepted", AnomalyType::StaleTokenAccepted);
    assert_eq!(r.anomalies[0].ops, vec![5, 6, 7]);
}

#[test]
fn an_acknowledged_write_missing_from_the_final_read_is_a_lost_update() {
    let r = anomaly_and_its_twin("lost-update", AnomalyType::LostUpdate);
    assert_eq!(r.anomalies[0].ops, vec![9, 12, 13]);
    assert!(r.anomalies[0].explanation.contains("write of 2"));
}

#[test]
fn without_a_read_after_every_write_lost_update_is_unknown() {
    let r = checked("lost-update-no-final-read.unknown.jsonl");
    assert_eq!(r.valid, Validity::Unknown, "{}", r.human_summary());
    assert_eq!(r.checkers["lost-update"].valid, Validity::Unknown);
    assert!(r.reason.as_deref().unwrap_or("").contains("no read of `k`"));
}

#[test]
fn two_overlapping_leaders_are_split_brain() {
    anomaly_and_its_twin("split-brain", AnomalyType::SplitBrain);
}

#[test]
fn two_winners_of_one_term_are_split_brain_even_when_they_never_overlap() {
    let r = anomaly_and_its_twin("split-brain-same-term", AnomalyType::SplitBrain);
    assert_eq!(r.anomalies[0].ops, vec![2, 5]);
}

#[test]
fn a_history_that_never_granted_anything_is_unknown() {
    let r = checked("nothing-exercised.unknown.jsonl");
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(
        r.reason.as_deref(),
        Some("nothing was exercised: no lock was granted and no election was won")
    );
    assert_eq!(r.stats.nemesis["start-partition"], 1);
    assert_eq!(
        checked("nothing-exercised.valid.jsonl").valid,
        Validity::Valid
    );
}

#[test]
fn an_empty_history_is_unknown_because_nothing_was_exercised() {
    let (h, warnings) =
        splitbrain_checkers::history::read_history_from(&b"\n\n"[..], "empty").unwrap();
    assert!(warnings.is_empty());
    let r = check(&h);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(r.reason.unwrap().starts_with("nothing was exercised"));
}

#[test]
fn results_json_has_the_documented_shape() {
    let r = checked("lost-mutual-exclusion.jsonl");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["anomalies"][0]["type"], "lost-mutual-exclusion");
    assert_eq!(v["anomalies"][0]["key"], "k");
    assert_eq!(v["checkers"]["token-regression"]["valid"], true);
    assert_eq!(v["stats"]["ops"]["acquire"]["ok"], 2);
    assert_eq!(v["stats"]["ops"]["release"]["ok"], 2);
    let unknown = serde_json::to_value(checked("nothing-exercised.unknown.jsonl")).unwrap();
    assert_eq!(unknown["valid"], "unknown");
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

fn error(name: &str) -> (u64, String) {
    match read_history(path(&format!("bad/{name}"))) {
        Err(HistoryError::Invalid { line, reason, .. }) => (line, reason),
        other => panic!("{name}: expected an invalid-history error, got {other:?}"),
    }
}

#[test]
fn malformed_json_is_an_error_naming_file_line_and_column() {
    let e = read_history(path("bad/bad-json.jsonl")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("bad-json.jsonl"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("column"), "{msg}");
}

#[test]
fn a_cut_off_last_line_is_checked_up_to_the_line_before_with_a_warning() {
    let (h, warnings) = read_history(path("bad/cut-off.jsonl")).unwrap();
    assert_eq!(h.event_count(), 2);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].line, Some(3));
    assert!(warnings[0].message.contains("checked up to line 2"));
    assert_eq!(check(&h).valid, Validity::Valid);
}

#[test]
fn contract_violations_name_the_line_and_the_rule() {
    for (file, line, needle) in [
        ("index-not-ascending.jsonl", 3, "does not exceed"),
        ("time-goes-backwards.jsonl", 3, "must not decrease"),
        ("two-in-flight.jsonl", 2, "still in flight"),
        ("completion-f-mismatch.jsonl", 2, "is `acquire`"),
        ("invoke-after-info.jsonl", 3, "must never invoke again"),
        ("missing-time.jsonl", 2, "missing field `time`"),
        ("negative-process.jsonl", 2, "non-negative"),
        (
            "completion-without-invoke.jsonl",
            2,
            "no operation in flight",
        ),
    ] {
        let (l, reason) = error(file);
        assert_eq!(l, line, "{file}: {reason}");
        assert!(reason.contains(needle), "{file}: {reason}");
    }
}

#[test]
fn a_missing_file_is_an_open_error_naming_it() {
    let e = read_history(path("no-such-history.jsonl")).unwrap_err();
    assert!(matches!(e, HistoryError::Open { .. }));
    assert!(e.to_string().contains("no-such-history.jsonl"));
}
