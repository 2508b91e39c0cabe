//! Real etcd members on loopback, started from the target's own service
//! command, for the etcd target's tests.
//!
//! Each member gets its own loopback address (127.0.0.1, .2, .3 ...) so that
//! all of them can share one pair of ports picked free at random, and its own
//! data directory under a temporary root. Members are killed when the cluster
//! is dropped.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use splitbrain_checkers::history::F;
use splitbrain_targets::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use splitbrain_targets::etcd::{EtcdTarget, WriteMode};
use splitbrain_targets::target::{NodeAddr, ServiceCommand, Target};
use tempfile::TempDir;

/// How long a cluster may take to elect a leader and answer reads.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

pub struct LocalCluster {
    pub target: EtcdTarget,
    pub nodes: Vec<NodeAddr>,
    commands: Vec<ServiceCommand>,
    members: Vec<Option<Child>>,
    dir: TempDir,
}

impl LocalCluster {
    /// Starts `size` members and waits until every one answers a linearizable read.
    pub async fn start(size: u8, write_mode: WriteMode) -> LocalCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let nodes: Vec<NodeAddr> = (1..=size)
            .map(|i| NodeAddr {
                name: format!("n{i}"),
                ip: Ipv4Addr::new(127, 0, 0, i),
            })
            .collect();
        let (client_port, peer_port) = free_ports(&nodes);
        let target = EtcdTarget::new(write_mode)
            .with_ports(client_port, peer_port)
            .with_data_root(dir.path());
        let commands = nodes.iter().map(|n| target.service(n, &nodes)).collect();
        let mut cluster = LocalCluster {
            target,
            nodes,
            commands,
            members: Vec::new(),
            dir,
        };
        for i in 0..cluster.nodes.len() {
            let member = cluster.spawn(i);
            cluster.members.push(Some(member));
        }
        cluster.wait_ready().await;
        cluster
    }

    fn spawn(&self, i: usize) -> Child {
        let cmd = &self.commands[i];
        let log = File::create(self.dir.path().join(format!("{}.log", self.nodes[i].name)))
            .expect("member log file");
        Command::new(&cmd.argv[0])
            .args(&cmd.argv[1..])
            .envs(cmd.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("etcd is installed (Debian package etcd-server)")
    }

    /// Waits until every running member answers a linearizable read.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        for (i, node) in self.nodes.iter().enumerate() {
            if self.members[i].is_none() {
                continue;
            }
            loop {
                match self.target.probe(node, PROBE_TIMEOUT).await {
                    Ok(()) => break,
                    Err(e) if Instant::now() > deadline => {
                        panic!(
                            "{} not ready after {READY_TIMEOUT:?}: {e}\n{}",
                            node.name,
                            self.log(i)
                        )
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.nodes[i].name)))
            .unwrap_or_default()
    }

    pub fn index_of(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .expect("known node")
    }

    /// SIGKILL, as the kill fault does.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut member) = self.members[i].take() {
            let _ = member.kill();
            let _ = member.wait();
        }
    }

    /// Starts a killed member again with the same command.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.members[i].is_none(), "member {i} is running");
        let member = self.spawn(i);
        self.members[i] = Some(member);
        self.wait_ready().await;
    }

    /// SIGSTOP (`stop == true`) or SIGCONT, as the pause fault does.
    pub fn signal_stop(&self, i: usize, stop: bool) {
        let pid = self.members[i].as_ref().expect("running member").id();
        let signal = if stop { "STOP" } else { "CONT" };
        // The shell's builtin kill: no procps needed on a minimal machine.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {pid}")])
            .status()
            .expect("sh");
        assert!(status.success());
    }

    pub async fn client(&self, process: u64, cfg: &ClientConfig) -> Box<dyn Client> {
        self.target
            .client(&self.nodes, process, cfg)
            .await
            .expect("client connects")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// A client port and a peer port free on every node's loopback address.
fn free_ports(nodes: &[NodeAddr]) -> (u16, u16) {
    loop {
        let client = any_port();
        let peer = any_port();
        if client != peer
            && [client, peer]
                .iter()
                .all(|&p| bindable_everywhere(nodes, p))
        {
            return (client, peer);
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

/// Timeouts for tests: short requests, a 2 s lease (etcd's minimum with the
/// target's election timeout), and a lock wait long enough for a lease to expire.
pub fn config() -> ClientConfig {
    ClientConfig {
        lease_ms: 2000,
        request_timeout_ms: 1000,
        acquire_timeout_ms: 10_000,
        connect_timeout_ms: 1000,
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

/// A completion and the history time it arrived at.
pub struct Done {
    pub completion: Completion,
    pub at_ns: i64,
}

pub async fn run(client: &mut dyn Client, clock: &HistoryClock, inv: Invocation) -> Done {
    let completion = client.invoke(&inv, clock).await;
    Done {
        completion,
        at_ns: clock.now_ns(),
    }
}
