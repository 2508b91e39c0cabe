//! Manifests: the example parses into the service command the harness runs,
//! and each kind of bad manifest is refused with an error naming its field.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use splitbrain_targets::adapter::AdapterTarget;
use splitbrain_targets::manifest::{Manifest, ManifestError, Source};
use splitbrain_targets::target::{NodeAddr, Target};
use splitbrain_vocab::FaultKind;

const GOOD: &str = r#"
name = "my-locks"
protocol = 1
binary = "my-locks"
command = ["{binary}", "--node", "{node}", "--listen", "{ip}:{port}", "--peers", "{peers}", "--data-dir", "{data_dir}"]
process_name = "my-locks"
port = 7100
data_dir = "/var/lib/splitbrain/{node}"
faults = ["partition", "kill", "pause", "client-pause"]
[env]
MY_LOCKS_NODE = "{node}"
"#;

/// A directory holding an executable `my-locks`, and the manifest path in it.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("my-locks"), b"#!/bin/sh\n").expect("write binary");
    let path = dir.path().join("my-locks.toml");
    (dir, path)
}

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    let (dir, path) = workspace();
    let result = Manifest::from_str_at(text, &path, dir.path());
    drop(dir);
    result
}

fn nodes() -> Vec<NodeAddr> {
    (1..=3)
        .map(|i| NodeAddr {
            name: format!("n{i}"),
            ip: Ipv4Addr::new(10, 9, 0, i),
        })
        .collect()
}

#[test]
fn a_good_manifest_expands_into_each_nodes_command() {
    let (dir, path) = workspace();
    std::fs::write(&path, GOOD).expect("write manifest");
    let target = AdapterTarget::from_manifest_file(&path).expect("a good manifest");
    let nodes = nodes();
    let cmd = target.service(&nodes[1], &nodes);
    assert_eq!(
        cmd.argv,
        [
            "/usr/local/bin/my-locks",
            "--node",
            "n2",
            "--listen",
            "10.9.0.2:7100",
            "--peers",
            "n1=10.9.0.1:7100,n2=10.9.0.2:7100,n3=10.9.0.3:7100",
            "--data-dir",
            "/var/lib/splitbrain/n2",
        ]
    );
    assert_eq!(
        cmd.env,
        vec![("MY_LOCKS_NODE".to_string(), "n2".to_string())]
    );
    assert_eq!(cmd.process_name, "my-locks");
    let uploads = target.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].host_path, dir.path().join("my-locks"));
    assert_eq!(uploads[0].node_path, "/usr/local/bin/my-locks");
    assert_eq!(uploads[0].mode, 0o755);
    assert_eq!(target.name(), "my-locks");
    let elsewhere = dir.path().join("built-elsewhere");
    std::fs::copy(dir.path().join("my-locks"), &elsewhere).expect("copy binary");
    let rebuilt = AdapterTarget::from_manifest_file_with_binary(&path, &elsewhere)
        .expect("override accepted")
        .uploads();
    assert_eq!(rebuilt[0].host_path, elsewhere);
    assert_eq!(rebuilt[0].node_path, "/usr/local/bin/my-locks");
}

#[test]
fn faults_left_out_are_not_offered() {
    let manifest = parse(GOOD).expect("a good manifest");
    let target = AdapterTarget::new(manifest);
    assert!(target.fault(FaultKind::Kill).applies() && target.fault(FaultKind::Pause).applies());
    assert!(target.allows(FaultKind::Partition) && target.allows(FaultKind::ClientPause));
    assert!(target
        .fault(FaultKind::Clock)
        .refusal()
        .is_some_and(|r| r.contains("does not list clock")));
}

#[test]
fn faults_applied_from_outside_are_refused_when_the_manifest_leaves_them_out() {
    let full = AdapterTarget::new(parse(GOOD).expect("a good manifest"));
    for fault in ["partition", "packet", "client-pause", "kill"] {
        let kind: FaultKind = fault.parse().unwrap();
        assert_eq!(full.fault(kind).refusal(), None, "{fault}");
    }
    let narrow = AdapterTarget::new(
        parse(&GOOD.replace(
            r#"faults = ["partition", "kill", "pause", "client-pause"]"#,
            r#"faults = ["kill"]"#,
        ))
        .expect("a manifest listing only kill"),
    );
    for (fault, listed) in [
        ("partition", "partition"),
        ("packet", "partition"),
        ("client-pause", "client-pause"),
    ] {
        let refusal = narrow
            .fault(fault.parse().unwrap())
            .refusal()
            .unwrap_or_else(|| panic!("{fault} must be refused"));
        assert!(
            refusal.contains(&format!("does not list {listed}")),
            "{refusal}"
        );
    }
    // Faults the manifest lists apply; the rest are refused.
    assert_eq!(narrow.fault(FaultKind::Kill).refusal(), None);
    assert!(!narrow.fault(FaultKind::Pause).applies());
}

