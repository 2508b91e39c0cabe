//! Service processes on loopback addresses: each node its own address
//! (127.0.B.1, .2, ...) so that every node can listen on the same ports,
//! ports free on all of them, and one process per node that can be killed,
//! restarted, paused and resumed as the harness's faults do.

use std::fmt::Display;
use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use splitbrain_targets::target::NodeAddr;

/// Nodes n1 to n`size` on 127.0.0.1, .2, ...
pub fn nodes(size: u8) -> Vec<NodeAddr> {
    nodes_in(0, size)
}

/// Nodes n1 to n`size` on 127.0.`block`.1, .2, ...: a block of its own
/// keeps a test's addresses apart from every other test's.
pub fn nodes_in(block: u8, size: u8) -> Vec<NodeAddr> {
    (1..=size)
        .map(|i| NodeAddr {
            name: format!("n{i}"),
            ip: Ipv4Addr::new(127, 0, block, i),
        })
        .collect()
}

/// A port free on every node's address.
pub fn free_port(nodes: &[NodeAddr]) -> u16 {
    loop {
        let port = any_port();
        if bindable_everywhere(nodes, port) {
            return port;
        }
    }
}

/// Two distinct ports free on every node's address.
pub fn free_ports(nodes: &[NodeAddr]) -> (u16, u16) {
    loop {
        let (first, second) = (free_port(nodes), free_port(nodes));
        if first != second {
            return (first, second);
        }
    }
}

fn any_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn bindable_everywhere(nodes: &[NodeAddr], port: u16) -> bool {
    nodes
        .iter()
        .all(|n| TcpListener::bind(SocketAddrV4::new(n.ip, port)).is_ok())
}

/// Sends `signal` (STOP, CONT, KILL) to `pid` with the shell's builtin
/// kill: no procps needed on a minimal machine.
pub fn signal(signal: &str, pid: impl Display) -> std::io::Result<ExitStatus> {
    Command::new("sh")
        .args(["-c", &format!("kill -{signal} {pid}")])
        .status()
}

/// How to run one node's service: its command line, environment, and the
/// file its output goes to (appended to across restarts).
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    /// What must be installed for the command to start, for the panic
    /// message when it does not.
    pub installed: String,
}

/// One node's service process; killed when dropped.
#[derive(Debug)]
pub struct Process {
    spec: ProcessSpec,
    child: Option<Child>,
}

impl Process {
    pub fn start(spec: ProcessSpec) -> Process {
        let mut process = Process { spec, child: None };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .expect("failed to open the node's log");
        let child = Command::new(&self.spec.argv[0])
            .args(&self.spec.argv[1..])
            .envs(self.spec.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "failed to start {} ({e}): is {} installed?",
                    self.spec.argv[0], self.spec.installed
                )
            });
        self.child = Some(child);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running process").id()
    }

    /// SIGKILL, as the kill fault does: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A stopped process dies on SIGKILL too, but resuming first
            // leaves nothing to linger whatever the kernel's order.
            let _ = signal("CONT", child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process if it runs, and starts it again with the same command.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGSTOP (`stop == true`) or SIGCONT, as the pause fault does.
    pub fn pause(&self, stop: bool) {
        let signal_name = if stop { "STOP" } else { "CONT" };
        let status = signal(signal_name, self.pid()).expect("failed to run sh");
        assert!(status.success(), "kill -{signal_name} failed");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.spec.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How long a node may take to answer its probe after a start, and how
/// often to ask it meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Readiness {
    pub timeout: Duration,
    pub poll: Duration,
}

impl Readiness {
    /// Asks `probe` until it answers `Ok` or [`Readiness::timeout`] has
    /// passed since `since`; then panics with `what` and `log()`, the
    /// node's output, to show why.
    pub async fn wait<E, Fut>(
        &self,
        what: &str,
        since: Instant,
        mut probe: impl FnMut() -> Fut,
        log: impl Fn() -> String,
    ) where
        E: Display,
        Fut: Future<Output = Result<(), E>>,
    {
        let deadline = since + self.timeout;
        loop {
            match probe().await {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    panic!("{what} not ready after {:?}: {e}\n{}", self.timeout, log())
                }
                Err(_) => tokio::time::sleep(self.poll).await,
            }
        }
    }
}
