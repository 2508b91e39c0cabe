//! The requests each lock and resource operation sends to one Redis node,
//! with the Lua scripts that make the compound ones atomic.
//!
//! None of the scripts can raise an error after its first write, so an error
//! reply from any of them means it changed nothing (see [`super::outcome`]).

use std::future::Future;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{RedisResult, Script};
use serde_json::Value;

use super::keys::{counter_key, fence_key, lock_key, resource_key};
use super::outcome::{within, Failure};

/// Below this, a request refused once is not worth sending again.
const MIN_RETRY_TIME: Duration = Duration::from_millis(1);

/// Grants the lock if free and takes the next token in the same atomic step.
/// Replies the token, or nil when the lock is held.
static GRANT_WITH_TOKEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false",
    )
});

/// Deletes the lock only if it still holds the caller's value. Replies 1 or 0.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Resets the lock's TTL only if it still holds the caller's value. Replies 1 or 0.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0",
    )
});

/// Replaces the resource only if the write's token is at least the highest
/// one accepted so far, and records it. Tokens travel as decimal strings
/// without leading zeros and are compared by length, then lexically, so the
/// comparison is exact for every u64 (Lua numbers are doubles). Replies 1 or 0.
static FENCED_WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local seen = redis.call('GET', KEYS[2])
local t = ARGV[1]
if seen and (#t < #seen or (#t == #seen and t < seen)) then
  return 0
end
redis.call('SET', KEYS[2], t)
redis.call('SET', KEYS[1], ARGV[2])
return 1",
    )
});

/// Sends the request `request` builds on `conn`, bounded by `limit`. A
/// refused connection proves nothing was sent, so the request is sent once
/// more within what is left of `limit`: the connection manager answers the
/// first request after a restart with the failure of the reconnection that
/// the previous request triggered while the server was down.
async fn send<T, Fut>(
    conn: &ConnectionManager,
    what: &str,
    limit: Duration,
    request: impl Fn(ConnectionManager) -> Fut,
) -> Result<T, Failure>
where
    Fut: Future<Output = RedisResult<T>>,
{
    let started = Instant::now();
    match tokio::time::timeout(limit, request(conn.clone())).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.is_connection_refusal() => {
            let left = limit.saturating_sub(started.elapsed());
            if left < MIN_RETRY_TIME {
                return Err(Failure::from_redis(what, &e));
            }
            within(what, left, request(conn.clone())).await
        }
        Ok(Err(e)) => Err(Failure::from_redis(what, &e)),
        Err(_) => Err(Failure::timed_out(what, limit)),
    }
}

/// Grants lock `key` with `value` for `ttl_ms` and takes a token from its
/// counter; `None` when someone holds it.
pub(crate) async fn grant_with_token(
    conn: &ConnectionManager,
    key: &str,
    value: &str,
    ttl_ms: u64,
    limit: Duration,
) -> Result<Option<u64>, Failure> {
    send(conn, "grant the lock", limit, |mut conn| async move {
        let mut invocation = GRANT_WITH_TOKEN.prepare_invoke();
        invocation
            .key(lock_key(key))
            .key(counter_key(key))
            .arg(value)
            .arg(ttl_ms);
        invocation.invoke_async(&mut conn).await
    })
    .await
}

/// Plain `SET NX PX`, as Redlock sends to each node; whether it was granted.
pub(crate) async fn grant(
    conn: &ConnectionManager,
    key: &str,
    value: &str,
    ttl_ms: u64,
    limit: Duration,
) -> Result<bool, Failure> {
    let reply: Option<String> = send(conn, "grant the lock", limit, |mut conn| async move {
        redis::cmd("SET")
            .arg(lock_key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await
    })
    .await?;
    Ok(reply.is_some())
}

/// Lock `key` as its holder knows it: the scripts sent through it act
/// only while the lock still holds the holder's `value`.
#[derive(Clone, Copy)]
pub(crate) struct OwnLock<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
}

