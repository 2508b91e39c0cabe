//! End-to-end campaigns against a real etcd cluster in containers: the
//! product's main job, run through the `splitbrain` binary as a user would.
//!
//! These need the Docker engine. With CI=true a missing engine fails them;
//! elsewhere they print a loud SKIP and return.

mod common;

use std::process::Command;

use common::{anomaly_types, assert_explained, assert_records_round_trip, nemesis_fs, Campaign};
use serde_json::Value;

#[test]
fn etcd_append_under_client_pause_loses_updates() {
    let Some(r) = Campaign::client_pause("etcd", "append").run_or_skip() else {
        return;
    };
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
    let Some(r) = Campaign::client_pause("etcd", "fenced").run_or_skip() else {
        return;
    };
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

/// The partition, pause and kill campaign that both the lock and the
/// election workloads face.
fn partition_pause_and_kill(workload: &str) -> Campaign {
    Campaign::new("etcd")
        .workload(workload)
        .nemesis("partition,pause,kill")
        .nemesis_interval_s(4)
        .time_limit_s(32)
        .recovery_s(6)
}

#[test]
fn etcd_lock_on_five_nodes_under_partition_pause_and_kill_is_checked_and_explained() {
    let Some(r) = partition_pause_and_kill("lock")
        .nodes(5)
        .concurrency(10)
        .seed(11)
        .run_or_skip()
    else {
        return;
    };
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
    assert_records_round_trip(&r);
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
    let Some(r) = partition_pause_and_kill("election")
        .concurrency(8)
        .seed(12)
        .run_or_skip()
    else {
        return;
    };
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
    // Faults that work the same machinery cannot share a window.
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["run", "--nemesis", "clock,kill+pause"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kill and pause cannot share a window"));
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["run", "--target", "zookeeper", "--results"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown target"));
}

/// The flags of the clock finding (docs/findings.md #9): the leader's clocks
/// at 4x for each fault window, one lock, the default 2 s lease.
fn fast_leader_clock(workload: &str) -> Campaign {
    Campaign::new("etcd")
        .workload(workload)
        .nemesis("clock")
        .clock("rate:4")
        .victims("primaries")
        .time_limit_s(30)
}

/// Every start-clock record reached a process, each through the patched
/// vDSO (etcd is Go), and run.json says so per node.
fn assert_clock_reached_etcd_through_the_vdso(r: &common::Run) {
    let starts: Vec<Value> = r
        .history
        .lines()
        .filter(|l| l.contains(r#""f":"start-clock""#))
        .map(|l| serde_json::from_str(l).expect("history lines are JSON"))
        .collect();
    assert!(!starts.is_empty(), "no clock fault started");
    for s in &starts {
        assert!(s.get("error").is_none(), "a clock fault failed: {s}");
        let processes = s["value"]["processes"]
            .as_object()
            .unwrap_or_else(|| panic!("no processes in {s}"));
        assert!(!processes.is_empty(), "{s}");
        for procs in processes.values() {
            for p in procs.as_array().expect("a list of processes") {
                assert_eq!(p["mechanism"], "vdso-patch", "{s}");
            }
        }
    }
    let run_json: Value =
        serde_json::from_slice(&std::fs::read(r.dir.join("run.json")).expect("run.json"))
            .expect("run.json is JSON");
    let applied = run_json["clock_faults"]["applied"]
        .as_object()
        .unwrap_or_else(|| panic!("run.json has no clock_faults.applied: {run_json}"));
    assert_records_round_trip(r);
    assert!(
        !applied.is_empty() && applied.values().all(|m| m.get("vdso-patch").is_some()),
        "{applied:?}"
    );
    let report = std::fs::read_to_string(r.dir.join("report.html")).expect("report.html");
    assert!(
        report.contains("rate 4x on") && report.contains("by vdso-patch"),
        "the report says what the clock fault did"
    );
}

#[test]
fn etcd_lock_with_the_leader_clock_at_4x_loses_mutual_exclusion() {
    let Some(r) = fast_leader_clock("lock").run_or_skip() else {
        return;
    };
    assert_clock_reached_etcd_through_the_vdso(&r);
    let types = anomaly_types(&r.results);
    assert!(
        types.iter().any(|t| t == "lost-mutual-exclusion"),
        "a leader clock at 4x expires 2 s leases in 0.5 s: expected lost-mutual-exclusion, \
         got {types:?} (exit {}); stdout:\n{}",
        r.code,
        r.stdout
    );
    assert_explained(&r);
}

/// The fenced twin of the clock finding, with a holder stalled in the same
/// window (`clock+client-pause`): stale holders do write while the fast
/// leader clock lets the lock be granted again, and the revision check
/// refuses them.
#[test]
fn etcd_fenced_writes_refuse_stale_holders_with_the_leader_clock_at_4x() {
    let Some(r) = fast_leader_clock("fenced")
        .nemesis("clock+client-pause")
        .run_or_skip()
    else {
        return;
    };
    assert_clock_reached_etcd_through_the_vdso(&r);
    // Each window starts the clock, then stalls a holder, and undoes them in
    // reverse: both faults are in force together.
    let fs = nemesis_fs(&r.history);
    let windows: Vec<&[String]> = fs
        .split(|f| f == "heal")
        .next()
        .expect("records before the heal")
        .chunks(4)
        .collect();
    assert!(!windows.is_empty(), "no fault window: {fs:?}");
    for w in &windows {
        assert_eq!(
            w,
            &[
                "start-clock",
                "start-client-pause",
                "stop-client-pause",
                "stop-clock"
            ],
            "{fs:?}"
        );
    }
    let types = anomaly_types(&r.results);
    assert!(
        !types
            .iter()
            .any(|t| t == "stale-token-accepted" || t == "lost-update"),
        "the revision-checked write must keep the resource safe, got {types:?}; stdout:\n{}",
        r.stdout
    );
    let writes = |kind: &str| {
        r.history
            .lines()
            .filter(|l| l.contains(&format!(r#""type":"{kind}""#)) && l.contains(r#""f":"write""#))
            .count()
    };
    assert!(
        writes("ok") > 0,
        "no fenced write was acknowledged: the twin proves nothing"
    );
    assert!(
        writes("fail") > 0,
        "no stale write was refused: the stalled holder never wrote; stdout:\n{}",
        r.stdout
    );
}
