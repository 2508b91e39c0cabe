//! The single-instance Redis target against a real redis-server: tokens,
//! refusal while held, expiry, fenced versus unguarded writes, what a kill
//! does with and without persistence, and timeouts.

#[allow(dead_code, reason = "shared by several test crates, each using a part")]
mod redis_support;

use std::time::{Duration, Instant};

use redis_support::{config, inv, ok, run, LocalRedis};
use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::HistoryClock;
use splitbrain_targets::redis::{RedisPersistence, RedisTarget, WriteMode};

/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);
const LEASE_NS: i64 = 1_000_000_000;

async fn single(write_mode: WriteMode, persistence: RedisPersistence) -> LocalRedis<RedisTarget> {
    LocalRedis::start(1, |layout| {
        RedisTarget::new(write_mode, persistence).with_layout(layout)
    })
    .await
}

#[tokio::test]
async fn successive_grants_get_increasing_tokens_and_a_lease_bound() {
    let redis = single(WriteMode::Fenced, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let mut p0 = redis.client(0, &config()).await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let acquired = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        let c = &acquired.completion;
        assert_eq!(c.kind, OpType::Ok, "{c:?}");
        assert_eq!(c.node.as_deref(), Some("n1"));
        let valid_until = c.valid_until.expect("valid_until");
        assert!(
            valid_until >= acquired.invoked_ns + LEASE_NS
                && valid_until <= acquired.at_ns + LEASE_NS,
            "valid_until {valid_until} outside the op's window plus the lease"
        );
        tokens.push(c.token.expect("token"));
        ok(p0.as_mut(), &clock, inv(F::Release, "k", c.token, None)).await;
    }
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "tokens {tokens:?}");
}

