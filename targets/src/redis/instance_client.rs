//! One logical process's client of a lock kept on one Redis instance: the
//! single node of [`super::RedisTarget`], or whichever node the Sentinels
//! name as primary for [`super::SentinelTarget`].
//!
//! The client remembers, per lock, the random value and token of its grant,
//! and per resource the list it last read, which is the basis of its next
//! write. Every request is bounded by the [`ClientConfig`] request timeout
//! here as well as by the connection's own timeouts.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use splitbrain_checkers::history::F;
use splitbrain_vocab::WriteMode;

use super::commands::{self, OwnLock};
use super::discovery::Discovery;
use super::outcome::Failure;
use crate::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use crate::process::{granted, ProcessState};
use crate::resource::next_list;

const NS_PER_MS: i64 = 1_000_000;

/// Where the lock lives.
pub(crate) enum Locator {
    /// Always the same node.
    Fixed {
        node: String,
        conn: ConnectionManager,
    },
    /// The primary the Sentinels name, asked before every operation.
    Sentinel(Discovery),
}

impl Locator {
    async fn locate(&self, cfg: &ClientConfig) -> Result<(String, ConnectionManager), String> {
        match self {
            Locator::Fixed { node, conn } => Ok((node.clone(), conn.clone())),
            Locator::Sentinel(discovery) => discovery.primary(cfg.request_timeout()).await,
        }
    }
}

/// What a process holds on one lock.
#[derive(Debug, Clone)]
struct Hold {
    value: String,
    token: u64,
}

fn own_lock<'a>(key: &'a str, hold: &'a Hold) -> OwnLock<'a> {
    OwnLock {
        key,
        value: &hold.value,
    }
}

/// A [`Client`] of a lock on one Redis instance.
pub struct InstanceClient {
    state: ProcessState<Hold>,
    locator: Locator,
}

impl std::fmt::Debug for InstanceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = match &self.locator {
            Locator::Fixed { node, .. } => node.as_str(),
            Locator::Sentinel(_) => "the primary the Sentinels name",
        };
        self.state.fmt_client(f, "InstanceClient", &at)
    }
}

impl InstanceClient {
    pub(crate) fn new(
        locator: Locator,
        process: u64,
        cfg: &ClientConfig,
        write_mode: WriteMode,
    ) -> Self {
        InstanceClient {
            state: ProcessState::new(process, cfg, write_mode),
            locator,
        }
    }

    async fn acquire(
        &mut self,
        conn: &ConnectionManager,
        key: &str,
        clock: &HistoryClock,
    ) -> Completion {
        let value = commands::random_value(self.state.process);
        let invoked_at_ns = clock.now_ns();
        let grant = commands::grant_with_token(
            conn,
            key,
            &value,
            self.state.cfg.lease_ms,
            self.state.cfg.request_timeout(),
        )
        .await;
        match grant {
            Ok(Some(token)) => {
                self.state
                    .holds
                    .insert(key.to_string(), Hold { value, token });
                granted(token, self.valid_until(invoked_at_ns))
            }
            Ok(None) => {
                Completion::fail(format!("failed to acquire {key}: another grant holds it"))
            }
            Err(failure) => failure.completion(),
        }
    }

    async fn release(&mut self, conn: &ConnectionManager, key: &str) -> Completion {
        // Whatever the answer, this process no longer acts as holder.
        let Some(hold) = self.state.holds.remove(key) else {
            return Completion::fail(format!(
                "failed to release {key}: this process holds no lock on it"
            ));
        };
        let released = own_lock(key, &hold)
            .release(conn, self.state.cfg.request_timeout())
            .await;
        let completion = match released {
            Ok(true) => Completion::ok(),
            Ok(false) => Completion::fail(format!(
                "failed to release {key}: the lock no longer holds this grant's value (expired)"
            )),
            Err(failure) => failure.completion(),
        };
        Completion {
            token: Some(hold.token),
            ..completion
        }
    }

