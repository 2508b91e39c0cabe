//! Records written by today's harness read back into the types and write
//! back as the same JSON: the types are the format, not a view of it.

use serde_json::Value;
use splitbrain_records::{ClockMechanism, ResultsHeadline, ResultsRecord, RunHeadline, RunRecord};

const RUN: &str = include_str!("fixtures/run.json");
const RESULTS: &str = include_str!("fixtures/results.json");

/// Parses `text` as `T` and writes it back, as JSON values (object keys
/// carry no order).
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(text: &str) -> (Value, T) {
    let typed: T = serde_json::from_str(text).expect("the record reads");
    (
        serde_json::to_value(&typed).expect("the record writes"),
        typed,
    )
}

#[test]
fn a_run_json_with_every_field_reads_and_writes_back_the_same() {
    let (back, run) = round_trip::<RunRecord>(RUN);
    assert_eq!(back, serde_json::from_str::<Value>(RUN).unwrap());
    assert_eq!(run.seed, 11);
    assert_eq!(run.config.hold_ms, Some((50, 4000)));
    let clock = run
        .clock_faults
        .flatten()
        .expect("clock faults were planned");
    assert_eq!(
        clock.applied.unwrap()["n2"]
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [ClockMechanism::Preload, ClockMechanism::VdsoPatch]
    );
}

#[test]
fn each_stage_of_run_json_round_trips_and_null_clock_faults_stay_null() {
    let full: Value = serde_json::from_str(RUN).unwrap();
    // The first stage: written before the deploy.
    let mut first = full.clone();
    for later in ["image", "clock_faults", "target", "timings", "schedule"] {
        first.as_object_mut().unwrap().remove(later);
    }
    let (back, run) = round_trip::<RunRecord>(&first.to_string());
    assert_eq!(back, first);
    assert_eq!(run.clock_faults, None);
    // Deployed with no clock fault scheduled: written as null.
    let mut no_clock = full.clone();
    no_clock["clock_faults"] = Value::Null;
    let (back, run) = round_trip::<RunRecord>(&no_clock.to_string());
    assert_eq!(back, no_clock);
    assert_eq!(run.clock_faults, Some(None));
    // Refused by the target: planned is null.
    let mut refused = full;
    refused["clock_faults"] = serde_json::json!({"planned": null, "refused": "no clock"});
    let (back, _) = round_trip::<RunRecord>(&refused.to_string());
    assert_eq!(back, refused);
}

#[test]
fn a_results_json_with_liveness_reads_and_writes_back_the_same() {
    let (back, results) = round_trip::<ResultsRecord>(RESULTS);
    assert_eq!(back, serde_json::from_str::<Value>(RESULTS).unwrap());
    assert_eq!(results.liveness.unwrap().final_reads_missing, ["k1"]);
    // `splitbrain check` writes no liveness section.
    let mut checked: Value = serde_json::from_str(RESULTS).unwrap();
    checked.as_object_mut().unwrap().remove("liveness");
    let (back, results) = round_trip::<ResultsRecord>(&checked.to_string());
    assert_eq!(back, checked);
    assert_eq!(results.liveness, None);
}

#[test]
fn unknown_fields_are_ignored_and_headlines_read_partial_records() {
    let mut newer: Value = serde_json::from_str(RUN).unwrap();
    newer["added_by_a_newer_harness"] = serde_json::json!({"x": 1});
    newer["target"]["added_too"] = serde_json::json!(true);
    assert!(serde_json::from_value::<RunRecord>(newer).is_ok());
    let mut newer: Value = serde_json::from_str(RESULTS).unwrap();
    newer["liveness"]["added"] = serde_json::json!(2);
    assert!(serde_json::from_value::<ResultsRecord>(newer).is_ok());

    let head: RunHeadline =
        serde_json::from_str(r#"{"seed": 3, "target": {"name": "etcd"}}"#).unwrap();
    assert_eq!(
        (head.seed, head.target.unwrap().name.as_str()),
        (Some(3), "etcd")
    );
    let head: RunHeadline = serde_json::from_str(RUN).unwrap();
    assert_eq!(head.seed, Some(11));
    let verdict: ResultsHeadline = serde_json::from_str(r#"{"valid": "unknown"}"#).unwrap();
    assert_eq!(verdict.anomaly_count, None);
    let verdict: ResultsHeadline = serde_json::from_str(RESULTS).unwrap();
    assert_eq!(verdict.anomaly_count, Some(1));
}

#[test]
fn reading_a_file_names_it_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let missing = splitbrain_records::read::<RunRecord>(&dir.join("run.json")).unwrap_err();
    assert!(
        missing.to_string().starts_with("failed to read run.json"),
        "{missing}"
    );
    std::fs::write(dir.join("run.json"), "{\"seed\": ").unwrap();
    let cut = splitbrain_records::read::<RunRecord>(&dir.join("run.json")).unwrap_err();
    assert!(
        cut.to_string().starts_with("failed to parse run.json"),
        "{cut}"
    );
    std::fs::write(dir.join("run.json"), "{\"seed\": \"eleven\"}").unwrap();
    let wrong = splitbrain_records::read::<RunRecord>(&dir.join("run.json")).unwrap_err();
    assert!(
        wrong
            .to_string()
            .starts_with("failed to understand run.json"),
        "{wrong}"
    );
}
