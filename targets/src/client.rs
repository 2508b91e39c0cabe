//! The client side of a target: one [`Client`] per logical process.

use std::time::Duration;

use async_trait::async_trait;
/// Defined in the vocabulary crate so that workloads need no client code.
pub use splitbrain_vocab::op::{Completion, HistoryClock, Invocation};

/// Per-client options. Every call a client makes is bounded by one of these.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Lease TTL requested for locks and campaigns.
    pub lease_ms: u64,
    /// Bound on any single request (connect, get, put, keep-alive, ...).
    pub request_timeout_ms: u64,
    /// Bound on waiting for a lock or an election win before giving up.
    pub acquire_timeout_ms: u64,
    /// Bound on establishing a connection.
    pub connect_timeout_ms: u64,
}

impl ClientConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

/// A logical process's connection to the service under test.
///
/// `invoke` never returns an error: operational failures are history data
/// (`fail` when the service refused, `info` when the outcome is unknown).
#[async_trait]
pub trait Client: Send {
    async fn invoke(&mut self, inv: &Invocation, clock: &HistoryClock) -> Completion;

    /// Best-effort cleanup (revoke leases, close connections) when the process retires.
    async fn close(&mut self) {}
}
