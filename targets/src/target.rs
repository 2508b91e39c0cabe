//! What a service under test provides to the harness: how to start it on a
//! node, how to prove a node is ready, and how to build a client.
//!
//! A target describes itself in one typed answer each: its default node
//! count, the Debian packages its nodes need, where it keeps its data,
//! and, for every fault, whether it applies and why not ([`Applies`]).
//! Only naming primaries carries a method of its own ([`Primaries`]).

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinSet;

use splitbrain_vocab::FaultKind;

use crate::client::{Client, ClientConfig};

/// A node of the deployed cluster, as a target sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    /// `n1`..`nN`.
    pub name: String,
    pub ip: Ipv4Addr,
}

impl NodeAddr {
    /// Where process `process` is pinned to: node `process mod n`, so that
    /// processes spread round-robin; none in an empty cluster.
    pub(crate) fn home_index(nodes: &[NodeAddr], process: u64) -> Option<usize> {
        let count = u64::try_from(nodes.len()).unwrap_or(u64::MAX);
        usize::try_from(process.checked_rem(count)?).ok()
    }

    /// The node process `process` talks to (see [`Self::home_index`]).
    pub(crate) fn home(nodes: &[NodeAddr], process: u64) -> Result<&NodeAddr, TargetError> {
        NodeAddr::home_index(nodes, process)
            .and_then(|i| nodes.get(i))
            .ok_or_else(|| {
                TargetError::Client("failed to pick a node: the cluster has none".into())
            })
    }
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

/// A fresh client, or why none could be built.
pub type ClientResult = Result<Box<dyn Client>, TargetError>;

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
    async fn client(&self, nodes: &[NodeAddr], process: u64, cfg: &ClientConfig) -> ClientResult;

    /// The cluster size the target is designed for, when `--nodes` is not given.
    fn default_nodes(&self) -> usize {
        3
    }

    /// Debian packages its nodes need beyond the substrate's own tools;
    /// the node image is built from them and cached by their hash.
    fn packages(&self) -> Vec<String> {
        Vec::new()
    }

    /// Where the service keeps its data in a node, when it keeps any: the
    /// `disk` fault fills the filesystem mounted there.
    fn data_dir(&self) -> Option<String> {
        None
    }

    /// Whether `fault` applies to this target, and why not when it does not.
    fn fault(&self, fault: FaultKind) -> Applies;

    /// How a clock fault reaches the service's processes.
    fn clock_entry(&self) -> ClockEntry {
        ClockEntry::Preload
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
}

/// Whether a fault applies to a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applies {
    Yes,
    /// It does not; the sentence says why (recorded in the history when
    /// the fault is refused).
    No(String),
}

impl Applies {
    /// `No` with "refused: target NAME does not support FAULT".
    pub fn unsupported(target: &str, fault: FaultKind) -> Applies {
        Applies::No(format!("refused: target {target} does not support {fault}"))
    }

    pub fn refusal(self) -> Option<String> {
        match self {
            Applies::Yes => None,
            Applies::No(why) => Some(why),
        }
    }

    pub fn applies(&self) -> bool {
        *self == Applies::Yes
    }
}

/// How a clock fault reaches the service's processes. Every process can be
/// reached by patching its vDSO once running; preloading the shim at start
/// is simpler where it works (dynamically linked C programs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockEntry {
    /// Start the service with the clock shim preloaded.
    Preload,
    /// Programs that never call libc for the time (Go, static binaries):
    /// patched through the vDSO once running.
    VdsoPatch,
}

/// The target can say which nodes currently act as primary or leader.
#[async_trait]
pub trait Primaries: Send + Sync {
    async fn primaries(&self, nodes: &[NodeAddr], timeout: Duration) -> Vec<String>;
}

/// The names, sorted, of the nodes whose `ask` answers yes within
/// `timeout`: every node asked at once (each ask gets its own copy of
/// `context`), and a node that does not answer in time counts as no: the
/// way every [`Primaries`] asks its nodes.
pub(crate) async fn nodes_answering_yes<C, F, Fut>(
    context: C,
    nodes: &[NodeAddr],
    timeout: Duration,
    ask: F,
) -> Vec<String>
where
    C: Clone,
    F: Fn(C, NodeAddr) -> Fut,
    Fut: Future<Output = Option<bool>> + Send + 'static,
{
    let mut asks = JoinSet::new();
    for node in nodes {
        let name = node.name.clone();
        let answer = ask(context.clone(), node.clone());
        asks.spawn(async move {
            let yes = tokio::time::timeout(timeout, answer).await.ok().flatten();
            (yes == Some(true)).then_some(name)
        });
    }
    let mut names = Vec::new();
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some(name)) = answer {
            names.push(name);
        }
    }
    names.sort();
    names
}
