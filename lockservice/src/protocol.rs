//! The adapter protocol's wire format as this service speaks it
//! (`docs/adapter-protocol.md` is the specification).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::Refusal;

pub const PROTOCOL_VERSION: u32 = 1;
/// On every answer of a protocol server: a status without it (from a proxy,
/// say) proves nothing about the service.
pub const PROTOCOL_HEADER: &str = "splitbrain-protocol";
/// On a request one node relays to another; such a request is never relayed again.
pub const FORWARDED_HEADER: &str = "splitbrain-forwarded-by";

/// `acquire` and `campaign`.
#[derive(Debug, Deserialize)]
pub struct GrantRequest {
    pub key: String,
    pub holder: String,
    pub lease_ms: u64,
    #[serde(default)]
    pub wait_ms: u64,
}

/// `renew` and `proclaim`.
#[derive(Debug, Deserialize)]
pub struct RenewRequest {
    pub key: String,
    pub holder: String,
    pub token: u64,
    pub lease_ms: u64,
}

/// `release` and `resign`.
#[derive(Debug, Deserialize)]
pub struct ReleaseRequest {
    pub key: String,
    pub holder: String,
    pub token: u64,
}

#[derive(Debug, Serialize)]
pub struct GrantResponse {
    pub token: u64,
    pub lease_ms: u64,
}

/// `read` and `leader`.
#[derive(Debug, Deserialize)]
pub struct KeyRequest {
    pub key: String,
}

#[derive(Debug, Serialize)]
pub struct ReadResponse {
    pub value: Vec<Value>,
    pub highest_token: u64,
}

#[derive(Debug, Deserialize)]
pub struct WriteRequest {
    pub key: String,
    #[serde(default)]
    pub token: Option<u64>,
    pub value: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct LeaderResponse {
    pub holder: Option<String>,
    pub token: Option<u64>,
}

/// Only what a relay needs to know of any request: how long it may wait.
#[derive(Debug, Default, Deserialize)]
pub struct WaitHint {
    #[serde(default)]
    pub wait_ms: u64,
}

pub fn reply_bytes(status: StatusCode, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(PROTOCOL_HEADER, HeaderValue::from(PROTOCOL_VERSION));
    resp
}

pub fn reply_json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => reply_bytes(status, Bytes::from(bytes)),
        Err(e) => reply_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to encode the answer: {e}"),
        ),
    }
}

pub fn reply_error(status: StatusCode, error: String) -> Response {
    let body = serde_json::json!({ "error": error });
    reply_bytes(status, Bytes::from(body.to_string()))
}

pub fn reply_refusal(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Conflict(m) => reply_error(StatusCode::CONFLICT, m),
        Refusal::Unavailable(m) => reply_error(StatusCode::SERVICE_UNAVAILABLE, m),
    }
}
