//! What the local etcd and Redis clusters share: nodes on loopback
//! addresses of their own, ports free on all of them, service processes
//! started from a target's own command, and the wait for them to answer.

use std::fmt::Display;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use splitbrain_checkers::history::F;
use splitbrain_targets::client::Invocation;
use splitbrain_targets::target::{NodeAddr, ServiceCommand, Target};

const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Nodes n1 to n`size`, each on its own loopback address (127.0.0.1, .2,
/// ...) so that all of them can listen on the same ports.
pub fn nodes(size: u8) -> Vec<NodeAddr> {
    (1..=size)
        .map(|i| NodeAddr {
            name: format!("n{i}"),
            ip: Ipv4Addr::new(127, 0, 0, i),
        })
        .collect()
}

/// Two distinct ports free on every node's loopback address.
pub fn free_ports(nodes: &[NodeAddr]) -> (u16, u16) {
    loop {
        let first = any_port();
        let second = any_port();
        if first != second
            && [first, second]
                .iter()
                .all(|&p| bindable_everywhere(nodes, p))
        {
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

/// Starts `cmd` with its output in `log`; `installed` names what must be
/// installed for it to start.
pub fn spawn(cmd: &ServiceCommand, log: File, installed: &str) -> Child {
    Command::new(&cmd.argv[0])
        .args(&cmd.argv[1..])
        .envs(cmd.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect(installed)
}

/// Sends `signal` (STOP, CONT, KILL) to `pid` with the shell's builtin
/// kill: no procps needed on a minimal machine.
pub fn signal(signal: &str, pid: impl Display) -> std::io::Result<ExitStatus> {
    Command::new("sh")
        .args(["-c", &format!("kill -{signal} {pid}")])
        .status()
}

/// How long a node may take to answer its target's probe after a start,
/// and how often to ask it meanwhile.
pub struct Readiness {
    pub timeout: Duration,
    pub poll: Duration,
}

impl Readiness {
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Waits until `node` answers `target`'s probe. Past `deadline` it
    /// panics with `log()`, the node's output, to show why.
    pub async fn wait(
        &self,
        target: &impl Target,
        node: &NodeAddr,
        deadline: Instant,
        log: impl Fn() -> String,
    ) {
        loop {
            match target.probe(node, PROBE_TIMEOUT).await {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!(
                    "{} not ready after {:?}: {e}\n{}",
                    node.name,
                    self.timeout,
                    log()
                ),
                Err(_) => tokio::time::sleep(self.poll).await,
            }
        }
    }
}

pub fn inv(f: F, key: &str, token: Option<u64>, value: Option<serde_json::Value>) -> Invocation {
    Invocation {
        f,
        key: key.to_string(),
        token,
        value,
    }
}
