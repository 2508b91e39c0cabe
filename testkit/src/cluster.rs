//! A target's service on loopback nodes, each started from the target's own
//! service command, with its data and log under one temporary directory.

use std::path::Path;
use std::time::{Duration, Instant};

use splitbrain_targets::client::{Client, ClientConfig};
use splitbrain_targets::target::{NodeAddr, Target};
use tempfile::TempDir;

use crate::loopback::{self, Process, ProcessSpec, Readiness};

const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// When a started node counts as up.
#[derive(Debug, Clone, Copy)]
pub enum Ready<T> {
    /// The target's own probe answers: the service works in full.
    Probe,
    /// Each of these ports of the node accepts connections: for tests that
    /// need less than the probe waits for (a Sentinel that knows only its
    /// configured primary still names it to clients, seconds before it has
    /// discovered its peers).
    Listening(fn(&T) -> Vec<u16>),
}

/// Builds the target for a cluster's nodes and directory.
pub type MakeTarget<'a, T> = Box<dyn FnOnce(&[NodeAddr], &Path) -> T + 'a>;

/// Extra environment for one node's service, given the node and the
/// cluster's directory.
pub type NodeEnv<'a> = Box<dyn Fn(&NodeAddr, &Path) -> Vec<(String, String)> + 'a>;

/// How to start a [`LocalCluster`].
pub struct ClusterSpec<'a, T> {
    pub nodes: Vec<NodeAddr>,
    pub readiness: Readiness,
    pub ready: Ready<T>,
    /// What must be installed for the service to start.
    pub installed: &'a str,
    pub target: MakeTarget<'a, T>,
    pub env: NodeEnv<'a>,
}

impl<'a, T> ClusterSpec<'a, T> {
    pub fn new(
        nodes: Vec<NodeAddr>,
        readiness: Readiness,
        installed: &'a str,
        target: impl FnOnce(&[NodeAddr], &Path) -> T + 'a,
    ) -> Self {
        ClusterSpec {
            nodes,
            readiness,
            ready: Ready::Probe,
            installed,
            target: Box::new(target),
            env: Box::new(|_, _| Vec::new()),
        }
    }

    pub fn with_env(
        mut self,
        env: impl Fn(&NodeAddr, &Path) -> Vec<(String, String)> + 'a,
    ) -> Self {
        self.env = Box::new(env);
        self
    }

    pub fn ready_when(mut self, ready: Ready<T>) -> Self {
        self.ready = ready;
        self
    }
}

/// Nodes of `target` as processes on loopback. Every process, and any a
/// node's command left behind with a pid file, dies with the cluster.
pub struct LocalCluster<T: Target> {
    pub target: T,
    pub nodes: Vec<NodeAddr>,
    readiness: Readiness,
    ready: Ready<T>,
    processes: Vec<Process>,
    dir: TempDir,
}

impl<T: Target> LocalCluster<T> {
    /// Starts every node and waits until each answers the target's probe.
    pub async fn start(spec: ClusterSpec<'_, T>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = (spec.target)(&spec.nodes, dir.path());
        let processes = spec
            .nodes
            .iter()
            .map(|node| {
                let cmd = target.service(node, &spec.nodes);
                let mut env = cmd.env;
                env.extend((spec.env)(node, dir.path()));
                Process::start(ProcessSpec {
                    argv: uploaded_in_place(&target, cmd.argv),
                    env,
                    log: dir.path().join(format!("{}.log", node.name)),
                    installed: spec.installed.to_string(),
                })
            })
            .collect();
        let cluster = LocalCluster {
            target,
            nodes: spec.nodes,
            readiness: spec.readiness,
            ready: spec.ready,
            processes,
            dir,
        };
        cluster.wait_ready().await;
        cluster
    }

    /// The directory holding every node's data and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until every running node answers the target's probe.
    pub async fn wait_ready(&self) {
        let since = Instant::now();
        for (i, node) in self.nodes.iter().enumerate() {
            if !self.processes[i].is_running() {
                continue;
            }
            self.readiness
                .wait(&node.name, since, || self.answers(node), || self.log(i))
                .await;
        }
    }

    async fn answers(&self, node: &NodeAddr) -> Result<(), String> {
        match self.ready {
            Ready::Probe => self
                .target
                .probe(node, PROBE_TIMEOUT)
                .await
                .map_err(|e| e.to_string()),
            Ready::Listening(ports) => {
                for port in ports(&self.target) {
                    let connect = tokio::net::TcpStream::connect((node.ip, port));
                    match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(format!("port {port}: {e}")),
                        Err(_) => return Err(format!("port {port}: no answer")),
                    }
                }
                Ok(())
            }
        }
    }

    pub fn log(&self, i: usize) -> String {
        self.processes[i].log_text()
    }

    pub fn index_of(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .expect("known node")
    }

    /// SIGKILL, as the kill fault does.
    pub fn kill(&mut self, i: usize) {
        self.processes[i].kill();
    }

    /// Starts a killed node again with the same command, and waits until
    /// every running node answers.
    pub async fn restart(&mut self, i: usize) {
        assert!(!self.processes[i].is_running(), "node {i} is running");
        self.processes[i].restart();
        self.wait_ready().await;
    }

    /// SIGSTOP (`stop == true`) or SIGCONT, as the pause fault does.
    pub fn pause(&self, i: usize, stop: bool) {
        self.processes[i].pause(stop);
    }

    pub async fn client(&self, process: u64, cfg: &ClientConfig) -> Box<dyn Client> {
        self.target
            .client(&self.nodes, process, cfg)
            .await
            .expect("failed to build a client")
    }

    /// SIGKILL every process a node's command started beside its own and
    /// recorded in a pid file in the node's directory (Sentinel, say).
    fn kill_recorded(&self) {
        for node in &self.nodes {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join(&node.name)) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.extension().is_some_and(|e| e == "pid") {
                    if let Ok(pid) = std::fs::read_to_string(&path) {
                        let _ = loopback::signal("KILL", pid.trim());
                    }
                }
            }
        }
    }
}

/// `argv` with each upload's node path replaced by its host path: the
/// nodes share the host's filesystem, so the file is already in place.
fn uploaded_in_place(target: &impl Target, argv: Vec<String>) -> Vec<String> {
    let uploads = target.uploads();
    argv.into_iter()
        .map(|arg| {
            uploads
                .iter()
                .find(|u| u.node_path == arg)
                .map_or(arg, |u| u.host_path.display().to_string())
        })
        .collect()
}

impl<T: Target> Drop for LocalCluster<T> {
    fn drop(&mut self) {
        for process in &mut self.processes {
            process.kill();
        }
        self.kill_recorded();
    }
}
