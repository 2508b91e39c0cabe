//! One connection pool to one node, every request bounded.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use super::outcome::{classify, timed_out, Answer, PROTOCOL_HEADER};

/// Bound on an answer's body.
const BODY_LIMIT_BYTES: usize = 64 << 20;
/// Idle pooled connections are dropped after this, so a connection to a node
/// that was killed and restarted is not kept around.
const POOL_IDLE_MS: u64 = 10_000;

#[derive(Clone)]
pub(crate) struct NodeHttp {
    client: HttpClient<HttpConnector, String>,
    base: String,
}

impl NodeHttp {
    /// `base` is `http://ip:port`; dialling is bounded by `connect_timeout`.
    pub(crate) fn new(base: String, connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        let client = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_millis(POOL_IDLE_MS))
            .pool_max_idle_per_host(1)
            .build(connector);
        NodeHttp { client, base }
    }

    pub(crate) async fn post(
        &self,
        what: &str,
        path: &str,
        body: &serde_json::Value,
        limit: Duration,
    ) -> Answer {
        self.send(what, Method::POST, path, body.to_string(), limit)
            .await
    }

    pub(crate) async fn get(&self, what: &str, path: &str, limit: Duration) -> Answer {
        self.send(what, Method::GET, path, String::new(), limit)
            .await
    }

    async fn send(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: String,
        limit: Duration,
    ) -> Answer {
        let req = match Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
        {
            Ok(req) => req,
            Err(e) => return Answer::Refused(format!("failed to {what}: bad request: {e}")),
        };
        let exchange = async {
            let resp = match self.client.request(req).await {
                Ok(resp) => resp,
                // Never connected: nothing was sent, so nothing happened.
                Err(e) if e.is_connect() => {
                    return Answer::Refused(format!("failed to {what}: {}", chain(&e)))
                }
                Err(e) => return Answer::Indefinite(format!("failed to {what}: {}", chain(&e))),
            };
            let status = resp.status().as_u16();
            let protocol_header = resp.headers().contains_key(PROTOCOL_HEADER);
            match axum::body::to_bytes(Body::new(resp.into_body()), BODY_LIMIT_BYTES).await {
                Ok(bytes) => classify(what, status, protocol_header, &bytes),
                Err(e) => Answer::Indefinite(format!(
                    "failed to {what}: the answer ({status}) broke off: {e}"
                )),
            }
        };
        match tokio::time::timeout(limit, exchange).await {
            Ok(answer) => answer,
            Err(_) => timed_out(what, limit),
        }
    }
}

/// An error with its causes: hyper's own message ("client error (Connect)")
/// names none.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
