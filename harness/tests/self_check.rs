//! The self-check matrix: every planted bug in the reference lock service is
//! found with the right anomaly type, and the correct build passes every
//! fault (campaigns/self-check.toml), through `splitbrain campaign` as CI
//! would run it, JUnit report included.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn the_self_check_campaign_finds_every_planted_bug_and_passes_the_safe_build() {
    if !common::docker_available() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let binary = repo.join("target/debug/splitbrain-lockservice");
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
