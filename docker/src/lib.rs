//! The Docker substrate: base images built without a registry, clusters of
//! nodes on their own bridge network, the service process on each node, and
//! the faults injected into them.
//!
//! Model: a run owns one bridge network and N node containers, all labelled
//! `splitbrain.run=<run id>` so that removal (normal teardown, the drop
//! guard, Ctrl-C, `splitbrain clean`) needs no memory of what was made.
//! A node container idles under Docker's init; the service under test is a
//! `docker exec`ed process, so faults (`fault`, one module each) act on the
//! process (kill, SIGSTOP, its clock), inside the node's own network
//! namespace (iptables, NFQUEUE) or on the node's own tmpfs (a full data
//! directory), and never on the host. This crate injects faults; recording them in the history and
//! deciding when is the run loop's job.

pub mod cluster;
pub mod engine;
pub mod error;
pub mod fault;
pub mod guard;
pub mod images;
pub mod labels;
pub mod readiness;
pub mod subnet;
/// Grudges are cut in the vocabulary crate; partitions apply them here.
pub use splitbrain_vocab::topology;

pub use cluster::{
    Cluster, ClusterSpec, DataDir, ExecOutput, NodeInfo, ProcessState, ServiceSpec, TeardownReport,
};
pub use engine::{Engine, EngineOptions};
pub use error::{DockerError, Result};
pub use fault::disk::DiskFill;
pub use fault::packet::PacketFault;
pub use guard::{clean, remove_run, shutdown_signal, CleanReport, CleanScope, ClusterGuard};
pub use labels::{NODE_LABEL, RUN_LABEL};
pub use readiness::{wait_until, NotReady};
