//! One logical process's etcd client: leases, the Lock and Election APIs, and
//! the protected resource.
//!
//! The client remembers what the process holds (lease, lock key or leader key,
//! token) and, per resource, the list it last read, which is the basis of its
//! next write. Every request is bounded by a [`ClientConfig`] timeout enforced
//! here, never by a library default.
//!
//! There is no background keep-alive: a lease is renewed only by a `renew`
//! operation, and while a Lock or Campaign call waits in the queue. A process
//! that stops invoking (the client-pause fault) lets its lease lapse exactly
//! as a holder stalled by a GC pause would, and the history records every
//! renewal the lease bound rests on.

use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Compare, CompareOp, LeaderKey, LockOptions, ProclaimOptions, ResignOptions, Txn, TxnOp,
};
use serde_json::Value;
use splitbrain_checkers::history::F;
use splitbrain_vocab::WriteMode;

use super::connection::{self, ConnectFailure};
use super::keys::{election_name, lock_name, resource_key};
use super::outcome::{is_election_without_leader, Failure, Rpc};
use crate::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use crate::process::{granted, process_value, ProcessState};
use crate::resource::next_list;
use crate::target::TargetError;

const NS_PER_SECOND: i64 = 1_000_000_000;

/// etcd leases are granted in whole seconds: the TTL asked for a lease of
/// `lease_ms`, rounded up so a holder never gets less than it asked for.
pub fn lease_ttl_seconds(lease_ms: u64) -> i64 {
    i64::try_from(lease_ms.div_ceil(1000).max(1)).unwrap_or(i64::MAX)
}

/// What a process holds on one key.
#[derive(Debug, Clone)]
struct Hold {
    lease_id: i64,
    /// The TTL the server granted (it may raise a request to its minimum).
    ttl_s: i64,
    /// Lock key create revision, or leader key revision (the term).
    token: u64,
    role: Role,
}

#[derive(Debug, Clone)]
enum Role {
    Lock { lock_key: Vec<u8> },
    Leader { leader: LeaderKey },
}

struct Grant {
    id: i64,
    ttl_s: i64,
    invoked_at_ns: i64,
}

/// What an acquire or a campaign says of itself.
struct Attempt {
    /// As in "failed to VERB KEY".
    verb: &'static str,
    /// Why the process may not queue for a key it holds.
    held: &'static str,
    /// What the queued request does.
    what: &'static str,
}

const ACQUIRE: Attempt = Attempt {
    verb: "acquire",
    held: "this process already holds it",
    what: "acquire the lock",
};

const CAMPAIGN: Attempt = Attempt {
    verb: "campaign for",
    held: "this process already leads or holds it",
    what: "win the election",
};

/// A [`Client`] connected to one etcd node.
pub struct EtcdClient {
    state: ProcessState<Hold>,
    etcd: etcd_client::Client,
    node: String,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.state.fmt_client(f, "EtcdClient", &self.node)
    }
}

impl EtcdClient {
    /// Connects process `process` to the etcd member at `endpoint`
    /// (`http://ip:port`), which the history records as `node`.
    pub async fn connect(
        endpoint: &str,
        node: &str,
        process: u64,
        cfg: &ClientConfig,
        write_mode: WriteMode,
    ) -> Result<Self, TargetError> {
        let etcd =
            connection::connect(endpoint, cfg.connect_timeout(), cfg.request_timeout(), true)
                .await
                .map_err(|failure| match failure {
                    ConnectFailure::Library(e) => {
                        TargetError::client_call(format!("connect to {endpoint}"), e)
                    }
                    ConnectFailure::TimedOut => TargetError::Client(format!(
                        "failed to connect to {endpoint} within {} ms",
                        cfg.connect_timeout_ms
                    )),
                })?;
        Ok(EtcdClient {
            state: ProcessState::new(process, cfg, write_mode),
            etcd,
            node: node.to_string(),
        })
    }

