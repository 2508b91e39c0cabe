//! Kill and pause act on the service process only, and are undone by
//! restart and resume.
mod common;

use splitbrain_docker::{Cluster, Engine};

use common::or_skip;

/// Two nodes with Redis answering on n1, or `None` where `test` skips.
async fn two_nodes_with_redis_on_n1(test: &str, name: &str) -> Option<(Engine, Cluster, String)> {
    let (engine, cluster, run_id) = common::cluster_or_skip(test, name, 2).await?;
    cluster
        .start_service("n1", &common::redis_spec())
        .await
        .unwrap();
    common::wait_for_redis(&cluster, "redis on n1", "n2", "n1").await;
    Some((engine, cluster, run_id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_service_is_gone_and_back_after_restart() {
    let (engine, cluster, run_id) = or_skip!(
        two_nodes_with_redis_on_n1("killed_service_is_gone_and_back_after_restart", "kill").await
    );
    let before = cluster.service_processes("n1").await.unwrap();
    assert_eq!(before.len(), 1);

    assert_eq!(cluster.kill_service("n1").await.unwrap(), 1);
    assert!(!cluster.is_running("n1").await.unwrap());
    assert!(
        !common::redis_ping(&cluster, "n2", "n1", 2).await,
        "a killed redis must not answer"
    );
    // Starting twice is refused; killing a dead service is a no-op.
    assert_eq!(cluster.kill_service("n1").await.unwrap(), 0);

    cluster.restart_service("n1").await.unwrap();
    common::wait_for_redis(&cluster, "redis back on n1", "n2", "n1").await;
    let after = cluster.service_processes("n1").await.unwrap();
    assert_eq!(after.len(), 1);
    assert_ne!(
        after[0].pid, before[0].pid,
        "the restarted service is a new process"
    );
    assert!(cluster
        .start_service("n1", &common::redis_spec())
        .await
        .is_err());

    let logs = tempfile::tempdir().unwrap();
    let report = cluster.teardown(Some(logs.path())).await.unwrap();
    assert!(report.log_failures.is_empty(), "{report:?}");
    let service_log = std::fs::read_to_string(logs.path().join("n1/service.log")).unwrap();
    assert_eq!(
        service_log.matches("Ready to accept connections").count(),
        2,
        "both starts must be in the collected log:\n{service_log}"
    );
    assert!(logs.path().join("n2/docker.log").exists());
    assert_eq!(common::leftovers(&engine, &run_id).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_service_answers_nothing_until_resumed() {
    let (engine, cluster, run_id) = or_skip!(
        two_nodes_with_redis_on_n1("paused_service_answers_nothing_until_resumed", "pause").await
    );

    cluster.pause_service("n1").await.unwrap();
    assert!(cluster.service_processes("n1").await.unwrap()[0].is_stopped());
    assert!(
        cluster.is_running("n1").await.unwrap(),
        "a paused process still exists"
    );
    assert!(
        !common::redis_ping(&cluster, "n2", "n1", 2).await,
        "a paused redis must not answer"
    );

    cluster.resume_service("n1").await.unwrap();
    assert!(
        common::redis_ping(&cluster, "n2", "n1", 5).await,
        "a resumed redis answers"
    );
    // Resuming what is not paused, or a node without a service, is a no-op.
    cluster.resume_service("n1").await.unwrap();
    cluster.resume_service("n2").await.unwrap();

    common::teardown_leaving_nothing(&engine, cluster, &run_id).await;
}