impl OwnLock<'_> {
    /// Deletes the lock; whether it did.
    pub(crate) async fn release(
        self,
        conn: &ConnectionManager,
        limit: Duration,
    ) -> Result<bool, Failure> {
        self.run(conn, "release the lock", &RELEASE, None, limit)
            .await
    }

    /// Sets the lock's TTL to `ttl_ms`; whether it did.
    pub(crate) async fn extend(
        self,
        conn: &ConnectionManager,
        ttl_ms: u64,
        limit: Duration,
    ) -> Result<bool, Failure> {
        self.run(conn, "renew the lock", &EXTEND, Some(ttl_ms), limit)
            .await
    }

    /// Runs `script` (which replies 1 or 0) with the value and then `ttl_ms`
    /// as arguments, when given; whether it acted.
    async fn run(
        self,
        conn: &ConnectionManager,
        what: &str,
        script: &Script,
        ttl_ms: Option<u64>,
        limit: Duration,
    ) -> Result<bool, Failure> {
        let acted: u64 = send(conn, what, limit, |mut conn| async move {
            let mut invocation = script.prepare_invoke();
            invocation.key(lock_key(self.key)).arg(self.value);
            if let Some(ttl_ms) = ttl_ms {
                invocation.arg(ttl_ms);
            }
            invocation.invoke_async(&mut conn).await
        })
        .await?;
        Ok(acted == 1)
    }
}

/// The resource's list (empty when the key does not exist). Every failure
/// is a refusal: a read changes nothing.
pub(crate) async fn read_resource(
    conn: &ConnectionManager,
    key: &str,
    limit: Duration,
) -> Result<Vec<Value>, String> {
    let raw: Option<String> = send(conn, "read the resource", limit, |mut conn| async move {
        redis::cmd("GET")
            .arg(resource_key(key))
            .query_async(&mut conn)
            .await
    })
    .await
    .map_err(|f| f.message().to_string())?;
    match raw {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str::<Vec<Value>>(&text).map_err(|e| {
            format!("failed to read the resource {key}: it does not hold a JSON list: {e}")
        }),
    }
}

/// Replaces the resource with `body`, unconditionally.
pub(crate) async fn write_unguarded(
    conn: &ConnectionManager,
    key: &str,
    body: &str,
    limit: Duration,
) -> Result<(), Failure> {
    let _: String = send(conn, "write the resource", limit, |mut conn| async move {
        redis::cmd("SET")
            .arg(resource_key(key))
            .arg(body)
            .query_async(&mut conn)
            .await
    })
    .await?;
    Ok(())
}

/// Replaces the resource with `body` if `token` is not below the highest
/// accepted token; whether it did.
pub(crate) async fn write_fenced(
    conn: &ConnectionManager,
    key: &str,
    token: u64,
    body: &str,
    limit: Duration,
) -> Result<bool, Failure> {
    let accepted: u64 = send(conn, "write the resource", limit, |mut conn| async move {
        let mut invocation = FENCED_WRITE.prepare_invoke();
        invocation
            .key(resource_key(key))
            .key(fence_key(key))
            .arg(token.to_string())
            .arg(body);
        invocation.invoke_async(&mut conn).await
    })
    .await?;
    Ok(accepted == 1)
}

/// A cheap request that fails while the node is loading its data.
pub(crate) async fn probe<C: ConnectionLike>(conn: &mut C, limit: Duration) -> Result<(), Failure> {
    let mut cmd = redis::cmd("GET");
    cmd.arg("splitbrain:probe");
    let _: Option<String> = within("read", limit, cmd.query_async(conn)).await?;
    Ok(())
}

/// What a node says it is, asked with `ROLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    Primary,
    /// A replica and the state of its link to the primary (`connected` once
    /// the initial sync is done and the replication stream flows).
    Replica {
        link: String,
    },
    Other(String),
}

pub(crate) async fn role<C: ConnectionLike>(
    conn: &mut C,
    limit: Duration,
) -> Result<Role, Failure> {
    let reply: redis::Value =
        within("ask the role", limit, redis::cmd("ROLE").query_async(conn)).await?;
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    };
    let items = match reply {
        redis::Value::Array(items) => items,
        other => return Ok(Role::Other(text(&other))),
    };
    // master: [master, offset, replicas]; slave: [slave, ip, port, state, offset].
    Ok(match items.first().map(text).as_deref() {
        Some("master") => Role::Primary,
        Some("slave") => Role::Replica {
            link: items.get(3).map(text).unwrap_or_default(),
        },
        other => Role::Other(other.unwrap_or_default().to_string()),
    })
}

/// A random lock value, unique per grant.
pub(crate) fn random_value(process: u64) -> String {
    format!(
        "p{process}-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}
