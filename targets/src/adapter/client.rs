//! One logical process's client for an adapter-protocol service.
//!
//! The client remembers what the process holds (token per key) and, per
//! resource, the list it last read, which is the basis of its next write.
//! Every request is bounded by a [`ClientConfig`] timeout enforced here.
//! Leases are renewed only by `renew` operations, never in the background,
//! so a process that stops invoking lets its lease lapse, as a stalled
//! holder would. The one exception is inside a grant: a grant that waited
//! at the service for more than half its lease is renewed before the
//! `acquire` completes (see `refresh_slow_grant`).

use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use splitbrain_checkers::history::F;
use splitbrain_vocab::WriteMode;

use super::http::NodeHttp;
use super::outcome::Answer;
use crate::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use crate::process::{granted, process_value, ProcessState};
use crate::resource::appended;

const NS_PER_MS: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Lock,
    Leader,
}

impl Role {
    fn path(self, lock: &'static str, election: &'static str) -> &'static str {
        match self {
            Role::Lock => lock,
            Role::Leader => election,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    token: u64,
    role: Role,
}

#[derive(Deserialize)]
struct GrantBody {
    token: u64,
    lease_ms: u64,
}

#[derive(Deserialize)]
struct ReadBody {
    value: Vec<Value>,
}

#[derive(Deserialize)]
struct LeaderBody {
    holder: Option<String>,
    token: Option<u64>,
}

/// A [`Client`] pinned to one node of an adapter-protocol service.
pub struct AdapterClient {
    state: ProcessState<Hold>,
    http: NodeHttp,
    node: String,
    /// The holder name sent with every grant: the process id.
    holder: String,
}

impl std::fmt::Debug for AdapterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.state.fmt_client(f, "AdapterClient", &self.node)
    }
}

impl AdapterClient {
    /// A client for process `process` talking to `base` (`http://ip:port`),
    /// which the history records as `node`. No connection is made until the
    /// first operation: an unreachable node shows as that operation's outcome.
    pub fn new(
        base: &str,
        node: &str,
        process: u64,
        cfg: &ClientConfig,
        write_mode: WriteMode,
    ) -> Self {
        AdapterClient {
            state: ProcessState::new(process, cfg, write_mode),
            http: NodeHttp::new(base.to_string(), cfg.connect_timeout()),
            node: node.to_string(),
            holder: process.to_string(),
        }
    }

    /// How long a grant request may wait at the service for the holder to
    /// let go: what the acquire bound leaves after one request's time.
    fn wait_ms(&self) -> u64 {
        self.state
            .cfg
            .acquire_timeout_ms
            .saturating_sub(self.state.cfg.request_timeout_ms)
    }

    async fn grant(&mut self, role: Role, key: &str, clock: &HistoryClock) -> Completion {
        let what = role.path("acquire the lock", "win the election");
        if self.state.holds.contains_key(key) {
            return Completion::fail(format!(
                "failed to {what} {key}: this process already holds it"
            ));
        }
        let wait_ms = self.wait_ms();
        let body = json!({
            "key": key,
            "holder": self.holder,
            "lease_ms": self.state.cfg.lease_ms,
            "wait_ms": wait_ms,
        });
        let limit =
            Duration::from_millis(wait_ms.saturating_add(self.state.cfg.request_timeout_ms));
        let invoked_at_ns = clock.now_ns();
        let path = role.path("/v1/lock/acquire", "/v1/election/campaign");
        match self.http.post(what, path, &body, limit).await {
            Answer::Ok(bytes) => match serde_json::from_slice::<GrantBody>(&bytes) {
                Ok(grant) => {
                    let hold = Hold {
                        token: grant.token,
                        role,
                    };
                    self.state.holds.insert(key.to_string(), hold);
                    let first = valid_until(invoked_at_ns, grant.lease_ms);
                    let until = match self
                        .refresh_slow_grant(key, hold, first, grant.lease_ms, clock)
                        .await
                    {
                        Some(refreshed) => refreshed,
                        None => first,
                    };
                    granted(grant.token, until)
                }
                // Granted, but we cannot tell the token: the grant happened.
                Err(e) => Completion::info(format!("failed to {what}: unreadable grant: {e}")),
            },
            answer => outcome(answer),
        }
    }

