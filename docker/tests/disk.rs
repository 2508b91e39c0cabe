//! The disk fault on real containers: with the data directory filled, a
//! write into it fails with ENOSPC while the service runs on; the fill
//! outlives a restart of the service; after the heal writes succeed again;
//! a cluster without a data directory refuses the fault.
mod common;

use std::time::Duration;

use splitbrain_docker::fault::disk;
use splitbrain_docker::{Cluster, DataDir};

use common::or_skip;

const DATA_DIR: &str = "/var/lib/splitbrain-data";
const DATA_DIR_MB: u64 = 16;
const EXEC_TIMEOUT: Duration = Duration::from_secs(20);

/// Write 64 KiB (more than any page left over) to a new file in the data
/// directory of `node`: `Err(stderr)` when the write fails.
async fn write_probe(cluster: &Cluster, node: &str, name: &str) -> Result<(), String> {
    let script = format!("head -c 65536 /dev/zero > {DATA_DIR}/{name}");
    let out = cluster
        .exec(node, &["sh", "-c", script.as_str()], EXEC_TIMEOUT)
        .await
        .unwrap();
    if out.success() {
        Ok(())
    } else {
        Err(out.stderr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_data_dir_fails_writes_with_enospc_until_healed_while_the_service_runs() {
    let test = "full_data_dir_fails_writes_with_enospc";
    let engine = or_skip!(common::engine_or_skip(test).await);
    let mut spec = common::cluster_spec(&engine, "disk", 1).await;
    spec.data_dir = Some(DataDir {
        path: DATA_DIR.to_string(),
        size_mb: DATA_DIR_MB,
    });
    let run_id = spec.run_id.clone();
    let cluster = Cluster::create(&engine, spec).await.unwrap();
    cluster
        .start_service("n1", &common::redis_spec())
        .await
        .unwrap();
    common::wait_for_redis(&cluster, "redis on n1", "n1", "n1").await;
    write_probe(&cluster, "n1", "before").await.unwrap();

    let fill = disk::apply(&cluster, "n1").await.unwrap();
    assert_eq!(fill.path, format!("{DATA_DIR}/{}", disk::FILL_FILE_NAME));
    assert!(
        fill.filled_bytes > (DATA_DIR_MB << 20) / 2 && fill.filled_bytes <= DATA_DIR_MB << 20,
        "filled {} bytes of a {DATA_DIR_MB} MiB directory",
        fill.filled_bytes
    );
    let err = write_probe(&cluster, "n1", "during").await.unwrap_err();
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        cluster.is_running("n1").await.unwrap(),
        "the service runs on"
    );
    assert!(common::redis_ping(&cluster, "n1", "n1", 5).await);

    // The directory is the node's, not the process's: a restarted service
    // finds it still full, and what was written before still there.
    cluster.restart_service("n1").await.unwrap();
    common::wait_for_redis(&cluster, "redis on n1", "n1", "n1").await;
    let err = write_probe(&cluster, "n1", "restarted").await.unwrap_err();
    assert!(err.contains("No space left on device"), "{err}");
    // Read in the node: the engine's archive copy (`get_file`) does not
    // see into tmpfs mounts.
    let path = format!("{DATA_DIR}/before");
    let before = cluster
        .exec("n1", &["stat", "-c", "%s", path.as_str()], EXEC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(before.stdout.trim(), "65536", "{}", before.stderr);

    disk::heal(&cluster, "n1").await.unwrap();
    write_probe(&cluster, "n1", "after").await.unwrap();
    // Healing twice is a no-op.
    disk::heal(&cluster, "n1").await.unwrap();

    common::teardown_leaving_nothing(&engine, cluster, &run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_without_a_data_dir_refuses_the_disk_fault() {
    let test = "cluster_without_a_data_dir_refuses_the_disk_fault";
    let (engine, cluster, run_id) = or_skip!(common::cluster_or_skip(test, "nodisk", 1).await);
    let err = disk::apply(&cluster, "n1").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to fill the data directory on n1: the cluster has no data directory"
    );
    // Nothing to undo: a blind final heal passes.
    disk::heal(&cluster, "n1").await.unwrap();
    common::teardown_leaving_nothing(&engine, cluster, &run_id).await;
}
