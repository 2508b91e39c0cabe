//! How a client writes the protected resource under its lock.

use serde::{Deserialize, Serialize};

/// The `fenced` workload guards its writes with the token; `append`
/// deliberately does not, to show what an unguarded write loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// The service refuses the write unless the writer's token is still
    /// current (etcd: a transaction on the lock key's create revision): a
    /// stale holder's write fails.
    Fenced,
    /// A plain write: a stale holder's write succeeds and can lose updates.
    Unguarded,
}
