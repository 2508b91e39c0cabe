//! The etcd Lock API through the etcd target, against a real etcd: tokens,
//! blocking, lease expiry, and fenced versus unguarded writes.

#[allow(dead_code, reason = "shared by several test crates, each using a part")]
mod etcd_support;

use std::time::{Duration, Instant};

use etcd_support::{config, inv, run, LocalCluster};
use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::{ClientConfig, HistoryClock};
use splitbrain_targets::etcd::{lock_name, WriteMode};

/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);

#[tokio::test]
async fn successive_acquires_get_increasing_tokens_and_a_lease_bound() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let invoked_at = clock.now_ns();
        let acquired = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        let c = &acquired.completion;
        assert_eq!(c.kind, OpType::Ok, "{c:?}");
        assert_eq!(c.node.as_deref(), Some("n1"));
        // The bound is a keep-alive or grant invoked within the op, plus the 2 s TTL.
        let valid_until = c.valid_until.expect("valid_until");
        assert!(
            valid_until >= invoked_at + 2_000_000_000
                && valid_until <= acquired.at_ns + 2_000_000_000
        );
        tokens.push(c.token.expect("token"));
        let released = run(p0.as_mut(), &clock, inv(F::Release, "k", c.token, None)).await;
        assert_eq!(
            released.completion.kind,
            OpType::Ok,
            "{:?}",
            released.completion
        );
    }
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "tokens {tokens:?}");
}

#[tokio::test]
async fn a_second_acquirer_blocks_until_the_holder_releases() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let mut p1 = cluster.client(1, &config()).await;
    let first = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(first.kind, OpType::Ok, "{first:?}");

    let waiter = tokio::spawn(async move {
        let done = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        (p1, done)
    });
    // Longer than a request takes, shorter than the lease: the holder keeps it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        !waiter.is_finished(),
        "second acquire returned while the lock was held"
    );
    let renewed = run(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None))
        .await
        .completion;
    assert_eq!(renewed.kind, OpType::Ok, "{renewed:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiter.is_finished(),
        "second acquire returned while the lock was held"
    );

    let release_invoked_at = clock.now_ns();
    let released = run(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None))
        .await
        .completion;
    assert_eq!(released.kind, OpType::Ok, "{released:?}");
    let (mut p1, second) = waiter.await.expect("waiter");
    assert_eq!(
        second.completion.kind,
        OpType::Ok,
        "{:?}",
        second.completion
    );
    assert!(second.at_ns >= release_invoked_at);
    assert!(second.completion.token > first.token);
    p1.close().await;
}

#[tokio::test]
async fn an_unrenewed_lease_expires_and_the_next_holder_gets_a_higher_token() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let mut p1 = cluster.client(1, &config()).await;
    let first = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(first.kind, OpType::Ok, "{first:?}");

    // p0 goes quiet; p1 waits for the lease to run out.
    let second = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(
        second.completion.kind,
        OpType::Ok,
        "{:?}",
        second.completion
    );
    assert!(second.completion.token > first.token);
    // etcd kept its promise: no grant to p1 before p0's conservative bound.
    assert!(second.at_ns >= first.valid_until.expect("valid_until"));

    let late = run(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None))
        .await
        .completion;
    assert_eq!(
        late.kind,
        OpType::Fail,
        "renewing an expired lease: {late:?}"
    );
}