    async fn acquire(&mut self, key: &str, clock: &HistoryClock) -> Completion {
        let lock = |mut etcd: etcd_client::Client, lease_id| async move {
            let options = LockOptions::new().with_lease(lease_id);
            etcd.lock(lock_name(key), Some(options)).await
        };
        let (grant, resp, refreshed_while_waiting) =
            match self.queue(key, &ACQUIRE, clock, lock).await {
                Ok(queued) => queued,
                Err(refusal) => return refusal,
            };
        let lock_key = resp.key().to_vec();
        // From here the lock was granted: any failure is `info`, never `fail`.
        let refreshed_at_ns = self
            .keep_alive_once(grant.id, clock)
            .await
            .unwrap_or(refreshed_while_waiting);
        let token = match self.create_revision(&lock_key).await {
            Ok(Some(token)) => token,
            Ok(None) => {
                self.revoke_quietly(grant.id).await;
                return Completion::info(format!(
                    "failed to read the token of {key}: the lock key vanished right after the grant"
                ));
            }
            Err(failure) => {
                self.revoke_quietly(grant.id).await;
                return Completion::info(failure.message());
            }
        };
        self.hold(key, &grant, refreshed_at_ns, token, Role::Lock { lock_key })
    }

    async fn release(&mut self, key: &str) -> Completion {
        let Some((hold, lock_key)) = self.held_lock(key) else {
            return Completion::fail(format!(
                "failed to release {key}: this process holds no lock on it"
            ));
        };
        let unlock = self
            .unary("release the lock", |mut etcd| async move {
                etcd.unlock(lock_key).await
            })
            .await;
        self.let_go(key, hold, unlock).await
    }

    async fn campaign(&mut self, key: &str, clock: &HistoryClock) -> Completion {
        let process = self.state.process.to_string();
        let campaign = |mut etcd: etcd_client::Client, lease_id| async move {
            etcd.campaign(election_name(key), process, lease_id).await
        };
        let queued = self.queue(key, &CAMPAIGN, clock, campaign).await;
        let (grant, mut resp, refreshed_while_waiting) = match queued {
            Ok(queued) => queued,
            Err(refusal) => return refusal,
        };
        let Some(leader) = resp.take_leader() else {
            self.revoke_quietly(grant.id).await;
            return Completion::info(format!(
                "failed to campaign for {key}: the answer carried no leader key"
            ));
        };
        let Ok(term) = u64::try_from(leader.rev()) else {
            self.revoke_quietly(grant.id).await;
            return Completion::info(format!(
                "failed to campaign for {key}: the server returned revision {}",
                leader.rev()
            ));
        };
        let refreshed_at_ns = self
            .keep_alive_once(grant.id, clock)
            .await
            .unwrap_or(refreshed_while_waiting);
        self.hold(key, &grant, refreshed_at_ns, term, Role::Leader { leader })
    }