    async fn renew(
        &mut self,
        conn: &ConnectionManager,
        key: &str,
        clock: &HistoryClock,
    ) -> Completion {
        let Some(hold) = self.state.holds.get(key).cloned() else {
            return Completion::fail(format!(
                "failed to renew {key}: this process holds no lock on it"
            ));
        };
        let invoked_at_ns = clock.now_ns();
        let extended = own_lock(key, &hold)
            .extend(
                conn,
                self.state.cfg.lease_ms,
                self.state.cfg.request_timeout(),
            )
            .await;
        match extended {
            Ok(true) => granted(hold.token, self.valid_until(invoked_at_ns)),
            Ok(false) => {
                self.state.holds.remove(key);
                Completion::fail(format!(
                    "failed to renew {key}: the lock no longer holds this grant's value (expired)"
                ))
            }
            Err(failure) => {
                // The workload stops acting as holder after a failed renewal.
                self.state.holds.remove(key);
                failure.completion()
            }
        }
    }

    async fn read(&mut self, conn: &ConnectionManager, key: &str) -> Completion {
        match commands::read_resource(conn, key, self.state.cfg.request_timeout()).await {
            Ok(list) => self.state.read(key, list),
            Err(message) => Completion::fail(message),
        }
    }

    async fn write(&mut self, conn: &ConnectionManager, inv: &Invocation) -> Completion {
        let key = inv.key.as_str();
        let (list, body) = match next_list(&self.state.bases, inv) {
            Ok(next) => next,
            Err(message) => return Completion::fail(message),
        };
        let limit = self.state.cfg.request_timeout();
        let (result, token) = match self.state.write_mode {
            WriteMode::Unguarded => (
                commands::write_unguarded(conn, key, &body, limit).await,
                inv.token,
            ),
            WriteMode::Fenced => {
                let Some(token) = inv
                    .token
                    .or_else(|| self.state.holds.get(key).map(|h| h.token))
                else {
                    return Completion::fail(format!(
                        "failed to write {key}: the write carries no token to fence it with"
                    ));
                };
                let fenced = commands::write_fenced(conn, key, token, &body, limit).await;
                let stale = || {
                    format!(
                        "failed to write {key}: token {token} is below the highest the resource accepted"
                    )
                };
                (
                    fenced.and_then(|took| Failure::refused_unless(took, stale)),
                    Some(token),
                )
            }
        };
        Completion {
            token,
            ..self.state.wrote(key, list, result)
        }
    }

    fn valid_until(&self, invoked_at_ns: i64) -> i64 {
        let lease_ns = i64::try_from(self.state.cfg.lease_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(NS_PER_MS);
        invoked_at_ns.saturating_add(lease_ns)
    }
}

/// The answer to election operations, which no Redis target offers.
pub(crate) fn no_election(f: &F) -> Completion {
    Completion::fail(format!(
        "failed to {f}: the Redis targets offer no leader election"
    ))
}

#[async_trait]
impl Client for InstanceClient {
    async fn invoke(&mut self, inv: &Invocation, clock: &HistoryClock) -> Completion {
        let key = inv.key.as_str();
        match &inv.f {
            F::Campaign | F::Resign | F::Observe => return no_election(&inv.f),
            F::Other(f) => {
                return Completion::fail(format!("failed to run {f}: not a Redis client operation"))
            }
            _ => {}
        }
        // Nothing was sent when the primary cannot be found: a refusal.
        let (node, conn) = match self.locator.locate(&self.state.cfg).await {
            Ok(found) => found,
            Err(message) => return Completion::fail(message),
        };
        let completion = match &inv.f {
            F::Acquire => self.acquire(&conn, key, clock).await,
            F::Release => self.release(&conn, key).await,
            F::Renew => self.renew(&conn, key, clock).await,
            F::Read => self.read(&conn, key).await,
            F::Write => self.write(&conn, inv).await,
            _ => no_election(&inv.f),
        };
        Completion {
            node: Some(node),
            ..completion
        }
    }

    async fn close(&mut self) {
        let holds: Vec<(String, Hold)> = self.state.holds.drain().collect();
        let Ok((_, conn)) = self.locator.locate(&self.state.cfg).await else {
            return;
        };
        for (key, hold) in holds {
            // Best effort: an unreleased lock expires after its TTL.
            if let Err(failure) = own_lock(&key, &hold)
                .release(&conn, self.state.cfg.request_timeout())
                .await
            {
                tracing::debug!(process = self.state.process, "{}", failure.message());
            }
        }
    }
}
