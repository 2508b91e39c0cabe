//! What the end-to-end campaign tests share: running the real `splitbrain`
//! binary into a fresh results directory and reading back what it stored.
//!
//! Campaigns need the Docker engine. With CI=true a missing engine fails
//! them; elsewhere they print a loud SKIP and return.

// Each test binary that includes this module uses a different subset of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

pub fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("the Docker engine is not reachable and CI=true: Docker-backed tests must run");
        }
        eprintln!("SKIP: the Docker engine is not reachable; skipping a Docker-backed test");
    }
    ok
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub results: Value,
    pub history: String,
    pub dir: PathBuf,
}

/// Runs `splitbrain run` with `args` into a fresh results directory.
pub fn run(root: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("run")
        .args(["--results", root.to_str().unwrap()])
        .args(args)
        .output()
        .expect("failed to start splitbrain");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code().unwrap_or(-1);
    eprintln!(
        "campaign {args:?} exited {code} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        stdout.starts_with("seed: "),
        "the seed must print first; stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let dir = std::fs::canonicalize(root.join("latest")).unwrap_or_else(|e| {
        panic!("no run directory ({e}); exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}")
    });
    let results: Value = serde_json::from_slice(
        &std::fs::read(dir.join("results.json")).unwrap_or_else(|e| {
            panic!("no results.json ({e}); exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}")
        }),
    )
    .expect("results.json is JSON");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).expect("history.jsonl");
    Run {
        code,
        stdout,
        results,
        history,
        dir,
    }
}

pub fn anomaly_types(results: &Value) -> Vec<String> {
    results["anomalies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["type"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A verdict a person can act on: anomalies carry their explanation and
/// proving ops, an unknown verdict says why.
pub fn assert_explained(r: &Run) {
    match &r.results["valid"] {
        Value::Bool(true) => assert_eq!(r.code, 0),
        Value::Bool(false) => {
            assert_eq!(r.code, 1);
            for a in r.results["anomalies"].as_array().expect("anomalies") {
                assert!(!a["explanation"].as_str().unwrap_or("").is_empty(), "{a}");
                assert!(!a["ops"].as_array().expect("ops").is_empty(), "{a}");
            }
        }
        Value::String(s) if s == "unknown" => {
            assert_eq!(r.code, 2);
            assert!(
                r.results["reason"].as_str().is_some_and(|s| !s.is_empty()),
                "an unknown verdict must say why: {}",
                r.results
            );
        }
        other => panic!("valid must be true, false or \"unknown\", got {other}"),
    }
}

/// The `f` of every nemesis record, in order.
pub fn nemesis_fs(history: &str) -> Vec<String> {
    history
        .lines()
        .filter(|l| l.contains(r#""process":"nemesis""#))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["f"].as_str().map(str::to_string))
        .collect()
}
