//! Shared by the Docker-backed tests: reach the engine or skip (fail under
//! CI=true), get the base image, make unique run ids, create clusters.
#![allow(
    dead_code,
    reason = "each test binary uses its own subset of these helpers"
)]

use std::sync::atomic::{AtomicU32, Ordering};

use splitbrain_docker::{images, Cluster, ClusterSpec, Engine, EngineOptions};

/// The engine, or `None` after a loud skip message. Under `CI=true` an
/// unreachable engine fails the test instead: CI must prove the faults.
pub async fn engine_or_skip(test: &str) -> Option<Engine> {
    let options = EngineOptions {
        call_timeout_ms: 30_000,
        transfer_timeout_ms: 600_000,
    };
    match Engine::connect(options).await {
        Ok(engine) => Some(engine),
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: the Docker engine is required under CI=true: {e}");
            }
            eprintln!();
            eprintln!("==================================================================");
            eprintln!("SKIP {test}: no Docker engine reachable ({e})");
            eprintln!("==================================================================");
            None
        }
    }
}

/// The value of an `Option` that is `None` only where the test skips (see
/// [`engine_or_skip`]), or a return from the test.
macro_rules! or_skip {
    ($option:expr) => {
        match $option {
            Some(value) => value,
            None => return,
        }
    };
}
pub(crate) use or_skip;

/// The services the substrate's tests run in nodes: etcd and Redis (with
/// Sentinel). The harness's `splitbrain images build` builds the same list
/// (every built-in target's packages), so both share one image.
pub const SERVICE_PACKAGES: [&str; 5] = [
    "etcd-server",
    "etcd-client",
    "redis-server",
    "redis-sentinel",
    "redis-tools",
];

static BASE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The base image reference, built on first use (several tests in one
/// binary share one build).
pub async fn base_image(engine: &Engine) -> String {
    BASE.get_or_init(|| async {
        images::ensure_with(engine, &SERVICE_PACKAGES, |line| eprintln!("image: {line}"))
            .await
            .expect("failed to prepare the base image")
            .reference
    })
    .await
    .clone()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A run id unique to this process and call, readable in `docker ps`.
pub fn run_id(test: &str) -> String {
    format!(
        "t-{test}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The spec of `nodes` nodes on the base image, under a fresh run id that
/// starts with `prefix` (the spec's `run_id` is what leftovers look for).
pub async fn cluster_spec(engine: &Engine, prefix: &str, nodes: usize) -> ClusterSpec {
    let image = base_image(engine).await;
    ClusterSpec {
        run_id: run_id(prefix),
        nodes,
        image,
        ..ClusterSpec::default()
    }
}

/// A cluster as [`cluster_spec`] describes it, and its run id.
pub async fn cluster(engine: &Engine, prefix: &str, nodes: usize) -> (Cluster, String) {
    let spec = cluster_spec(engine, prefix, nodes).await;
    let run_id = spec.run_id.clone();
    let cluster = Cluster::create(engine, spec).await.unwrap();
    (cluster, run_id)
}

/// The engine and a cluster as [`cluster`] makes it, or `None` where
/// [`engine_or_skip`] skips `test`.
pub async fn cluster_or_skip(
    test: &str,
    prefix: &str,
    nodes: usize,
) -> Option<(Engine, Cluster, String)> {
    let engine = engine_or_skip(test).await?;
    let (cluster, run_id) = cluster(&engine, prefix, nodes).await;
    Some((engine, cluster, run_id))
}

/// Tears `cluster` down and checks that no container or network labelled
/// with its run id is left behind.
pub async fn teardown_leaving_nothing(engine: &Engine, cluster: Cluster, run_id: &str) {
    cluster.teardown(None).await.unwrap();
    assert_eq!(leftovers(engine, run_id).await, (vec![], vec![]));
}

use std::time::Duration;

use splitbrain_docker::ServiceSpec;

pub const REDIS_LOG: &str = "/var/log/splitbrain/redis.log";

/// A throwaway Redis with no persistence, listening on every address.
pub fn redis_spec() -> ServiceSpec {
    ServiceSpec {
        argv: [
            "redis-server",
            "--port",
            "6379",
            "--bind",
            "0.0.0.0",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        env: vec![],
        process_name: "redis-server".to_string(),
        log_path: REDIS_LOG.to_string(),
    }
}

/// Ask `target`'s Redis for PING from inside `from`, giving up after
/// `timeout_s` seconds. True only on PONG.
pub async fn redis_ping(cluster: &Cluster, from: &str, target: &str, timeout_s: u32) -> bool {
    let t = timeout_s.to_string();
    match cluster
        .exec(
            from,
            &["timeout", t.as_str(), "redis-cli", "-h", target, "ping"],
            Duration::from_secs(u64::from(timeout_s) + 5),
        )
        .await
    {
        Ok(out) => out.success() && out.stdout.trim() == "PONG",
        Err(_) => false,
    }
}

/// Waits, within 20 s, until `from` gets a PONG from `target`'s Redis.
pub async fn wait_for_redis(cluster: &Cluster, what: &str, from: &str, target: &str) {
    splitbrain_docker::wait_until(
        what,
        Duration::from_secs(20),
        Duration::from_millis(100),
        || redis_ping(cluster, from, target, 2),
    )
    .await
    .unwrap();
}

/// Whether one ICMP echo from `from` to `to` is answered within a second.
pub async fn pings(cluster: &Cluster, from: &str, to: &str) -> bool {
    let ip = cluster.node(to).unwrap().ip.to_string();
    cluster
        .exec(
            from,
            &["ping", "-c", "1", "-W", "1", ip.as_str()],
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .success()
}

/// Mean round trip in ms of `count` pings from `from` to `to`.
pub async fn mean_rtt_ms(cluster: &Cluster, from: &str, to: &str, count: u32) -> Option<f64> {
    let ip = cluster.node(to).unwrap().ip.to_string();
    let c = count.to_string();
    let out = cluster
        .exec(
            from,
            &[
                "ping",
                "-c",
                c.as_str(),
                "-i",
                "0.2",
                "-W",
                "2",
                ip.as_str(),
            ],
            Duration::from_secs(u64::from(count) + 15),
        )
        .await
        .unwrap();
    // "rtt min/avg/max/mdev = 0.080/0.093/0.116/0.015 ms"
    let line = out.stdout.lines().find(|l| l.contains("min/avg/max"))?;
    let values = line.split('=').nth(1)?.trim();
    values.split('/').nth(1)?.parse().ok()
}

/// Names of containers and networks still labelled with `run_id`.
pub async fn leftovers(
    engine: &splitbrain_docker::Engine,
    run_id: &str,
) -> (Vec<String>, Vec<String>) {
    use std::collections::HashMap;
    let filters = HashMap::from([("label", vec![format!("splitbrain.run={run_id}")])]);
    let containers = engine
        .docker()
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect();
    let networks = splitbrain_docker::cluster::networks_labelled(engine, run_id)
        .await
        .unwrap();
    (containers, networks)
}
