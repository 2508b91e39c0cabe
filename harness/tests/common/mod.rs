//! What the end-to-end campaign tests share: running the real `splitbrain`
//! binary into a fresh results directory and reading back what it stored.
//!
//! Campaigns need the Docker engine. With CI=true a missing engine fails
//! them; elsewhere they print a loud SKIP and return.

#![allow(
    dead_code,
    reason = "each test binary that includes this module uses a different subset of it"
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;
use tempfile::TempDir;

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
    /// Keeps the results directory until the test is done with `dir`.
    _results: TempDir,
}

/// One `splitbrain run` campaign, built from the flags a test cares about.
///
/// Every campaign pins `--seed` and `--recovery` (1 and 5 unless a test sets
/// them) so that a failure reproduces with the same fault schedule. Any
/// other flag is passed only when set, so the binary's default applies.
pub struct Campaign {
    flags: Vec<(&'static str, String)>,
}

impl Campaign {
    pub fn new(target: &str) -> Self {
        Campaign { flags: Vec::new() }
            .flag("--target", target)
            .seed(1)
            .recovery_s(5)
    }

    /// The client-pause campaign shared by the fenced and append twins: a
    /// 2 s lease that a paused holder outlives. A Redis target keeps its
    /// default persistence, none.
    pub fn client_pause(target: &str, workload: &str) -> Self {
        Campaign::new(target)
            .workload(workload)
            .nemesis("client-pause")
            .nemesis_interval_s(5)
            .time_limit_s(40)
            .lease_ms(2000)
            .concurrency(5)
    }

    /// A later value replaces an earlier one, so that a test can override
    /// the pinned seed and recovery window.
    fn flag(mut self, name: &'static str, value: impl ToString) -> Self {
        let value = value.to_string();
        match self.flags.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.flags.push((name, value)),
        }
        self
    }

    pub fn workload(self, workload: &str) -> Self {
        self.flag("--workload", workload)
    }

    pub fn nodes(self, nodes: u32) -> Self {
        self.flag("--nodes", nodes)
    }

    pub fn nemesis(self, nemesis: &str) -> Self {
        self.flag("--nemesis", nemesis)
    }

    pub fn nemesis_interval_s(self, seconds: u32) -> Self {
        self.flag("--nemesis-interval", seconds)
    }

    pub fn time_limit_s(self, seconds: u32) -> Self {
        self.flag("--time-limit", seconds)
    }

    pub fn recovery_s(self, seconds: u32) -> Self {
        self.flag("--recovery", seconds)
    }

    pub fn lease_ms(self, ms: u32) -> Self {
        self.flag("--lease-ms", ms)
    }

    pub fn concurrency(self, clients: u32) -> Self {
        self.flag("--concurrency", clients)
    }

    pub fn seed(self, seed: u64) -> Self {
        self.flag("--seed", seed)
    }

    pub fn clock(self, fault: &str) -> Self {
        self.flag("--clock", fault)
    }

    pub fn victims(self, victims: &str) -> Self {
        self.flag("--victims", victims)
    }

    pub fn topology(self, topology: &str) -> Self {
        self.flag("--topology", topology)
    }

    pub fn hold_ms(self, min: u32, max: u32) -> Self {
        self.flag("--hold-ms", format!("{min}:{max}"))
    }

    pub fn keys(self, keys: u32) -> Self {
        self.flag("--keys", keys)
    }

    pub fn redis_persistence(self, persistence: &str) -> Self {
        self.flag("--redis-persistence", persistence)
    }

    /// Runs the campaign, or returns `None` after the loud SKIP when the
    /// Docker engine is unreachable (with CI=true that fails instead).
    pub fn run_or_skip(&self) -> Option<Run> {
        if !docker_available() {
            return None;
        }
        let args: Vec<&str> = self
            .flags
            .iter()
            .flat_map(|(name, value)| [*name, value.as_str()])
            .collect();
        Some(run(&args))
    }
}

/// Runs `splitbrain run` with `args` into a fresh results directory.
pub fn run(args: &[&str]) -> Run {
    let results_root = tempfile::tempdir().unwrap();
    let root = results_root.path();
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
        _results: results_root,
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

/// Records of the history, parsed.
pub fn records(history: &str) -> Vec<Value> {
    history
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
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

/// run.json and results.json as the run wrote them read back into the
/// records crate's types and write back as the same JSON: the types are
/// the format.
pub fn assert_records_round_trip(r: &Run) {
    fn same<T: serde::de::DeserializeOwned + serde::Serialize>(path: PathBuf) {
        let stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let typed: T = serde_json::from_value(stored.clone())
            .unwrap_or_else(|e| panic!("{} does not read as its record: {e}", path.display()));
        assert_eq!(
            serde_json::to_value(&typed).unwrap(),
            stored,
            "{}",
            path.display()
        );
    }
    same::<splitbrain_records::RunRecord>(r.dir.join("run.json"));
    same::<splitbrain_records::ResultsRecord>(r.dir.join("results.json"));
}
