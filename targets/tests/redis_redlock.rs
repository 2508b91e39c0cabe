//! The Redlock target against five real redis-servers: quorum, validity,
//! release on failure, no tokens, and unreachable nodes.

#[allow(dead_code, reason = "shared by several test crates, each using a part")]
mod redis_support;

use std::time::{Duration, Instant};

use redis_support::{config, inv, ok, run, LocalRedis};
use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::HistoryClock;
use splitbrain_targets::redis::{
    redlock_drift_ms, RedisPersistence, RedlockTarget, TokenSemantics, WriteMode, REDLOCK_NODES,
};

/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);
/// Far below the 1 s TTL, yet room for a loaded machine's loopback round.
const NODE_TIMEOUT_MS: u64 = 100;

async fn five(write_mode: WriteMode) -> LocalRedis<RedlockTarget> {
    LocalRedis::start(REDLOCK_NODES as u8, |layout| {
        RedlockTarget::new(write_mode, RedisPersistence::None)
            .with_layout(layout)
            .with_node_timeout_ms(NODE_TIMEOUT_MS)
    })
    .await
}

#[tokio::test]
async fn grants_with_three_of_five_nodes_up_and_refuses_with_two() {
    let mut redlock = five(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let cfg = config();
    let mut p0 = redlock.client(0, &cfg).await;
    redlock.kill(0);
    redlock.kill(1);

    let acquired = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let c = &acquired.completion;
    assert_eq!(c.kind, OpType::Ok, "3 of 5 up: {c:?}");
    assert_eq!(c.node.as_deref(), Some("n3,n4,n5"));
    assert_eq!(c.token, None, "Redlock offers no token");
    // Validity: TTL minus the round's duration minus the drift allowance,
    // counted from the invoke.
    let bound = c.valid_until.expect("valid_until");
    let most_ns =
        i64::try_from((cfg.lease_ms - redlock_drift_ms(cfg.lease_ms)) * 1_000_000).unwrap();
    assert!(
        bound <= acquired.invoked_ns + most_ns + 1_000_000,
        "{bound}"
    );
    assert!(
        bound > acquired.invoked_ns + most_ns - (acquired.at_ns - acquired.invoked_ns) - 1_000_000
    );
    ok(p0.as_mut(), &clock, inv(F::Renew, "k", None, None)).await;
    ok(p0.as_mut(), &clock, inv(F::Release, "k", None, None)).await;

    redlock.kill(2);
    let started = Instant::now();
    let refused = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(refused.kind, OpType::Fail, "2 of 5 up: {refused:?}");
    assert!(started.elapsed() <= cfg.request_timeout() + SLACK);

    // The refused attempt released what n4 and n5 granted: with n3 back,
    // another process gets a quorum at once, not after the TTL.
    redlock.restart(2).await;
    let mut p1 = redlock.client(1, &cfg).await;
    let again = ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(again.node.as_deref(), Some("n3,n4,n5"));
}

#[tokio::test]
async fn a_second_acquirer_is_refused_until_the_validity_runs_out() {
    let redlock = five(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let mut p0 = redlock.client(0, &config()).await;
    let mut p1 = redlock.client(1, &config()).await;
    let first = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let refused = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(
        second.completion.kind,
        OpType::Ok,
        "{:?}",
        second.completion
    );
    assert!(second.at_ns >= first.valid_until.expect("valid_until"));
    let late = run(p0.as_mut(), &clock, inv(F::Renew, "k", None, None))
        .await
        .completion;
    assert_eq!(late.kind, OpType::Fail, "{late:?}");
    assert!(late.error.is_some_and(|e| e.contains("validity ran out")));
}

#[tokio::test]
async fn a_renewal_within_the_validity_keeps_the_lock_past_the_first_ttl() {
    let redlock = five(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let mut p0 = redlock.client(0, &config()).await;
    let mut p1 = redlock.client(1, &config()).await;
    let first = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let renewed = ok(p0.as_mut(), &clock, inv(F::Renew, "k", None, None)).await;
    assert!(renewed.valid_until > first.valid_until);
    assert_eq!(renewed.node.as_deref(), Some("n1,n2,n3,n4,n5"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refused = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(
        refused.kind,
        OpType::Fail,
        "held after renewal: {refused:?}"
    );
}

#[tokio::test]
async fn fenced_writes_are_refused_for_want_of_a_token() {
    let redlock = five(WriteMode::Fenced).await;
    assert_eq!(redlock.target.token_semantics(), TokenSemantics::None);
    let clock = HistoryClock::start();
    let mut p0 = redlock.client(0, &config()).await;
    ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let read = ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert_eq!(read.node.as_deref(), Some("n1"));
    let write = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", None, Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(write.kind, OpType::Fail, "{write:?}");
    assert!(write.error.is_some_and(|e| e.contains("no fencing token")));
}

#[tokio::test]
async fn an_unguarded_write_appends_to_the_resource_on_the_first_node() {
    let redlock = five(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let mut p0 = redlock.client(0, &config()).await;
    ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    ok(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", None, Some(json!(7))),
    )
    .await;
    ok(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", None, Some(json!(8))),
    )
    .await;
    let read = ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert_eq!(read.value, Some(json!([7, 8])));
}

#[tokio::test]
async fn a_grant_round_with_a_paused_majority_ends_as_info_within_the_node_timeouts() {
    let redlock = five(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let cfg = config();
    let mut p0 = redlock.client(0, &cfg).await;
    for i in 0..3 {
        redlock.signal_stop(i, true);
    }
    let started = Instant::now();
    let c = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    // The paused nodes may still grant when they resume.
    assert_eq!(c.kind, OpType::Info, "{c:?}");
    assert!(
        started.elapsed() <= cfg.request_timeout() + SLACK,
        "{:?}",
        started.elapsed()
    );
    for i in 0..3 {
        redlock.signal_stop(i, false);
    }
}

/// Throughput of acquire + release pairs from 8 processes on one key over
/// five nodes, printed for the README.
#[tokio::test]
async fn contended_redlock_grants_stay_exclusive_without_faults() {
    let redlock = five(WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let run_for = Duration::from_secs(2);
    let mut tasks = Vec::new();
    for p in 0..8u64 {
        let mut client = redlock.client(p, &config()).await;
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut ops, mut holds) = (0u64, Vec::new());
            while started.elapsed() < run_for {
                let a = run(client.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
                ops += 1;
                if a.completion.kind == OpType::Ok {
                    let r = run(client.as_mut(), &clock, inv(F::Release, "k", None, None)).await;
                    ops += 1;
                    holds.push((a.at_ns, r.invoked_ns));
                }
            }
            (ops, holds)
        }));
    }
    let mut ops = 0;
    let mut holds = Vec::new();
    for t in tasks {
        let (n, h) = t.await.expect("task");
        ops += n;
        holds.extend(h);
    }
    println!(
        "redlock over 5 nodes: {:.0} ops/s ({} grants) from 8 processes",
        ops as f64 / run_for.as_secs_f64(),
        holds.len()
    );
    holds.sort();
    for w in holds.windows(2) {
        assert!(w[1].0 > w[0].1, "overlapping holds: {w:?}");
    }
    assert!(!holds.is_empty());
}
