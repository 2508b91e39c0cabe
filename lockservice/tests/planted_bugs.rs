//! Each planted bug shown at the protocol level with the adapter client and
//! caught by the checkers, next to `safe` passing the same scenario.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use splitbrain_checkers::history::{OpType, F};
use splitbrain_checkers::verdict::Validity;
use splitbrain_clockshim::{ClockState, CLOCKCTL, SHIM_FILE_ENV, SHIM_SO};
use splitbrain_targets::etcd::WriteMode;
use support::{anomaly_types, client, config, Cluster, ClusterSpec, Recorder};

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

/// The checker's verdict on `rec`: the `anomalies` found, or valid where
/// there are none.
fn assert_verdict(rec: &Recorder, anomalies: &[&str]) {
    let report = rec.check();
    if anomalies.is_empty() {
        assert_eq!(report.valid, Validity::Valid);
    } else {
        assert_eq!(report.valid, Validity::Invalid);
        assert_eq!(anomaly_types(&report), anomalies);
    }
}

/// Two grants, SIGKILL and restart, a third grant after the grace period.
async fn grants_across_kill(mode: &str, subnet: u8) -> (Vec<u64>, Recorder) {
    let mut cluster = Cluster::start(spec(mode, 1, subnet)).await;
    let cfg = config(300, 2000);
    let rec = Recorder::new();
    let mut tokens = Vec::new();
    for process in 0..3u64 {
        if process == 2 {
            cluster.nodes[0].restart();
            cluster.nodes[0].wait_ready().await;
            // The restarted node refuses grants for the longest lease it
            // gave (times 4 in safe, its clock-rate bound).
            tokio::time::sleep(Duration::from_millis(1300)).await;
        }
        let mut c = client(&cluster.endpoint(0), "n1", process, &cfg, WriteMode::Fenced);
        let grant = rec
            .invoke(&mut c, process, F::Acquire, "k", None, None)
            .await;
        assert_eq!(grant.kind, OpType::Ok, "{grant:?}\n{}", cluster.logs());
        tokens.push(grant.token.expect("a grant carries a token"));
        let release = rec
            .invoke(&mut c, process, F::Release, "k", grant.token, None)
            .await;
        assert_eq!(release.kind, OpType::Ok, "{release:?}");
    }
    (tokens, rec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_restart_makes_volatile_tokens_regress() {
    let (tokens, rec) = grants_across_kill("volatile-tokens", 11).await;
    assert_eq!(tokens, vec![1, 2, 1]);
    assert_verdict(&rec, &["token-regression"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_restart_keeps_safe_tokens_increasing() {
    let (tokens, rec) = grants_across_kill("safe", 12).await;
    assert_eq!(tokens, vec![1, 2, 3]);
    assert_verdict(&rec, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_safe_node_refuses_grants_until_old_leases_ran_out() {
    let mut cluster = Cluster::start(spec("safe", 1, 13)).await;
    let cfg = config(300, 2000);
    let rec = Recorder::new();
    let mut holder = client(&cluster.endpoint(0), "n1", 0, &cfg, WriteMode::Fenced);
    let grant = rec
        .invoke(&mut holder, 0, F::Acquire, "k", None, None)
        .await;
    assert_eq!(grant.kind, OpType::Ok);
    cluster.nodes[0].restart();
    cluster.nodes[0].wait_ready().await;
    let mut other = client(&cluster.endpoint(0), "n1", 1, &cfg, WriteMode::Fenced);
    let early = rec.invoke(&mut other, 1, F::Acquire, "k", None, None).await;
    assert_eq!(early.kind, OpType::Fail, "{early:?}");
    assert!(
        early.error.as_deref().unwrap_or("").contains("restarted"),
        "{early:?}"
    );
    // 300 ms times the clock-rate bound of 4.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let late = rec.invoke(&mut other, 1, F::Acquire, "k", None, None).await;
    assert_eq!(late.kind, OpType::Ok, "{late:?}");
    assert_verdict(&rec, &[]);
}

/// p0 takes the lock and reads, then stalls past its lease (a client
/// pause); p1 takes the lock, reads, writes; p0 wakes and writes with its
/// old token; p2 reads the final state. Clients sit on different nodes, so
/// requests to n2 and n3 are relayed to n1.
async fn stale_writer(mode: &str, subnet: u8) -> (OpType, Recorder) {
    let cluster = Cluster::start(spec(mode, 3, subnet)).await;
    let cfg = config(400, 2000);
    let rec = Recorder::new();
    let mut p0 = client(&cluster.endpoint(1), "n2", 0, &cfg, WriteMode::Fenced);
    let mut p1 = client(&cluster.endpoint(0), "n1", 1, &cfg, WriteMode::Fenced);
    let mut p2 = client(&cluster.endpoint(2), "n3", 2, &cfg, WriteMode::Fenced);
    let g0 = rec.invoke(&mut p0, 0, F::Acquire, "k", None, None).await;
    assert_eq!(g0.kind, OpType::Ok, "{g0:?}\n{}", cluster.logs());
    assert_eq!(
        rec.invoke(&mut p0, 0, F::Read, "k", g0.token, None)
            .await
            .kind,
        OpType::Ok
    );
    // Past the lease as safe holds it: 400 ms times its clock-rate bound of 4.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let g1 = rec.invoke(&mut p1, 1, F::Acquire, "k", None, None).await;
    assert_eq!(g1.kind, OpType::Ok, "{g1:?}");
    assert!(g1.token > g0.token);
    assert_eq!(
        rec.invoke(&mut p1, 1, F::Read, "k", g1.token, None)
            .await
            .kind,
        OpType::Ok
    );
    let w1 = rec
        .invoke(&mut p1, 1, F::Write, "k", g1.token, Some(json!(11)))
        .await;
    assert_eq!(w1.kind, OpType::Ok, "{w1:?}");
    let stale = rec
        .invoke(&mut p0, 0, F::Write, "k", g0.token, Some(json!(10)))
        .await;
    rec.invoke(&mut p1, 1, F::Release, "k", g1.token, None)
        .await;
    let last = rec.invoke(&mut p2, 2, F::Read, "k", None, None).await;
    assert_eq!(last.kind, OpType::Ok, "{last:?}");
    (stale.kind, rec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_fencing_accepts_a_stale_holders_write() {
    let (stale, rec) = stale_writer("no-fencing", 21).await;
    assert_eq!(stale, OpType::Ok);
    assert_verdict(&rec, &["lost-update", "stale-token-accepted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_refuses_a_stale_holders_write() {
    let (stale, rec) = stale_writer("safe", 22).await;
    assert_eq!(stale, OpType::Fail);
    assert_verdict(&rec, &[]);
}

/// The shim and clockctl in `dir`, real time published.
/// Runs `cmd`, retrying while the kernel answers ETXTBSY: clockctl was
/// just written, and a process forked meanwhile by another test thread
/// holds the write descriptor until it execs.
fn output_retrying_busy(cmd: &mut std::process::Command) -> std::process::Output {
    for _ in 0..200 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.expect("run clockctl"),
        }
    }
    panic!("clockctl stayed busy (ETXTBSY) for 2 s");
}

fn install_clock(dir: &std::path::Path) -> (Vec<(String, String)>, impl Fn(ClockState)) {
    use std::os::unix::fs::PermissionsExt;
    let shim = dir.join("libclockshim.so");
    std::fs::write(&shim, SHIM_SO).expect("write shim");
    let ctl = dir.join("clockctl");
    std::fs::write(&ctl, CLOCKCTL).expect("write clockctl");
    std::fs::set_permissions(&ctl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let state = dir.join("clock");
    let state_text = state.display().to_string();
    let set = move |s: ClockState| {
        let argv = s
            .clockctl_set_argv("clockctl", &state_text)
            .expect("valid clock state");
        let out = output_retrying_busy(std::process::Command::new(&ctl).args(&argv[1..]));
        assert!(
            out.status.success(),
            "clockctl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    set(ClockState::REAL);
    let env = vec![
        ("LD_PRELOAD".to_string(), shim.display().to_string()),
        (SHIM_FILE_ENV.to_string(), state.display().to_string()),
    ];
    (env, set)
}

/// One node of `s` under the shim: p0 holds a `lease_ms` lease; the
/// node's clock turns to `changed`; `wait` later p1 asks.
async fn grant_after_clock_change(
    mut s: ClusterSpec<'_>,
    lease_ms: u64,
    changed: ClockState,
    wait: Duration,
) -> (OpType, Recorder) {
    let clock_dir = tempfile::tempdir().expect("tempdir");
    let (env, set_clock) = install_clock(clock_dir.path());
    s.env = env;
    let cluster = Cluster::start(s).await;
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", cluster.nodes[0].pid()))
        .expect("read the service's maps");
    assert!(maps.contains("libclockshim.so"), "the shim is not loaded");
    let cfg = config(lease_ms, 2000);
    let rec = Recorder::new();
    let mut p0 = client(&cluster.endpoint(0), "n1", 0, &cfg, WriteMode::Fenced);
    let mut p1 = client(&cluster.endpoint(0), "n1", 1, &cfg, WriteMode::Fenced);
    let g0 = rec.invoke(&mut p0, 0, F::Acquire, "k", None, None).await;
    assert_eq!(g0.kind, OpType::Ok, "{g0:?}");
    set_clock(changed);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let g1 = rec.invoke(&mut p1, 1, F::Acquire, "k", None, None).await;
    set_clock(ClockState::REAL);
    (g1.kind, rec)
}

/// p0 holds a 5 s lease; the node's wall clock jumps 10 s ahead; p1 asks.
async fn grant_after_clock_bump(mode: &str, subnet: u8) -> (OpType, Recorder) {
    let bumped = ClockState::offset(10_000_000_000);
    grant_after_clock_change(spec(mode, 1, subnet), 5000, bumped, Duration::ZERO).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_bump_expires_wallclock_leases_early() {
    let (second, rec) = grant_after_clock_bump("wallclock-lease", 31).await;
    assert_eq!(second, OpType::Ok);
    assert_verdict(&rec, &["lost-mutual-exclusion"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_bump_leaves_monotonic_leases_alone() {
    let (second, rec) = grant_after_clock_bump("safe", 32).await;
    assert_eq!(second, OpType::Fail);
    assert_verdict(&rec, &[]);
}

/// p0 holds a 1 s lease; the node's clocks start running 4 times fast;
/// 400 ms later p1 asks.
async fn grant_under_fast_clock(extra_args: &[&str], subnet: u8) -> (OpType, Recorder) {
    let mut s = spec("safe", 1, subnet);
    s.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
    let fast = ClockState {
        offset_ns: 0,
        rate: 4.0,
        strobe: None,
    };
    grant_after_clock_change(s, 1000, fast, Duration::from_millis(400)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_clock_expires_monotonic_leases_early_without_a_rate_bound() {
    let (second, rec) = grant_under_fast_clock(&["--clock-rate-bound", "1"], 33).await;
    assert_eq!(second, OpType::Ok);
    assert_verdict(&rec, &["lost-mutual-exclusion"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_clock_leaves_safe_leases_alone() {
    let (second, rec) = grant_under_fast_clock(&[], 34).await;
    assert_eq!(second, OpType::Fail);
    assert_verdict(&rec, &[]);
}

/// Cuts `a` from `b`, waits past the failover timeout, then a process on
/// node `on_a` and one on node `on_b` each campaign and take lock `k`.
async fn both_sides_of_a_partition(
    mode: &str,
    n: u8,
    subnet: u8,
    a: &[usize],
    b: &[usize],
) -> (Vec<OpType>, Recorder, Cluster) {
    let mut s = spec(mode, n, subnet);
    s.relayed = true;
    s.extra_args = vec!["--failover-ms".into(), "500".into()];
    let cluster = Cluster::start(s).await;
    // Let the replicas hear each other once before the cut.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.partition(a, b, true);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cfg = config(3000, 1500);
    let rec = Recorder::new();
    let mut outcomes = Vec::new();
    for (process, node) in [(0u64, a[0]), (1, b[0])] {
        let name = format!("n{}", node + 1);
        let mut c = client(
            &cluster.endpoint(node),
            &name,
            process,
            &cfg,
            WriteMode::Fenced,
        );
        let won = rec
            .invoke(
                &mut c,
                process,
                F::Campaign,
                "e",
                None,
                Some(json!(process)),
            )
            .await;
        outcomes.push(won.kind);
        if won.kind == OpType::Info {
            continue;
        }
        let held = rec
            .invoke(&mut c, process, F::Acquire, "k", None, None)
            .await;
        outcomes.push(held.kind);
    }
    (outcomes, rec, cluster)
}

fn primaries(health: &[Option<Value>]) -> Vec<String> {
    health
        .iter()
        .flatten()
        .filter(|h| h["role"] == "primary")
        .map(|h| h["node"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn health_of_all(cluster: &Cluster) -> Vec<Option<Value>> {
    let mut out = Vec::new();
    for node in &cluster.nodes {
        out.push(support::health(node.addr).await);
    }
    out
}

/// Both sides of the `a` | `b` partition serve all four requests, which the
/// checker catches; `split` are the primaries before the heal, `healed`
/// after it, once the lower epoch has stepped down.
async fn assert_a_primary_on_each_side_until_healed(
    (mode, n, subnet): (&str, u8, u8),
    (a, b): (&[usize], &[usize]),
    split: &[&str],
    healed: &[&str],
) {
    let (outcomes, rec, cluster) = both_sides_of_a_partition(mode, n, subnet, a, b).await;
    assert_eq!(outcomes, vec![OpType::Ok; 4], "{}", cluster.logs());
    let report = rec.check();
    assert_eq!(report.valid, Validity::Invalid);
    // Both sides count tokens on from the same replicated counter, so
    // their grants also repeat tokens.
    assert_eq!(
        anomaly_types(&report),
        vec!["lost-mutual-exclusion", "split-brain", "token-regression"]
    );
    assert_eq!(primaries(&health_of_all(&cluster).await), split);
    cluster.partition(a, b, false);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(primaries(&health_of_all(&cluster).await), healed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_gives_async_replica_two_primaries() {
    let nodes = (&[0][..], &[1][..]);
    assert_a_primary_on_each_side_until_healed(
        ("async-replica", 2, 41),
        nodes,
        &["n1", "n2"],
        &["n2"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_gives_bully_a_leader_on_each_side() {
    // n1 relays to n2, the highest id it can reach.
    let nodes = (&[2][..], &[0, 1][..]);
    assert_a_primary_on_each_side_until_healed(("bully", 3, 42), nodes, &["n2", "n3"], &["n3"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_leaves_safe_with_one_serving_node() {
    let (outcomes, rec, cluster) = both_sides_of_a_partition("safe", 3, 43, &[2], &[0, 1]).await;
    // n3 cannot relay to n1: its client's campaign is unanswered (info);
    // n1's side serves.
    assert_eq!(
        outcomes,
        vec![OpType::Info, OpType::Ok, OpType::Ok],
        "{}",
        cluster.logs()
    );
    assert_verdict(&rec, &[]);
    assert_eq!(primaries(&health_of_all(&cluster).await), vec!["n1"]);
}
