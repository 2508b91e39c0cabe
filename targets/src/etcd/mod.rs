//! etcd v3 as a target: its Lock and Election APIs on leases.
//!
//! # Model
//!
//! A lock is etcd's Lock API on a lease the client grants itself: the lock is
//! held while the lock key exists, and the key dies with the lease. The
//! fencing token is the lock key's create revision, which etcd's revision
//! counter makes unique and increasing across grants. An election is the
//! Election API on a lease; the term is the leader key's revision.
//!
//! A holder's conservative validity is the invoke time of its last successful
//! keep-alive (or of the grant) plus the granted TTL: the server can only
//! have started the lease's clock after that instant, and etcd extends, never
//! shortens, leases across leader changes.
//!
//! The protected resource is one key per name holding a JSON list. Writes
//! append an element to the list the process last read and put it back,
//! either unguarded (the lost-update workload) or fenced by a transaction
//! that compares the lock key's create revision with the writer's token.
//!
//! # Clients and partitions
//!
//! Each process talks to one node, assigned round-robin, and every request
//! carries `require_leader`. A process on the minority side of a partition
//! therefore cannot renew or act, while its lease runs out at the majority's
//! leader and another process is granted the lock: exactly the scenario the
//! checkers look for, with the node recorded on every completion. A client
//! balanced over all endpoints would not escape the minority (its balancer
//! picks by connection readiness, not Raft health), would hide which node
//! answered, and would mix nodes within one lease.
//!
//! # Timing
//!
//! Nodes run with a heartbeat of [`HEARTBEAT_MS`] and an election timeout of
//! [`ELECTION_TIMEOUT_MS`]: etcd's documented ratio of ten heartbeats per
//! election timeout, suited to containers on one host with sub-millisecond
//! round trips, so a dead leader is replaced within about a second. These are
//! also etcd 3.4's defaults but are passed explicitly so that another etcd
//! version cannot silently change fault timing. etcd raises any lease TTL
//! below 1.5 x the election timeout (here 1.5 s) to that minimum; leases are
//! whole seconds, so the shortest lease is 2 s.

mod client;
mod connection;
mod keys;
mod outcome;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

pub use client::{lease_ttl_seconds, EtcdClient};
pub use connection::CLIENT_PING_INTERVAL_MS;
pub use keys::{election_name, lock_name, resource_key};
pub use splitbrain_vocab::WriteMode;

use self::connection::{ConnectFailure, SERVER_PING_MIN_MS};
use crate::client::ClientConfig;
use crate::target::{
    nodes_answering_yes, Applies, ClientResult, ClockEntry, NodeAddr, Primaries, ServiceCommand,
    Target, TargetError,
};
use splitbrain_vocab::FaultKind;

/// Raft heartbeat interval passed to every node.
pub const HEARTBEAT_MS: u64 = 100;
/// Raft election timeout passed to every node.
pub const ELECTION_TIMEOUT_MS: u64 = 1000;
/// Port for client gRPC on each node's address.
pub const CLIENT_PORT: u16 = 2379;
/// Port for Raft traffic between members.
pub const PEER_PORT: u16 = 2380;
/// Where a node keeps its data inside its container.
pub const DATA_DIR: &str = "/var/lib/splitbrain/etcd";
/// The key under which the probe reads (it never exists).
const PROBE_KEY: &str = "/splitbrain/probe";

/// etcd 3.4+ deployed one member per node.
#[derive(Debug, Clone)]
pub struct EtcdTarget {
    write_mode: WriteMode,
    client_port: u16,
    peer_port: u16,
    /// `None`: [`DATA_DIR`] on every node. `Some(root)`: `root/<node name>`,
    /// for members sharing one filesystem.
    data_root: Option<PathBuf>,
}

impl EtcdTarget {
    pub fn new(write_mode: WriteMode) -> Self {
        EtcdTarget {
            write_mode,
            client_port: CLIENT_PORT,
            peer_port: PEER_PORT,
            data_root: None,
        }
    }

    /// Other ports than 2379/2380, for members that share one address space
    /// (several loopback addresses on one host).
    pub fn with_ports(mut self, client_port: u16, peer_port: u16) -> Self {
        self.client_port = client_port;
        self.peer_port = peer_port;
        self
    }

    /// Keep each node's data in `root/<node name>` instead of [`DATA_DIR`].
    pub fn with_data_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.data_root = Some(root.into());
        self
    }

    pub fn write_mode(&self) -> WriteMode {
        self.write_mode
    }

    /// The client URL of `node`.
    pub fn endpoint(&self, node: &NodeAddr) -> String {
        url(node.ip, self.client_port)
    }

    fn member_dir(&self, node: &NodeAddr) -> String {
        match &self.data_root {
            None => DATA_DIR.to_string(),
            Some(root) => root.join(&node.name).display().to_string(),
        }
    }

    /// Connects to `node` for a one-off request bounded by `timeout`.
    async fn connect_once(
        &self,
        node: &NodeAddr,
        timeout: Duration,
        require_leader: bool,
    ) -> Result<etcd_client::Client, TargetError> {
        connection::connect(&self.endpoint(node), timeout, timeout, require_leader)
            .await
            .map_err(|failure| match failure {
                ConnectFailure::Library(e) => TargetError::unreachable_call(node, "connect", e),
                ConnectFailure::TimedOut => TargetError::unreachable(
                    node,
                    format!("no connection within {} ms", timeout.as_millis()),
                ),
            })
    }
}

fn url(ip: Ipv4Addr, port: u16) -> String {
    format!("http://{ip}:{port}")
}

#[async_trait]
impl Target for EtcdTarget {
    fn name(&self) -> &str {
        "etcd"
    }

