//! Local clusters of the etcd and Redis targets, and their test beds.
//!
//! etcd members and Redis nodes are the Debian packages' binaries, started
//! from each target's own service command (scripts/setup installs them).

use std::path::Path;
use std::time::Duration;

use splitbrain_checkers::history::OpType;
use splitbrain_targets::client::{ClientConfig, Completion, HistoryClock};
use splitbrain_targets::etcd::{lock_name, EtcdTarget, WriteMode};
use splitbrain_targets::redis::{
    RedisLayout, RedisPersistence, RedisTarget, RedlockTarget, SentinelTarget,
};
use splitbrain_targets::target::{NodeAddr, Target};

use crate::bed::{Contention, Profile, TestBed};
use crate::cluster::{ClusterSpec, LocalCluster, Ready};
use crate::loopback::{self, Readiness};
use crate::ops::{inv, ok};

/// How long an etcd cluster may take to elect a leader and answer reads.
const ETCD_READY: Readiness = Readiness {
    timeout: Duration::from_secs(30),
    poll: Duration::from_millis(100),
};

/// How long Redis nodes may take to answer reads after a start.
const REDIS_READY: Readiness = Readiness {
    timeout: Duration::from_secs(20),
    poll: Duration::from_millis(50),
};

/// Far below the 1 s TTL, yet room for a loaded machine's loopback round.
pub const REDLOCK_NODE_TIMEOUT_MS: u64 = 100;

/// `size` etcd members, each answering a linearizable read.
pub async fn etcd(size: u8, write_mode: WriteMode) -> LocalCluster<EtcdTarget> {
    LocalCluster::start(ClusterSpec::new(
        loopback::nodes(size),
        ETCD_READY,
        "etcd (Debian package etcd-server)",
        |nodes, dir| {
            let (client_port, peer_port) = loopback::free_ports(nodes);
            EtcdTarget::new(write_mode)
                .with_ports(client_port, peer_port)
                .with_data_root(dir)
        },
    ))
    .await
}

/// The keys under `prefix` on the first member (a lock's or an election's
/// queue of candidates, say).
pub async fn etcd_keys(
    cluster: &LocalCluster<EtcdTarget>,
    prefix: String,
) -> etcd_client::GetResponse {
    let endpoint = cluster.target.endpoint(&cluster.nodes[0]);
    let mut etcd = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("connect");
    let prefixed = etcd_client::GetOptions::new().with_prefix();
    etcd.get(prefix, Some(prefixed)).await.expect("list keys")
}

/// Timeouts for etcd tests: short requests, a 2 s lease (etcd's minimum
/// with the target's election timeout), and a lock wait long enough for a
/// lease to expire.
pub fn etcd_config() -> ClientConfig {
    ClientConfig {
        lease_ms: 2000,
        request_timeout_ms: 1000,
        acquire_timeout_ms: 10_000,
        connect_timeout_ms: 1000,
    }
}

/// `size` nodes of the Redis target `make` builds for a loopback layout.
pub async fn redis<T: Target>(size: u8, make: impl FnOnce(RedisLayout) -> T) -> LocalCluster<T> {
    redis_with_env(size, make, |_, _| Vec::new()).await
}

/// As [`redis`], with extra environment for each node's service, given the
/// node and the cluster's directory.
pub async fn redis_with_env<T: Target>(
    size: u8,
    make: impl FnOnce(RedisLayout) -> T,
    env: impl Fn(&NodeAddr, &Path) -> Vec<(String, String)>,
) -> LocalCluster<T> {
    LocalCluster::start(redis_spec(size, make).with_env(env)).await
}

fn redis_spec<'a, T: Target>(
    size: u8,
    make: impl FnOnce(RedisLayout) -> T + 'a,
) -> ClusterSpec<'a, T> {
    ClusterSpec::new(
        loopback::nodes(size),
        REDIS_READY,
        "sh and redis-server (Debian package redis-server)",
        |nodes, dir| {
            let (port, sentinel_port) = loopback::free_ports(nodes);
            make(RedisLayout::loopback(port, sentinel_port, dir))
        },
    )
}

/// Timeouts for Redis tests: a 1 s lease, requests bounded well below it.
pub fn redis_config() -> ClientConfig {
    ClientConfig {
        lease_ms: 1000,
        request_timeout_ms: 300,
        acquire_timeout_ms: 1000,
        connect_timeout_ms: 300,
    }
}

/// Redlock over `size` nodes, with per-node timeouts for loopback.
pub async fn redlock(size: u8, write_mode: WriteMode) -> LocalCluster<RedlockTarget> {
    redis(size, |layout| {
        RedlockTarget::new(write_mode, RedisPersistence::None)
            .with_layout(layout)
            .with_node_timeout_ms(REDLOCK_NODE_TIMEOUT_MS)
    })
    .await
}

