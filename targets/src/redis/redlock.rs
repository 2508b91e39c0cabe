//! Redlock over independent Redis nodes (`--target redlock`), written here
//! from its author's description so that the history records exactly what
//! the algorithm decided.
//!
//! # Algorithm
//!
//! To acquire, a client takes the time, sends `SET key value NX PX ttl` with
//! one random value to every node at once, each request bounded by a timeout
//! far below the TTL ([`per_node_timeout`]), and counts grants. It holds the
//! lock if a quorum (N/2+1) granted and the validity, TTL minus the time the
//! round took minus the drift allowance ([`redlock_drift_ms`]: 1 % of the TTL
//! plus 2 ms), is positive. Otherwise it releases on every node. Renewal is
//! the same round with a compare-on-value `PEXPIRE`, under the same rule,
//! and only while the previous validity lasts; release is a
//! compare-on-value `DEL` on every node.
//!
//! The history's `valid_until` is the round's invoke time plus the validity,
//! and a grant's `node` lists the nodes that granted it, so a report can show
//! which majorities two overlapping holders had.
//!
//! # Tokens
//!
//! Redlock has no fencing token: the nodes share no counter, and a maximum
//! over per-node counters does not increase across grants made by different
//! majorities. Grants carry no token ([`TokenSemantics::None`]); a fenced
//! write is refused for want of one.
//!
//! # Resource
//!
//! The protected resource lives on the first node, outside the algorithm.

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::future::join_all;
use redis::aio::ConnectionManager;
use splitbrain_checkers::history::F;
use splitbrain_vocab::WriteMode;

use super::commands::{self, OwnLock};
use super::connection::lazy_manager;
use super::deploy::{RedisLayout, RedisPersistence};
use super::instance_client::no_election;
use super::outcome::Failure;
use super::single::probe_node;
use super::tokens::TokenSemantics;
use crate::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use crate::process::ProcessState;
use crate::resource::next_list;
use crate::target::{ClientResult, NodeAddr, Target, TargetError};

/// The number of independent nodes Redlock's author recommends.
pub const REDLOCK_NODES: usize = 5;
/// Lower bound of the per-node timeout.
const MIN_NODE_TIMEOUT_MS: u64 = 5;

/// Redlock's clock drift allowance for a TTL of `lease_ms`: 1 % of the TTL
/// (rounded up) plus 2 ms for the granularity of Redis's expiry.
pub fn redlock_drift_ms(lease_ms: u64) -> u64 {
    lease_ms.div_ceil(100).saturating_add(2)
}

/// The bound on each node's answer in a round: a twentieth of the TTL, at
/// least [`MIN_NODE_TIMEOUT_MS`] and at most the request timeout, so that a
/// dead node costs a round little of the lock's validity.
pub fn per_node_timeout(cfg: &ClientConfig) -> Duration {
    Duration::from_millis(
        (cfg.lease_ms / 20)
            .max(MIN_NODE_TIMEOUT_MS)
            .min(cfg.request_timeout_ms.max(1)),
    )
}

/// Five (or any number of) independent redis-servers.
#[derive(Debug, Clone)]
pub struct RedlockTarget {
    write_mode: WriteMode,
    persistence: RedisPersistence,
    layout: RedisLayout,
    /// `None`: [`per_node_timeout`] of the client's configuration.
    node_timeout_ms: Option<u64>,
}

impl RedlockTarget {
    pub fn new(write_mode: WriteMode, persistence: RedisPersistence) -> Self {
        RedlockTarget {
            write_mode,
            persistence,
            layout: RedisLayout::default(),
            node_timeout_ms: None,
        }
    }

    /// Bound each node's answer in a round by `ms` instead of a twentieth
    /// of the TTL (for a loaded test machine, where a loopback round can
    /// take longer than a short TTL's twentieth).
    pub fn with_node_timeout_ms(mut self, ms: u64) -> Self {
        self.node_timeout_ms = Some(ms.max(1));
        self
    }

