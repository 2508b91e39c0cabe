//! Partitions cut exactly the links the grudge names, inside the nodes, and
//! heal completely.
mod common;

use std::time::Duration;

use splitbrain_docker::fault::partition;
use splitbrain_docker::topology::complete;

use common::or_skip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n1_cut_from_n2_n3_cannot_reach_n2_while_n2_reaches_n3_and_heal_restores_all() {
    let test = "n1_cut_from_n2_n3";
    let (engine, cluster, run_id) = or_skip!(common::cluster_or_skip(test, "partition", 3).await);

    for (a, b) in [("n1", "n2"), ("n2", "n3"), ("n3", "n1")] {
        assert!(
            common::pings(&cluster, a, b).await,
            "{a} -> {b} before the partition"
        );
    }

    let grudge = complete(&[vec!["n1".into()], vec!["n2".into(), "n3".into()]]);
    partition::apply(&cluster, &grudge).await.unwrap();
    assert!(
        !common::pings(&cluster, "n1", "n2").await,
        "n1 must not reach n2"
    );
    assert!(
        !common::pings(&cluster, "n3", "n1").await,
        "n3 must not reach n1"
    );
    assert!(
        common::pings(&cluster, "n2", "n3").await,
        "n2 must still reach n3"
    );
    assert!(
        common::pings(&cluster, "n3", "n2").await,
        "n3 must still reach n2"
    );

    partition::heal(&cluster).await.unwrap();
    for a in ["n1", "n2", "n3"] {
        for b in ["n1", "n2", "n3"] {
            if a != b {
                assert!(
                    common::pings(&cluster, a, b).await,
                    "{a} -> {b} after the heal"
                );
            }
        }
    }
    common::teardown_leaving_nothing(&engine, cluster, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_node_refuses_the_controller_but_still_serves_its_peers() {
    let test = "isolated_node_refuses_the_controller";
    let (engine, cluster, run_id) = or_skip!(common::cluster_or_skip(test, "clients", 2).await);
    cluster
        .start_service("n1", &common::redis_spec())
        .await
        .unwrap();
    let addr = std::net::SocketAddr::new(cluster.node("n1").unwrap().ip.into(), 6379);
    let connect = || async move {
        matches!(
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await,
            Ok(Ok(_))
        )
    };
    splitbrain_docker::wait_until(
        "redis on n1 from the host",
        Duration::from_secs(20),
        Duration::from_millis(100),
        connect,
    )
    .await
    .unwrap();

    partition::isolate_from_clients(&cluster, &["n1".to_string()])
        .await
        .unwrap();
    assert!(!connect().await, "the host must not reach an isolated node");
    assert!(
        common::redis_ping(&cluster, "n2", "n1", 3).await,
        "n2 must still reach n1"
    );

    partition::heal(&cluster).await.unwrap();
    assert!(connect().await, "the host must reach n1 after the heal");
    common::teardown_leaving_nothing(&engine, cluster, &run_id).await;
}
