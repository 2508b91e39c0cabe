//! clockinject on real processes of this host: a Python probe started
//! without any preload has its vDSO patched while it runs, reads the skew
//! clockctl publishes from every thread, and gets its original vDSO bytes
//! back on restore. (Go programs, which are why the injector exists, are
//! proved on etcd in the docker crate's tests.)

mod common;

use std::process::Output;
use std::thread;
use std::time::Duration;

use common::*;
use splitbrain_clockshim::ClockState;

fn text(out: &Output) -> String {
    format!(
        "status {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs clockinject and returns its stdout, asserting the exit status.
fn inject(node: &Node, args: &[&str], status: i32) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = node.clockinject(&args);
    assert_eq!(
        out.status.code(),
        Some(status),
        "clockinject {args:?}: {}",
        text(&out)
    );
    String::from_utf8(out.stdout).expect("clockinject prints ASCII")
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// The first bytes of each vDSO clock function, as `show` prints them.
fn vdso_bytes(node: &Node, pid: &str) -> Vec<(String, String)> {
    let line = inject(node, &["show", pid], 0);
    ["clock_gettime", "gettimeofday", "time"]
        .iter()
        .filter_map(|k| Some((k.to_string(), field(&line, k)?.to_string())))
        .collect()
}

fn started_probe(node: &Node) -> (Probe, String) {
    node.set(ClockState::REAL);
    let mut probe = Probe::start(python3());
    // One answer means the interpreter is up and reading clocks.
    probe.sample();
    let pid = probe.pid().to_string();
    (probe, pid)
}

#[test]
fn a_bump_reaches_every_thread_of_a_patched_process_and_restore_puts_the_original_bytes_back() {
    let node = Node::new();
    let (mut probe, pid) = started_probe(&node);
    let pristine = vdso_bytes(&node, "self");
    assert!(
        pristine.iter().any(|(k, _)| k == "clock_gettime"),
        "the vDSO has clock_gettime: {pristine:?}"
    );
    assert_eq!(vdso_bytes(&node, &pid), pristine, "an untouched process");

    let state = node.state_path();
    let patched = inject(&node, &["patch", &pid, state.to_str().expect("utf-8")], 0);
    assert!(patched.starts_with("patched "), "{patched}");
    assert_ne!(
        vdso_bytes(&node, &pid),
        pristine,
        "the entries now jump to the blob"
    );
    bracketed_sample(&node, &mut probe).assert_wall_offset(0, "patched, real state");

    node.set(ClockState::offset(60 * SEC_NS));
    let s = bracketed_sample(&node, &mut probe);
    s.assert_wall_offset(60 * SEC_NS, "bump through the patched vDSO");
    s.assert_mono_real("a bump leaves monotonic alone");
    let before = real_wall_ns();
    let walls = probe.thread_walls(4);
    let after = real_wall_ns();
    assert_eq!(walls.len(), 4);
    for w in &walls {
        let shifted = w - 60 * SEC_NS;
        assert!(
            (before..=after).contains(&shifted),
            "a new thread read {w}, which minus 60 s is outside real [{before}, {after}]"
        );
    }

    node.set(ClockState::REAL);
    let restored = inject(&node, &["restore", &pid], 0);
    assert!(restored.starts_with("restored "), "{restored}");
    assert_eq!(field(&restored, "unmapped"), Some("yes"), "{restored}");
    assert_eq!(
        vdso_bytes(&node, &pid),
        pristine,
        "the original bytes, read back"
    );
    let s = bracketed_sample(&node, &mut probe);
    s.assert_wall_offset(0, "after restore");
    node.set(ClockState::offset(30 * SEC_NS));
    bracketed_sample(&node, &mut probe)
        .assert_wall_offset(0, "a restored process ignores the state");
}

#[test]
fn a_rate_speeds_the_patched_monotonic_clock_and_restore_keeps_the_patch_while_it_is_ahead() {
    let node = Node::new();
    let (mut probe, pid) = started_probe(&node);
    let state = node.state_path();
    inject(&node, &["patch", &pid, state.to_str().expect("utf-8")], 0);
    node.set_rate(2.0);
    let first = bracketed_sample(&node, &mut probe);
    thread::sleep(Duration::from_millis(600));
    let second = bracketed_sample(&node, &mut probe);
    let fake = second.mono - first.mono;
    let real_min = second.mono_before - first.mono_after;
    let real_max = second.mono_after - first.mono_before;
    assert!(
        fake >= 2 * real_min && fake <= 2 * real_max,
        "at rate 2 monotonic advanced {fake} ns while real time advanced {real_min}..{real_max} ns"
    );

    node.set(ClockState::REAL);
    let kept = inject(&node, &["restore", &pid], 3);
    let ahead: i64 = field(&kept, "monotonic_ahead_ns")
        .expect("kept names the lead")
        .parse()
        .expect("integer");
    assert!(ahead > 500_000_000, "{kept}");
    let held = bracketed_sample(&node, &mut probe);
    assert!(
        held.mono > held.mono_after,
        "still patched, the monotonic clock keeps its lead: {} vs real {}",
        held.mono,
        held.mono_after
    );

    let forced = inject(&node, &["restore", &pid, "--force"], 0);
    assert!(forced.starts_with("restored "), "{forced}");
    bracketed_sample(&node, &mut probe).assert_mono_real("after a forced restore");
}

#[test]
fn patching_twice_does_not_stack_the_skew() {
    let node = Node::new();
    let (mut probe, pid) = started_probe(&node);
    let state = node.state_path();
    let path = state.to_str().expect("utf-8");
    let first = inject(&node, &["patch", &pid, path], 0);
    let second = inject(&node, &["patch", &pid, path], 0);
    assert!(second.starts_with("already "), "{second}");
    assert_eq!(field(&first, "blob"), field(&second, "blob"));
    node.set(ClockState::offset(10 * SEC_NS));
    bracketed_sample(&node, &mut probe).assert_wall_offset(10 * SEC_NS, "patched twice");
}

#[test]
fn restore_of_an_unpatched_process_changes_nothing() {
    let node = Node::new();
    let (_probe, pid) = started_probe(&node);
    let before = vdso_bytes(&node, &pid);
    let out = inject(&node, &["restore", &pid], 0);
    assert!(out.starts_with("not-patched "), "{out}");
    assert_eq!(vdso_bytes(&node, &pid), before);
}

#[test]
fn bad_input_is_refused_with_a_reason_and_the_process_is_left_alone() {
    let node = Node::new();
    let (mut probe, pid) = started_probe(&node);
    let before = vdso_bytes(&node, &pid);
    inject(&node, &["patch", &pid, "relative/path"], 2);
    inject(&node, &["patch", "not-a-pid", "/x"], 2);
    inject(&node, &["frobnicate", &pid], 2);
    let missing = node.path("missing");
    let out = node.clockinject(&[
        "patch".to_string(),
        pid.clone(),
        missing.to_str().expect("utf-8").to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed to stat the state file"),
        "{}",
        text(&out)
    );
    assert_eq!(vdso_bytes(&node, &pid), before, "nothing was patched");
    bracketed_sample(&node, &mut probe).assert_wall_offset(0, "after refusals");
}

/// A process can be both preloaded and patched (a cgo program: the patch
/// reaches its Go runtime, the shim its C code). The shim reads the kernel
/// directly once the vDSO is patched, so the skew is applied once.
#[test]
fn a_preloaded_process_that_is_also_patched_sees_the_skew_once() {
    let node = Node::new();
    node.set(ClockState::REAL);
    let mut probe = shimmed_probe(&node);
    probe.sample();
    let pid = probe.pid().to_string();
    let state = node.state_path();
    inject(&node, &["patch", &pid, state.to_str().expect("utf-8")], 0);
    node.set(ClockState::offset(10 * SEC_NS));
    bracketed_sample(&node, &mut probe).assert_wall_offset(10 * SEC_NS, "shim and patch together");
}
