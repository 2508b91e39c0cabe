//! The clock fault on real containers: Redis started under the shim reads
//! the skewed time (its `TIME` command, its key expiry), only on the skewed
//! node; Redis started without it is reached by patching its vDSO, and
//! healed back to the original bytes. (etcd, a Go program, is proved in the
//! targets crate's clock_etcd tests.)
//!
//! Needs a Docker engine and the base image (built on first use by
//! `images::ensure_with`, which needs mmdebstrap). Without an engine these
//! tests skip loudly, and fail when CI=true.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{or_skip, redis_spec};
use splitbrain_clockshim::ClockState;
use splitbrain_docker::fault::clock::{self, ProcessClock};
use splitbrain_docker::Cluster;

const READY_TIMEOUT_MS: u64 = 20_000;
const REDIS_CLI_TIMEOUT_MS: u64 = 10_000;
const SEC_US: i64 = 1_000_000;
const STROBE_WATCH_MS: u64 = 10_000;

/// A cluster of `nodes` nodes under a run id `clock-{name}-…`, or `None`
/// where `test` skips.
async fn cluster_or_skip(test: &str, name: &str, nodes: usize) -> Option<Cluster> {
    let prefix = format!("clock-{name}");
    let (_engine, cluster, _run_id) = common::cluster_or_skip(test, &prefix, nodes).await?;
    Some(cluster)
}

/// As [`cluster_or_skip`], with Redis under the shim answering on every
/// node, each with its own state file.
async fn shimmed_redis(test: &str, name: &str, nodes: usize) -> Option<Cluster> {
    let cluster = cluster_or_skip(test, name, nodes).await?;
    for node in 1..=nodes {
        start_redis(&cluster, &format!("n{node}"), true).await;
    }
    Some(cluster)
}

/// Heals n1's clock, checks its Redis reads real time again, and removes
/// the cluster.
async fn heal_and_teardown(cluster: Cluster, what: &str) {
    clock::heal(&cluster, "n1").await.expect("heal failed");
    assert_redis_time(&cluster, "n1", 0, what).await;
    cluster.teardown(None).await.expect("teardown failed");
}

async fn redis_cli(cluster: &Cluster, node: &str, args: &[&str]) -> String {
    let mut argv = vec!["redis-cli", "-h", "127.0.0.1", "-p", "6379"];
    argv.extend_from_slice(args);
    let out = cluster
        .exec(node, &argv, Duration::from_millis(REDIS_CLI_TIMEOUT_MS))
        .await
        .expect("failed to exec redis-cli");
    assert!(
        out.success(),
        "redis-cli {args:?} on {node}: {}",
        out.stderr
    );
    out.stdout.trim().to_string()
}

async fn start_redis(cluster: &Cluster, node: &str, shimmed: bool) {
    let mut spec = redis_spec();
    if shimmed {
        clock::install(cluster, node)
            .await
            .expect("failed to install the shim");
        clock::add_preload(&mut spec);
    }
    cluster
        .start_service(node, &spec)
        .await
        .expect("failed to start redis");
    wait_for_pong(cluster, node).await;
}

async fn wait_for_pong(cluster: &Cluster, node: &str) {
    let deadline = Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
    loop {
        let out = cluster
            .exec(
                node,
                &["redis-cli", "-h", "127.0.0.1", "-p", "6379", "PING"],
                Duration::from_millis(REDIS_CLI_TIMEOUT_MS),
            )
            .await
            .expect("failed to exec redis-cli");
        if out.stdout.trim() == "PONG" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis on {node} not ready: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn real_us() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_micros()).expect("fits")
}