    /// Other ports, directories or bind addresses than one node per container.
    pub fn with_layout(mut self, layout: RedisLayout) -> Self {
        self.layout = layout;
        self
    }

    pub fn layout(&self) -> &RedisLayout {
        &self.layout
    }

    /// Redlock grants carry no token.
    pub fn token_semantics(&self) -> TokenSemantics {
        TokenSemantics::None
    }
}

#[async_trait]
impl Target for RedlockTarget {
    fn name(&self) -> &str {
        "redlock"
    }

    fn token_note(&self) -> Option<String> {
        Some(
            "Redlock offers no fencing token: grants carry none, so token-regression and \
             stale-token-accepted cannot apply and the fenced workload's writes are refused"
                .to_string(),
        )
    }

    async fn probe(&self, node: &NodeAddr, timeout: Duration) -> Result<(), TargetError> {
        probe_node(node, self.layout.port, timeout).await
    }

    async fn client(&self, nodes: &[NodeAddr], process: u64, cfg: &ClientConfig) -> ClientResult {
        if nodes.is_empty() {
            return Err(TargetError::Client(
                "failed to set up Redlock: the cluster has no node".into(),
            ));
        }
        let per_node = self
            .node_timeout_ms
            .map_or_else(|| per_node_timeout(cfg), Duration::from_millis);
        let mut conns = Vec::with_capacity(nodes.len());
        for node in nodes {
            // Lock rounds bound each answer by the per-node timeout; the
            // resource node's requests by the request timeout.
            let conn = lazy_manager(
                node.ip,
                self.layout.port,
                cfg.connect_timeout().min(cfg.request_timeout()),
                cfg.request_timeout().max(per_node),
            )?;
            conns.push((node.name.clone(), conn));
        }
        Ok(Box::new(RedlockClient {
            state: ProcessState::new(process, cfg, self.write_mode),
            nodes: conns,
            per_node,
        }))
    }

    /// Redlock's five independent nodes.
    fn default_nodes(&self) -> usize {
        5
    }

    // Every fault applies as to any Redis target. Each node expires keys by
    // its own wall clock, which the preload shim moves: the fault
    // Kleppmann's critique of Redlock rests on.
    super::target_methods::redis_target_methods!(one_server_per_node);
}

/// A process's Redlock client.
pub struct RedlockClient {
    /// Its holds: per lock, the value of this process's grant and its
    /// validity bound.
    state: ProcessState<Hold>,
    /// Every node, the resource's first.
    nodes: Vec<(String, ConnectionManager)>,
    per_node: Duration,
}

impl std::fmt::Debug for RedlockClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: Vec<&String> = self.nodes.iter().map(|(n, _)| n).collect();
        self.state.fmt_client(f, "RedlockClient", &nodes)
    }
}

#[derive(Debug, Clone)]
struct Hold {
    value: String,
    valid_until_ns: i64,
}

/// How one node answered in a round.
type Answers = Vec<Result<bool, Failure>>;

