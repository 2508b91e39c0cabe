//! The etcd Election API through the etcd target, against a real etcd: terms,
//! observed leaders, proclaims and resignation.

#[allow(dead_code, reason = "shared by several test crates, each using a part")]
mod etcd_support;

use std::time::{Duration, Instant};

use etcd_support::{config, inv, run, LocalCluster};
use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::{ClientConfig, HistoryClock};
use splitbrain_targets::etcd::{election_name, WriteMode};

#[tokio::test]
async fn campaign_observe_and_resign_give_terms_and_leaders() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p1 = cluster.client(1, &config()).await;
    let mut p2 = cluster.client(2, &config()).await;
    let mut observer = cluster.client(3, &config()).await;

    let nobody = run(observer.as_mut(), &clock, inv(F::Observe, "e", None, None))
        .await
        .completion;
    assert_eq!(nobody.kind, OpType::Ok, "{nobody:?}");
    assert_eq!((nobody.value, nobody.token), (None, None));

    let won = run(p1.as_mut(), &clock, inv(F::Campaign, "e", None, None))
        .await
        .completion;
    assert_eq!(won.kind, OpType::Ok, "{won:?}");
    let term1 = won.token.expect("term");
    assert!(won.valid_until.is_some());
    let seen = run(observer.as_mut(), &clock, inv(F::Observe, "e", None, None))
        .await
        .completion;
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
    let renewed = run(p1.as_mut(), &clock, inv(F::Renew, "e", Some(term1), None))
        .await
        .completion;
    assert_eq!(renewed.kind, OpType::Ok, "{renewed:?}");
    assert_eq!(renewed.token, Some(term1));
    assert!(renewed.valid_until > won.valid_until);

    let resign_invoked_at = clock.now_ns();
    let resigned = run(p1.as_mut(), &clock, inv(F::Resign, "e", Some(term1), None))
        .await
        .completion;
    assert_eq!(resigned.kind, OpType::Ok, "{resigned:?}");
    let (mut p2, won2) = challenger.await.expect("challenger");
    assert_eq!(won2.completion.kind, OpType::Ok, "{:?}", won2.completion);
    assert!(won2.at_ns >= resign_invoked_at);
    let term2 = won2.completion.token.expect("term");
    assert!(term2 > term1, "terms {term1} then {term2}");
    let seen = run(observer.as_mut(), &clock, inv(F::Observe, "e", None, None))
        .await
        .completion;
    assert_eq!((seen.value, seen.token), (Some(json!(2)), Some(term2)));

    // The deposed leader's renewal fails: it no longer leads.
    let stale = run(p1.as_mut(), &clock, inv(F::Renew, "e", Some(term1), None))
        .await
        .completion;
    assert_eq!(stale.kind, OpType::Fail, "{stale:?}");
    p2.close().await;
}

#[tokio::test]
async fn a_leader_whose_lease_expires_is_replaced_and_its_proclaim_fails() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p1 = cluster.client(1, &config()).await;
    let mut p2 = cluster.client(2, &config()).await;
    let won = run(p1.as_mut(), &clock, inv(F::Campaign, "e", None, None))
        .await
        .completion;
    assert_eq!(won.kind, OpType::Ok, "{won:?}");

    let next = run(p2.as_mut(), &clock, inv(F::Campaign, "e", None, None)).await;
    assert_eq!(next.completion.kind, OpType::Ok, "{:?}", next.completion);
    assert!(next.completion.token > won.token);
    assert!(next.at_ns >= won.valid_until.expect("valid_until"));

    let late = run(p1.as_mut(), &clock, inv(F::Renew, "e", won.token, None))
        .await
        .completion;
    assert_eq!(late.kind, OpType::Fail, "{late:?}");
}

#[tokio::test]
async fn a_campaign_that_times_out_is_info_and_leaves_no_candidate_key() {
    let cluster = LocalCluster::start(1, WriteMode::Fenced).await;
    let clock = HistoryClock::start();
    let mut p1 = cluster.client(1, &config()).await;
    let impatient = ClientConfig {
        acquire_timeout_ms: 1500,
        ..config()
    };
    let mut p2 = cluster.client(2, &impatient).await;
    let won = run(p1.as_mut(), &clock, inv(F::Campaign, "e", None, None))
        .await
        .completion;
    assert_eq!(won.kind, OpType::Ok, "{won:?}");

    let started = Instant::now();
    let gave_up = run(p2.as_mut(), &clock, inv(F::Campaign, "e", None, None))
        .await
        .completion;
    let took = started.elapsed();
    assert_eq!(gave_up.kind, OpType::Info, "{gave_up:?}");
    assert!(
        took >= impatient.acquire_timeout()
            && took <= impatient.acquire_timeout() + Duration::from_millis(500),
        "took {took:?}"
    );
    let endpoint = cluster.target.endpoint(&cluster.nodes[0]);
    let mut etcd = etcd_client::Client::connect([endpoint], None)
        .await
        .expect("connect");
    let keys = etcd
        .get(
            election_name("e"),
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .expect("list candidates");
    assert_eq!(keys.count(), 1, "{:?}", keys.kvs());
    // close() revokes the leader's lease: the election is free again.
    p1.close().await;
    let free = run(p2.as_mut(), &clock, inv(F::Observe, "e", None, None))
        .await
        .completion;
    assert_eq!((free.kind, free.value), (OpType::Ok, None));
}
