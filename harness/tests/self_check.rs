//! The self-check matrix: every planted bug in the reference lock service is
//! found with the right anomaly type, and the correct build passes every
//! fault (campaigns/self-check.toml), through `splitbrain campaign` as CI
//! would run it, JUnit report included.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn the_self_check_campaign_finds_every_planted_bug_and_passes_the_safe_build() {
    if !common::docker_available() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // Beside the splitbrain binary under test: the same build profile.
    let binary =
        Path::new(env!("CARGO_BIN_EXE_splitbrain")).with_file_name("splitbrain-lockservice");
    assert!(
        binary.is_file(),
        "{} is missing: the workspace's test build makes it (cargo build -p splitbrain-lockservice)",
        binary.display()
    );
    let results = tempfile::tempdir().unwrap();
    let junit = results.path().join("junit.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("campaign")
        .arg(repo.join("campaigns/self-check.toml"))
        .arg("--results")
        .arg(results.path())
        .arg("--junit")
        .arg(&junit)
        .output()
        .expect("failed to start splitbrain");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert_eq!(
        out.status.code(),
        Some(0),
        "an expectation was missed:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("8 of 8 expectations met"), "{stdout}");
    assert!(
        xml.contains(r#"tests="8""#) && xml.contains(r#"failures="0""#),
        "{xml}"
    );
}

#[test]
fn a_campaign_shard_runs_only_its_share_and_bad_files_exit_254() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[run]]\nname = \"x\"\nargs = [\"--workload\", \"mutex\"]\nexpect = \"valid\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("campaign")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml") && stderr.contains("mutex"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("campaign")
        .arg(repo.join("campaigns/self-check.toml"))
        .args(["--shard", "9/3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("9/3"));
}

/// Ctrl-C during a campaign: the current run heals, tears down and checks
/// what it recorded, no further run starts, and neither counts as met.
#[test]
fn an_interrupted_campaign_cleans_up_its_run_and_starts_no_other() {
    if !common::docker_available() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // Beside the splitbrain binary under test: the same build profile.
    let binary =
        Path::new(env!("CARGO_BIN_EXE_splitbrain")).with_file_name("splitbrain-lockservice");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.toml");
    std::fs::write(
        &file,
        format!(
            r#"[defaults]
args = ["--target-file", "{manifest}", "--service-binary", "{binary}",
        "--workload", "lock", "--nemesis", "none", "--time-limit", "60", "--concurrency", "2"]
[[run]]
name = "first"
args = []
expect = "valid"
[[run]]
name = "second"
args = []
expect = "valid"
"#,
            manifest = repo.join("examples/reference-service.toml").display(),
            binary = binary.display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("campaign")
        .arg(&file)
        .arg("--results")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("failed to start splitbrain");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // Interrupt once the first run has its cluster: its history has started.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    let run_dir = loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the first run never started: {seen:?}"));
        seen.push(line.clone());
        if let Some(d) = line.strip_prefix("run directory: ") {
            break std::path::PathBuf::from(d);
        }
    };
    let history = run_dir.join("history.jsonl");
    while !history.is_file() || std::fs::metadata(&history).unwrap().len() == 0 {
        assert!(
            Instant::now() < deadline,
            "no history in {}",
            run_dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let interrupted_at = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            interrupted_at.elapsed() < Duration::from_secs(60),
            "the campaign went on after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The reader ends at the end of the output: every line is in.
    let out: Vec<String> = seen.into_iter().chain(lines_rx.iter()).collect();
    let out = out.join("\n");
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("== [1] MISSED: interrupted before the run ended"),
        "{out}"
    );
    assert!(
        out.contains("== [2] second [seed 1]: not run, the campaign was interrupted"),
        "{out}"
    );
    assert!(out.contains("0 of 2 expectations met"), "{out}");
    // The interrupted run still checked what it recorded, and left nothing.
    assert!(run_dir.join("results.json").is_file(), "{out}");
    let run_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let run_id = run_json["run_id"].as_str().expect("run.json names its run");
    let left = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=splitbrain.run={run_id}"),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "containers of {run_id} left behind"
    );
}