#[test]
fn the_example_manifest_describes_the_reference_service() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-service.toml");
    let text = std::fs::read_to_string(&example).expect("read the example");
    // The example points at a release build that may not exist here.
    let (dir, _) = workspace();
    let text = text.replace(
        "../target/release/splitbrain-lockservice",
        &dir.path().join("my-locks").display().to_string(),
    );
    let manifest = Manifest::from_str_at(&text, &example, dir.path()).expect("the example parses");
    assert_eq!(manifest.name, "reference-safe");
    assert_eq!(manifest.faults, FaultKind::ALL.to_vec());
    assert_eq!(manifest.process_name, "splitbrain-lock");
    assert!(matches!(manifest.source, Source::Binary { .. }));
}

#[test]
fn every_reference_mode_has_a_manifest_naming_its_mode() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let (dir, _) = workspace();
    for mode in [
        "safe",
        "no-fencing",
        "volatile-tokens",
        "wallclock-lease",
        "async-replica",
        "bully",
    ] {
        let file = match mode {
            "safe" => "reference-service.toml".to_string(),
            _ => format!("reference-{mode}.toml"),
        };
        let path = examples.join(&file);
        let text = std::fs::read_to_string(&path).expect("read the example");
        let text = text.replace(
            "../target/release/splitbrain-lockservice",
            &dir.path().join("my-locks").display().to_string(),
        );
        let manifest = Manifest::from_str_at(&text, &path, dir.path()).expect("the example parses");
        assert_eq!(manifest.name, format!("reference-{mode}"));
        let at = manifest
            .command
            .iter()
            .position(|a| a == "--mode")
            .expect("a --mode argument");
        assert_eq!(manifest.command[at + 1], mode, "{file}");
    }
}

/// The field a bad manifest's error names.
fn refused_field(text: &str) -> String {
    match parse(text) {
        Err(ManifestError::Field { field, reason, .. }) => format!("{field}: {reason}"),
        Err(ManifestError::Parse { message, .. }) => format!("parse: {message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn bad_manifests_are_refused_naming_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("name = \"my-locks\"", "name = \"my locks!\"", "name:"),
        ("protocol = 1", "protocol = 2", "protocol: version 2"),
        (
            "binary = \"my-locks\"",
            "binary = \"missing\"",
            "binary: no file at",
        ),
        ("binary = \"my-locks\"", "", "binary: give either"),
        (
            "binary = \"my-locks\"",
            "binary = \"my-locks\"\nimage = \"x:1\"",
            "not both",
        ),
        (
            "\"{data_dir}\"]",
            "\"{datadir}\"]",
            "command: unknown placeholder {datadir}",
        ),
        (
            "command = [",
            "command = [] #",
            "command: must name a program",
        ),
        (
            "process_name = \"my-locks\"",
            "process_name = \"/bin/x\"",
            "process_name:",
        ),
        ("port = 7100", "port = 0", "port:"),
        (
            "data_dir = \"/var/lib/splitbrain/{node}\"",
            "data_dir = \"rel\"",
            "data_dir:",
        ),
        (
            "\"client-pause\"]",
            "\"client-pause\", \"meteor\"]",
            "unknown variant `meteor`",
        ),
        (
            "MY_LOCKS_NODE = \"{node}\"",
            "MY_LOCKS_NODE = \"{nod}\"",
            "env: MY_LOCKS_NODE",
        ),
        (
            "port = 7100",
            "port = 7100\ncolour = \"red\"",
            "unknown field `colour`",
        ),
        ("port = 7100", "", "missing field `port`"),
        (
            "port = 7100",
            "port = \"7100\"",
            "(port = \"7100\"): invalid type",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(GOOD.contains(from), "case {from:?} does not apply");
        let text = GOOD.replacen(from, to, 1);
        let error = refused_field(&text);
        assert!(error.contains(expected), "{from:?} -> {to:?}: {error}");
    }
}

#[test]
fn an_unreadable_manifest_names_the_file() {
    let error = AdapterTarget::from_manifest_file("/nonexistent/x.toml").expect_err("no file");
    assert!(error.to_string().contains("/nonexistent/x.toml"), "{error}");
    assert!(error.to_string().starts_with("failed to read the manifest"));
}

#[test]
fn a_binary_given_in_place_of_the_manifests_need_only_exist_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("svc.toml");
    std::fs::write(
        &manifest,
        GOOD.replace("\"my-locks\"\ncommand", "\"not-built-yet\"\ncommand"),
    )
    .expect("write manifest");
    let err = Manifest::from_file(&manifest).unwrap_err().to_string();
    assert!(
        err.contains("binary") && err.contains("not-built-yet"),
        "{err}"
    );
    let built = dir.path().join("built-elsewhere");
    std::fs::write(&built, b"#!/bin/sh\n").expect("write binary");
    let m = Manifest::from_file_with_binary(&manifest, Some(&built)).expect("override accepted");
    assert!(matches!(m.source, Source::Binary { ref host_path, .. } if host_path == &built));
    let missing = dir.path().join("missing");
    let err = Manifest::from_file_with_binary(&manifest, Some(&missing))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing") && err.contains("in place of"),
        "{err}"
    );
}
