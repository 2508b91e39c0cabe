//! Where a node's processes listen and how they keep their data.

use std::path::PathBuf;

use splitbrain_vocab::FaultKind;

use crate::target::Applies;

/// Port of redis-server on each node.
pub const PORT: u16 = 6379;
/// Port of redis-sentinel on each node of the Sentinel target.
pub const SENTINEL_PORT: u16 = 26379;
/// Where a node keeps its data (and Sentinel its state) inside its container.
pub const DATA_DIR: &str = "/var/lib/splitbrain/redis";

// The persistence mode is a vocabulary word: the command line and the run
// records speak it too.
pub use splitbrain_vocab::RedisPersistence;

/// Debian packages every Redis node needs (Sentinel included, so the three
/// Redis targets share one node image).
pub fn packages() -> Vec<String> {
    ["redis-server", "redis-sentinel", "redis-tools"]
        .map(String::from)
        .to_vec()
}

/// Which faults apply to a Redis target: all of them, save the disk fault
/// for a server that writes nothing to disk. A killed Redis restarts with
/// the same command; what it remembers depends on [`RedisPersistence`],
/// which is the point of the fault. redis-server (and redis-sentinel) are
/// dynamically linked and time key expiry with `CLOCK_REALTIME`, which the
/// preload shim intercepts.
pub fn fault(persistence: RedisPersistence, fault: FaultKind) -> Applies {
    if fault == FaultKind::Disk && persistence == RedisPersistence::None {
        return Applies::No(
            "refused: Redis with persistence none writes nothing to its data directory \
             (use persistence aof-everysec or aof-always)"
                .to_string(),
        );
    }
    Applies::Yes
}

/// Where the processes of each node listen and keep their files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisLayout {
    pub port: u16,
    pub sentinel_port: u16,
    /// `None`: [`DATA_DIR`] on every node. `Some(root)`: `root/<node name>`,
    /// for nodes sharing one filesystem.
    pub data_root: Option<PathBuf>,
    /// Listen on the node's own address rather than on every address, so
    /// that nodes can share one host through loopback addresses.
    pub bind_node_ip: bool,
}

impl Default for RedisLayout {
    /// One node per container: standard ports, [`DATA_DIR`], every address.
    fn default() -> Self {
        RedisLayout {
            port: PORT,
            sentinel_port: SENTINEL_PORT,
            data_root: None,
            bind_node_ip: false,
        }
    }
}

impl RedisLayout {
    /// Nodes on one host, each on its own loopback address (127.0.0.x), with
    /// data under `data_root/<node name>`.
    pub fn loopback(port: u16, sentinel_port: u16, data_root: impl Into<PathBuf>) -> Self {
        RedisLayout {
            port,
            sentinel_port,
            data_root: Some(data_root.into()),
            bind_node_ip: true,
        }
    }
}