/// Holds of p0 (expired) and p1 (current) on "k", each having read the
/// resource while it held the lock, as in Jepsen's lock-protected set.
async fn stale_and_current_holders(
    cluster: &LocalCluster,
    clock: &HistoryClock,
) -> (
    Box<dyn splitbrain_targets::client::Client>,
    Box<dyn splitbrain_targets::client::Client>,
    u64,
    u64,
) {
    let mut p0 = cluster.client(0, &config()).await;
    let mut p1 = cluster.client(1, &config()).await;
    let stale = run(p0.as_mut(), clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(stale.kind, OpType::Ok, "{stale:?}");
    let read = run(p0.as_mut(), clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.value, Some(json!([])));
    // p0 pauses past its lease; p1 is granted the lock and reads.
    let current = run(p1.as_mut(), clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(current.kind, OpType::Ok, "{current:?}");
    let read = run(p1.as_mut(), clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.value, Some(json!([])));
    (
        p0,
        p1,
        stale.token.expect("token"),
        current.token.expect("token"),
    )
}

#[tokio::test]
async fn a_fenced_write_with_a_stale_token_fails_while_the_holders_succeeds() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let (mut p0, mut p1, stale, current) = stale_and_current_holders(&cluster, &clock).await;

    let ok = run(
        p1.as_mut(),
        &clock,
        inv(F::Write, "k", Some(current), Some(json!(2))),
    )
    .await
    .completion;
    assert_eq!(ok.kind, OpType::Ok, "{ok:?}");
    assert_eq!(ok.token, Some(current));
    let rejected = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", Some(stale), Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(rejected.kind, OpType::Fail, "{rejected:?}");
    assert_eq!(rejected.token, Some(stale));

    let last = run(p1.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(last.value, Some(json!([2])));
    // The holder's next write builds on its own: nothing is lost.
    let ok = run(
        p1.as_mut(),
        &clock,
        inv(F::Write, "k", Some(current), Some(json!(3))),
    )
    .await
    .completion;
    assert_eq!(ok.kind, OpType::Ok, "{ok:?}");
    let last = run(p1.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(last.value, Some(json!([2, 3])));
}

#[tokio::test]
async fn an_unguarded_write_by_a_stale_holder_succeeds_and_loses_an_update() {
    let cluster = LocalCluster::start(1, WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let (mut p0, mut p1, stale, current) = stale_and_current_holders(&cluster, &clock).await;

    let ok = run(
        p1.as_mut(),
        &clock,
        inv(F::Write, "k", Some(current), Some(json!(2))),
    )
    .await
    .completion;
    assert_eq!(ok.kind, OpType::Ok, "{ok:?}");
    let accepted = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", Some(stale), Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(
        accepted.kind,
        OpType::Ok,
        "the unguarded resource takes the stale write: {accepted:?}"
    );

    // p1's acknowledged 2 is gone: the lost update the append workload finds.
    let last = run(p1.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(last.value, Some(json!([1])));
}

#[tokio::test]
async fn writes_without_a_prior_read_or_lock_are_refused_client_side() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let unread = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", Some(1), Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(unread.kind, OpType::Fail, "{unread:?}");
    run(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    let unlocked = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", Some(1), Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(unlocked.kind, OpType::Fail, "{unlocked:?}");
    let not_held = run(p0.as_mut(), &clock, inv(F::Release, "k", None, None))
        .await
        .completion;
    assert_eq!(not_held.kind, OpType::Fail, "{not_held:?}");
}

#[tokio::test]
async fn a_queued_acquirer_keeps_its_lease_through_a_wait_longer_than_the_ttl() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let mut p1 = cluster.client(1, &config()).await;
    let first = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(first.kind, OpType::Ok, "{first:?}");
    let waiter = tokio::spawn(async move {
        let done = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        (p1, done)
    });
    // The holder renews for 2.5 TTLs; etcd does not renew the waiter's lease.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let renewed = run(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None))
            .await
            .completion;
        assert_eq!(renewed.kind, OpType::Ok, "{renewed:?}");
    }
    assert!(!waiter.is_finished());
    let released = run(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None))
        .await
        .completion;
    assert_eq!(released.kind, OpType::Ok, "{released:?}");
    let (mut p1, second) = waiter.await.expect("waiter");
    assert_eq!(
        second.completion.kind,
        OpType::Ok,
        "{:?}",
        second.completion
    );
    let valid_until = second.completion.valid_until.expect("valid_until");
    assert!(valid_until > second.at_ns, "a fresh hold after a long wait");
    let renewed = run(
        p1.as_mut(),
        &clock,
        inv(F::Renew, "k", second.completion.token, None),
    )
    .await
    .completion;
    assert_eq!(renewed.kind, OpType::Ok, "{renewed:?}");
}

#[tokio::test]
async fn an_acquire_that_times_out_is_info_and_leaves_no_queued_key() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let impatient = ClientConfig {
        acquire_timeout_ms: 1500,
        ..config()
    };
    let mut p1 = cluster.client(1, &impatient).await;
    let first = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(first.kind, OpType::Ok, "{first:?}");

    let started = Instant::now();
    let gave_up = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    let took = started.elapsed();
    assert_eq!(gave_up.kind, OpType::Info, "{gave_up:?}");
    assert!(
        took >= impatient.acquire_timeout() && took <= impatient.acquire_timeout() + SLACK,
        "took {took:?}"
    );
    // Only the holder's key remains: the waiter's lease was revoked with its key.
    let endpoint = cluster.target.endpoint(&cluster.nodes[0]);
    let mut etcd = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("connect");
    let keys = etcd
        .get(
            lock_name("k"),
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .expect("list lock keys");
    assert_eq!(keys.count(), 1, "{:?}", keys.kvs());
}

/// Why the client keeps a queued lease alive and reads its lock key back:
/// Debian's etcd 3.4.23 still answers a Lock call whose lease expired while it
/// was queued with "you hold the lock" (etcd issue 11456), and the key it
/// names no longer exists.
#[tokio::test]
async fn etcd_3_4_lock_rpc_grants_a_waiter_whose_lease_expired_in_the_queue() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
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
