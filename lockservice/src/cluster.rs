//! Which node serves, and how the others reach it.
//!
//! Exactly one node serves requests in the modes whose state lives on one
//! node (`safe`, `no-fencing`, `volatile-tokens`, `wallclock-lease`): the
//! first of `--peers` (n1). Every other node forwards each client request to
//! it and relays the answer, so a client pinned to any node works, and a
//! partition between a client's node and n1 shows as unanswered requests.
//!
//! The replicated modes move the serving role at run time, each by a rule
//! with no quorum (that is the planted bug):
//!
//! * `async-replica`: n1 starts as primary, n2 as its backup, further nodes
//!   only forward. The primary replies first and replicates its whole state
//!   to the others afterwards. A backup that has not heard the other as
//!   primary for `--failover-ms` promotes itself with a higher epoch; a
//!   primary that hears another primary with a higher (epoch, id) steps
//!   down. Across a partition both sides serve until it heals.
//! * `bully`: a node leads when no node with a higher id has answered it for
//!   `--failover-ms`, so each side of a partition has its own leader. The
//!   leader replicates like the primary above.
//!
//! Every node polls every other's health each `--heartbeat-ms` in the
//! replicated modes; that is all they know of each other.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::mode::Mode;
use crate::protocol::{reply_bytes, reply_error, FORWARDED_HEADER, PROTOCOL_VERSION};
use crate::store::{Snapshot, Store};

/// Bound on a response body read from another node.
const BODY_LIMIT_BYTES: usize = 64 << 20;
/// How often a primary resends its state even when nothing changed, so a
/// replica that restarted catches up.
const RESEND_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub addr: SocketAddr,
}

/// Parses `n1=10.0.0.1:7000,n2=10.0.0.2:7000`.
pub fn parse_peers(text: &str) -> Result<Vec<Peer>, String> {
    text.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            let (name, addr) = item
                .split_once('=')
                .ok_or_else(|| format!("failed to parse peer {item:?}: expected NAME=IP:PORT"))?;
            let addr = addr
                .trim()
                .parse()
                .map_err(|e| format!("failed to parse the address of peer {name:?}: {e}"))?;
            Ok(Peer {
                name: name.trim().to_string(),
                addr,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Serves requests itself.
    Primary,
    /// Takes the primary's state and may take over (async-replica, bully).
    Backup,
    /// Relays requests to the node it believes serves.
    Forwarder,
}

/// The body of `GET /v1/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    pub protocol: u32,
    pub node: String,
    pub mode: String,
    pub role: Role,
    pub epoch: u64,
    /// Whether grants are refused because the node restarted recently.
    pub in_grace: bool,
}

/// The body of a replication request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replicate {
    pub from: String,
    pub epoch: u64,
    pub snapshot: Snapshot,
}

#[derive(Debug, Clone)]
struct Heard {
    /// Last answer to a health poll (the start, before any poll).
    last_ok: Instant,
    /// Last answer that said "primary".
    last_primary: Instant,
    epoch: u64,
    role: Option<Role>,
}

#[derive(Debug)]
struct View {
    primary: bool,
    epoch: u64,
    /// The node this one forwards to (itself when primary).
    leader: usize,
    heard: Vec<Heard>,
}

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub failover: Duration,
    pub connect_timeout: Duration,
    pub forward_timeout: Duration,
}

pub struct Cluster {
    pub mode: Mode,
    pub me: usize,
    pub peers: Vec<Peer>,
    pub timing: Timing,
    http: HttpClient<HttpConnector, Body>,
    view: Mutex<View>,
    changed: tokio::sync::Notify,
}