    /// A grant that waited at the service for most of its lease arrives with
    /// a `valid_until` (counted from the request) that is near or already
    /// past: the process may not rely on a lease the service could have
    /// started timing that long ago. As etcd's client does with a keep-alive,
    /// renew at once and count from the renewal instead; the new bound is
    /// what a careful holder knows. Without it a holder that waited longer
    /// than its lease holds nothing in the history until its first renewal,
    /// and a fault in that window breaks exclusion unseen. `None` when the
    /// grant was quick or the renewal did not succeed (the grant stands with
    /// its first bound; the next renewal decides).
    async fn refresh_slow_grant(
        &self,
        key: &str,
        hold: Hold,
        valid_until_ns: i64,
        lease_ms: u64,
        clock: &HistoryClock,
    ) -> Option<i64> {
        let lease_ns = i64::try_from(lease_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(NS_PER_MS);
        if valid_until_ns.saturating_sub(clock.now_ns()) > lease_ns / 2 {
            return None;
        }
        let invoked_at_ns = clock.now_ns();
        match self.send_renewal(key, hold).await {
            Answer::Ok(bytes) => serde_json::from_slice::<GrantBody>(&bytes)
                .ok()
                .map(|grant| valid_until(invoked_at_ns, grant.lease_ms)),
            _ => None,
        }
    }

    async fn send_renewal(&self, key: &str, hold: Hold) -> Answer {
        let body = json!({
            "key": key,
            "holder": self.holder,
            "token": hold.token,
            "lease_ms": self.state.cfg.lease_ms,
        });
        let path = hold.role.path("/v1/lock/renew", "/v1/election/proclaim");
        self.http
            .post(
                "renew the lease",
                path,
                &body,
                self.state.cfg.request_timeout(),
            )
            .await
    }

    async fn renew(&mut self, key: &str, clock: &HistoryClock) -> Completion {
        let Some(hold) = self.state.holds.get(key).copied() else {
            return Completion::fail(format!(
                "failed to renew {key}: this process holds no lease on it"
            ));
        };
        let invoked_at_ns = clock.now_ns();
        match self.send_renewal(key, hold).await {
            Answer::Ok(bytes) => match serde_json::from_slice::<GrantBody>(&bytes) {
                Ok(grant) => granted(hold.token, valid_until(invoked_at_ns, grant.lease_ms)),
                Err(e) => {
                    Completion::info(format!("failed to renew {key}: unreadable answer: {e}"))
                }
            },
            answer => outcome(answer),
        }
    }

    /// `release` and `resign`. The hold is forgotten whatever the answer: a
    /// refusal says the service does not count this process as the holder.
    async fn let_go(&mut self, role: Role, key: &str) -> Completion {
        let what = role.path("release the lock", "resign");
        let Some(hold) = self
            .state
            .holds
            .get(key)
            .copied()
            .filter(|h| h.role == role)
        else {
            return Completion::fail(format!(
                "failed to {what} {key}: this process does not hold it"
            ));
        };
        self.state.holds.remove(key);
        let body = json!({ "key": key, "holder": self.holder, "token": hold.token });
        let path = role.path("/v1/lock/release", "/v1/election/resign");
        let completion = match self
            .http
            .post(what, path, &body, self.state.cfg.request_timeout())
            .await
        {
            Answer::Ok(_) => Completion::ok(),
            answer => outcome(answer),
        };
        Completion {
            token: Some(hold.token),
            ..completion
        }
    }

    /// Asks `path` about `key` alone, for a request that changes nothing: any
    /// failure, even an unanswered request, is a `fail`, since it did not
    /// take effect; so is an answer that is not a `T` (`unreadable` says so).
    async fn look<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        key: &str,
        unreadable: &str,
    ) -> Result<T, Completion> {
        let body = json!({ "key": key });
        let answer = self
            .http
            .post(what, path, &body, self.state.cfg.request_timeout())
            .await;
        match answer {
            Answer::Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Completion::fail(format!("{unreadable}: {e}"))),
            Answer::Refused(m) | Answer::Indefinite(m) => Err(Completion::fail(m)),
        }
    }

    async fn read(&mut self, key: &str) -> Completion {
        let unreadable = format!("failed to read the resource {key}: not a list");
        let read = self
            .look::<ReadBody>("read the resource", "/v1/resource/read", key, &unreadable)
            .await;
        match read {
            Ok(read) => self.state.read(key, read.value),
            Err(refusal) => refusal,
        }
    }

    async fn write(&mut self, inv: &Invocation) -> Completion {
        let key = inv.key.as_str();
        let list = match appended(&self.state.bases, inv) {
            Ok(list) => list,
            Err(message) => return Completion::fail(message),
        };
        let held = self
            .state
            .holds
            .get(key)
            .filter(|h| h.role == Role::Lock)
            .map(|h| h.token);
        let token = inv.token.or(held);
        let body = match self.state.write_mode {
            WriteMode::Fenced => {
                let Some(token) = token else {
                    return Completion::fail(format!(
                        "failed to write {key}: no token to fence the write with"
                    ));
                };
                json!({ "key": key, "token": token, "value": list })
            }
            WriteMode::Unguarded => json!({ "key": key, "value": list }),
        };
        let written = self
            .http
            .post(
                "write the resource",
                "/v1/resource/write",
                &body,
                self.state.cfg.request_timeout(),
            )
            .await
            .into_result();
        Completion {
            token,
            ..self.state.wrote(key, list, written.map(|_| ()))
        }
    }

    async fn observe(&mut self, key: &str) -> Completion {
        let unreadable = format!("failed to observe {key}: unreadable answer");
        let leader = self
            .look(
                "observe the leader",
                "/v1/election/leader",
                key,
                &unreadable,
            )
            .await;
        match leader {
            Ok(LeaderBody {
                holder: Some(holder),
                token,
            }) => Completion {
                token,
                value: Some(holder_value(&holder)),
                ..Completion::ok()
            },
            Ok(LeaderBody { holder: None, .. }) => Completion::ok(),
            Err(refusal) => refusal,
        }
    }
}

