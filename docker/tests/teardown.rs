//! Nothing labelled survives a run: not a teardown, not a dropped cluster,
//! not a clean; and a clean takes nothing unlabelled.
mod common;

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;
use splitbrain_docker::guard::remove_labelled;
use splitbrain_docker::{CleanScope, Cluster};

use common::or_skip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_cluster_leaves_no_labelled_container_or_network() {
    let (engine, cluster, run_id) =
        or_skip!(common::cluster_or_skip("dropped_cluster_leaves_nothing", "drop", 2).await);
    let (containers, networks) = common::leftovers(&engine, &run_id).await;
    assert_eq!((containers.len(), networks.len()), (2, 1));
    // As on an error or a panic: no teardown, only the drop.
    drop(cluster);
    assert_eq!(common::leftovers(&engine, &run_id).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_test_body_still_removes_its_cluster() {
    let engine = or_skip!(common::engine_or_skip("panicking_test_body_still_removes").await);
    let spec = common::cluster_spec(&engine, "panic", 1).await;
    let run_id = spec.run_id.clone();
    let inner_engine = engine.clone();
    let result = tokio::spawn(async move {
        let _cluster = Cluster::create(&inner_engine, spec).await.unwrap();
        panic!("deliberate panic with a live cluster");
    })
    .await;
    assert!(result.unwrap_err().is_panic());
    assert_eq!(common::leftovers(&engine, &run_id).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_removes_labelled_objects_and_leaves_unlabelled_ones() {
    let (engine, cluster, run_id) =
        or_skip!(common::cluster_or_skip("clean_removes_labelled_objects", "clean", 1).await);
    let bystander = format!("bystander-{run_id}");
    engine
        .docker()
        .create_network(NetworkCreateRequest {
            name: bystander.clone(),
            labels: Some(HashMap::from([(
                "splitbrain.other".to_string(),
                run_id.clone(),
            )])),
            ..Default::default()
        })
        .await
        .unwrap();

    // The whole-engine scope (`splitbrain clean`) would also take other
    // tests' clusters running beside this one, so the test uses its run's
    // scope; both go through the same label filter.
    assert_eq!(CleanScope::AllRuns.label_filter(), "splitbrain.run");
    let report = remove_labelled(&engine, &CleanScope::Run(run_id.clone()))
        .await
        .unwrap();
    assert_eq!(report.containers, vec![format!("splitbrain-{run_id}-n1")]);
    assert_eq!(report.networks, vec![format!("splitbrain-{run_id}")]);
    assert_eq!(common::leftovers(&engine, &run_id).await, (vec![], vec![]));

    let still_there = engine.docker().inspect_network(&bystander, None).await;
    engine.docker().remove_network(&bystander).await.unwrap();
    assert!(
        still_there.is_ok(),
        "an unlabelled network must survive a clean"
    );
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_run_id_is_refused_and_leaves_the_live_run_alone() {
    let engine = or_skip!(common::engine_or_skip("reused_run_id_is_refused").await);
    let spec = common::cluster_spec(&engine, "reuse", 1).await;
    let run_id = spec.run_id.clone();
    let live = Cluster::create(&engine, spec.clone()).await.unwrap();
    let err = Cluster::create(&engine, spec).await.unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
    let out = live
        .exec("n1", &["true"], std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        out.success(),
        "the live run's node must survive the refused create"
    );
    live.teardown(None).await.unwrap();
    assert_eq!(common::leftovers(&engine, &run_id).await, (vec![], vec![]));
}
