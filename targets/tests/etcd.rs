//! What only etcd shows, against real etcd members on loopback: the Lock
//! RPC's answer to an expired waiter (etcd issue 11456), quorum and Raft
//! leadership, and the Election API. The lock behaviours every target
//! shares are in the conformance suite (`tests/conformance.rs`).

use std::time::{Duration, Instant};

use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::{Client, ClientConfig, HistoryClock};
use splitbrain_targets::etcd::{election_name, lock_name, EtcdTarget, WriteMode};
use splitbrain_targets::target::Target;
use splitbrain_testkit::beds::{etcd, etcd_config, etcd_keys};
use splitbrain_testkit::cluster::LocalCluster;
use splitbrain_testkit::ops::{completion, inv, run, write_k};

type EtcdCluster = LocalCluster<EtcdTarget>;

/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);

/// One fenced etcd member, a history clock, and clients of processes 1 and 2.
async fn one_member_two_clients() -> (EtcdCluster, HistoryClock, Box<dyn Client>, Box<dyn Client>) {
    let cluster = etcd(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let p1 = cluster.client(1, &etcd_config()).await;
    let p2 = cluster.client(2, &etcd_config()).await;
    (cluster, clock, p1, p2)
}

/// The client refuses a fenced write unsent when its process holds no lock,
/// whatever token the write names: the token is a lock key's revision, and
/// there is no key to compare it with.
#[tokio::test]
async fn a_fenced_write_naming_a_token_without_a_lock_is_refused_client_side() {
    let cluster = etcd(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &etcd_config()).await;
    run(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    let unlocked = completion(p0.as_mut(), &clock, write_k(Some(1), 1)).await;
    assert_eq!(unlocked.kind, OpType::Fail, "{unlocked:?}");
}

/// Why the client keeps a queued lease alive and reads its lock key back:
/// Debian's etcd 3.4.23 still answers a Lock call whose lease expired while it
/// was queued with "you hold the lock" (etcd issue 11456), and the key it
/// names no longer exists.
#[tokio::test]
async fn etcd_3_4_lock_rpc_grants_a_waiter_whose_lease_expired_in_the_queue() {
    let cluster = etcd(1, WriteMode::Fenced).await;
    let endpoint = cluster.target.endpoint(&cluster.nodes[0]);
    let mut etcd = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("connect");
    let bound = Duration::from_secs(10);
    let holder = etcd.lease_grant(2, None).await.expect("grant").id();
    let waiter = etcd.lease_grant(2, None).await.expect("grant").id();
    let name = lock_name("k");
    let held = etcd
        .lock(
            name.as_str(),
            Some(etcd_client::LockOptions::new().with_lease(holder)),
        )
        .await
        .expect("lock");
    let mut queued_client = etcd.clone();
    let queued = tokio::spawn(async move {
        tokio::time::timeout(
            bound,
            queued_client.lock(
                name.as_str(),
                Some(etcd_client::LockOptions::new().with_lease(waiter)),
            ),
        )
        .await
    });
    // Keep only the holder's lease alive, well past the waiter's TTL.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        etcd.lease_keep_alive(holder).await.expect("keep-alive");
    }
    etcd.unlock(held.key()).await.expect("unlock");
    let granted = queued
        .await
        .expect("task")
        .expect("answered in time")
        .expect("etcd 3.4 grants the expired waiter");
    let key = etcd.get(granted.key(), None).await.expect("get");
    assert_eq!(key.count(), 0, "the granted lock key exists after all");
}

#[tokio::test]
async fn a_member_without_quorum_refuses_writes_as_fail() {
    let mut cluster = etcd(3, WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let mut p2 = cluster.client(2, &etcd_config()).await;
    let read = completion(p2.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert_eq!(read.kind, OpType::Ok, "{read:?}");
    assert_eq!(read.node.as_deref(), Some("n3"));
    cluster.kill(0);
    cluster.kill(1);

    // Twice the longest randomized election timeout: by then n3 knows it has
    // no leader, and require_leader makes it refuse before acting.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = Instant::now();
    let refused = completion(p2.as_mut(), &clock, write_k(None, 1)).await;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    assert!(
        refused
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no leader")),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    // A refusal leaves the basis in place: the process may write again.
    let again = completion(p2.as_mut(), &clock, write_k(None, 1)).await;
    assert_eq!(again.kind, OpType::Fail, "{again:?}");
}

#[tokio::test]
async fn primaries_names_the_one_raft_leader_and_follows_a_failover() {
    let mut cluster = etcd(3, WriteMode::Fenced).await;
    let timeout = Duration::from_millis(1000);
    let primaries = cluster
        .target
        .as_primaries()
        .expect("etcd reports primaries");
    let leaders = primaries.primaries(&cluster.nodes, timeout).await;
    assert_eq!(leaders.len(), 1, "{leaders:?}");
    let old = leaders[0].clone();

    let i = cluster.index_of(&old);
    cluster.kill(i);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(15);
    let primaries = cluster
        .target
        .as_primaries()
        .expect("etcd reports primaries");
    let new = loop {
        let leaders = primaries.primaries(&cluster.nodes, timeout).await;
        if leaders.len() == 1 && leaders[0] != old {
            break leaders[0].clone();
        }
        assert!(Instant::now() < deadline, "no new leader: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("{new} replaced {old} after {:?}", started.elapsed());

    // The dead member fails its probe within the probe's own bound.
    let probe_started = Instant::now();
    assert!(cluster
        .target
        .probe(&cluster.nodes[i], timeout)
        .await
        .is_err());
    assert!(probe_started.elapsed() <= timeout + SLACK);
}

#[tokio::test]
async fn campaign_observe_and_resign_give_terms_and_leaders() {
    let (cluster, clock, mut p1, mut p2) = one_member_two_clients().await;
    let mut observer = cluster.client(3, &etcd_config()).await;

    let nobody = completion(observer.as_mut(), &clock, inv(F::Observe, "e", None, None)).await;
    assert_eq!(nobody.kind, OpType::Ok, "{nobody:?}");
    assert_eq!((nobody.value, nobody.token), (None, None));

    let won = completion(p1.as_mut(), &clock, inv(F::Campaign, "e", None, None)).await;
    assert_eq!(won.kind, OpType::Ok, "{won:?}");
    let term1 = won.token.expect("term");
    assert!(won.valid_until.is_some());
    let seen = completion(observer.as_mut(), &clock, inv(F::Observe, "e", None, None)).await;
    assert_eq!((seen.value, seen.token), (Some(json!(1)), Some(term1)));

    let challenger = tokio::spawn(async move {
        let done = run(p2.as_mut(), &clock, inv(F::Campaign, "e", None, None)).await;
        (p2, done)
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        !challenger.is_finished(),
        "a second campaign won while p1 led"
    );
    let renewed = completion(p1.as_mut(), &clock, inv(F::Renew, "e", Some(term1), None)).await;
    assert_eq!(renewed.kind, OpType::Ok, "{renewed:?}");
    assert_eq!(renewed.token, Some(term1));
    assert!(renewed.valid_until > won.valid_until);

    let resign_invoked_at = clock.now_ns();
    let resigned = completion(p1.as_mut(), &clock, inv(F::Resign, "e", Some(term1), None)).await;
    assert_eq!(resigned.kind, OpType::Ok, "{resigned:?}");
    let (mut p2, won2) = challenger.await.expect("challenger");
    assert_eq!(won2.completion.kind, OpType::Ok, "{:?}", won2.completion);
    assert!(won2.at_ns >= resign_invoked_at);
    let term2 = won2.completion.token.expect("term");
    assert!(term2 > term1, "terms {term1} then {term2}");
    let seen = completion(observer.as_mut(), &clock, inv(F::Observe, "e", None, None)).await;
    assert_eq!((seen.value, seen.token), (Some(json!(2)), Some(term2)));

    // The deposed leader's renewal fails: it no longer leads.
    let stale = completion(p1.as_mut(), &clock, inv(F::Renew, "e", Some(term1), None)).await;
    assert_eq!(stale.kind, OpType::Fail, "{stale:?}");
    p2.close().await;
}

#[tokio::test]
async fn a_leader_whose_lease_expires_is_replaced_and_its_proclaim_fails() {
    let (_cluster, clock, mut p1, mut p2) = one_member_two_clients().await;
    let won = completion(p1.as_mut(), &clock, inv(F::Campaign, "e", None, None)).await;
    assert_eq!(won.kind, OpType::Ok, "{won:?}");

    let next = run(p2.as_mut(), &clock, inv(F::Campaign, "e", None, None)).await;
    assert_eq!(next.completion.kind, OpType::Ok, "{:?}", next.completion);
    assert!(next.completion.token > won.token);
    assert!(next.at_ns >= won.valid_until.expect("valid_until"));

    let late = completion(p1.as_mut(), &clock, inv(F::Renew, "e", won.token, None)).await;
    assert_eq!(late.kind, OpType::Fail, "{late:?}");
}

#[tokio::test]
async fn a_campaign_that_times_out_is_info_and_leaves_no_candidate_key() {
    let cluster = etcd(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p1 = cluster.client(1, &etcd_config()).await;
    let impatient = ClientConfig {
        acquire_timeout_ms: 1500,
        ..etcd_config()
    };
    let mut p2 = cluster.client(2, &impatient).await;
    let won = completion(p1.as_mut(), &clock, inv(F::Campaign, "e", None, None)).await;
    assert_eq!(won.kind, OpType::Ok, "{won:?}");

    let started = Instant::now();
    let gave_up = completion(p2.as_mut(), &clock, inv(F::Campaign, "e", None, None)).await;
    let took = started.elapsed();
    assert_eq!(gave_up.kind, OpType::Info, "{gave_up:?}");
    assert!(
        took >= impatient.acquire_timeout()
            && took <= impatient.acquire_timeout() + Duration::from_millis(500),
        "took {took:?}"
    );
    let keys = etcd_keys(&cluster, election_name("e")).await;
    assert_eq!(keys.count(), 1, "{:?}", keys.kvs());
    // close() revokes the leader's lease: the election is free again.
    p1.close().await;
    let free = completion(p2.as_mut(), &clock, inv(F::Observe, "e", None, None)).await;
    assert_eq!((free.kind, free.value), (OpType::Ok, None));
}
