//! The kill fault: the service process dies at once (SIGKILL), as in a
//! crash or an OOM kill, and comes back as a new process on heal. What the
//! service wrote to its data directory stays, since the directory is the
//! node's, not the process's.

use crate::cluster::Cluster;
use crate::error::Result;

/// SIGKILL the service on `node` and wait until it is gone. Returns how many
/// processes were killed; 0 (it was not running) is not an error.
pub async fn apply(cluster: &Cluster, node: &str) -> Result<usize> {
    cluster.kill_service(node).await
}

/// Start the service on `node` again with the spec it was last started
/// with (killing it first if it runs). Readiness is the target's to probe.
pub async fn heal(cluster: &Cluster, node: &str) -> Result<()> {
    cluster.restart_service(node).await
}