impl Cluster {
    pub fn new(mode: Mode, me: usize, peers: Vec<Peer>, timing: Timing, restarted: bool) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timing.connect_timeout));
        connector.set_nodelay(true);
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(4)
            .build(connector);
        let now = Instant::now();
        let heard = peers
            .iter()
            .map(|_| Heard {
                last_ok: now,
                last_primary: now,
                epoch: 0,
                role: None,
            })
            .collect();
        // A restarted n1 in async-replica comes back as a backup: the backup
        // may have taken over meanwhile.
        let primary = match mode {
            Mode::Bully => me + 1 == peers.len(),
            Mode::AsyncReplica => me == 0 && !restarted,
            _ => me == 0,
        };
        let leader = match mode {
            Mode::Bully => peers.len().saturating_sub(1),
            _ => 0,
        };
        Cluster {
            mode,
            me,
            peers,
            timing,
            http,
            view: Mutex::new(View {
                primary,
                epoch: u64::from(primary),
                leader,
                heard,
            }),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn me(&self) -> &Peer {
        &self.peers[self.me]
    }

    pub fn role(&self) -> Role {
        let view = self.view();
        if view.primary {
            Role::Primary
        } else if self.mode.is_replicated() && (self.mode == Mode::Bully || self.me < 2) {
            Role::Backup
        } else {
            Role::Forwarder
        }
    }

    pub fn epoch(&self) -> u64 {
        self.view().epoch
    }

    /// `None` when this node serves; otherwise the node to forward to.
    pub fn forward_target(&self) -> Option<Peer> {
        let view = self.view();
        (!view.primary).then(|| self.peers[view.leader].clone())
    }

    /// Tells the replicator that the state changed.
    pub fn state_changed(&self) {
        if self.mode.is_replicated() {
            self.changed.notify_one();
        }
    }

    /// Polls every other node's health and re-decides the roles, forever.
    pub async fn monitor(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.timing.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let polls = self
                .peers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.me)
                .map(|(i, peer)| {
                    let this = self.clone();
                    let peer = peer.clone();
                    async move { (i, this.health_of(&peer).await) }
                });
            let answers = futures_join_all(polls).await;
            let now = Instant::now();
            let mut view = self.view();
            for (i, health) in answers {
                if let Some(health) = health {
                    let heard = &mut view.heard[i];
                    heard.last_ok = now;
                    heard.epoch = health.epoch;
                    heard.role = Some(health.role);
                    if health.role == Role::Primary {
                        heard.last_primary = now;
                    }
                }
            }
            self.decide(&mut view, now);
        }
    }

    fn decide(&self, view: &mut View, now: Instant) {
        let failover = self.timing.failover;
        let recent = |at: Instant| now.saturating_duration_since(at) < failover;
        match self.mode {
            Mode::Bully => {
                let leader = (0..self.peers.len())
                    .rev()
                    .find(|&i| i == self.me || recent(view.heard[i].last_ok))
                    .unwrap_or(self.me);
                if leader == self.me && !view.primary {
                    view.epoch += 1;
                }
                view.primary = leader == self.me;
                view.leader = leader;
            }
            Mode::AsyncReplica if self.me < 2 && self.peers.len() >= 2 => {
                let other = 1 - self.me;
                let heard = view.heard[other].clone();
                if view.primary {
                    let other_outranks = heard.role == Some(Role::Primary)
                        && recent(heard.last_ok)
                        && (heard.epoch, other) > (view.epoch, self.me);
                    if other_outranks {
                        eprintln!(
                            "{}: stepping down for {}",
                            self.me().name,
                            self.peers[other].name
                        );
                        view.primary = false;
                        view.epoch = heard.epoch;
                    }
                } else if !recent(heard.last_primary) {
                    view.epoch = view.epoch.max(heard.epoch) + 1;
                    eprintln!(
                        "{}: taking over as primary, epoch {}",
                        self.me().name,
                        view.epoch
                    );
                    view.primary = true;
                }
                view.leader = if view.primary { self.me } else { other };
            }
            Mode::AsyncReplica => {
                // A forwarder follows whichever of n1 and n2 says it is
                // primary with the highest epoch; n1 when neither answers.
                view.leader = (0..self.peers.len().min(2))
                    .filter(|&i| {
                        view.heard[i].role == Some(Role::Primary) && recent(view.heard[i].last_ok)
                    })
                    .max_by_key(|&i| (view.heard[i].epoch, i))
                    .unwrap_or(0);
            }
            _ => {}
        }
    }

    async fn health_of(&self, peer: &Peer) -> Option<Health> {
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("http://{}/v1/health", peer.addr))
            .body(Body::empty())
            .ok()?;
        let (status, body) = self.exchange(req, self.timing.heartbeat * 2).await.ok()?;
        if status != StatusCode::OK {
            return None;
        }
        serde_json::from_slice(&body).ok()
    }

    /// Sends the primary's state to every other node after each change and
    /// every [`RESEND_EVERY`], forever. Replicas may lag: nothing waits for them.
    pub async fn replicate(self: Arc<Self>, store: Arc<Mutex<Store>>) {
        let mut last_sent = None;
        let mut last_sent_at = Instant::now();
        loop {
            let _ = tokio::time::timeout(RESEND_EVERY, self.changed.notified()).await;
            if self.role() != Role::Primary {
                last_sent = None;
                continue;
            }
            let (version, snapshot) = {
                let store = store.lock().unwrap_or_else(|p| p.into_inner());
                (store.version(), store.snapshot())
            };
            if last_sent == Some(version) && last_sent_at.elapsed() < RESEND_EVERY {
                continue;
            }
            let body = match serde_json::to_vec(&Replicate {
                from: self.me().name.clone(),
                epoch: self.epoch(),
                snapshot,
            }) {
                Ok(body) => Bytes::from(body),
                Err(e) => {
                    eprintln!("failed to encode a snapshot: {e}");
                    continue;
                }
            };
            let sends = self
                .peers
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.me)
                .map(|(_, peer)| {
                    let this = self.clone();
                    let peer = peer.clone();
                    let body = body.clone();
                    async move {
                        let req = Request::builder()
                            .method(Method::POST)
                            .uri(format!("http://{}/internal/v1/replicate", peer.addr))
                            .header(header::CONTENT_TYPE, "application/json")
                            .body(Body::from(body));
                        if let Ok(req) = req {
                            let _ = this.exchange(req, this.timing.forward_timeout).await;
                        }
                    }
                });
            futures_join_all(sends).await;
            last_sent = Some(version);
            last_sent_at = Instant::now();
        }
    }

    /// Applies a primary's state unless this node serves itself.
    pub fn accept_replica(&self, store: &Mutex<Store>, replicate: Replicate) -> Response {
        {
            let mut view = self.view();
            if view.primary {
                return reply_error(
                    StatusCode::CONFLICT,
                    format!("{} is primary itself", self.me().name),
                );
            }
            // Only the node this one follows: a deposed primary that has not
            // noticed yet must not overwrite the new primary's state.
            let leader = &self.peers[view.leader].name;
            if &replicate.from != leader {
                return reply_error(
                    StatusCode::CONFLICT,
                    format!(
                        "{} follows {leader}, not {}",
                        self.me().name,
                        replicate.from
                    ),
                );
            }
            view.epoch = view.epoch.max(replicate.epoch);
        }
        let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
        match store.apply(replicate.snapshot) {
            Ok(()) => reply_bytes(StatusCode::OK, Bytes::from_static(b"{}")),
            Err(e) => reply_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("failed to persist the replica: {e}"),
            ),
        }
    }

    /// Relays a client request to `to` and its answer back. An unanswered
    /// relay is 504 (the target may have acted); one that never connected is
    /// 503 (nothing was sent).
    pub async fn forward(&self, to: &Peer, path: &str, body: Bytes, wait_ms: u64) -> Response {
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}{path}", to.addr))
            .header(header::CONTENT_TYPE, "application/json")
            .header(FORWARDED_HEADER, self.me().name.as_str())
            .body(Body::from(body));
        let req = match req {
            Ok(req) => req,
            Err(e) => {
                return reply_error(
                    StatusCode::BAD_REQUEST,
                    format!("failed to build the relay: {e}"),
                )
            }
        };
        let limit = self.timing.forward_timeout + Duration::from_millis(wait_ms);
        match self.exchange(req, limit).await {
            Ok((status, body)) => reply_bytes(status, body),
            Err(Relay::NotSent(e)) => reply_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("failed to reach {} to relay the request: {e}", to.name),
            ),
            Err(Relay::Unanswered(e)) => reply_error(
                StatusCode::GATEWAY_TIMEOUT,
                format!("failed to relay the request to {}: {e}", to.name),
            ),
        }
    }

    async fn exchange(
        &self,
        req: Request<Body>,
        limit: Duration,
    ) -> Result<(StatusCode, Bytes), Relay> {
        let exchange = async {
            let resp = self.http.request(req).await.map_err(|e| {
                if e.is_connect() {
                    Relay::NotSent(e.to_string())
                } else {
                    Relay::Unanswered(e.to_string())
                }
            })?;
            let status = resp.status();
            let body = axum::body::to_bytes(Body::new(resp.into_body()), BODY_LIMIT_BYTES)
                .await
                .map_err(|e| Relay::Unanswered(format!("failed to read the answer: {e}")))?;
            Ok((status, body))
        };
        tokio::time::timeout(limit, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(Relay::Unanswered(format!(
                    "no answer within {} ms",
                    limit.as_millis()
                )))
            })
    }

    pub fn health(&self, in_grace: bool) -> Health {
        Health {
            protocol: PROTOCOL_VERSION,
            node: self.me().name.clone(),
            mode: self.mode.as_str().to_string(),
            role: self.role(),
            epoch: self.epoch(),
            in_grace,
        }
    }
}

enum Relay {
    NotSent(String),
    Unanswered(String),
}

/// Runs futures concurrently, each on its own task, and collects their outputs.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(output) = joined {
            out.push(output);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_bad_ones_say_why() {
        let peers = parse_peers("n1=127.0.0.1:7001,n2=127.0.0.2:7001").expect("parse");
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[1].name, "n2");
        assert!(parse_peers("n1").unwrap_err().contains("NAME=IP:PORT"));
        assert!(parse_peers("n1=nowhere").unwrap_err().contains("n1"));
    }
}