    fn service(&self, node: &NodeAddr, nodes: &[NodeAddr]) -> ServiceCommand {
        let client_url = url(node.ip, self.client_port);
        let peer_url = url(node.ip, self.peer_port);
        let initial_cluster = nodes
            .iter()
            .map(|n| format!("{}={}", n.name, url(n.ip, self.peer_port)))
            .collect::<Vec<_>>()
            .join(",");
        let argv = [
            "etcd".to_string(),
            format!("--name={}", node.name),
            format!("--data-dir={}", self.member_dir(node)),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster={initial_cluster}"),
            "--initial-cluster-token=splitbrain".to_string(),
            // Ignored once the data dir exists, so a killed node restarts
            // with the same command.
            "--initial-cluster-state=new".to_string(),
            format!("--heartbeat-interval={HEARTBEAT_MS}"),
            format!("--election-timeout={ELECTION_TIMEOUT_MS}"),
            format!("--grpc-keepalive-min-time={SERVER_PING_MIN_MS}ms"),
            "--logger=zap".to_string(),
            "--log-outputs=stderr".to_string(),
        ];
        ServiceCommand {
            argv: argv.to_vec(),
            env: Vec::new(),
            process_name: "etcd".to_string(),
        }
    }

    fn version_command(&self) -> Vec<String> {
        vec!["etcd".to_string(), "--version".to_string()]
    }

    /// A linearizable read with `require_leader`: it succeeds only once the
    /// node is a member of a cluster with a leader and a quorum.
    async fn probe(&self, node: &NodeAddr, timeout: Duration) -> Result<(), TargetError> {
        // One bound for the whole exchange, connection included.
        let exchange = async {
            let mut etcd = self.connect_once(node, timeout, true).await?;
            etcd.get(PROBE_KEY, None)
                .await
                .map(|_| ())
                .map_err(|e| TargetError::unreachable_call(node, "read", e))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TargetError::unreachable(
                node,
                format!("no answer to a read within {} ms", timeout.as_millis()),
            )),
        }
    }

    async fn client(&self, nodes: &[NodeAddr], process: u64, cfg: &ClientConfig) -> ClientResult {
        let node = NodeAddr::home(nodes, process)?;
        let client = EtcdClient::connect(
            &self.endpoint(node),
            &node.name,
            process,
            cfg,
            self.write_mode,
        )
        .await?;
        Ok(Box::new(client))
    }

    fn as_primaries(&self) -> Option<&dyn Primaries> {
        Some(self)
    }

    fn packages(&self) -> Vec<String> {
        vec!["etcd-server".to_string(), "etcd-client".to_string()]
    }

    fn data_dir(&self) -> Option<String> {
        Some(DATA_DIR.to_string())
    }

    /// Every fault applies: members keep their data across SIGKILL (fsync'd
    /// WAL) and rejoin with the same command; the WAL lives in the data dir.
    fn fault(&self, _: FaultKind) -> Applies {
        Applies::Yes
    }

    /// etcd is a Go program: it reads the time by calling the vDSO
    /// directly, so its clock is skewed by patching the vDSO of the running
    /// process, not by preloading.
    fn clock_entry(&self) -> ClockEntry {
        ClockEntry::VdsoPatch
    }
}

#[async_trait]
impl Primaries for EtcdTarget {
    /// The nodes that, asked directly, say they are the Raft leader. Each is
    /// asked without `require_leader`, so a deposed leader that has not yet
    /// noticed still reports itself: two names mean two self-declared leaders.
    async fn primaries(&self, nodes: &[NodeAddr], timeout: Duration) -> Vec<String> {
        nodes_answering_yes(self.clone(), nodes, timeout, |target, node| async move {
            let mut etcd = target.connect_once(&node, timeout, false).await.ok()?;
            let status = etcd.status().await.ok()?;
            let member = status.header()?.member_id();
            Some(status.leader() == member)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<NodeAddr> {
        (1..=3)
            .map(|i| NodeAddr {
                name: format!("n{i}"),
                ip: Ipv4Addr::new(10, 0, 0, i),
            })
            .collect()
    }

    #[test]
    fn service_command_names_every_member_and_the_timing() {
        let nodes = nodes();
        let cmd = EtcdTarget::new(WriteMode::Fenced).service(&nodes[1], &nodes);
        assert_eq!(cmd.process_name, "etcd");
        assert_eq!(cmd.argv[0], "etcd");
        for expected in [
            "--name=n2",
            "--data-dir=/var/lib/splitbrain/etcd",
            "--listen-client-urls=http://10.0.0.2:2379",
            "--initial-advertise-peer-urls=http://10.0.0.2:2380",
            "--initial-cluster=n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380",
            "--heartbeat-interval=100",
            "--election-timeout=1000",
        ] {
            assert!(cmd.argv.iter().any(|a| a == expected), "missing {expected}: {:?}", cmd.argv);
        }
    }

    #[test]
    fn data_root_gives_each_node_its_own_directory() {
        let nodes = nodes();
        let cmd = EtcdTarget::new(WriteMode::Fenced)
            .with_data_root("/tmp/x")
            .service(&nodes[2], &nodes);
        assert!(cmd.argv.iter().any(|a| a == "--data-dir=/tmp/x/n3"));
    }

    #[test]
    fn clock_faults_go_through_the_vdso_not_the_preload_shim() {
        let target = EtcdTarget::new(WriteMode::Unguarded);
        assert!(
            target.fault(FaultKind::Clock).applies(),
            "etcd takes clock faults"
        );
        assert_eq!(
            target.clock_entry(),
            ClockEntry::VdsoPatch,
            "Go never calls libc for the time"
        );
        assert!(
            target.fault(FaultKind::Kill).applies() && target.fault(FaultKind::Pause).applies()
        );
    }
}