    /// Grants a lease and queues for `key` with it through `request` (the
    /// Lock or Campaign call on the lease), keeping the lease alive while it
    /// waits: the grant, the answer, and the history time of the lease's
    /// last refresh. `Err` completes an attempt that did not get the key:
    /// this process holds it already, or no lease was granted, or the wait
    /// failed.
    async fn queue<T, Fut>(
        &self,
        key: &str,
        attempt: &Attempt,
        clock: &HistoryClock,
        request: impl FnOnce(etcd_client::Client, i64) -> Fut,
    ) -> Result<(Grant, T, i64), Completion>
    where
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        if self.state.holds.contains_key(key) {
            let Attempt { verb, held, .. } = attempt;
            return Err(Completion::fail(format!("failed to {verb} {key}: {held}")));
        }
        // A lease that no key is attached to holds nothing, so a failed
        // grant is a failed acquire or campaign whatever the reason.
        let grant = self
            .grant_lease(clock)
            .await
            .map_err(|failure| Completion::fail(failure.message()))?;
        let timeout = self.state.cfg.acquire_timeout();
        let wait = within(
            attempt.what,
            Rpc::Unary,
            timeout,
            request(self.etcd.clone(), grant.id),
        );
        match self.keeping_alive(&grant, clock, wait).await {
            (Ok(answer), refreshed_at_ns) => Ok((grant, answer, refreshed_at_ns)),
            (Err(failure), _) => {
                // The server may still grant the queued request: revoking the
                // lease deletes any key it created.
                self.revoke_quietly(grant.id).await;
                Err(failure.completion())
            }
        }
    }

    /// Records the grant of `key` and completes it: valid for the lease's
    /// TTL from its last refresh.
    fn hold(
        &mut self,
        key: &str,
        grant: &Grant,
        refreshed_at_ns: i64,
        token: u64,
        role: Role,
    ) -> Completion {
        self.state.holds.insert(
            key.to_string(),
            Hold {
                lease_id: grant.id,
                ttl_s: grant.ttl_s,
                token,
                role,
            },
        );
        granted(token, valid_until(refreshed_at_ns, grant.ttl_s))
    }

    async fn resign(&mut self, key: &str) -> Completion {
        let Some(hold) = self.state.holds.get(key).cloned() else {
            return Completion::fail(format!(
                "failed to resign {key}: this process does not lead it"
            ));
        };
        let Role::Leader { leader } = &hold.role else {
            return Completion::fail(format!(
                "failed to resign {key}: this process holds it as a lock"
            ));
        };
        let resign = self
            .unary("resign", |mut etcd| async move {
                etcd.resign(Some(ResignOptions::new().with_leader(leader.clone())))
                    .await
            })
            .await;
        self.let_go(key, hold, resign).await
    }

    /// The end of a release or resign: on success or an unknown outcome the
    /// lease is revoked and forgotten; on a refusal the process still holds it.
    async fn let_go<T>(&mut self, key: &str, hold: Hold, result: Result<T, Failure>) -> Completion {
        match result {
            Err(failure @ Failure::Refused(_)) => failure.completion(),
            result => {
                self.state.holds.remove(key);
                self.revoke_quietly(hold.lease_id).await;
                match result {
                    Ok(_) => Completion {
                        token: Some(hold.token),
                        ..Completion::ok()
                    },
                    Err(failure) => failure.completion(),
                }
            }
        }
    }

    async fn renew(&mut self, key: &str, clock: &HistoryClock) -> Completion {
        let Some(hold) = self.state.holds.get(key).cloned() else {
            return Completion::fail(format!(
                "failed to renew {key}: this process holds no lease on it"
            ));
        };
        let refreshed_at_ns = match self.keep_alive_once(hold.lease_id, clock).await {
            Ok(at) => at,
            Err(failure) => return failure.completion(),
        };
        if let Role::Leader { leader } = &hold.role {
            // A leader's renewal also proves it still leads: proclaim compares
            // the leader key's revision and fails once another process won.
            let process = self.state.process.to_string();
            let options = ProclaimOptions::new().with_leader(leader.clone());
            let proclaim = self
                .unary("proclaim", |mut etcd| async move {
                    etcd.proclaim(process, Some(options)).await
                })
                .await;
            if let Err(failure) = proclaim {
                return failure.completion();
            }
        }
        granted(hold.token, valid_until(refreshed_at_ns, hold.ttl_s))
    }

    async fn read(&mut self, key: &str) -> Completion {
        let get = self
            .unary("read the resource", |mut etcd| async move {
                etcd.get(resource_key(key), None).await
            })
            .await;
        // A read changes nothing, so even an unanswered one did not take effect.
        let resp = match get {
            Ok(resp) => resp,
            Err(failure) => return Completion::fail(failure.message()),
        };
        let list = match resp.kvs().first() {
            None => Vec::new(),
            Some(kv) => match serde_json::from_slice::<Vec<Value>>(kv.value()) {
                Ok(list) => list,
                Err(e) => {
                    return Completion::fail(format!(
                        "failed to read the resource {key}: it does not hold a JSON list: {e}"
                    ))
                }
            },
        };
        self.state.read(key, list)
    }

    async fn write(&mut self, inv: &Invocation) -> Completion {
        let key = inv.key.as_str();
        let (list, body) = match next_list(&self.state.bases, inv) {
            Ok(next) => next,
            Err(message) => return Completion::fail(message),
        };
        let (result, token) = match self.put_resource(inv, body.into_bytes()).await {
            Ok(put) => put,
            Err(refusal) => return refusal,
        };
        Completion {
            token,
            ..self.state.wrote(key, list, result)
        }
    }

    /// Puts `body` as the resource `inv` writes, as the write mode says:
    /// whether the put took (a fenced one is refused when its compare fails,
    /// the lock key having moved on), and the token it carried. `Err` is the completion
    /// of a write refused before anything was sent.
    async fn put_resource(
        &self,
        inv: &Invocation,
        body: Vec<u8>,
    ) -> Result<(Result<(), Failure>, Option<u64>), Completion> {
        let key = inv.key.as_str();
        if self.state.write_mode == WriteMode::Unguarded {
            let put = self
                .unary("write the resource", |mut etcd| async move {
                    etcd.put(resource_key(key), body, None).await
                })
                .await;
            return Ok((put.map(|_| ()), inv.token));
        }
        let Some((hold, lock_key)) = self.held_lock(key) else {
            return Err(Completion::fail(format!(
                "failed to write {key}: this process holds no lock to fence the write with"
            )));
        };
        let token = inv.token.unwrap_or(hold.token);
        let Ok(revision) = i64::try_from(token) else {
            return Err(Completion::fail(format!(
                "failed to write {key}: token {token} is not a revision"
            )));
        };
        let txn = Txn::new()
            .when([Compare::create_revision(
                lock_key,
                CompareOp::Equal,
                revision,
            )])
            .and_then([TxnOp::put(resource_key(key), body, None)]);
        let txn = self
            .unary("write the resource", |mut etcd| async move {
                etcd.txn(txn).await
            })
            .await;
        let fenced = txn.and_then(|resp| {
            Failure::refused_unless(resp.succeeded(), || {
                format!("failed to write {key}: the lock key no longer has create revision {token}")
            })
        });
        Ok((fenced, Some(token)))
    }

    async fn observe(&mut self, key: &str) -> Completion {
        let mut etcd = self.etcd.clone();
        let timeout = self.state.cfg.request_timeout();
        let leader = match tokio::time::timeout(timeout, etcd.leader(election_name(key))).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) if is_election_without_leader(&e) => return Completion::ok(),
            // An observation changes nothing: an unanswered one is a `fail`.
            Ok(Err(e)) => {
                return Completion::fail(
                    Failure::from_etcd("observe the leader", Rpc::Unary, &e).message(),
                )
            }
            Err(_) => {
                return Completion::fail(
                    Failure::timed_out("observe the leader", timeout).message(),
                )
            }
        };
        match leader.kv() {
            None => Completion::ok(),
            Some(kv) => Completion {
                token: u64::try_from(kv.create_revision()).ok(),
                value: Some(leader_value(kv.value())),
                ..Completion::ok()
            },
        }
    }

    fn held_lock(&self, key: &str) -> Option<(Hold, Vec<u8>)> {
        let hold = self.state.holds.get(key)?;
        match &hold.role {
            Role::Lock { lock_key } => Some((hold.clone(), lock_key.clone())),
            Role::Leader { .. } => None,
        }
    }

    async fn grant_lease(&self, clock: &HistoryClock) -> Result<Grant, Failure> {
        let ttl_s = lease_ttl_seconds(self.state.cfg.lease_ms);
        let invoked_at_ns = clock.now_ns();
        let resp = self
            .unary("grant a lease", |mut etcd| async move {
                etcd.lease_grant(ttl_s, None).await
            })
            .await?;
        if !resp.error().is_empty() {
            return Err(Failure::Refused(format!(
                "failed to grant a lease: {}",
                resp.error()
            )));
        }
        Ok(Grant {
            id: resp.id(),
            ttl_s: resp.ttl(),
            invoked_at_ns,
        })
    }

    /// Runs `wait` (a Lock or Campaign call) while keeping the lease alive.
    ///
    /// etcd's Lock and Election services orphan the caller's lease: they do
    /// not renew it while the request is queued behind another holder, so a
    /// wait longer than the TTL would otherwise let the lease, and the queued
    /// key, expire. Returns the wait's result and the history time of the
    /// last keep-alive known to have taken effect (the grant's, if none did).
    async fn keeping_alive<T>(
        &self,
        grant: &Grant,
        clock: &HistoryClock,
        wait: impl Future<Output = Result<T, Failure>>,
    ) -> (Result<T, Failure>, i64) {
        // etcd's own client renews at a third of the TTL.
        let period =
            Duration::from_millis(u64::try_from(grant.ttl_s).unwrap_or(1).saturating_mul(1000) / 3);
        let last_refresh_ns = AtomicI64::new(grant.invoked_at_ns);
        let keeper = async {
            loop {
                tokio::time::sleep(period).await;
                match self.keep_alive_once(grant.id, clock).await {
                    Ok(at) => last_refresh_ns.fetch_max(at, Ordering::Relaxed),
                    // The lease is gone: whatever the wait returns now, the
                    // key it queued died with the lease.
                    Err(Failure::Refused(m)) => return Failure::Indefinite(m),
                    Err(Failure::Indefinite(_)) => continue,
                };
            }
        };
        let result = tokio::select! {
            result = wait => result,
            lost = keeper => Err(lost),
        };
        (result, last_refresh_ns.load(Ordering::Relaxed))
    }

    /// One keep-alive of `lease_id`; returns the history time it was sent at,
    /// from which the lease is valid for its TTL.
    async fn keep_alive_once(&self, lease_id: i64, clock: &HistoryClock) -> Result<i64, Failure> {
        let mut etcd = self.etcd.clone();
        let invoked_at_ns = clock.now_ns();
        // etcd-client sends one request on a fresh stream and waits for its
        // answer; dropping the keeper closes the stream.
        within(
            "renew the lease",
            Rpc::Stream,
            self.state.cfg.request_timeout(),
            etcd.lease_keep_alive(lease_id),
        )
        .await?;
        Ok(invoked_at_ns)
    }

    async fn create_revision(&self, lock_key: &[u8]) -> Result<Option<u64>, Failure> {
        let resp = self
            .unary("read the lock key's revision", |mut etcd| async move {
                etcd.get(lock_key, None).await
            })
            .await?;
        Ok(resp
            .kvs()
            .first()
            .and_then(|kv| u64::try_from(kv.create_revision()).ok()))
    }

    /// Sends one unary request on this client's connection, bounded by the
    /// request timeout.
    async fn unary<T, Fut>(
        &self,
        what: &str,
        request: impl FnOnce(etcd_client::Client) -> Fut,
    ) -> Result<T, Failure>
    where
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let timeout = self.state.cfg.request_timeout();
        within(what, Rpc::Unary, timeout, request(self.etcd.clone())).await
    }

    /// Best effort: an unrevoked lease expires by itself after its TTL.
    async fn revoke_quietly(&self, lease_id: i64) {
        if let Err(failure) = self
            .unary("revoke a lease", |mut etcd| async move {
                etcd.lease_revoke(lease_id).await
            })
            .await
        {
            tracing::debug!(
                process = self.state.process,
                lease_id,
                "{}",
                failure.message()
            );
        }
    }
}

