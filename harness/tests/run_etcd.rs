//! End-to-end campaigns against a real etcd cluster in containers: the
//! product's main job, run through the `splitbrain` binary as a user would.
//!
//! These need the Docker engine. With CI=true a missing engine fails them;
//! elsewhere they print a loud SKIP and return.

mod common;

use std::process::Command;

use common::{anomaly_types, assert_explained, docker_available, nemesis_fs, run};
use serde_json::Value;

#[test]
fn etcd_append_under_client_pause_loses_updates() {
    if !docker_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = run(
        root.path(),
        &[
            "--target",
            "etcd",
            "--workload",
            "append",
            "--nemesis",
            "client-pause",
            "--nemesis-interval",
            "5",
            "--time-limit",
            "40",
            "--lease-ms",
            "2000",
            "--concurrency",
            "5",
            "--seed",
            "1",
            "--recovery",
            "5",
        ],
    );
    let types = anomaly_types(&r.results);
    assert!(
        types.iter().any(|t| t == "lost-update"),
        "expected lost-update, got {types:?} (exit {}); stdout:\n{}",
        r.code,
        r.stdout
    );
    assert_eq!(r.code, 1, "an invalid verdict exits 1");
    assert!(r.history.contains("start-client-pause"));
    assert!(r.dir.join("run.json").is_file() && r.dir.join("nodes").is_dir());
}

#[test]
fn etcd_fenced_under_client_pause_stays_valid() {
    if !docker_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = run(
        root.path(),
        &[
            "--target",
            "etcd",
            "--workload",
            "fenced",
            "--nemesis",
            "client-pause",
            "--nemesis-interval",
            "5",
            "--time-limit",
            "40",
            "--lease-ms",
            "2000",
            "--concurrency",
            "5",
            "--seed",
            "1",
            "--recovery",
            "5",
        ],
    );
    let types = anomaly_types(&r.results);
    assert!(
        !types
            .iter()
            .any(|t| t == "stale-token-accepted" || t == "lost-update"),
        "fenced writes must stay safe, got {types:?}; stdout:\n{}",
        r.stdout
    );
    // Stale holders did write and were refused: the fence was exercised.
    assert!(
        r.history
            .lines()
            .any(|l| l.contains(r#""type":"fail""#) && l.contains(r#""f":"write""#)),
        "no fenced write was ever refused: the fault did not bite"
    );
    assert_eq!(
        r.results["valid"],
        Value::Bool(true),
        "stdout:\n{}",
        r.stdout
    );
    assert_eq!(r.code, 0);
}

#[test]
fn etcd_lock_on_five_nodes_under_partition_pause_and_kill_is_checked_and_explained() {
    if !docker_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = run(
        root.path(),
        &[
            "--target",
            "etcd",
            "--workload",
            "lock",
            "--nodes",
            "5",
            "--nemesis",
            "partition,pause,kill",
            "--nemesis-interval",
            "4",
            "--time-limit",
            "32",
            "--concurrency",
            "10",
            "--seed",
            "11",
            "--recovery",
            "6",
        ],
    );
    assert_explained(&r);
    let run_json: Value =
        serde_json::from_slice(&std::fs::read(r.dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        run_json["target"]["nodes"].as_array().map(Vec::len),
        Some(5)
    );
    assert!(run_json["target"]["version"]
        .as_str()
        .unwrap_or("")
        .contains("etcd Version"));
    assert_eq!(run_json["seed"], 11);
    let fs = nemesis_fs(&r.history);
    assert!(
        fs.iter().any(|f| f.starts_with("start-")),
        "no fault started: {fs:?}"
    );
    assert_eq!(
        fs.last().map(String::as_str),
        Some("heal"),
        "the run must end healed: {fs:?}"
    );
    assert!(
        r.results["liveness"]["grants_after_heal"]
            .as_u64()
            .unwrap_or(0)
            > 0
            || r.code == 2
    );
    for node in ["n1", "n2", "n3", "n4", "n5"] {
        assert!(
            r.dir.join("nodes").join(node).is_dir(),
            "no logs collected for {node}"
        );
    }
}

#[test]
fn etcd_election_under_partition_pause_and_kill_is_checked_and_explained() {
    if !docker_available() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = run(
        root.path(),
        &[
            "--target",
            "etcd",
            "--workload",
            "election",
            "--nemesis",
            "partition,pause,kill",
            "--nemesis-interval",
            "4",
            "--time-limit",
            "32",
            "--concurrency",
            "8",
            "--seed",
            "12",
            "--recovery",
            "6",
        ],
    );
    assert_explained(&r);
    let campaigns_ok = r
        .history
        .lines()
        .filter(|l| l.contains(r#""f":"campaign""#) && l.contains(r#""type":"ok""#))
        .count();
    assert!(campaigns_ok > 0, "no campaign was ever won");
    assert!(
        r.history.contains(r#""f":"observe""#),
        "observers never observed"
    );
    assert_ne!(r.results["checkers"]["split-brain"]["valid"], Value::Null);
}

#[test]
fn bad_arguments_exit_254_before_touching_docker() {
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["run", "--workload", "mutex"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mutex"));
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["run", "--nemesis", "partition,earthquake"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("earthquake"));
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["run", "--target", "zookeeper", "--results"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown target"));
}