/// Redis's `TIME` on `node` minus `offset_us` must lie between real readings
/// taken around the call (nodes share this host's kernel clock).
async fn assert_redis_time(cluster: &Cluster, node: &str, offset_us: i64, what: &str) -> i64 {
    let before = real_us();
    let reply = redis_cli(cluster, node, &["TIME"]).await;
    let after = real_us();
    let mut fields = reply
        .lines()
        .map(|l| l.trim().parse::<i64>().expect("TIME gives integers"));
    let seconds = fields.next().expect("TIME seconds");
    let micros = fields.next().expect("TIME microseconds");
    let redis_us = seconds * SEC_US + micros;
    assert!(
        (before..=after).contains(&(redis_us - offset_us)),
        "{what}: redis TIME on {node} is {redis_us} us, expected real [{before}, {after}] + {offset_us} us"
    );
    redis_us
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bump_of_60_s_moves_only_that_nodes_redis_time_and_heal_brings_it_back() {
    let cluster =
        or_skip!(shimmed_redis("bump_of_60_s_moves_only_that_nodes_redis_time", "bump", 2).await);
    assert_redis_time(&cluster, "n1", 0, "before the bump").await;
    assert_redis_time(&cluster, "n2", 0, "before the bump").await;

    let started = Instant::now();
    let outcome = clock::bump(&cluster, "n1", 60_000)
        .await
        .expect("bump failed");
    eprintln!("bump took {} ms", started.elapsed().as_millis());
    assert_eq!(outcome.record.state, ClockState::offset(60_000_000_000));
    assert_eq!(outcome.processes.len(), 1, "{outcome:?}");
    assert_eq!(outcome.processes[0].mechanism, clock::Mechanism::Preload);
    assert_redis_time(&cluster, "n1", 60 * SEC_US, "n1 after +60 s").await;
    assert_redis_time(&cluster, "n2", 0, "n2 after n1's bump").await;

    // Bumps add up.
    clock::bump(&cluster, "n1", -30_000)
        .await
        .expect("bump failed");
    assert_redis_time(&cluster, "n1", 30 * SEC_US, "n1 after +60 s then -30 s").await;

    clock::heal(&cluster, "n1").await.expect("heal failed");
    assert_redis_time(&cluster, "n1", 0, "n1 after the heal").await;
    assert_redis_time(&cluster, "n2", 0, "n2 at the end").await;

    // A rate fault makes the wall clock run fast, seen by the same process.
    clock::rate(&cluster, "n1", 2.0).await.expect("rate failed");
    let a_before = real_us();
    let a = redis_time_us(&cluster, "n1").await;
    let a_after = real_us();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let b_before = real_us();
    let b = redis_time_us(&cluster, "n1").await;
    let b_after = real_us();
    // Real time between the two reads lies within these bounds; 1% covers
    // the microsecond truncation of TIME.
    let (real_min, real_max) = (b_before - a_after, b_after - a_before);
    assert!(
        (b - a) as f64 >= 2.0 * real_min as f64 * 0.99
            && (b - a) as f64 <= 2.0 * real_max as f64 * 1.01,
        "at rate 2 redis TIME advanced {} us while real time advanced [{real_min}, {real_max}] us",
        b - a
    );
    clock::heal(&cluster, "n1").await.expect("heal failed");
    assert_redis_time(&cluster, "n1", 0, "n1 after healing the rate").await;

    // One Redis process saw every change: nothing was restarted.
    let pids: Vec<u32> = cluster
        .service_processes("n1")
        .await
        .expect("ps failed")
        .into_iter()
        .filter(|p| !p.is_zombie())
        .map(|p| p.pid)
        .collect();
    let reached: Vec<u32> = outcome.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, reached, "redis on n1 was restarted");

    cluster.teardown(None).await.expect("teardown failed");
}

