//! What the conformance suite needs of a service family: a [`TestBed`] that
//! starts its nodes on loopback and says what its clients promise.

use std::time::Duration;

use splitbrain_checkers::history::OpType;
use splitbrain_targets::client::{ClientConfig, Completion, HistoryClock};
use splitbrain_targets::etcd::WriteMode;
use splitbrain_targets::target::Target;

use crate::cluster::LocalCluster;

/// What a second process's acquire meets while the lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contention {
    /// It waits (up to its acquire timeout) until the lock is free.
    Queues,
    /// It is refused at once: a `fail`.
    Refuses,
}

/// What a bed's service and client promise, where targets legitimately
/// differ; the suite checks each promise as stated.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Nodes a bed starts for a behaviour that needs no particular number.
    pub nodes: u8,
    /// The timeouts the suite's clients use.
    pub config: ClientConfig,
    pub contention: Contention,
    /// Grants carry tokens, and each grant's is higher than the last.
    pub tokens: bool,
    /// The node a grant or renewal names on a healthy cluster.
    pub grant_node: &'static str,
    /// Longest a lock stays held on the service after its holder's last
    /// grant or renewal (the lease, times any margin the service keeps
    /// for fast clocks), plus scheduling slack.
    pub held_at_most: Duration,
    /// Words the error of a renewal after the lease ran out contains,
    /// where the bed pins them.
    pub late_renewal_says: Option<&'static str>,
    /// How a release after the lease ran out ends.
    pub late_release: OpType,
    /// How an acquire sent to a paused server ends.
    pub paused_acquire: OpType,
    /// How an acquire that waited its whole acquire timeout ends.
    pub gave_up: OpType,
    /// How a write ends that was sent on a connection whose server was
    /// killed: `info` if it may have been sent, `fail` if the client knows
    /// it was not.
    pub write_to_killed: OpType,
    /// Whether acknowledged writes survive a kill and restart.
    pub durable: bool,
    /// Whether a client can be built while its server is down (its first
    /// request then finds the connection refused).
    pub builds_clients_while_down: bool,
}

/// A service family on loopback, for the suite in [`crate::suite`]: how
/// to start its nodes, what its clients promise, and checks of its own
/// after some behaviours. A [`LocalCluster`] does the rest (clients, kill,
/// restart, pause, logs) for every family alike.
///
/// The suite starts a fresh cluster for every behaviour, so that behaviours
/// cannot disturb each other, and drops it (every process killed) after.
#[allow(
    async_fn_in_trait,
    reason = "beds are awaited on the test's own task, never spawned: no Send bound is wanted"
)]
pub trait TestBed {
    type Service: Target;

    /// The bed's name in messages and printed numbers.
    const NAME: &'static str;

    fn profile() -> Profile;

    /// Starts `nodes` nodes whose clients write to the protected resource
    /// in `write_mode`, and waits until every one is up.
    async fn start(nodes: u8, write_mode: WriteMode) -> LocalCluster<Self::Service>;

    /// Checks of the bed's own after an acquire gave up waiting (see
    /// [`crate::suite::an_acquire_that_waits_past_its_timeout_gives_up`]).
    async fn after_acquire_timeout(cluster: &LocalCluster<Self::Service>) {
        let _ = cluster;
    }

    /// Checks of the bed's own after a paused server resumed, given the
    /// grant on another key that a client whose requests timed out during
    /// the pause got afterwards (see
    /// [`crate::suite::requests_to_a_paused_server_end_info_within_the_request_timeout`]).
    async fn after_resume(
        cluster: &LocalCluster<Self::Service>,
        clock: &HistoryClock,
        other: &Completion,
    ) {
        let _ = (cluster, clock, other);
    }
}
