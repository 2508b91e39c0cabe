//! What a service under test provides to the harness: how to start it on a
//! node, how to prove a node is ready, and how to build a client.
//!
//! Faults are capabilities, each its own trait, so the schedule only plans a
//! fault where the target says it applies.

use std::net::Ipv4Addr;
use std::time::Duration;

use async_trait::async_trait;

use crate::client::{Client, ClientConfig};

/// A node of the deployed cluster, as a target sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    /// `n1`..`nN`.
    pub name: String,
    pub ip: Ipv4Addr,
}

/// How to run the service on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The executable's name as `pkill -x` matches it (for kill and pause).
    pub process_name: String,
}

/// A file from the controller's machine that every node needs before the
/// service starts (the project's own binaries: no image rebuild needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub host_path: std::path::PathBuf,
    pub node_path: String,
    pub mode: u32,
}

/// Why a node could not be proved ready or a client could not be built.
/// Where a client library reported the failure, its error is the source.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The node answered no, or not in time: `reason` says which.
    #[error("failed to reach {node}: {reason}")]
    Unreachable { node: String, reason: String },
    /// A call to the node failed in the client library.
    #[error("failed to reach {node}: failed to {operation}: {source}")]
    UnreachableCall {
        node: String,
        operation: &'static str,
        #[source]
        source: ServiceError,
    },
    /// No client could be built: no node to talk to, or no connection in time.
    #[error("failed to build a client: {0}")]
    Client(String),
    /// No client could be built: the client library refused or failed.
    #[error("failed to build a client: failed to {operation}: {source}")]
    ClientCall {
        operation: String,
        #[source]
        source: ServiceError,
    },
}

impl TargetError {
    pub fn unreachable(node: &NodeAddr, reason: impl Into<String>) -> Self {
        TargetError::Unreachable {
            node: node.name.clone(),
            reason: reason.into(),
        }
    }

    pub fn unreachable_call(
        node: &NodeAddr,
        operation: &'static str,
        source: impl Into<ServiceError>,
    ) -> Self {
        TargetError::UnreachableCall {
            node: node.name.clone(),
            operation,
            source: source.into(),
        }
    }

    pub fn client_call(operation: impl Into<String>, source: impl Into<ServiceError>) -> Self {
        TargetError::ClientCall {
            operation: operation.into(),
            source: source.into(),
        }
    }
}

/// An error of a service's client library, kept as the cause of a
/// [`TargetError`].
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Etcd(#[from] etcd_client::Error),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

#[async_trait]
pub trait Target: Send + Sync {
    /// The name used with `--target` and in result paths.
    fn name(&self) -> &str;

    /// The command that starts the service on `node`, given every node of the cluster.
    fn service(&self, node: &NodeAddr, nodes: &[NodeAddr]) -> ServiceCommand;

    /// Files to copy into every node before its service starts.
    fn uploads(&self) -> Vec<Upload> {
        Vec::new()
    }

    /// A command run on a node that prints the service's version, for `run.json`.
    fn version_command(&self) -> Vec<String>;

    /// Proves that `node` answers real requests; bounded by `timeout`.
    async fn probe(&self, node: &NodeAddr, timeout: Duration) -> Result<(), TargetError>;

    /// A fresh client for logical process `process`.
    async fn client(
        &self,
        nodes: &[NodeAddr],
        process: u64,
        cfg: &ClientConfig,
    ) -> Result<Box<dyn Client>, TargetError>;

    fn as_kill(&self) -> Option<&dyn Kill> {
        None
    }
    fn as_pause(&self) -> Option<&dyn Pause> {
        None
    }
    fn as_clock_skew(&self) -> Option<&dyn ClockSkew> {
        None
    }
    fn as_primaries(&self) -> Option<&dyn Primaries> {
        None
    }
    /// What the target's fencing tokens are worth, when that is less than a
    /// fencing token should be (none at all, say): shown in `run.json` and
    /// the report, since token checks then prove little.
    fn token_note(&self) -> Option<String> {
        None
    }
    /// Why a clock fault cannot reach this target, when it cannot.
    fn clock_refusal(&self) -> Option<String> {
        None
    }
    /// Why the target's author ruled out a fault that needs no capability
    /// of the service (`partition`, `client-pause`, `packet`: the harness
    /// applies them from outside), when they did. `fault` is the fault's
    /// name as `--nemesis` spells it.
    fn fault_refusal(&self, fault: &str) -> Option<String> {
        let _ = fault;
        None
    }
}

/// The service survives SIGKILL and can be restarted with the same command.
pub trait Kill {}

/// The service can be stopped with SIGSTOP and resumed with SIGCONT.
pub trait Pause {}

/// The harness may skew the clock of the service's processes. Every process
/// can be reached (its vDSO patched); `preload_shim` says whether to start
/// the service under the LD_PRELOAD shim instead, which is simpler where it
/// works (dynamically linked C programs).
pub trait ClockSkew {
    /// Start the service with the clock shim preloaded. False for programs
    /// that never call libc for the time (Go, static binaries): they are
    /// patched through the vDSO once running.
    fn preload_shim(&self) -> bool {
        true
    }
}

/// The target can say which nodes currently act as primary or leader.
#[async_trait]
pub trait Primaries: Send + Sync {
    async fn primaries(&self, nodes: &[NodeAddr], timeout: Duration) -> Vec<String>;
}
