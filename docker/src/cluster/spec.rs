//! What a cluster and a node's service are made from: plain data, no I/O.

use std::net::Ipv4Addr;

/// The most nodes a cluster may have: host numbers 11.. in a /24.
pub const MAX_NODES: usize = 200;

/// What to create.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Names the network and containers and is the value of the
    /// `splitbrain.run` label. Letters, digits, `_`, `.` and `-` only.
    pub run_id: String,
    /// How many nodes (n1..nN).
    pub nodes: usize,
    /// Image reference every node runs.
    pub image: String,
    /// Read-only bind mounts `host_path:container_path` (the project's own
    /// binaries go in this way or through [`Cluster::put_file`], never by
    /// rebuilding the image).
    ///
    /// [`Cluster::put_file`]: crate::Cluster::put_file
    pub read_only_mounts: Vec<(String, String)>,
    /// How long [`Cluster::kill_service`] and friends wait to see the
    /// process's state change.
    ///
    /// [`Cluster::kill_service`]: crate::Cluster::kill_service
    pub process_wait_ms: u64,
    /// The service's data directory, when the target keeps one: a
    /// size-limited filesystem of its own in every node, which the disk
    /// fault fills. `None`: no such directory, and the disk fault is refused.
    pub data_dir: Option<DataDir>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            run_id: String::new(),
            nodes: 3,
            image: String::new(),
            read_only_mounts: Vec::new(),
            process_wait_ms: 10_000,
            data_dir: None,
        }
    }
}

/// A data directory mounted in every node as a tmpfs of its own: it lives as
/// long as the node's container, so it survives kills and restarts of the
/// service, and it is small enough to fill in a moment.
///
/// The engine's archive copies do not see into tmpfs mounts: `get_file`
/// (and so log collection at teardown) finds nothing there, and `put_file`
/// succeeds but lands beneath the mount, out of sight. Read and write files
/// in it with `exec`, and keep the service's log elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    /// Absolute path inside every node.
    pub path: String,
    /// The filesystem's size, in MiB (RAM of the host while it is filled).
    pub size_mb: u64,
}

impl DataDir {
    /// The filesystem's size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_mb.saturating_mul(1 << 20)
    }
}

/// One node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `n1`, `n2`, ...; also the node's hostname and network alias.
    pub name: String,
    pub ip: Ipv4Addr,
    pub container_id: String,
    pub container_name: String,
}

/// How to run a node's service process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub argv: Vec<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// The process's name as the kernel knows it (`comm`, at most 15
    /// bytes): what kill, pause and `is_running` look for.
    pub process_name: String,
    /// Where in the node stdout and stderr are appended.
    pub log_path: String,
}