#[tokio::test]
async fn a_second_acquirer_is_refused_while_the_lock_is_held() {
    let redis = single(WriteMode::Fenced, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let mut p0 = redis.client(0, &config()).await;
    let mut p1 = redis.client(1, &config()).await;
    let first = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;

    let refused = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    // A renewal keeps it held past the first lease.
    tokio::time::sleep(Duration::from_millis(600)).await;
    ok(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let refused = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(
        refused.kind,
        OpType::Fail,
        "held after renewal: {refused:?}"
    );

    ok(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None)).await;
    let second = ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert!(second.token > first.token);
}

#[tokio::test]
async fn an_expired_lock_is_granted_to_another_with_a_higher_token() {
    let redis = single(WriteMode::Fenced, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let mut p0 = redis.client(0, &config()).await;
    let mut p1 = redis.client(1, &config()).await;
    let first = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let bound = first.valid_until.expect("valid_until");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(
        second.completion.kind,
        OpType::Ok,
        "{:?}",
        second.completion
    );
    assert!(second.completion.token > first.token);
    // Redis kept its promise: nothing granted before p0's conservative bound.
    assert!(second.at_ns >= bound);

    let late = run(p0.as_mut(), &clock, inv(F::Renew, "k", first.token, None))
        .await
        .completion;
    assert_eq!(
        late.kind,
        OpType::Fail,
        "renewing an expired lock: {late:?}"
    );
    let late = run(p0.as_mut(), &clock, inv(F::Release, "k", first.token, None))
        .await
        .completion;
    assert_eq!(
        late.kind,
        OpType::Fail,
        "releasing another's grant: {late:?}"
    );
    // p0's failed release did not delete p1's lock.
    let mut p2 = redis.client(2, &config()).await;
    let refused = run(p2.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
}

/// p0 held the lock and read the resource, then its lease ran out; p1 holds
/// it now and has read the resource too. Returns both clients and tokens.
async fn stale_and_current(
    redis: &LocalRedis<RedisTarget>,
    clock: &HistoryClock,
) -> (
    Box<dyn splitbrain_targets::client::Client>,
    Box<dyn splitbrain_targets::client::Client>,
    u64,
    u64,
) {
    let mut p0 = redis.client(0, &config()).await;
    let mut p1 = redis.client(1, &config()).await;
    let stale = ok(p0.as_mut(), clock, inv(F::Acquire, "k", None, None)).await;
    ok(p0.as_mut(), clock, inv(F::Read, "k", stale.token, None)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let current = ok(p1.as_mut(), clock, inv(F::Acquire, "k", None, None)).await;
    ok(p1.as_mut(), clock, inv(F::Read, "k", current.token, None)).await;
    (
        p0,
        p1,
        stale.token.expect("token"),
        current.token.expect("token"),
    )
}

#[tokio::test]
async fn a_fenced_write_with_a_stale_token_is_refused_while_the_current_holder_writes() {
    let redis = single(WriteMode::Fenced, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let (mut p0, mut p1, stale, current) = stale_and_current(&redis, &clock).await;

    ok(
        p1.as_mut(),
        &clock,
        inv(F::Write, "k", Some(current), Some(json!(2))),
    )
    .await;
    let refused = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", Some(stale), Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    assert_eq!(refused.token, Some(stale));

    let read = ok(p1.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert_eq!(read.value, Some(json!([2])));
}

#[tokio::test]
async fn an_unguarded_stale_write_succeeds_and_loses_the_current_holders_update() {
    let redis = single(WriteMode::Unguarded, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let (mut p0, mut p1, stale, current) = stale_and_current(&redis, &clock).await;

    ok(
        p1.as_mut(),
        &clock,
        inv(F::Write, "k", Some(current), Some(json!(2))),
    )
    .await;
    ok(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", Some(stale), Some(json!(1))),
    )
    .await;

    let read = ok(p1.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert_eq!(read.value, Some(json!([1])), "p1's acknowledged 2 is lost");
}

/// p0 takes three grants and holds the last; the server is killed and
/// restarted; then p1 asks for the lock while p0's lease still runs.
async fn grant_across_a_kill(persistence: RedisPersistence) -> (u64, i64, redis_support::Done) {
    let mut redis = single(WriteMode::Fenced, persistence).await;
    let clock = HistoryClock::start();
    let cfg = redis_support::config();
    let long = splitbrain_targets::client::ClientConfig {
        lease_ms: 10_000,
        ..cfg.clone()
    };
    let mut p0 = redis.client(0, &long).await;
    let mut p1 = redis.client(1, &long).await;
    for _ in 0..2 {
        let c = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        ok(p0.as_mut(), &clock, inv(F::Release, "k", c.token, None)).await;
    }
    let held = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    if persistence == RedisPersistence::AofEverysec {
        // Past the next fsync.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    redis.kill(0);
    redis.restart(0).await;
    let second = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    (
        held.token.expect("token"),
        held.valid_until.expect("valid_until"),
        second,
    )
}

#[tokio::test]
async fn a_kill_without_persistence_grants_a_held_lock_again_with_a_reused_token() {
    let (held_token, held_until, second) = grant_across_a_kill(RedisPersistence::None).await;
    let c = &second.completion;
    assert_eq!(
        c.kind,
        OpType::Ok,
        "the restarted server forgot the lock: {c:?}"
    );
    // Lost mutual exclusion: granted while p0's lease had seconds to run.
    assert!(second.at_ns < held_until);
    // Token regression: the counter restarted from nothing.
    let token = c.token.expect("token");
    assert!(token <= held_token, "token {token} after {held_token}");
    assert_eq!(token, 1);
}

#[tokio::test]
async fn a_kill_with_aof_always_keeps_the_lock() {
    let (_, _, second) = grant_across_a_kill(RedisPersistence::AofAlways).await;
    let c = &second.completion;
    assert_eq!(c.kind, OpType::Fail, "the lock survived the kill: {c:?}");
}

#[tokio::test]
async fn tokens_keep_increasing_across_a_kill_with_aof_always() {
    let mut redis = single(WriteMode::Fenced, RedisPersistence::AofAlways).await;
    let clock = HistoryClock::start();
    let mut p0 = redis.client(0, &config()).await;
    let before = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    ok(
        p0.as_mut(),
        &clock,
        inv(F::Release, "k", before.token, None),
    )
    .await;
    redis.kill(0);
    redis.restart(0).await;
    let mut p1 = redis.client(1, &config()).await;
    let after = ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert!(
        after.token > before.token,
        "{:?} then {:?}",
        before.token,
        after.token
    );
}

#[tokio::test]
async fn requests_to_a_paused_server_end_as_info_within_the_request_timeout() {
    let redis = single(WriteMode::Unguarded, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let cfg = config();
    let mut p0 = redis.client(0, &cfg).await;
    let acquired = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;

    redis.signal_stop(0, true);
    for (f, value) in [(F::Write, Some(json!(1))), (F::Renew, None)] {
        let started = Instant::now();
        let done = run(
            p0.as_mut(),
            &clock,
            inv(f.clone(), "k", acquired.token, value),
        )
        .await
        .completion;
        let took = started.elapsed();
        assert_eq!(done.kind, OpType::Info, "{f}: {done:?}");
        assert!(
            took >= cfg.request_timeout() && took <= cfg.request_timeout() + SLACK,
            "{f} took {took:?}"
        );
    }
    let mut p1 = redis.client(1, &cfg).await;
    let started = Instant::now();
    let acquire = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(acquire.kind, OpType::Info, "{acquire:?}");
    assert!(started.elapsed() <= cfg.request_timeout() + SLACK);
    // A read has no effect, so an unanswered one is a fail, bounded the same way.
    let started = Instant::now();
    let read = run(p1.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.kind, OpType::Fail, "{read:?}");
    assert!(started.elapsed() <= cfg.request_timeout() + SLACK);
    redis.signal_stop(0, false);

    // The late replies to the timed-out requests must not be taken for the
    // answers to later ones on the same connection.
    let read = ok(p1.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert!(
        read.value.as_ref().is_some_and(|v| v.is_array()),
        "{read:?}"
    );
    let other = ok(p1.as_mut(), &clock, inv(F::Acquire, "other", None, None)).await;
    assert_eq!(other.token, Some(1), "{other:?}");
    let mut p2 = redis.client(2, &cfg).await;
    let read = ok(p2.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert_eq!(
        read.value,
        Some(json!([1])),
        "the paused write took effect on resume"
    );
}

#[tokio::test]
async fn requests_to_a_killed_server_fail_at_once_and_work_after_restart() {
    let mut redis = single(WriteMode::Unguarded, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let cfg = config();
    let mut p0 = redis.client(0, &cfg).await;
    ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;

    redis.kill(0);
    let mut p1 = redis.client(1, &cfg).await;
    for _ in 0..3 {
        let started = Instant::now();
        let refused = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
            .await
            .completion;
        assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
        assert!(started.elapsed() <= cfg.request_timeout() + SLACK);
    }

    redis.restart(0).await;
    // The first request after the restart already gets through: a refused
    // connection is retried once, since nothing was sent.
    ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    // p0's connection died with the server; the manager learns that from
    // the first request it sends on it (a read: `fail`), then reconnects.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let read = run(p0.as_mut(), &clock, inv(F::Read, "k", None, None))
            .await
            .completion;
        if read.kind == OpType::Ok {
            break;
        }
        assert!(Instant::now() < deadline, "no reconnection: {read:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn election_operations_are_refused_with_a_reason() {
    let redis = single(WriteMode::Unguarded, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let mut p0 = redis.client(0, &config()).await;
    for f in [F::Campaign, F::Resign, F::Observe] {
        let c = run(p0.as_mut(), &clock, inv(f.clone(), "k", None, None))
            .await
            .completion;
        assert_eq!(c.kind, OpType::Fail, "{f}");
        assert!(c.error.is_some_and(|e| e.contains("no leader election")));
    }
}

/// Throughput of acquire + release pairs from 8 processes on one key, printed
/// for the README (`cargo test -p splitbrain-targets --test redis_lock -- --nocapture`).
#[tokio::test]
async fn contended_grants_stay_exclusive_under_load() {
    let redis = single(WriteMode::Fenced, RedisPersistence::None).await;
    let clock = HistoryClock::start();
    let run_for = Duration::from_secs(2);
    let mut tasks = Vec::new();
    for p in 0..8u64 {
        let mut client = redis.client(p, &config()).await;
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let (mut ops, mut grants) = (0u64, Vec::new());
            while started.elapsed() < run_for {
                let a = run(client.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
                ops += 1;
                if a.completion.kind == OpType::Ok {
                    let r = run(
                        client.as_mut(),
                        &clock,
                        inv(F::Release, "k", a.completion.token, None),
                    )
                    .await;
                    ops += 1;
                    assert_eq!(r.completion.kind, OpType::Ok, "{:?}", r.completion);
                    grants.push((a.at_ns, r.invoked_ns, a.completion.token.expect("token")));
                }
            }
            (ops, grants)
        }));
    }
    let mut ops = 0;
    let mut grants = Vec::new();
    for t in tasks {
        let (n, g) = t.await.expect("task");
        ops += n;
        grants.extend(g);
    }
    println!(
        "redis single instance: {:.0} ops/s ({} grants) from 8 processes",
        ops as f64 / run_for.as_secs_f64(),
        grants.len()
    );
    // In token order, each grant completed after the previous holder
    // invoked its release: no two holds overlap.
    grants.sort_by_key(|g| g.2);
    for w in grants.windows(2) {
        assert!(w[1].2 > w[0].2, "duplicate token {}", w[1].2);
        assert!(w[1].0 > w[0].1, "overlapping holds: {w:?}");
    }
    assert!(!grants.is_empty());
}
