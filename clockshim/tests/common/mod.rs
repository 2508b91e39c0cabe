//! What the clock tests share: a stand-in for one node (a temporary
//! directory with the shim, clockctl, clockinject and a state file) and a
//! long-lived Python probe whose clock reads are bracketed by real ones.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use splitbrain_clockshim::{
    ClockRecord, ClockState, CLOCKCTL, CLOCKINJECT, RECORD_LEN, SHIM_FILE_ENV, SHIM_SO,
};

pub const SEC_NS: i64 = 1_000_000_000;
pub const PROBE_REPLY_TIMEOUT_MS: u64 = 10_000;
pub const CLOCKCTL_TIMEOUT_MS: u64 = 10_000;
pub const STROBE_WATCH_MS: u64 = 10_000;

/// A stand-in for one node: the shim, clockctl and a state file in a
/// temporary directory.
pub struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("failed to create a temporary directory");
        std::fs::write(dir.path().join("libclockshim.so"), SHIM_SO).expect("failed to write shim");
        let ctl = dir.path().join("clockctl");
        std::fs::write(&ctl, CLOCKCTL).expect("failed to write clockctl");
        std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755))
            .expect("failed to make clockctl executable");
        let inject = dir.path().join("clockinject");
        std::fs::write(&inject, CLOCKINJECT).expect("failed to write clockinject");
        std::fs::set_permissions(&inject, std::fs::Permissions::from_mode(0o755))
            .expect("failed to make clockinject executable");
        Self { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn state_path(&self) -> PathBuf {
        // A subdirectory clockctl has to create.
        self.path("run/clock")
    }

    /// `program` with the shim preloaded and pointed at this node's state.
    pub fn shimmed(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("LD_PRELOAD", self.path("libclockshim.so"))
            .env(SHIM_FILE_ENV, self.state_path());
        c
    }

    pub fn clockctl(&self, args: &[String]) -> std::process::Output {
        self.helper("clockctl", args)
    }

    pub fn clockinject(&self, args: &[String]) -> std::process::Output {
        self.helper("clockinject", args)
    }

    fn helper(&self, name: &str, args: &[String]) -> std::process::Output {
        let mut child = spawn_retrying_busy(
            Command::new(self.path(name))
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let deadline = Instant::now() + Duration::from_millis(CLOCKCTL_TIMEOUT_MS);
        while child.try_wait().expect("failed to poll clockctl").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{name} {args:?} did not finish in {CLOCKCTL_TIMEOUT_MS} ms");
            }
            thread::sleep(Duration::from_millis(1));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("failed to collect {name} output: {e}"))
    }

    pub fn set(&self, state: ClockState) {
        let argv = state
            .clockctl_set_argv("unused", self.state_path().to_str().expect("utf-8 path"))
            .expect("test states are valid");
        let out = self.clockctl(&argv[1..]);
        assert!(
            out.status.success(),
            "clockctl set failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Real time running at `rate` times its speed.
    pub fn set_rate(&self, rate: f64) {
        self.set(ClockState {
            rate,
            ..ClockState::REAL
        });
    }

    pub fn record(&self) -> ClockRecord {
        let bytes = std::fs::read(self.state_path()).expect("failed to read the state file");
        let mut head = [0u8; RECORD_LEN];
        head.copy_from_slice(&bytes[..RECORD_LEN]);
        ClockRecord::decode(&head)
    }
}

/// Tests run in parallel threads: while one writes its fresh clockctl,
/// another may fork, and the child holds the write descriptor until it
/// execs, so exec of the new file can briefly fail with ETXTBSY.
pub fn spawn_retrying_busy(cmd: &mut Command) -> Child {
    const ETXTBSY: i32 = 26;
    const ATTEMPTS: u32 = 100;
    for _ in 1..ATTEMPTS {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => thread::sleep(Duration::from_millis(10)),
            other => return other.expect("failed to start a clock helper"),
        }
    }
    cmd.spawn().expect("failed to start a clock helper")
}

pub fn real_wall_ns() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the host clock is after 1970");
    i64::try_from(d.as_nanos()).expect("fits until 2262")
}

/// Real CLOCK_MONOTONIC, read by the static clockctl (std's Instant hides
/// its value, and clockctl shares the kernel clock with every process).
pub fn real_mono_ns(node: &Node) -> i64 {
    let out = node.clockctl(&["now".to_owned()]);
    let text = String::from_utf8(out.stdout).expect("clockctl prints ASCII");
    let field = text
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("monotonic_ns="))
        .expect("clockctl now prints monotonic_ns");
    field.parse().expect("monotonic_ns is an integer")
}