async fn redis_time_us(cluster: &Cluster, node: &str) -> i64 {
    let reply = redis_cli(cluster, node, &["TIME"]).await;
    let mut fields = reply
        .lines()
        .map(|l| l.trim().parse::<i64>().expect("TIME gives integers"));
    fields.next().expect("seconds") * SEC_US + fields.next().expect("microseconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bump_of_120_s_expires_a_60_s_redis_key_at_once_only_on_that_node() {
    let cluster =
        or_skip!(shimmed_redis("bump_of_120_s_expires_a_60_s_redis_key", "expiry", 2).await);
    for node in ["n1", "n2"] {
        assert_eq!(
            redis_cli(&cluster, node, &["SET", "lock", "holder-1", "PX", "60000"]).await,
            "OK"
        );
        let ttl: i64 = redis_cli(&cluster, node, &["PTTL", "lock"])
            .await
            .parse()
            .expect("PTTL");
        assert!(ttl > 50_000, "fresh 60 s key has {ttl} ms left on {node}");
    }

    clock::bump(&cluster, "n1", 120_000)
        .await
        .expect("bump failed");
    assert_eq!(
        redis_cli(&cluster, "n1", &["GET", "lock"]).await,
        "",
        "n1's key outlived a +120 s bump"
    );
    assert_eq!(redis_cli(&cluster, "n1", &["EXISTS", "lock"]).await, "0");
    assert_eq!(
        redis_cli(&cluster, "n2", &["GET", "lock"]).await,
        "holder-1",
        "n2's key expired without a bump"
    );

    // With the clock healed, a new lease lives its full length again.
    clock::heal(&cluster, "n1").await.expect("heal failed");
    assert_eq!(
        redis_cli(&cluster, "n1", &["SET", "lock", "holder-2", "PX", "60000"]).await,
        "OK"
    );
    let ttl: i64 = redis_cli(&cluster, "n1", &["PTTL", "lock"])
        .await
        .parse()
        .expect("PTTL");
    assert!(ttl > 50_000, "after the heal a 60 s key has {ttl} ms left");

    cluster.teardown(None).await.expect("teardown failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_without_the_shim_is_skewed_through_its_vdso_and_healed_to_the_original_bytes() {
    let cluster = or_skip!(
        cluster_or_skip(
            "redis_without_the_shim_is_skewed_through_its_vdso",
            "vdso",
            1,
        )
        .await
    );
    clock::install(&cluster, "n1")
        .await
        .expect("failed to install the clock tools");
    start_redis(&cluster, "n1", false).await;
    let clocks = clock::service_clocks(&cluster, "n1")
        .await
        .expect("inspect failed");
    assert!(
        clocks.len() == 1 && clocks[0].1 == ProcessClock::Bare,
        "{clocks:?}"
    );
    let pid = clocks[0].0;
    let pristine = clock::vdso_bytes(&cluster, "n1", None)
        .await
        .expect("show self failed");
    let before = clock::vdso_bytes(&cluster, "n1", Some(pid))
        .await
        .expect("show failed");
    assert_eq!(before, pristine, "redis's vDSO before any fault");

    let outcome = clock::bump(&cluster, "n1", 60_000)
        .await
        .expect("bump failed");
    assert_eq!(outcome.processes.len(), 1, "{outcome:?}");
    assert_eq!(outcome.processes[0].mechanism, clock::Mechanism::VdsoPatch);
    assert!(outcome.processes[0].newly_patched, "{outcome:?}");
    // TIME is gettimeofday in Redis: the patched vDSO entry answers it.
    assert_redis_time(&cluster, "n1", 60 * SEC_US, "unshimmed redis after +60 s").await;
    let patched = clock::vdso_bytes(&cluster, "n1", Some(pid))
        .await
        .expect("show failed");
    assert!(patched.patched, "{patched:?}");

    // A second fault reuses the patch.
    let again = clock::bump(&cluster, "n1", -30_000)
        .await
        .expect("bump failed");
    assert!(!again.processes[0].newly_patched, "{again:?}");
    assert_redis_time(&cluster, "n1", 30 * SEC_US, "after +60 s then -30 s").await;

    let healed = clock::heal(&cluster, "n1").await.expect("heal failed");
    assert_eq!(healed.restored, vec![pid], "{healed:?}");
    assert!(healed.kept.is_empty(), "{healed:?}");
    let after = clock::vdso_bytes(&cluster, "n1", Some(pid))
        .await
        .expect("show failed");
    assert_eq!(after, pristine, "heal wrote the original bytes back");
    assert_redis_time(&cluster, "n1", 0, "after the heal").await;

    cluster.teardown(None).await.expect("teardown failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strobe_makes_redis_time_alternate_between_two_offsets() {
    let cluster = or_skip!(shimmed_redis("strobe_makes_redis_time_alternate", "strobe", 1).await);
    clock::bump(&cluster, "n1", 5_000)
        .await
        .expect("bump failed");
    clock::strobe(&cluster, "n1", 20_000, 400)
        .await
        .expect("strobe failed");

    // Every read is the +5 s bump or the bump plus the +20 s strobe.
    let (mut low, mut high) = (0, 0);
    let deadline = Instant::now() + Duration::from_millis(STROBE_WATCH_MS);
    while (low < 2 || high < 2) && Instant::now() < deadline {
        let before = real_us();
        let t = redis_time_us(&cluster, "n1").await;
        let after = real_us();
        let within = |offset_us: i64| (before..=after).contains(&(t - offset_us));
        if within(5 * SEC_US) {
            low += 1;
        } else if within(25 * SEC_US) {
            high += 1;
        } else {
            panic!("strobed redis TIME {t} us is outside real [{before}, {after}] + 5 s or 25 s");
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        low >= 2 && high >= 2,
        "in {STROBE_WATCH_MS} ms redis showed +5 s {low} times and +25 s {high} times"
    );

    heal_and_teardown(cluster, "after healing the strobe").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skew_set_while_the_service_is_down_applies_when_it_restarts() {
    let cluster = or_skip!(shimmed_redis("skew_set_while_the_service_is_down", "restart", 1).await);
    assert_eq!(cluster.kill_service("n1").await.expect("kill failed"), 1);

    let outcome = clock::bump(&cluster, "n1", 60_000)
        .await
        .expect("bump failed");
    assert!(
        outcome.processes.is_empty(),
        "nothing was running to reach: {outcome:?}"
    );
    cluster.restart_service("n1").await.expect("restart failed");
    wait_for_pong(&cluster, "n1").await;
    assert_redis_time(&cluster, "n1", 60 * SEC_US, "restarted under a +60 s skew").await;

    heal_and_teardown(cluster, "after the heal").await;
}