/// `size` redis-servers, the first primary, each with a Sentinel beside it.
///
/// Up when redis-server and Sentinel listen: the target's probe would also
/// wait for each Sentinel to discover its peers and replicas, which takes up
/// to 10 s (a Sentinel asks its primary for replicas that often) and which
/// only a failover needs. Until then a Sentinel names its configured primary.
pub async fn sentinel(size: u8, write_mode: WriteMode) -> LocalCluster<SentinelTarget> {
    let spec = redis_spec(size, |layout| {
        SentinelTarget::new(write_mode, RedisPersistence::None).with_layout(layout)
    });
    let listening = |t: &SentinelTarget| vec![t.layout().port, t.layout().sentinel_port];
    LocalCluster::start(spec.ready_when(Ready::Listening(listening))).await
}

/// The Redis targets' profile, the same but for what `redis` names.
fn redis_profile(nodes: u8, tokens: bool, grant_node: &'static str) -> Profile {
    Profile {
        nodes,
        config: redis_config(),
        contention: Contention::Refuses,
        tokens,
        grant_node,
        // The 1 s lease, timed by the server from before the grant answered.
        held_at_most: Duration::from_millis(1100),
        late_renewal_says: None,
        late_release: OpType::Fail,
        paused_acquire: OpType::Info,
        gave_up: OpType::Fail,
        write_to_killed: OpType::Info,
        durable: false,
        builds_clients_while_down: true,
    }
}

/// etcd members: a queued Lock call, leases, revisions as tokens.
pub struct EtcdBed;

impl TestBed for EtcdBed {
    type Service = EtcdTarget;
    const NAME: &'static str = "etcd";

    fn profile() -> Profile {
        Profile {
            nodes: 1,
            config: etcd_config(),
            contention: Contention::Queues,
            tokens: true,
            grant_node: "n1",
            held_at_most: Duration::from_millis(2500),
            late_renewal_says: None,
            // Unlocking deletes the lock key, which expiry already deleted.
            late_release: OpType::Ok,
            // An acquire first grants a lease; one unanswered holds nothing.
            paused_acquire: OpType::Fail,
            gave_up: OpType::Info,
            write_to_killed: OpType::Info,
            durable: true,
            builds_clients_while_down: false,
        }
    }

    async fn start(nodes: u8, write_mode: WriteMode) -> LocalCluster<EtcdTarget> {
        etcd(nodes, write_mode).await
    }

    /// Only the holder's key remains: the waiter's lease was revoked with its key.
    async fn after_acquire_timeout(cluster: &LocalCluster<EtcdTarget>) {
        let keys = etcd_keys(cluster, lock_name("k")).await;
        assert_eq!(keys.count(), 1, "{:?}", keys.kvs());
    }
}

/// One redis-server: refusal while held, a per-key counter as tokens.
pub struct RedisBed;

impl TestBed for RedisBed {
    type Service = RedisTarget;
    const NAME: &'static str = "redis single instance";

    fn profile() -> Profile {
        redis_profile(1, true, "n1")
    }

    async fn start(nodes: u8, write_mode: WriteMode) -> LocalCluster<RedisTarget> {
        redis(nodes, |layout| {
            RedisTarget::new(write_mode, RedisPersistence::None).with_layout(layout)
        })
        .await
    }

    /// The late replies to the timed-out requests were not taken for the
    /// answers to later ones on the same connection, and the paused write
    /// took effect when the server resumed.
    async fn after_resume(
        cluster: &LocalCluster<RedisTarget>,
        clock: &HistoryClock,
        other: &Completion,
    ) {
        assert_eq!(other.token, Some(1), "{other:?}");
        let mut p2 = cluster.client(2, &redis_config()).await;
        let read = ok(
            p2.as_mut(),
            clock,
            inv(splitbrain_checkers::history::F::Read, "k", None, None),
        )
        .await;
        assert_eq!(
            read.value,
            Some(serde_json::json!([1])),
            "the paused write took effect on resume"
        );
    }
}

/// Redlock over five redis-servers: quorum grants, no tokens.
pub struct RedlockBed;

impl TestBed for RedlockBed {
    type Service = RedlockTarget;
    const NAME: &'static str = "redlock over 5 nodes";

    fn profile() -> Profile {
        Profile {
            late_renewal_says: Some("validity ran out"),
            ..redis_profile(5, false, "n1,n2,n3,n4,n5")
        }
    }

    async fn start(nodes: u8, write_mode: WriteMode) -> LocalCluster<RedlockTarget> {
        redlock(nodes, write_mode).await
    }
}

/// A primary and two replicas under three Sentinels; clients find the
/// primary through their Sentinel before each operation.
pub struct SentinelBed;

impl TestBed for SentinelBed {
    type Service = SentinelTarget;
    const NAME: &'static str = "redis-sentinel";

    fn profile() -> Profile {
        redis_profile(3, true, "n1")
    }

    async fn start(nodes: u8, write_mode: WriteMode) -> LocalCluster<SentinelTarget> {
        sentinel(nodes, write_mode).await
    }
}
