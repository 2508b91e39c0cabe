//! Measures bringing a cluster up and tearing it down from a built image
//! (run with --nocapture to read the numbers; docs/docker.md quotes them).
mod common;

use std::time::Instant;

use splitbrain_docker::Cluster;

use common::or_skip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_and_five_node_clusters_come_up_and_go_away_in_seconds() {
    let engine = or_skip!(common::engine_or_skip("cluster timings").await);
    for nodes in [3, 5] {
        let spec = common::cluster_spec(&engine, &format!("timing{nodes}"), nodes).await;
        let run_id = spec.run_id.clone();
        let started = Instant::now();
        let cluster = Cluster::create(&engine, spec).await.unwrap();
        let up = started.elapsed();
        let started = Instant::now();
        cluster.teardown(None).await.unwrap();
        let down = started.elapsed();
        eprintln!(
            "TIMING {nodes}-node cluster: up {:.2} s, teardown {:.2} s",
            up.as_secs_f64(),
            down.as_secs_f64()
        );
        assert_eq!(common::leftovers(&engine, &run_id).await, (vec![], vec![]));
        // A bound that catches a hang, not a benchmark.
        assert!(up.as_secs() < 60 && down.as_secs() < 60);
    }
}
