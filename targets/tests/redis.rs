//! What only the Redis targets show, against real redis-servers on
//! loopback: what a kill does to one instance with and without persistence,
//! and Redlock's quorum over five. The lock behaviours every target shares
//! are in the conformance suite (`tests/conformance.rs`).

use std::time::{Duration, Instant};

use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::{ClientConfig, HistoryClock};
use splitbrain_testkit::beds::{redis_config, redlock};
use splitbrain_testkit::ops::{completion, inv, ok, run, write_k, Done};

/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);

/// One redis-server.
mod single {
    use splitbrain_targets::redis::{RedisPersistence, RedisTarget, WriteMode};
    use splitbrain_testkit::beds::redis;
    use splitbrain_testkit::cluster::LocalCluster;

    use super::*;

    async fn single(
        write_mode: WriteMode,
        persistence: RedisPersistence,
    ) -> LocalCluster<RedisTarget> {
        redis(1, |layout| {
            RedisTarget::new(write_mode, persistence).with_layout(layout)
        })
        .await
    }

    /// p0 takes three grants and holds the last; the server is killed and
    /// restarted; then p1 asks for the lock while p0's lease still runs.
    async fn grant_across_a_kill(persistence: RedisPersistence) -> (u64, i64, Done) {
        let mut redis = single(WriteMode::Fenced, persistence).await;
        let clock = HistoryClock::start();
        let cfg = redis_config();
        let long = ClientConfig {
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
        let mut p0 = redis.client(0, &redis_config()).await;
        let before = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        ok(
            p0.as_mut(),
            &clock,
            inv(F::Release, "k", before.token, None),
        )
        .await;
        redis.kill(0);
        redis.restart(0).await;
        let mut p1 = redis.client(1, &redis_config()).await;
        let after = ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        assert!(
            after.token > before.token,
            "{:?} then {:?}",
            before.token,
            after.token
        );
    }

    #[tokio::test]
    async fn election_operations_are_refused_with_a_reason() {
        let redis = single(WriteMode::Unguarded, RedisPersistence::None).await;
        let clock = HistoryClock::start();
        let mut p0 = redis.client(0, &redis_config()).await;
        for f in [F::Campaign, F::Resign, F::Observe] {
            let c = completion(p0.as_mut(), &clock, inv(f.clone(), "k", None, None)).await;
            assert_eq!(c.kind, OpType::Fail, "{f}");
            assert!(c.error.is_some_and(|e| e.contains("no leader election")));
        }
    }
}

/// Redlock over five redis-servers.
mod redlock {
    use serde_json::json;
    use splitbrain_targets::redis::{redlock_drift_ms, TokenSemantics, WriteMode, REDLOCK_NODES};

    use super::*;

    async fn five(
        write_mode: WriteMode,
    ) -> splitbrain_testkit::cluster::LocalCluster<splitbrain_targets::redis::RedlockTarget> {
        redlock(REDLOCK_NODES as u8, write_mode).await
    }

    #[tokio::test]
    async fn grants_with_three_of_five_nodes_up_and_refuses_with_two() {
        let mut redlock = five(WriteMode::Unguarded).await;
        let clock = HistoryClock::start();
        let cfg = redis_config();
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
            bound
                > acquired.invoked_ns + most_ns
                    - (acquired.at_ns - acquired.invoked_ns)
                    - 1_000_000
        );
        ok(p0.as_mut(), &clock, inv(F::Renew, "k", None, None)).await;
        ok(p0.as_mut(), &clock, inv(F::Release, "k", None, None)).await;

        redlock.kill(2);
        let started = Instant::now();
        let refused = completion(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
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
    async fn fenced_writes_are_refused_for_want_of_a_token() {
        let redlock = five(WriteMode::Fenced).await;
        assert_eq!(redlock.target.token_semantics(), TokenSemantics::None);
        let clock = HistoryClock::start();
        let mut p0 = redlock.client(0, &redis_config()).await;
        ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        let read = ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
        assert_eq!(read.node.as_deref(), Some("n1"));
        let write = completion(p0.as_mut(), &clock, write_k(None, 1)).await;
        assert_eq!(write.kind, OpType::Fail, "{write:?}");
        assert!(write.error.is_some_and(|e| e.contains("no fencing token")));
    }

    #[tokio::test]
    async fn an_unguarded_write_appends_to_the_resource_on_the_first_node() {
        let redlock = five(WriteMode::Unguarded).await;
        let clock = HistoryClock::start();
        let mut p0 = redlock.client(0, &redis_config()).await;
        ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
        ok(p0.as_mut(), &clock, write_k(None, 7)).await;
        ok(p0.as_mut(), &clock, write_k(None, 8)).await;
        let read = ok(p0.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
        assert_eq!(read.value, Some(json!([7, 8])));
    }

    #[tokio::test]
    async fn a_grant_round_with_a_paused_majority_ends_as_info_within_the_node_timeouts() {
        let redlock = five(WriteMode::Unguarded).await;
        let clock = HistoryClock::start();
        let cfg = redis_config();
        let mut p0 = redlock.client(0, &cfg).await;
        for i in 0..3 {
            redlock.pause(i, true);
        }
        let started = Instant::now();
        let c = completion(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        // The paused nodes may still grant when they resume.
        assert_eq!(c.kind, OpType::Info, "{c:?}");
        assert!(
            started.elapsed() <= cfg.request_timeout() + SLACK,
            "{:?}",
            started.elapsed()
        );
        for i in 0..3 {
            redlock.pause(i, false);
        }
    }
}
