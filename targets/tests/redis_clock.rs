//! Redis under wall-clock steps, through the project's LD_PRELOAD clock shim:
//! the scenario of Kleppmann's critique of Redlock, and its minority twin.
//!
//! Each node's redis-server runs with the shim preloaded and its own state
//! file; `clockctl` steps a node's wall clock as the clock fault does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use splitbrain_checkers::history::{OpType, F};
use splitbrain_clockshim::{ClockState, CLOCKCTL, SHIM_FILE_ENV, SHIM_SO};
use splitbrain_targets::client::{ClientConfig, HistoryClock};
use splitbrain_targets::redis::{
    RedisPersistence, RedisTarget, RedlockTarget, WriteMode, REDLOCK_NODES,
};
use splitbrain_targets::target::{NodeAddr, Target};
use splitbrain_testkit::beds::redis_with_env;
use splitbrain_testkit::cluster::LocalCluster;
use splitbrain_testkit::ops::{inv, ok, run, Done};

/// Long enough that a grant to another process inside it cannot be chance.
const LEASE_MS: u64 = 5_000;
/// Twice the lease: every lock key on a stepped node is then past its expiry.
const STEP_NS: i64 = 10_000_000_000;
/// Far below the TTL, yet room for a loaded machine's loopback round.
const NODE_TIMEOUT_MS: u64 = 250;

fn cfg() -> ClientConfig {
    ClientConfig {
        lease_ms: LEASE_MS,
        request_timeout_ms: 300,
        acquire_timeout_ms: 1000,
        connect_timeout_ms: 300,
    }
}

fn shim(dir: &Path) -> PathBuf {
    dir.join("libclockshim.so")
}

fn clockctl(dir: &Path) -> PathBuf {
    dir.join("clockctl")
}

fn state_file(dir: &Path, node: &NodeAddr) -> PathBuf {
    dir.join(format!("{}.clock", node.name))
}

/// Writes the shim and clockctl into `dir` (once) and preloads the shim
/// with `node`'s own state file.
fn preload(node: &NodeAddr, dir: &Path) -> Vec<(String, String)> {
    if !shim(dir).exists() {
        std::fs::write(shim(dir), SHIM_SO).expect("write shim");
        std::fs::write(clockctl(dir), CLOCKCTL).expect("write clockctl");
        std::fs::set_permissions(clockctl(dir), std::fs::Permissions::from_mode(0o755))
            .expect("make clockctl executable");
    }
    // A shim that finds no state file looks again only once a second, so
    // the file exists, on real time, before the service starts.
    publish(dir, node, ClockState::REAL);
    vec![
        ("LD_PRELOAD".to_string(), shim(dir).display().to_string()),
        (
            SHIM_FILE_ENV.to_string(),
            state_file(dir, node).display().to_string(),
        ),
    ]
}

async fn cluster<T: Target>(
    size: u8,
    make: impl FnOnce(splitbrain_targets::redis::RedisLayout) -> T,
) -> LocalCluster<T> {
    redis_with_env(size, make, preload).await
}

/// Steps node `i`'s wall clock forward by [`STEP_NS`].
fn step_forward<T: Target>(cluster: &LocalCluster<T>, i: usize) {
    publish(
        cluster.dir(),
        &cluster.nodes[i],
        ClockState::offset(STEP_NS),
    );
}

fn publish(dir: &Path, node: &NodeAddr, state: ClockState) {
    let argv = state
        .clockctl_set_argv(
            &clockctl(dir).display().to_string(),
            &state_file(dir, node).display().to_string(),
        )
        .expect("valid state");
    // The fresh clockctl may briefly be busy for exec while another test forks.
    for attempt in 0.. {
        match Command::new(&argv[0]).args(&argv[1..]).output() {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "clockctl: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return;
            }
            Err(e) if e.raw_os_error() == Some(26) && attempt < 100 => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("failed to run clockctl: {e}"),
        }
    }
}

async fn redlock_with_steps(stepped: usize) -> (i64, Done) {
    let redlock = cluster(REDLOCK_NODES as u8, |layout| {
        RedlockTarget::new(WriteMode::Unguarded, RedisPersistence::None)
            .with_layout(layout)
            .with_node_timeout_ms(NODE_TIMEOUT_MS)
    })
    .await;
    let clock = HistoryClock::start();
    let mut p0 = redlock.client(0, &cfg()).await;
    let mut p1 = redlock.client(1, &cfg()).await;
    let held = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    for i in 0..stepped {
        step_forward(&redlock, i);
    }
    let second = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    (held.valid_until.expect("valid_until"), second)
}

#[tokio::test]
async fn a_clock_step_on_a_majority_lets_redlock_grant_a_held_lock_again() {
    let (held_until, second) = redlock_with_steps(3).await;
    let c = &second.completion;
    assert_eq!(c.kind, OpType::Ok, "{c:?}");
    assert_eq!(c.node.as_deref(), Some("n1,n2,n3"));
    // Lost mutual exclusion: p0's validity had seconds to run.
    assert!(second.at_ns < held_until);
}

#[tokio::test]
async fn a_clock_step_on_a_minority_leaves_redlock_exclusive() {
    let (_, second) = redlock_with_steps(2).await;
    assert_eq!(
        second.completion.kind,
        OpType::Fail,
        "{:?}",
        second.completion
    );
}

#[tokio::test]
async fn a_clock_step_on_a_single_redis_expires_its_lock_early() {
    let redis = cluster(1, |layout| {
        RedisTarget::new(WriteMode::Fenced, RedisPersistence::None).with_layout(layout)
    })
    .await;
    let clock = HistoryClock::start();
    let mut p0 = redis.client(0, &cfg()).await;
    let mut p1 = redis.client(1, &cfg()).await;
    let held = ok(p0.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    let refused = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None))
        .await
        .completion;
    assert_eq!(refused.kind, OpType::Fail, "before the step: {refused:?}");
    step_forward(&redis, 0);
    let second = run(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(
        second.completion.kind,
        OpType::Ok,
        "{:?}",
        second.completion
    );
    assert!(second.at_ns < held.valid_until.expect("valid_until"));
    // The counter survives, so the token still orders the grants.
    assert!(second.completion.token > held.token);
}