/// A long-lived Python process that answers commands on stdin, so that a
/// state change can be observed without restarting it.
pub const PROBE_PY: &str = r#"
import sys, time
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "sample":
        print(time.time_ns(), time.monotonic_ns(), flush=True)
    elif cmd[0] == "threads":
        # The wall clock as each of several new threads reads it.
        import threading
        seen = []
        ts = [threading.Thread(target=lambda: seen.append(time.time_ns())) for _ in range(int(cmd[1]))]
        for t in ts: t.start()
        for t in ts: t.join()
        print(*seen, flush=True)
    elif cmd[0] == "watch":
        # Reads both clocks in a tight loop for a while: counts monotonic
        # steps back and collects the distinct wall-minus-monotonic values
        # (whole seconds relative to the first read).
        end = time.monotonic() + float(cmd[1])
        first = None
        last_mono = 0
        back = 0
        reads = 0
        seen = set()
        while True:
            wall = time.time_ns()
            mono = time.monotonic_ns()
            reads += 1
            if mono < last_mono:
                back += 1
            last_mono = mono
            if first is None:
                first = wall - mono
            seen.add(round((wall - mono - first) / 1e9))
            if mono / 1e9 > end:
                break
        print(reads, back, ",".join(str(s) for s in sorted(seen)), flush=True)
"#;

pub struct Probe {
    child: Child,
    pub stdin: ChildStdin,
    pub lines: Receiver<String>,
}

impl Probe {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .args(["-u", "-c", PROBE_PY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("failed to start python3 (the tests need it on PATH)");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
        }
    }

    pub fn ask(&mut self, command: &str, timeout_ms: u64) -> String {
        writeln!(self.stdin, "{command}").expect("failed to write to the probe");
        self.lines
            .recv_timeout(Duration::from_millis(timeout_ms))
            .unwrap_or_else(|e| panic!("probe gave no answer to {command:?}: {e}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wall clock readings from `n` threads started for the purpose.
    pub fn thread_walls(&mut self, n: usize) -> Vec<i64> {
        self.ask(&format!("threads {n}"), PROBE_REPLY_TIMEOUT_MS)
            .split_whitespace()
            .map(|f| f.parse::<i64>().expect("integer"))
            .collect()
    }

    /// (wall ns, monotonic ns) as the probed process reads them.
    pub fn sample(&mut self) -> (i64, i64) {
        let line = self.ask("sample", PROBE_REPLY_TIMEOUT_MS);
        let mut it = line
            .split_whitespace()
            .map(|f| f.parse::<i64>().expect("integer"));
        (it.next().expect("wall"), it.next().expect("mono"))
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Samples the probe between two real readings of both clocks.
pub struct Bracketed {
    pub wall: i64,
    pub mono: i64,
    pub wall_before: i64,
    pub wall_after: i64,
    pub mono_before: i64,
    pub mono_after: i64,
}

/// A Python probe of the clocks, started under `node`'s shim.
pub fn shimmed_probe(node: &Node) -> Probe {
    Probe::start(node.shimmed("python3"))
}

/// A probe started at real time, whose clocks then run at `rate`.
pub fn probe_at_rate(node: &Node, rate: f64) -> Probe {
    node.set(ClockState::REAL);
    let probe = shimmed_probe(node);
    node.set_rate(rate);
    probe
}

pub fn bracketed_sample(node: &Node, probe: &mut Probe) -> Bracketed {
    let mono_before = real_mono_ns(node);
    let wall_before = real_wall_ns();
    let (wall, mono) = probe.sample();
    let wall_after = real_wall_ns();
    let mono_after = real_mono_ns(node);
    Bracketed {
        wall,
        mono,
        wall_before,
        wall_after,
        mono_before,
        mono_after,
    }
}

impl Bracketed {
    pub fn assert_wall_offset(&self, offset_ns: i64, what: &str) {
        let shifted = self.wall - offset_ns;
        assert!(
            (self.wall_before..=self.wall_after).contains(&shifted),
            "{what}: wall {} minus offset {offset_ns} is outside real [{}, {}]",
            self.wall,
            self.wall_before,
            self.wall_after
        );
    }

    /// Both clocks read real time.
    pub fn assert_real(&self, what: &str) {
        self.assert_wall_offset(0, what);
        self.assert_mono_real(what);
    }

    pub fn assert_mono_real(&self, what: &str) {
        assert!(
            (self.mono_before..=self.mono_after).contains(&self.mono),
            "{what}: monotonic {} is outside real [{}, {}]",
            self.mono,
            self.mono_before,
            self.mono_after
        );
    }
}

pub fn python3() -> Command {
    Command::new("python3")
}
