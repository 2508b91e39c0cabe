//! A run's cluster: one bridge network, nodes n1..nN at fixed addresses, and
//! the service process each node runs.
//!
//! A node container's main process is Docker's init (tini) over
//! `sleep infinity`; the service under test is started with `docker exec`.
//! So killing, pausing or restarting the service never takes the container,
//! its network namespace or the iptables and queue rules in it away, and a
//! node's data directory survives a kill.
//!
//! [`Cluster`] is one type; its methods live by job: `lifecycle` (creation
//! and teardown), `io` (exec, put_file, get_file), `service` (the service
//! process) and `logs` (collection at teardown). `spec` holds the plain data
//! they share and `handle` the value itself. Faults (`crate::fault`) are
//! built on these methods; nothing here knows a fault.

mod handle;
mod io;
mod lifecycle;
mod logs;
mod service;
mod spec;

pub use handle::Cluster;
pub(crate) use io::sh_quote;
pub use io::ExecOutput;
pub use lifecycle::{networks_labelled, TeardownReport};
pub(crate) use lifecycle::{CLIENTS_CHAIN, PACKET_CHAIN, PARTITION_CHAIN};
pub use service::ProcessState;
pub use spec::{ClusterSpec, DataDir, NodeInfo, ServiceSpec, MAX_NODES};