#[async_trait]
impl Client for AdapterClient {
    async fn invoke(&mut self, inv: &Invocation, clock: &HistoryClock) -> Completion {
        let completion = match &inv.f {
            F::Acquire => self.grant(Role::Lock, &inv.key, clock).await,
            F::Campaign => self.grant(Role::Leader, &inv.key, clock).await,
            F::Renew => self.renew(&inv.key, clock).await,
            F::Release => self.let_go(Role::Lock, &inv.key).await,
            F::Resign => self.let_go(Role::Leader, &inv.key).await,
            F::Read => self.read(&inv.key).await,
            F::Write => self.write(inv).await,
            F::Observe => self.observe(&inv.key).await,
            F::Other(f) => Completion::fail(format!(
                "failed to run {f}: not an adapter protocol operation"
            )),
        };
        Completion {
            node: Some(self.node.clone()),
            ..completion
        }
    }

    async fn close(&mut self) {
        let held: Vec<(String, Role)> = self
            .state
            .holds
            .iter()
            .map(|(key, hold)| (key.clone(), hold.role))
            .collect();
        for (key, role) in held {
            let _ = self.let_go(role, &key).await;
        }
    }
}

fn outcome(answer: Answer) -> Completion {
    match answer {
        Answer::Ok(_) => Completion::ok(),
        Answer::Refused(m) => Completion::fail(m),
        Answer::Indefinite(m) => Completion::info(m),
    }
}

/// The service cannot have started the lease before the request was sent.
fn valid_until(invoked_at_ns: i64, lease_ms: u64) -> i64 {
    let lease_ns = i64::try_from(lease_ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(NS_PER_MS);
    invoked_at_ns.saturating_add(lease_ns)
}

/// Holders are process ids as text; the history gets them back as numbers.
fn holder_value(holder: &str) -> Value {
    process_value(holder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_until_is_invoke_time_plus_the_granted_lease() {
        assert_eq!(valid_until(5, 2), 5 + 2_000_000);
        assert_eq!(valid_until(i64::MAX - 1, 1), i64::MAX);
    }

    #[test]
    fn holder_value_is_the_process_id_when_numeric() {
        assert_eq!(holder_value("17"), Value::from(17u64));
        assert_eq!(holder_value("x"), Value::from("x"));
    }
}
