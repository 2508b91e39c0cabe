//! The pause fault: the service process stops (SIGSTOP) with its sockets
//! open and answers nothing, like a process in a long GC pause, until it is
//! continued (SIGCONT). SIGSTOP rather than `docker pause`, whose cgroup
//! freezer would also stop the packet delayer and everything else in the
//! node.

use crate::cluster::Cluster;
use crate::error::Result;

/// SIGSTOP the service on `node` and wait until the kernel reports it
/// stopped. Refused when the service is not running.
pub async fn apply(cluster: &Cluster, node: &str) -> Result<()> {
    cluster.pause_service(node).await
}

/// SIGCONT the service on `node` and wait until it runs. A no-op when it is
/// not running or was never started.
pub async fn heal(cluster: &Cluster, node: &str) -> Result<()> {
    cluster.resume_service(node).await
}
