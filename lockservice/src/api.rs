//! The HTTP endpoints: relay to the serving node, or serve from the store.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::cluster::{Cluster, Peer, Replicate};
use crate::protocol::{
    reply_error, reply_json, reply_refusal, GrantRequest, GrantResponse, KeyRequest,
    LeaderResponse, ReadResponse, ReleaseRequest, RenewRequest, WaitHint, WriteRequest,
    FORWARDED_HEADER,
};
use crate::store::{Store, Table};

/// Bound on how long a grant request may wait for a holder to let go.
const MAX_WAIT_MS: u64 = 60_000;
/// How often a waiting grant looks again.
const WAIT_POLL: Duration = Duration::from_millis(10);

pub struct App {
    pub store: Arc<Mutex<Store>>,
    pub cluster: Arc<Cluster>,
    /// Grants are refused until then after a restart (see `store`).
    pub grace_until: Option<Instant>,
}

impl App {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn in_grace(&self) -> bool {
        self.grace_until.is_some_and(|until| Instant::now() < until)
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Grant(Table),
    Renew(Table),
    Release(Table),
    Leader,
    Read,
    Write,
}

const ROUTES: &[(&str, Op)] = &[
    ("/v1/lock/acquire", Op::Grant(Table::Lock)),
    ("/v1/lock/renew", Op::Renew(Table::Lock)),
    ("/v1/lock/release", Op::Release(Table::Lock)),
    ("/v1/election/campaign", Op::Grant(Table::Election)),
    ("/v1/election/proclaim", Op::Renew(Table::Election)),
    ("/v1/election/resign", Op::Release(Table::Election)),
    ("/v1/election/leader", Op::Leader),
    ("/v1/resource/read", Op::Read),
    ("/v1/resource/write", Op::Write),
];

pub fn router(app: Arc<App>) -> Router {
    let mut router = Router::new()
        .route("/v1/health", get(health))
        .route("/internal/v1/replicate", post(replicate));
    for &(path, op) in ROUTES {
        router = router.route(
            path,
            post(
                move |State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes| {
                    dispatch(app, path, op, headers, body)
                },
            ),
        );
    }
    router.with_state(app)
}

async fn health(State(app): State<Arc<App>>) -> Response {
    reply_json(StatusCode::OK, &app.cluster.health(app.in_grace()))
}

async fn replicate(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match parse::<Replicate>(&body) {
        Ok(replicate) => app.cluster.accept_replica(&app.store, replicate),
        Err(e) => bad_request(e),
    }
}

async fn dispatch(
    app: Arc<App>,
    path: &'static str,
    op: Op,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(to) = app.cluster.forward_target() {
        return relay(&app, &to, path, &headers, body).await;
    }
    let resp = serve(&app, op, &body).await;
    if resp.status() == StatusCode::OK && !matches!(op, Op::Read | Op::Leader) {
        app.cluster.state_changed();
    }
    resp
}

/// Passes the request on to the serving node `to`, unless it was relayed
/// here already: two nodes that each think the other serves must not relay
/// one request between them until it times out.
async fn relay(
    app: &App,
    to: &Peer,
    path: &'static str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if headers.contains_key(FORWARDED_HEADER) {
        return reply_error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} does not serve: it relays to {}",
                app.cluster.me().name,
                to.name
            ),
        );
    }
    let wait_ms = serde_json::from_slice::<WaitHint>(&body)
        .unwrap_or_default()
        .wait_ms
        .min(MAX_WAIT_MS);
    app.cluster.forward(to, path, body, wait_ms).await
}

/// Serves `op` from this node's store.
async fn serve(app: &App, op: Op, body: &[u8]) -> Response {
    match op {
        Op::Grant(table) => match parse::<GrantRequest>(body) {
            Ok(req) => grant(app, table, req).await,
            Err(e) => bad_request(e),
        },
        Op::Renew(table) => answer(body, |req: RenewRequest| {
            match app
                .store()
                .renew(table, &req.key, &req.holder, req.token, req.lease_ms)
            {
                Ok(g) => granted(g.token, g.lease_ms),
                Err(refusal) => reply_refusal(refusal),
            }
        }),
        Op::Release(table) => answer(body, |req: ReleaseRequest| {
            match app.store().release(table, &req.key, &req.holder, req.token) {
                Ok(()) => reply_json(StatusCode::OK, &serde_json::json!({})),
                Err(refusal) => reply_refusal(refusal),
            }
        }),
        Op::Leader => answer(body, |req: KeyRequest| {
            let holder = app.store().holder(Table::Election, &req.key);
            reply_json(
                StatusCode::OK,
                &LeaderResponse {
                    token: holder.as_ref().map(|(_, token)| *token),
                    holder: holder.map(|(holder, _)| holder),
                },
            )
        }),
        Op::Read => answer(body, |req: KeyRequest| {
            let resource = app.store().read(&req.key);
            reply_json(
                StatusCode::OK,
                &ReadResponse {
                    value: resource.list,
                    highest_token: resource.highest_token,
                },
            )
        }),
        Op::Write => answer(body, |req: WriteRequest| {
            match app.store().write(&req.key, req.token, req.value) {
                Ok(()) => reply_json(StatusCode::OK, &serde_json::json!({})),
                Err(refusal) => reply_refusal(refusal),
            }
        }),
    }
}

/// `body` parsed as a `R` and answered by `serve`, or a 400.
fn answer<R: DeserializeOwned>(body: &[u8], serve: impl FnOnce(R) -> Response) -> Response {
    match parse::<R>(body) {
        Ok(req) => serve(req),
        Err(e) => bad_request(e),
    }
}

/// Grants the lease, waiting up to `wait_ms` for the holder to let go.
async fn grant(app: &App, table: Table, req: GrantRequest) -> Response {
    let deadline = Instant::now() + Duration::from_millis(req.wait_ms.min(MAX_WAIT_MS));
    loop {
        if app.in_grace() {
            return reply_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} restarted recently: no grants until every earlier lease has run out",
                    app.cluster.me().name
                ),
            );
        }
        let attempt = app
            .store()
            .try_grant(table, &req.key, &req.holder, req.lease_ms);
        match attempt {
            Ok(Some(g)) => return granted(g.token, g.lease_ms),
            Ok(None) if Instant::now() >= deadline => {
                let holder = app.store().holder(table, &req.key);
                let by = holder
                    .map(|(h, t)| format!("{h} with token {t}"))
                    .unwrap_or_else(|| "another holder".into());
                return reply_error(StatusCode::CONFLICT, format!("{} is held by {by}", req.key));
            }
            Ok(None) => tokio::time::sleep(WAIT_POLL).await,
            Err(refusal) => return reply_refusal(refusal),
        }
    }
}

fn granted(token: u64, lease_ms: u64) -> Response {
    reply_json(StatusCode::OK, &GrantResponse { token, lease_ms })
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(body)
}

fn bad_request(e: serde_json::Error) -> Response {
    reply_error(
        StatusCode::BAD_REQUEST,
        format!("failed to parse the request: {e}"),
    )
}
