//! The adapter client's outcomes against a real service: an unanswered
//! request is `info`; a relay that cannot reach the primary is `fail`,
//! since nothing was sent.

mod support;

use std::time::Duration;

use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::etcd::WriteMode;
use support::{client, config, Cluster, ClusterSpec, Recorder};

fn spec(mode: &str, n: u8, subnet: u8) -> ClusterSpec<'_> {
    ClusterSpec {
        mode,
        n,
        subnet,
        relayed: false,
        env: Vec::new(),
        extra_args: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_unanswered_during_a_pause_is_info() {
    let cluster = Cluster::start(spec("safe", 1, 61)).await;
    let rec = Recorder::new();
    let mut p0 = client(
        &cluster.endpoint(0),
        "n1",
        0,
        &config(5000, 300),
        WriteMode::Fenced,
    );
    let mut p1 = client(
        &cluster.endpoint(0),
        "n1",
        1,
        &config(5000, 2000),
        WriteMode::Fenced,
    );
    cluster.nodes[0].signal("STOP");
    let unanswered = rec.invoke(&mut p0, 0, F::Acquire, "k", None, None).await;
    cluster.nodes[0].signal("CONT");
    assert_eq!(unanswered.kind, OpType::Info, "{unanswered:?}");
    // Whether the abandoned request was granted on resume is up to the
    // server (here hyper drops it with the closed connection); either way
    // the service goes on answering.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = rec.invoke(&mut p1, 1, F::Acquire, "k", None, None).await;
    assert_ne!(other.kind, OpType::Info, "{other:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_to_a_dead_primary_is_fail() {
    let mut cluster = Cluster::start(spec("safe", 2, 62)).await;
    cluster.nodes[0].kill9();
    let rec = Recorder::new();
    let mut p1 = client(
        &cluster.endpoint(1),
        "n2",
        1,
        &config(1000, 2000),
        WriteMode::Fenced,
    );
    let refused = rec.invoke(&mut p1, 1, F::Acquire, "k", None, None).await;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    assert!(
        refused.error.as_deref().unwrap_or("").contains("503"),
        "{refused:?}"
    );
}
