//! The etcd target under faults, against real etcd: stopped and killed
//! members, lost quorum, and which node leads.

#[allow(dead_code, reason = "shared by several test crates, each using a part")]
mod etcd_support;

use std::time::{Duration, Instant};

use etcd_support::{config, inv, run, LocalCluster};
use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::HistoryClock;
use splitbrain_targets::etcd::WriteMode;
use splitbrain_targets::target::Target;

/// Scheduling slack on a shared 2-core machine.
const SLACK: Duration = Duration::from_millis(500);

#[tokio::test]
async fn requests_to_a_paused_server_end_as_info_within_the_request_timeout() {
    let cluster = LocalCluster::start(1, WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let cfg = config();
    let mut p0 = cluster.client(0, &cfg).await;
    let acquired = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(acquired.kind, OpType::Ok, "{acquired:?}");
    let read = run(p0.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.kind, OpType::Ok, "{read:?}");

    cluster.signal_stop(0, true);
    for (f, value) in [(F::Renew, None), (F::Write, Some(json!(1)))] {
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
    // A read has no effect, so an unanswered one is a fail, bounded the same way.
    let started = Instant::now();
    let read = run(p0.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.kind, OpType::Fail, "{read:?}");
    assert!(started.elapsed() <= cfg.request_timeout() + SLACK);
    cluster.signal_stop(0, false);
}

#[tokio::test]
async fn requests_to_a_killed_server_end_within_the_timeout_and_work_after_restart() {
    let mut cluster = LocalCluster::start(1, WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let cfg = config();
    let mut p0 = cluster.client(0, &cfg).await;
    let read = run(p0.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.kind, OpType::Ok, "{read:?}");
    let wrote = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", None, Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(wrote.kind, OpType::Ok, "{wrote:?}");

    cluster.kill(0);
    let started = Instant::now();
    let lost = run(
        p0.as_mut(),
        &clock,
        inv(F::Write, "k", None, Some(json!(2))),
    )
    .await
    .completion;
    assert_eq!(lost.kind, OpType::Info, "{lost:?}");
    assert!(
        started.elapsed() <= cfg.request_timeout() + SLACK,
        "took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    let campaign = run(p0.as_mut(), &clock, inv(F::Campaign, "e", None, None))
        .await
        .completion;
    assert_ne!(campaign.kind, OpType::Ok, "{campaign:?}");
    assert!(
        started.elapsed() <= cfg.request_timeout() + SLACK,
        "took {:?}",
        started.elapsed()
    );

    // The same command restarts the member on its data; the old connection redials.
    cluster.restart(0).await;
    let read = run(p0.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.kind, OpType::Ok, "{read:?}");
    assert_eq!(read.value, Some(json!([1])));
}

#[tokio::test]
async fn a_member_without_quorum_refuses_writes_as_fail() {
    let mut cluster = LocalCluster::start(3, WriteMode::Unguarded).await;
    let clock = HistoryClock::start();
    let mut p2 = cluster.client(2, &config()).await;
    let read = run(p2.as_mut(), &clock, inv(F::Read, "k", None, None))
        .await
        .completion;
    assert_eq!(read.kind, OpType::Ok, "{read:?}");
    assert_eq!(read.node.as_deref(), Some("n3"));
    cluster.kill(0);
    cluster.kill(1);

    // Twice the longest randomized election timeout: by then n3 knows it has
    // no leader, and require_leader makes it refuse before acting.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let started = Instant::now();
    let refused = run(
        p2.as_mut(),
        &clock,
        inv(F::Write, "k", None, Some(json!(1))),
    )
    .await
    .completion;
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
    let again = run(
        p2.as_mut(),
        &clock,
        inv(F::Write, "k", None, Some(json!(1))),
    )
    .await
    .completion;
    assert_eq!(again.kind, OpType::Fail, "{again:?}");
}

#[tokio::test]
async fn clients_spread_over_nodes_and_one_lock_excludes_across_them() {
    let cluster = LocalCluster::start(3, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p0 = cluster.client(0, &config()).await;
    let mut p4 = cluster.client(4, &config()).await;
    let held = run(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(held.node.as_deref(), Some("n1"));
    let waiter = tokio::spawn(async move {
        let done = run(p4.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
        (p4, done)
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        !waiter.is_finished(),
        "p4 on n2 was granted the lock p0 holds via n1"
    );
    let released = run(p0.as_mut(), &clock, inv(F::Release, "k", held.token, None))
        .await
        .completion;
    assert_eq!(released.kind, OpType::Ok, "{released:?}");
    let (_, granted) = waiter.await.expect("waiter");
    assert_eq!(
        granted.completion.kind,
        OpType::Ok,
        "{:?}",
        granted.completion
    );
    assert_eq!(granted.completion.node.as_deref(), Some("n2"));
    assert!(granted.completion.token > held.token);
}

#[tokio::test]
async fn primaries_names_the_one_raft_leader_and_follows_a_failover() {
    let mut cluster = LocalCluster::start(3, WriteMode::Fenced).await;
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
