//! The Sentinel target against three real redis-server + redis-sentinel
//! pairs: discovery, failover after the primary is killed, and which nodes
//! call themselves primary. The lock behaviours every target shares are in
//! the conformance suite (`tests/conformance.rs`, module `sentinel`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::HistoryClock;
use splitbrain_targets::redis::{SentinelTarget, WriteMode, MASTER_NAME};
use splitbrain_targets::target::{NodeAddr, Primaries};
use splitbrain_testkit::beds::{redis_config as config, sentinel as sentinel_cluster};
use splitbrain_testkit::cluster::LocalCluster;
use splitbrain_testkit::ops::{completion, inv, ok, run};

/// How long the Sentinels may take to find each other and the replicas, and
/// to fail over (down-after 1 s, then a vote and a promotion).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Sentinel converts a returning old primary only after it has reported the
/// wrong role for a while (a few publish periods) and after its next INFO
/// poll (every 10 s for replicas): up to about 20 s when idle, more on a
/// loaded CI machine.
const DEMOTION_TIMEOUT: Duration = Duration::from_secs(90);
const ASK_TIMEOUT: Duration = Duration::from_millis(500);
/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);

async fn three() -> LocalCluster<SentinelTarget> {
    sentinel_cluster(3, WriteMode::Fenced).await
}

/// Three nodes whose Sentinels know each other and the replicas, as a
/// failover needs.
async fn settled_three() -> LocalCluster<SentinelTarget> {
    let cluster = three().await;
    wait_until(
        "every Sentinel knows 2 replicas and 2 other Sentinels",
        SETTLE_TIMEOUT,
        || async {
            for node in &cluster.nodes {
                let Ok(mut conn) = sentinel(node, cluster.target.layout().sentinel_port).await
                else {
                    return false;
                };
                let replicas = sentinel_list(&mut conn, "replicas").await;
                let up = replicas
                    .iter()
                    .filter(|r| r.get("flags").is_some_and(|f| f == "slave"))
                    .count();
                let peers = sentinel_list(&mut conn, "sentinels").await;
                if up != 2 || peers.len() != 2 {
                    return false;
                }
            }
            true
        },
    )
    .await;
    cluster
}

/// `SENTINEL {what} <master>`: the replicas or the other Sentinels this one
/// knows, each as its fields; none where the Sentinel does not answer.
async fn sentinel_list(
    conn: &mut redis::aio::MultiplexedConnection,
    what: &str,
) -> Vec<HashMap<String, String>> {
    redis::cmd("SENTINEL")
        .arg(what)
        .arg(MASTER_NAME)
        .query_async(conn)
        .await
        .unwrap_or_default()
}

async fn sentinel(
    node: &NodeAddr,
    port: u16,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{}:{port}/", node.ip))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(ASK_TIMEOUT))
        .set_response_timeout(Some(ASK_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn clients_find_the_first_node_as_primary_through_their_sentinels() {
    let cluster = three().await;
    let clock = HistoryClock::start();
    assert_eq!(
        cluster.target.primaries(&cluster.nodes, ASK_TIMEOUT).await,
        vec!["n1".to_string()]
    );
    for p in 0..3 {
        let mut client = cluster.client(p, &config()).await;
        let c = ok(
            client.as_mut(),
            &clock,
            inv(F::Acquire, &format!("k{p}"), None, None),
        )
        .await;
        assert_eq!(c.node.as_deref(), Some("n1"));
        let named = cluster
            .target
            .primary_named_by(&cluster.nodes[p as usize], &cluster.nodes, ASK_TIMEOUT)
            .await;
        assert_eq!(named.as_deref(), Ok("n1"));
    }
}

#[tokio::test]
async fn the_client_follows_a_failover_after_the_primary_is_killed() {
    let mut cluster = settled_three().await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let first = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(first.node.as_deref(), Some("n1"));
    ok(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None)).await;
    // Let asynchronous replication carry the counter to the replicas.
    tokio::time::sleep(Duration::from_millis(300)).await;

    cluster.kill(0);
    let killed_at = Instant::now();
    let mut p1 = cluster.client(1, &config()).await;
    let mut kinds = Vec::new();
    let second = loop {
        let done = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        if done.completion.kind == OpType::Ok {
            break done.completion;
        }
        kinds.push(done.completion.kind);
        assert!(
            killed_at.elapsed() < SETTLE_TIMEOUT,
            "no failover: last {:?}\n{}",
            done.completion,
            cluster.log(1)
        );
        if done.completion.kind == OpType::Info {
            // A process whose op ended info never invokes again.
            p1 = cluster.client(1 + 3 * kinds.len() as u64, &config()).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let new_primary = second.node.clone().expect("node");
    assert_ne!(new_primary, "n1");
    println!(
        "failover followed after {:?} ({} attempts failed)",
        killed_at.elapsed(),
        kinds.len()
    );
    assert!(
        second.token > first.token,
        "{:?} then {:?}",
        first.token,
        second.token
    );
    assert_eq!(
        cluster.target.primaries(&cluster.nodes, ASK_TIMEOUT).await,
        vec![new_primary.clone()]
    );

    // The old primary restarts as a primary of nothing, until the Sentinels
    // demote it.
    cluster.restart(0).await;
    wait_until("the restarted n1 is demoted", DEMOTION_TIMEOUT, || async {
        cluster.target.primaries(&cluster.nodes, ASK_TIMEOUT).await == vec![new_primary.clone()]
    })
    .await;
}

#[tokio::test]
async fn requests_to_a_paused_primary_end_as_info_within_the_request_timeout() {
    let cluster = three().await;
    let clock = HistoryClock::start();
    let cfg = config();
    let mut p0 = cluster.client(0, &cfg).await;
    let held = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    cluster.pause(0, true);
    let started = Instant::now();
    let renew = completion(p0.as_mut(), &clock, inv(F::Renew, "k", held.token, None)).await;
    let took = started.elapsed();
    cluster.pause(0, false);
    assert_eq!(renew.kind, OpType::Info, "{renew:?}");
    assert_eq!(renew.node.as_deref(), Some("n1"));
    // Discovery and the request are each bounded by the request timeout.
    assert!(took <= cfg.request_timeout() * 2 + SLACK, "took {took:?}");
}
