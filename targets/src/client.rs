//! The client side of a target: one [`Client`] per logical process.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use splitbrain_checkers::history::{OpType, F};

/// The history's one monotonic clock. Every client of a run shares one, so
/// real-time order between client operations is exact.
#[derive(Debug, Clone, Copy)]
pub struct HistoryClock {
    start: Instant,
}

impl HistoryClock {
    pub fn start() -> Self {
        HistoryClock {
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the test started.
    pub fn now_ns(&self) -> i64 {
        self.ns_at(Instant::now())
    }

    pub fn ns_at(&self, at: Instant) -> i64 {
        i64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(i64::MAX)
    }

    pub fn started_at(&self) -> Instant {
        self.start
    }
}

/// What a workload asks a client to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub f: F,
    /// Lock or election name.
    pub key: String,
    /// The token the process believes it holds (on `renew`, `write`, `release`).
    pub token: Option<u64>,
    pub value: Option<serde_json::Value>,
}

/// How an invocation ended. `kind` is never [`OpType::Invoke`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub kind: OpType,
    pub token: Option<u64>,
    /// Conservative lease bound in history-clock ns (invoke time of the last
    /// successful grant or keep-alive plus the TTL).
    pub valid_until: Option<i64>,
    pub value: Option<serde_json::Value>,
    /// The node that answered, where known.
    pub node: Option<String>,
    pub error: Option<String>,
}

impl Completion {
    pub fn ok() -> Self {
        Self::with_kind(OpType::Ok)
    }

    pub fn fail(error: impl Into<String>) -> Self {
        Completion {
            error: Some(error.into()),
            ..Self::with_kind(OpType::Fail)
        }
    }

    /// May or may not have taken effect: timeouts and lost connections.
    pub fn info(error: impl Into<String>) -> Self {
        Completion {
            error: Some(error.into()),
            ..Self::with_kind(OpType::Info)
        }
    }

    fn with_kind(kind: OpType) -> Self {
        Completion {
            kind,
            token: None,
            valid_until: None,
            value: None,
            node: None,
            error: None,
        }
    }
}

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
