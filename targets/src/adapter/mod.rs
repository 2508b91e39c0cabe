//! A service that speaks the adapter protocol (`docs/adapter-protocol.md`),
//! deployed as its manifest says (see [`crate::manifest`]).
//!
//! # Clients
//!
//! Each process is pinned to one node, `process % nodes`, and never follows
//! redirects: the node it talks to is the node the history records, and a
//! process on the wrong side of a partition stays there, as in the etcd
//! target. A service whose nodes do not all serve relays requests itself
//! (the reference service's non-primary nodes relay to the primary) or
//! refuses them with 503, which is a `fail`.
//!
//! # Outcomes
//!
//! See [`outcome`]: 200 is `ok`; a protocol 4xx or 503 is `fail`; a
//! connection never made is `fail`; timeouts, broken connections and other
//! statuses are `info`. Reads and observations change nothing, so any
//! failure of theirs is `fail`.
//!
//! # Leases
//!
//! A grant's `valid_until` is the invoke time of the request plus the lease
//! the service says it granted: the service cannot have started timing the
//! lease before the request was sent. A grant that waited at the service
//! for more than half its lease is renewed at once and bounded from that
//! renewal instead, as etcd's client does with a keep-alive.

mod client;
mod http;
pub mod outcome;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use splitbrain_vocab::WriteMode;

pub use client::AdapterClient;
pub use outcome::PROTOCOL_HEADER;

use self::http::NodeHttp;
use self::outcome::Answer;
use crate::client::ClientConfig;
use crate::manifest::{Manifest, ManifestError, NodeValues, Source};
use crate::target::{
    nodes_answering_yes, Applies, ClientResult, NodeAddr, Primaries, ServiceCommand, Target,
    TargetError, Upload,
};
use splitbrain_vocab::FaultKind;

/// What `GET /v1/health` says; only `role` is optional for other services.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    pub protocol: u32,
    pub node: String,
    /// `primary`, `backup` or `forwarder`, where the service says.
    #[serde(default)]
    pub role: Option<String>,
}

/// A manifest-described service.
#[derive(Debug, Clone)]
pub struct AdapterTarget {
    manifest: Manifest,
    write_mode: WriteMode,
    /// `Some(root)`: each node keeps its data in `root/<node>` instead of the
    /// manifest's `data_dir`, for nodes that share one filesystem.
    data_root: Option<PathBuf>,
}

impl AdapterTarget {
    /// Writes are fenced by the holder's token unless [`Self::with_write_mode`] says otherwise.
    pub fn new(manifest: Manifest) -> Self {
        AdapterTarget {
            manifest,
            write_mode: WriteMode::Fenced,
            data_root: None,
        }
    }

    pub fn from_manifest_file(path: impl AsRef<std::path::Path>) -> Result<Self, ManifestError> {
        Manifest::from_file(path.as_ref()).map(AdapterTarget::new)
    }

    /// The manifest at `path`, uploading `binary` instead of its own.
    pub fn from_manifest_file_with_binary(
        path: impl AsRef<std::path::Path>,
        binary: &std::path::Path,
    ) -> Result<Self, ManifestError> {
        Manifest::from_file_with_binary(path.as_ref(), Some(binary)).map(AdapterTarget::new)
    }

    pub fn with_write_mode(mut self, write_mode: WriteMode) -> Self {
        self.write_mode = write_mode;
        self
    }

    pub fn with_data_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.data_root = Some(root.into());
        self
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn write_mode(&self) -> WriteMode {
        self.write_mode
    }

    /// Whether the manifest lists `fault` (partitions and client pauses
    /// have no capability trait; the harness asks here).
    pub fn allows(&self, fault: FaultKind) -> bool {
        self.manifest.allows(fault)
    }

    /// The protocol URL of `node`.
    pub fn endpoint(&self, node: &NodeAddr) -> String {
        format!("http://{}:{}", node.ip, self.manifest.port)
    }

