//! The [`Cluster`] value itself and what it knows without asking the engine.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{DockerError, Result};
use crate::guard::ClusterGuard;
use crate::subnet::Ipv4Net;

use super::spec::{ClusterSpec, DataDir, NodeInfo, ServiceSpec};

/// A running cluster. Dropping it without [`Cluster::teardown`] still
/// removes its containers and network (see [`ClusterGuard`]).
///
/// One type whose methods live beside the job they do: creation and
/// teardown (`lifecycle.rs`), node I/O (`io.rs`), the service process
/// (`service.rs`) and log collection (`logs.rs`).
#[derive(Debug)]
pub struct Cluster {
    pub(super) engine: Engine,
    pub(super) spec: ClusterSpec,
    pub(super) subnet: Ipv4Net,
    pub(super) network_name: String,
    pub(super) nodes: Vec<NodeInfo>,
    /// Per node, the spec its service was last started with.
    pub(super) services: Mutex<HashMap<String, ServiceSpec>>,
    /// Files in the nodes that teardown also collects: name in the logs
    /// directory to path in a node. Faults that write logs add theirs.
    pub(super) extra_logs: Mutex<BTreeMap<String, String>>,
    pub(super) guard: ClusterGuard,
}

impl Cluster {
    pub fn run_id(&self) -> &str {
        &self.spec.run_id
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn network_name(&self) -> &str {
        &self.network_name
    }

    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    /// The host's address on the run's bridge: where the controller's
    /// clients come from, as the nodes see them.
    pub fn gateway_ip(&self) -> Ipv4Addr {
        self.subnet.host(1)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The data directory every node has, if the spec asked for one.
    pub fn data_dir(&self) -> Option<&DataDir> {
        self.spec.data_dir.as_ref()
    }

    pub fn node(&self, name: &str) -> Result<&NodeInfo> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| DockerError::UnknownNode {
                node: name.to_string(),
                run_id: self.spec.run_id.clone(),
            })
    }

    pub(crate) fn process_wait(&self) -> Duration {
        Duration::from_millis(self.spec.process_wait_ms)
    }
}
