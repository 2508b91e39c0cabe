//! `splitbrain check` end to end: exit codes, results.json, bad-input messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../checkers/tests/histories")
        .join(name)
}

fn splitbrain(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("check")
        .args(args)
        .output()
        .expect("failed to run splitbrain")
}

/// Checks `history` with results going to a fresh directory; returns the
/// output and the parsed results.json (if written).
fn check_into_tempdir(history: &Path) -> (Output, Option<serde_json::Value>) {
    let out = tempfile::tempdir().unwrap();
    let o = splitbrain(&[
        history.as_os_str(),
        "--out".as_ref(),
        out.path().as_os_str(),
    ]);
    let results = std::fs::read(out.path().join("results.json"))
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("results.json is JSON"));
    (o, results)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_valid_history_exits_0_and_writes_results_json() {
    let (o, results) = check_into_tempdir(&fixture("lost-mutual-exclusion.valid.jsonl"));
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("verdict: valid"), "{}", stdout(&o));
    let r = results.expect("results.json written");
    assert_eq!(r["valid"], true);
    assert_eq!(r["anomalies"], serde_json::json!([]));
    assert_eq!(r["stats"]["ops"]["acquire"]["ok"], 2);
}

#[test]
fn an_invalid_history_exits_1_and_names_the_anomaly() {
    let (o, results) = check_into_tempdir(&fixture("lost-mutual-exclusion.jsonl"));
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("p1 held lock `k` with token 1"),
        "{}",
        stdout(&o)
    );
    let r = results.expect("results.json written");
    assert_eq!(r["valid"], false);
    assert_eq!(r["anomalies"][0]["type"], "lost-mutual-exclusion");
    assert_eq!(r["anomalies"][0]["ops"], serde_json::json!([1, 3, 4]));
    assert_eq!(r["checkers"]["lost-mutual-exclusion"]["valid"], false);
}

#[test]
fn a_history_that_exercised_nothing_exits_2() {
    let (o, results) = check_into_tempdir(&fixture("nothing-exercised.unknown.jsonl"));
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(results.unwrap()["valid"], "unknown");
    assert!(
        stdout(&o).contains("nothing was exercised"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn without_out_results_go_next_to_the_history_and_a_run_directory_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("token-regression.jsonl"),
        dir.path().join("history.jsonl"),
    )
    .unwrap();
    let o = splitbrain(&[dir.path().as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(r["anomalies"][0]["type"], "token-regression");
}

#[test]
fn a_missing_history_exits_254_naming_the_file() {
    let o = splitbrain(&["/nonexistent/history.jsonl".as_ref()]);
    assert_eq!(o.status.code(), Some(254));
    assert!(
        stderr(&o).contains("failed to open history /nonexistent/history.jsonl"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn malformed_json_exits_254_naming_file_line_and_reason() {
    let (o, results) = check_into_tempdir(&fixture("bad/bad-json.jsonl"));
    assert_eq!(o.status.code(), Some(254));
    let err = stderr(&o);
    assert!(
        err.contains("bad-json.jsonl: line 3: invalid JSON"),
        "{err}"
    );
    assert!(results.is_none(), "no results.json for unreadable input");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_contract_violation_exits_254_with_the_rule() {
    let (o, _) = check_into_tempdir(&fixture("bad/invoke-after-info.jsonl"));
    assert_eq!(o.status.code(), Some(254));
    assert!(
        stderr(&o).contains("line 3: p1 invokes `acquire` after its `acquire` ended `info`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_cut_off_last_line_is_checked_with_a_warning() {
    let (o, results) = check_into_tempdir(&fixture("bad/cut-off.jsonl"));
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("warning: line 3: last line is cut off"),
        "{}",
        stdout(&o)
    );
    let r = results.unwrap();
    assert_eq!(r["stats"]["events"], 2);
    assert!(r["warnings"][0].as_str().unwrap().contains("cut off"));
}

#[test]
fn an_unwritable_out_directory_exits_254() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let o = splitbrain(&[
        fixture("lost-update.valid.jsonl").as_os_str(),
        "--out".as_ref(),
        blocker.join("sub").as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(254), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("failed to create output directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_argument_exits_254_not_clap_s_2() {
    let o = splitbrain(&[]);
    assert_eq!(o.status.code(), Some(254));
}