    /// `n1=IP:PORT,n2=IP:PORT,...`: the `{peers}` placeholder.
    pub fn peers(&self, nodes: &[NodeAddr]) -> String {
        nodes
            .iter()
            .map(|n| format!("{}={}:{}", n.name, n.ip, self.manifest.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn data_dir(&self, node: &NodeAddr) -> String {
        match &self.data_root {
            Some(root) => root.join(&node.name).display().to_string(),
            None => self.manifest.data_dir.replace("{node}", &node.name),
        }
    }

    /// The node's health answer, bounded by `timeout` (connection included).
    pub async fn health(&self, node: &NodeAddr, timeout: Duration) -> Result<Health, TargetError> {
        let http = NodeHttp::new(self.endpoint(node), timeout);
        let what = format!("probe {}", self.manifest.readiness.path);
        match http
            .get(&what, &self.manifest.readiness.path, timeout)
            .await
        {
            Answer::Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| TargetError::unreachable_call(node, "parse the health answer", e)),
            Answer::Refused(m) | Answer::Indefinite(m) => Err(TargetError::unreachable(node, m)),
        }
    }
}

#[async_trait]
impl Target for AdapterTarget {
    fn name(&self) -> &str {
        &self.manifest.name
    }

    fn service(&self, node: &NodeAddr, nodes: &[NodeAddr]) -> ServiceCommand {
        let values = NodeValues {
            node: &node.name,
            ip: node.ip.to_string(),
            peers: self.peers(nodes),
            data_dir: self.data_dir(node),
        };
        ServiceCommand {
            argv: self
                .manifest
                .command
                .iter()
                .map(|arg| self.manifest.expand(arg, &values))
                .collect(),
            env: self
                .manifest
                .env
                .iter()
                .map(|(k, v)| (k.clone(), self.manifest.expand(v, &values)))
                .collect(),
            process_name: self.manifest.process_name.clone(),
        }
    }

    fn uploads(&self) -> Vec<Upload> {
        match &self.manifest.source {
            Source::Binary {
                host_path,
                node_path,
            } => vec![Upload {
                host_path: host_path.clone(),
                node_path: node_path.clone(),
                mode: 0o755,
            }],
            Source::Image(_) => Vec::new(),
        }
    }

    fn version_command(&self) -> Vec<String> {
        self.manifest.version_command.clone()
    }

    /// The readiness path answers 200 with the protocol header and a
    /// health body whose protocol version is the manifest's.
    async fn probe(&self, node: &NodeAddr, timeout: Duration) -> Result<(), TargetError> {
        let health = self.health(node, timeout).await?;
        if health.protocol != self.manifest.protocol {
            return Err(TargetError::unreachable(
                node,
                format!(
                    "failed to agree on the protocol: the node speaks v{}, the manifest says v{}",
                    health.protocol, self.manifest.protocol
                ),
            ));
        }
        Ok(())
    }

    async fn client(&self, nodes: &[NodeAddr], process: u64, cfg: &ClientConfig) -> ClientResult {
        let node = NodeAddr::home(nodes, process)?;
        Ok(Box::new(AdapterClient::new(
            &self.endpoint(node),
            &node.name,
            process,
            cfg,
            self.write_mode,
        )))
    }

    fn as_primaries(&self) -> Option<&dyn Primaries> {
        Some(self)
    }

    /// The manifest's own data directory, when it names one path for every
    /// node (a path with placeholders differs per node: no disk fault).
    fn data_dir(&self) -> Option<String> {
        let dir = &self.manifest.data_dir;
        (!dir.contains('{')).then(|| dir.clone())
    }

    /// A manifest's `faults` list is the author's word on which faults make
    /// sense. Packet faults may go unlisted where partition is listed (both
    /// cut or slow the network between nodes).
    fn fault(&self, fault: FaultKind) -> Applies {
        let listed =
            self.allows(fault) || (fault == FaultKind::Packet && self.allows(FaultKind::Partition));
        if listed {
            return Applies::Yes;
        }
        let name = &self.manifest.name;
        match fault {
            FaultKind::Kill | FaultKind::Pause => Applies::unsupported(name, fault),
            FaultKind::Clock => Applies::No(format!(
                "the manifest of {name} does not list clock among its faults"
            )),
            FaultKind::Packet => Applies::No(format!(
                "refused: the manifest of {name} does not list partition among its faults"
            )),
            _ => Applies::No(format!(
                "refused: the manifest of {name} does not list {fault} among its faults"
            )),
        }
    }
}

#[async_trait]
impl Primaries for AdapterTarget {
    /// The nodes whose health says `role: primary`: two names mean two
    /// nodes that each believe they serve.
    async fn primaries(&self, nodes: &[NodeAddr], timeout: Duration) -> Vec<String> {
        nodes_answering_yes(self.clone(), nodes, timeout, |target, node| async move {
            let health = target.health(&node, timeout).await.ok()?;
            Some(health.role.as_deref() == Some("primary"))
        })
        .await
    }
}
