//! Real etcd members on loopback, started from the target's own service
//! command, for the etcd target's tests.
//!
//! Each member gets its own loopback address (127.0.0.1, .2, .3 ...) so that
//! all of them can share one pair of ports picked free at random, and its own
//! data directory under a temporary root. Members are killed when the cluster
//! is dropped.

use std::fs::File;
use std::process::Child;
use std::time::Duration;

use splitbrain_targets::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use splitbrain_targets::etcd::{EtcdTarget, WriteMode};
use splitbrain_targets::target::{NodeAddr, ServiceCommand, Target};
use tempfile::TempDir;

// Included here rather than by each test crate, so that a test names
// only the support module it uses.
#[path = "../loopback/mod.rs"]
mod loopback;

pub use loopback::inv;
use loopback::Readiness;

/// How long a cluster may take to elect a leader and answer reads.
const READY: Readiness = Readiness {
    timeout: Duration::from_secs(30),
    poll: Duration::from_millis(100),
};

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
        let nodes = loopback::nodes(size);
        let (client_port, peer_port) = loopback::free_ports(&nodes);
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
        loopback::spawn(cmd, log, "etcd is installed (Debian package etcd-server)")
    }

    /// Waits until every running member answers a linearizable read.
    pub async fn wait_ready(&self) {
        let deadline = READY.deadline();
        for (i, node) in self.nodes.iter().enumerate() {
            if self.members[i].is_none() {
                continue;
            }
            READY
                .wait(&self.target, node, deadline, || self.log(i))
                .await;
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
        let status = loopback::signal(signal, pid).expect("sh");
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
