//! How a Redis error maps to an operation's outcome.
//!
//! `fail` claims the request had no effect. Redis checks a command (and a
//! script's existence and syntax) before executing it, and replies with an
//! error instead, so an error reply is a refusal; so is a refused connection,
//! since nothing was sent. A timeout, or a connection lost with the request
//! possibly sent, is indefinite.

use std::future::Future;
use std::time::Duration;

use redis::{ErrorKind, RedisError};

pub(crate) use crate::failure::Failure;

impl Failure {
    pub(crate) fn from_redis(what: &str, err: &RedisError) -> Self {
        Failure::new(is_refusal(err), format!("failed to {what}: {err}"))
    }
}

/// Whether `err` proves that the request had no effect.
pub(crate) fn is_refusal(err: &RedisError) -> bool {
    match err.kind() {
        // An error reply: READONLY, LOADING, MASTERDOWN, NOSCRIPT, a script
        // error before any write, or an error the library does not know.
        ErrorKind::Server(_) | ErrorKind::Extension => true,
        // Raised by the library before sending.
        ErrorKind::InvalidClientConfig | ErrorKind::Client => true,
        ErrorKind::Io => err.is_connection_refusal(),
        // A reply arrived but was not what was expected: the command ran.
        _ => false,
    }
}

/// Runs one request, bounded by `limit` on top of the connection's own
/// timeouts (a reconnecting connection manager may otherwise wait longer).
pub(crate) async fn within<T>(
    what: &str,
    limit: Duration,
    request: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Failure::from_redis(what, &e)),
        Err(_) => Err(Failure::timed_out(what, limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> RedisError {
        RedisError::from(std::io::Error::from(kind))
    }

    #[test]
    fn refused_connections_and_error_replies_are_refusals() {
        assert!(is_refusal(&io(std::io::ErrorKind::ConnectionRefused)));
        let readonly = redis::make_extension_error(
            "READONLY".to_string(),
            Some("You can't write against a read only replica.".to_string()),
        );
        assert!(is_refusal(&readonly));
    }

    #[test]
    fn timeouts_and_dropped_connections_are_indefinite() {
        for kind in [
            std::io::ErrorKind::TimedOut,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            assert!(!is_refusal(&io(kind)), "{kind:?}");
        }
    }
}
