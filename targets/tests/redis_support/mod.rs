//! Real Redis nodes on loopback, started from a Redis target's own service
//! command, for the Redis targets' tests.
//!
//! Each node gets its own loopback address (127.0.0.1, .2, ...) so that all
//! of them can share one port (and one Sentinel port) picked free at random,
//! and its own data directory under a temporary root. Nodes, and any
//! Sentinel a node's command started beside redis-server, are killed when
//! the cluster is dropped.

use std::fs::File;
use std::process::Child;
use std::time::Duration;

use splitbrain_targets::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use splitbrain_targets::redis::RedisLayout;
use splitbrain_targets::target::{NodeAddr, ServiceCommand, Target};
use tempfile::TempDir;

// Included here rather than by each test crate, so that a test names
// only the support module it uses.
#[path = "../loopback/mod.rs"]
mod loopback;

pub use loopback::inv;
use loopback::Readiness;

/// How long nodes may take to answer reads after a start.
const READY: Readiness = Readiness {
    timeout: Duration::from_secs(20),
    poll: Duration::from_millis(50),
};

pub struct LocalRedis<T: Target> {
    pub target: T,
    pub nodes: Vec<NodeAddr>,
    pub layout: RedisLayout,
    commands: Vec<ServiceCommand>,
    servers: Vec<Option<Child>>,
    dir: TempDir,
}

impl<T: Target> LocalRedis<T> {
    /// Starts `size` nodes of the target `make` builds for a loopback layout,
    /// and waits until every one answers a probe.
    pub async fn start(size: u8, make: impl FnOnce(RedisLayout) -> T) -> Self {
        Self::start_with_env(size, make, |_, _| Vec::new()).await
    }

    /// As [`LocalRedis::start`], with extra environment for each node's
    /// service, given the node and the cluster's temporary directory.
    pub async fn start_with_env(
        size: u8,
        make: impl FnOnce(RedisLayout) -> T,
        env: impl Fn(&NodeAddr, &std::path::Path) -> Vec<(String, String)>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let nodes = loopback::nodes(size);
        let (port, sentinel_port) = loopback::free_ports(&nodes);
        let layout = RedisLayout::loopback(port, sentinel_port, dir.path());
        let target = make(layout.clone());
        let commands = nodes
            .iter()
            .map(|n| {
                let mut cmd = target.service(n, &nodes);
                cmd.env.extend(env(n, dir.path()));
                cmd
            })
            .collect();
        let mut cluster = LocalRedis {
            target,
            nodes,
            layout,
            commands,
            servers: Vec::new(),
            dir,
        };
        for i in 0..cluster.nodes.len() {
            let server = cluster.spawn(i);
            cluster.servers.push(Some(server));
        }
        for i in 0..cluster.nodes.len() {
            cluster.wait_ready(i).await;
        }
        cluster
    }

    fn spawn(&self, i: usize) -> Child {
        let cmd = &self.commands[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("node log file");
        loopback::spawn(
            cmd,
            log,
            "sh and redis-server are installed (Debian package redis-server)",
        )
    }

    fn log_path(&self, i: usize) -> std::path::PathBuf {
        self.dir.path().join(format!("{}.log", self.nodes[i].name))
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    /// Waits until node `i` answers the target's probe.
    pub async fn wait_ready(&self, i: usize) {
        let deadline = READY.deadline();
        READY
            .wait(&self.target, &self.nodes[i], deadline, || self.log(i))
            .await;
    }

    /// SIGKILL redis-server, as the kill fault does.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut server) = self.servers[i].take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts a killed node again with the same command.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.servers[i].is_none(), "node {i} is running");
        let server = self.spawn(i);
        self.servers[i] = Some(server);
        self.wait_ready(i).await;
    }

    /// SIGSTOP (`stop == true`) or SIGCONT to redis-server, as the pause fault does.
    pub fn signal_stop(&self, i: usize, stop: bool) {
        let pid = self.servers[i].as_ref().expect("running node").id();
        let signal = if stop { "STOP" } else { "CONT" };
        let status = loopback::signal(signal, pid).expect("sh");
        assert!(status.success());
    }

    pub async fn client(&self, process: u64, cfg: &ClientConfig) -> Box<dyn Client> {
        self.target
            .client(&self.nodes, process, cfg)
            .await
            .expect("client builds")
    }

    /// SIGKILL any Sentinel a node's command started beside redis-server.
    fn kill_sentinels(&self) {
        for node in &self.nodes {
            let pidfile = self.dir.path().join(&node.name).join("sentinel.pid");
            if let Ok(pid) = std::fs::read_to_string(pidfile) {
                let _ = loopback::signal("KILL", pid.trim());
            }
        }
    }
}

impl<T: Target> Drop for LocalRedis<T> {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            if let Some(server) = self.servers[i].as_ref() {
                // A paused server would not die on SIGKILL's delivery order
                // otherwise; resume first so nothing lingers.
                let _ = loopback::signal("CONT", server.id());
            }
            self.kill(i);
        }
        self.kill_sentinels();
    }
}

/// Timeouts for tests: a 1 s lease, requests bounded well below it.
pub fn config() -> ClientConfig {
    ClientConfig {
        lease_ms: 1000,
        request_timeout_ms: 300,
        acquire_timeout_ms: 1000,
        connect_timeout_ms: 300,
    }
}

/// A completion and the history times it was invoked and arrived at.
pub struct Done {
    pub completion: Completion,
    pub invoked_ns: i64,
    pub at_ns: i64,
}

pub async fn run(client: &mut dyn Client, clock: &HistoryClock, inv: Invocation) -> Done {
    let invoked_ns = clock.now_ns();
    let completion = client.invoke(&inv, clock).await;
    Done {
        completion,
        invoked_ns,
        at_ns: clock.now_ns(),
    }
}

/// Runs `inv` and asserts it ended `ok`.
pub async fn ok(client: &mut dyn Client, clock: &HistoryClock, inv: Invocation) -> Completion {
    let f = inv.f.clone();
    let done = run(client, clock, inv).await;
    assert_eq!(
        done.completion.kind,
        splitbrain_checkers::history::OpType::Ok,
        "{f}: {:?}",
        done.completion
    );
    done.completion
}
