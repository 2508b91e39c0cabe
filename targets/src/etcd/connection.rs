//! Connections to one etcd member, every one bounded and kept alive the
//! same way.

use std::time::Duration;

use etcd_client::ConnectOptions;

/// Interval of HTTP/2 pings while a request is in flight, so a connection to
/// a dead or unreachable node is dropped and redialled rather than reused.
/// The servers are told to accept pings this often (their default minimum is
/// 5 s); pings are not sent while idle, which etcd would punish with GOAWAY.
pub const CLIENT_PING_INTERVAL_MS: u64 = 2000;
/// The smallest ping interval the servers accept; below [`CLIENT_PING_INTERVAL_MS`].
pub(super) const SERVER_PING_MIN_MS: u64 = 1000;

/// Why a connection was not made.
pub(super) enum ConnectFailure {
    /// The client library failed or refused.
    Library(etcd_client::Error),
    /// No connection within the bound.
    TimedOut,
}

/// Connects to the member at `endpoint` (`http://ip:port`) within
/// `connect_timeout`; the connection pings in-flight requests (see
/// [`CLIENT_PING_INTERVAL_MS`]) and gives up on a ping after `ping_timeout`.
pub(super) async fn connect(
    endpoint: &str,
    connect_timeout: Duration,
    ping_timeout: Duration,
    require_leader: bool,
) -> Result<etcd_client::Client, ConnectFailure> {
    let options = ConnectOptions::new()
        .with_require_leader(require_leader)
        .with_connect_timeout(connect_timeout)
        .with_keep_alive(Duration::from_millis(CLIENT_PING_INTERVAL_MS), ping_timeout)
        .with_keep_alive_while_idle(false);
    match tokio::time::timeout(
        connect_timeout,
        etcd_client::Client::connect([endpoint], Some(options)),
    )
    .await
    {
        Ok(Ok(etcd)) => Ok(etcd),
        Ok(Err(e)) => Err(ConnectFailure::Library(e)),
        Err(_) => Err(ConnectFailure::TimedOut),
    }
}