impl RedlockClient {
    fn quorum(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// The validity left after a round that took `elapsed`, in ns (may be negative).
    fn validity_ns(&self, elapsed: Duration) -> i64 {
        let ms_to_ns = |ms: u64| {
            i64::try_from(ms)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000)
        };
        let elapsed_ns = i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX);
        ms_to_ns(self.state.cfg.lease_ms)
            .saturating_sub(elapsed_ns)
            .saturating_sub(ms_to_ns(redlock_drift_ms(self.state.cfg.lease_ms)))
    }

    fn names_where(&self, answers: &Answers, yes: bool) -> String {
        self.nodes
            .iter()
            .zip(answers)
            .filter(|(_, a)| matches!(a, Ok(v) if *v == yes))
            .map(|((name, _), _)| name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Asks every node at once, in node order.
    async fn round<'a, Fut>(&'a self, ask: impl Fn(&'a ConnectionManager) -> Fut) -> Answers
    where
        Fut: Future<Output = Result<bool, Failure>>,
    {
        join_all(self.nodes.iter().map(|(_, conn)| ask(conn))).await
    }

    async fn grant_round(&self, key: &str, value: &str) -> Answers {
        let ttl_ms = self.state.cfg.lease_ms;
        self.round(|conn| commands::grant(conn, key, value, ttl_ms, self.per_node))
            .await
    }

    async fn extend_round(&self, key: &str, value: &str) -> Answers {
        let ttl_ms = self.state.cfg.lease_ms;
        let lock = OwnLock { key, value };
        self.round(|conn| lock.extend(conn, ttl_ms, self.per_node))
            .await
    }

    async fn release_round(&self, key: &str, value: &str) -> Answers {
        let lock = OwnLock { key, value };
        self.round(|conn| lock.release(conn, self.per_node)).await
    }

    async fn acquire(&mut self, key: &str, clock: &HistoryClock) -> Completion {
        let value = commands::random_value(self.state.process);
        let started = Instant::now();
        let invoked_at_ns = clock.ns_at(started);
        let answers = self.grant_round(key, &value).await;
        let validity_ns = self.validity_ns(started.elapsed());
        let granted = answers.iter().filter(|a| matches!(a, Ok(true))).count();
        if granted >= self.quorum() && validity_ns > 0 {
            let valid_until_ns = invoked_at_ns.saturating_add(validity_ns);
            self.state.holds.insert(
                key.to_string(),
                Hold {
                    value,
                    valid_until_ns,
                },
            );
            return Completion {
                valid_until: Some(valid_until_ns),
                node: Some(self.names_where(&answers, true)),
                ..Completion::ok()
            };
        }
        let reason = if granted >= self.quorum() {
            format!(
                "the round took {} ms, leaving no validity",
                started.elapsed().as_millis()
            )
        } else {
            format!(
                "granted by {granted} of {} nodes, quorum {}",
                self.nodes.len(),
                self.quorum()
            )
        };
        // Undo whatever was granted, on every node: a node that did not
        // answer may still have granted.
        let released = self.release_round(key, &value).await;
        // A node may still hold this grant if it granted or did not answer,
        // and the release did not reach it.
        let still_possible = answers
            .iter()
            .zip(&released)
            .filter(|(grant, release)| {
                !matches!(grant, Ok(false) | Err(Failure::Refused(_))) && release.is_err()
            })
            .count();
        let message = format!("failed to acquire {key}: {reason}");
        if still_possible >= self.quorum() && validity_ns > 0 {
            Completion::info(format!(
                "{message}; {still_possible} nodes may still hold the grant"
            ))
        } else {
            Completion::fail(message)
        }
    }

    async fn renew(&mut self, key: &str, clock: &HistoryClock) -> Completion {
        let Some(hold) = self.state.holds.get(key).cloned() else {
            return Completion::fail(format!(
                "failed to renew {key}: this process holds no lock on it"
            ));
        };
        let started = Instant::now();
        let invoked_at_ns = clock.ns_at(started);
        // Redlock extends a lock only within its validity: after it, another
        // client may have held a majority in between.
        if invoked_at_ns >= hold.valid_until_ns {
            self.state.holds.remove(key);
            return Completion::fail(format!(
                "failed to renew {key}: its validity ran out {} ms ago",
                (invoked_at_ns - hold.valid_until_ns) / 1_000_000
            ));
        }
        let answers = self.extend_round(key, &hold.value).await;
        let validity_ns = self.validity_ns(started.elapsed());
        let extended = answers.iter().filter(|a| matches!(a, Ok(true))).count();
        if extended >= self.quorum() && validity_ns > 0 {
            let valid_until_ns = invoked_at_ns.saturating_add(validity_ns);
            if let Some(held) = self.state.holds.get_mut(key) {
                held.valid_until_ns = valid_until_ns;
            }
            return Completion {
                valid_until: Some(valid_until_ns),
                node: Some(self.names_where(&answers, true)),
                ..Completion::ok()
            };
        }
        // A renewal on fewer than a quorum extends nothing the client may
        // rely on; the earlier bound stands and the process stops holding.
        self.state.holds.remove(key);
        Completion::fail(format!(
            "failed to renew {key}: extended on {extended} of {} nodes, quorum {}, validity {} ms",
            self.nodes.len(),
            self.quorum(),
            validity_ns / 1_000_000
        ))
    }

    async fn release(&mut self, key: &str) -> Completion {
        let Some(hold) = self.state.holds.remove(key) else {
            return Completion::fail(format!(
                "failed to release {key}: this process holds no lock on it"
            ));
        };
        let answers = self.release_round(key, &hold.value).await;
        let unanswered = answers.iter().filter(|a| a.is_err()).count();
        if unanswered < self.quorum() {
            Completion::ok()
        } else {
            Completion::info(format!(
                "failed to release {key}: {unanswered} of {} nodes did not answer and may still hold it",
                self.nodes.len()
            ))
        }
    }

    fn resource(&self) -> (String, ConnectionManager) {
        // `client` refuses an empty cluster.
        let (name, conn) = &self.nodes[0];
        (name.clone(), conn.clone())
    }

    async fn read(&mut self, key: &str) -> Completion {
        let (node, conn) = self.resource();
        let completion =
            match commands::read_resource(&conn, key, self.state.cfg.request_timeout()).await {
                Ok(list) => self.state.read(key, list),
                Err(message) => Completion::fail(message),
            };
        Completion {
            node: Some(node),
            ..completion
        }
    }

    async fn write(&mut self, inv: &Invocation) -> Completion {
        let key = inv.key.as_str();
        if self.state.write_mode == WriteMode::Fenced {
            return Completion::fail(format!(
                "failed to write {key}: Redlock offers no fencing token to guard the write with"
            ));
        }
        let (list, body) = match next_list(&self.state.bases, inv) {
            Ok(next) => next,
            Err(message) => return Completion::fail(message),
        };
        let (node, conn) = self.resource();
        let written =
            commands::write_unguarded(&conn, key, &body, self.state.cfg.request_timeout()).await;
        let completion = self.state.wrote(key, list, written);
        Completion {
            token: inv.token,
            node: Some(node),
            ..completion
        }
    }
}

#[async_trait]
impl Client for RedlockClient {
    async fn invoke(&mut self, inv: &Invocation, clock: &HistoryClock) -> Completion {
        let key = inv.key.as_str();
        match &inv.f {
            F::Acquire => self.acquire(key, clock).await,
            F::Renew => self.renew(key, clock).await,
            F::Release => self.release(key).await,
            F::Read => self.read(key).await,
            F::Write => self.write(inv).await,
            F::Campaign | F::Resign | F::Observe => no_election(&inv.f),
            F::Other(f) => {
                Completion::fail(format!("failed to run {f}: not a Redis client operation"))
            }
        }
    }

    async fn close(&mut self) {
        let holds: Vec<(String, Hold)> = self.state.holds.drain().collect();
        for (key, Hold { value, .. }) in holds {
            // Best effort: an unreleased lock expires after its TTL.
            self.release_round(&key, &value).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(lease_ms: u64, request_timeout_ms: u64) -> ClientConfig {
        ClientConfig {
            lease_ms,
            request_timeout_ms,
            acquire_timeout_ms: 1000,
            connect_timeout_ms: 1000,
        }
    }

    #[test]
    fn drift_is_one_percent_of_the_ttl_plus_two_ms() {
        assert_eq!(redlock_drift_ms(10_000), 102);
        assert_eq!(redlock_drift_ms(2_000), 22);
        assert_eq!(redlock_drift_ms(1), 3);
    }

    #[test]
    fn per_node_timeout_is_far_below_the_ttl_and_bounded() {
        assert_eq!(
            per_node_timeout(&cfg(2_000, 1_000)),
            Duration::from_millis(100)
        );
        assert_eq!(per_node_timeout(&cfg(40, 1_000)), Duration::from_millis(5));
        assert_eq!(
            per_node_timeout(&cfg(100_000, 1_000)),
            Duration::from_millis(1_000)
        );
    }
}
