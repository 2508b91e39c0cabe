//! Connections to one Redis node, every one with explicit timeouts.

use std::net::Ipv4Addr;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::AsyncConnectionConfig;

use super::outcome::{within, Failure};
use crate::target::TargetError;

/// Bounds of the connection manager's own reconnection: one quick retry, so
/// that after a restart the next request reconnects instead of waiting out a
/// long backoff, and a dead node costs a request a refused connection rather
/// than its whole timeout.
const RECONNECT_RETRIES: usize = 1;
const RECONNECT_MIN_DELAY_MS: u64 = 10;
const RECONNECT_MAX_DELAY_MS: u64 = 100;

fn url(ip: Ipv4Addr, port: u16) -> String {
    format!("redis://{ip}:{port}/")
}

/// A connection manager for the node at `ip:port` that connects on first
/// use, so a client can be built while the node is down.
pub(crate) fn lazy_manager(
    ip: Ipv4Addr,
    port: u16,
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Result<ConnectionManager, TargetError> {
    let client = redis::Client::open(url(ip, port))
        .map_err(|e| TargetError::client_call(format!("describe {ip}:{port}"), e))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_min_delay(Duration::from_millis(RECONNECT_MIN_DELAY_MS))
        .set_max_delay(Duration::from_millis(RECONNECT_MAX_DELAY_MS));
    ConnectionManager::new_lazy_with_config(client, config)
        .map_err(|e| TargetError::client_call(format!("set up a connection to {ip}:{port}"), e))
}

/// A fresh connection for a one-off exchange (probe, role query), dialled
/// and answered within `timeout` each.
pub(crate) async fn connect_once(
    ip: Ipv4Addr,
    port: u16,
    timeout: Duration,
) -> Result<MultiplexedConnection, Failure> {
    let client = redis::Client::open(url(ip, port))
        .map_err(|e| Failure::from_redis(&format!("describe {ip}:{port}"), &e))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    within(
        &format!("connect to {ip}:{port}"),
        timeout,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
}