#[async_trait]
impl Client for EtcdClient {
    async fn invoke(&mut self, inv: &Invocation, clock: &HistoryClock) -> Completion {
        let completion = match &inv.f {
            F::Acquire => self.acquire(&inv.key, clock).await,
            F::Release => self.release(&inv.key).await,
            F::Renew => self.renew(&inv.key, clock).await,
            F::Write => self.write(inv).await,
            F::Read => self.read(&inv.key).await,
            F::Campaign => self.campaign(&inv.key, clock).await,
            F::Resign => self.resign(&inv.key).await,
            F::Observe => self.observe(&inv.key).await,
            F::Other(f) => {
                Completion::fail(format!("failed to run {f}: not an etcd client operation"))
            }
        };
        Completion {
            node: Some(self.node.clone()),
            ..completion
        }
    }

    async fn close(&mut self) {
        let leases: Vec<i64> = self
            .state
            .holds
            .drain()
            .map(|(_, hold)| hold.lease_id)
            .collect();
        for lease_id in leases {
            self.revoke_quietly(lease_id).await;
        }
    }
}

/// Runs one request, bounded by `limit`.
async fn within<T>(
    what: &str,
    rpc: Rpc,
    limit: Duration,
    request: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::from_etcd(what, rpc, &e)),
        Err(_) => Err(Failure::timed_out(what, limit)),
    }
}

fn valid_until(refreshed_at_ns: i64, ttl_s: i64) -> i64 {
    refreshed_at_ns.saturating_add(ttl_s.saturating_mul(NS_PER_SECOND))
}

/// Campaigns store the process id as text; the history gets it back as a number.
fn leader_value(raw: &[u8]) -> Value {
    process_value(&String::from_utf8_lossy(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ttl_rounds_up_to_whole_seconds() {
        assert_eq!(lease_ttl_seconds(0), 1);
        assert_eq!(lease_ttl_seconds(1), 1);
        assert_eq!(lease_ttl_seconds(1000), 1);
        assert_eq!(lease_ttl_seconds(1001), 2);
        assert_eq!(lease_ttl_seconds(u64::MAX), 18_446_744_073_709_552);
    }

    #[test]
    fn leader_value_is_the_process_id_when_numeric() {
        assert_eq!(leader_value(b"17"), Value::from(17u64));
        assert_eq!(leader_value(b"someone"), Value::from("someone"));
    }
}
