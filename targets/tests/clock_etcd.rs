//! Clock faults on real etcd in containers, through the patched vDSO: etcd
//! is a Go program, so no preload reaches it, and these tests are what shows
//! that the clock fault does.
//!
//! - A +60 s bump on one member shows in that member's own wall clock (the
//!   `Date` header Go's HTTP server writes, and the `ts` of its log lines) and
//!   in no other member's; heal writes the original vDSO bytes back; a member
//!   killed and restarted under the fault is patched again.
//! - A 2x rate on the leader makes a 4 s lease, granted and kept alive
//!   through a follower, expire in about 2 s of real time: the leader's
//!   lessor times leases on its own monotonic clock.
//!
//! Needs a Docker engine and the base image (built on first use). Without
//! an engine these tests skip loudly, and fail when CI=true.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use etcd_client::{Client as Etcd, ConnectOptions};
use splitbrain_docker::fault::clock::{self, Mechanism, ProcessClock};
use splitbrain_docker::{
    images, Cluster, ClusterSpec, Engine, EngineOptions, NodeInfo, ServiceSpec,
};
use splitbrain_targets::etcd::{EtcdTarget, WriteMode};
use splitbrain_targets::target::{NodeAddr, Primaries, ServiceCommand, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READY_TIMEOUT: Duration = Duration::from_secs(40);
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
const LOG_PATH: &str = "/var/log/splitbrain/etcd.log";
const CLIENT_PORT: u16 = 2379;
const LEASE_TTL_S: i64 = 4;
/// Under the TTL in real time: enough to keep a lease on real clocks.
const KEEP_ALIVE: Duration = Duration::from_secs(3);
/// Longest a lease is watched before it counts as alive.
const WATCH: Duration = Duration::from_secs(20);
/// Wall-clock readings through HTTP `Date` have one-second resolution.
const DATE_SLACK_S: i64 = 3;

/// The address a target gives a container node.
fn node_addr(node: &NodeInfo) -> NodeAddr {
    NodeAddr {
        name: node.name.clone(),
        ip: node.ip,
    }
}

/// How a container runs `cmd`, logging to [`LOG_PATH`].
fn service_spec(cmd: ServiceCommand) -> ServiceSpec {
    let env = cmd.env.into_iter().map(|(k, v)| format!("{k}={v}"));
    ServiceSpec {
        argv: cmd.argv,
        env: env.collect(),
        process_name: cmd.process_name,
        log_path: LOG_PATH.to_string(),
    }
}

async fn engine_or_skip(test: &str) -> Option<Engine> {
    match Engine::connect(EngineOptions::default()).await {
        Ok(engine) => Some(engine),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: a Docker engine is required when CI=true: {e}")
        }
        Err(e) => {
            eprintln!(
                "\n*** SKIPPED {test}: no Docker engine ({e}); with CI=true this fails ***\n"
            );
            None
        }
    }
}

struct EtcdCluster {
    cluster: Cluster,
    target: EtcdTarget,
    nodes: Vec<NodeAddr>,
}

impl EtcdCluster {
    /// Three members in containers, the clock tools installed, etcd started
    /// as the target starts it (no preload: it is Go).
    async fn deploy(engine: &Engine, name: &str) -> EtcdCluster {
        let packages = EtcdTarget::new(WriteMode::Unguarded).packages();
        let image = images::ensure_with(engine, &packages, |line| eprintln!("[image] {line}"))
            .await
            .expect("failed to get the base image");
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis();
        let cluster = Cluster::create(
            engine,
            ClusterSpec {
                run_id: format!("test-clock-etcd-{name}-{}-{stamp}", std::process::id()),
                nodes: 3,
                image: image.reference,
                ..ClusterSpec::default()
            },
        )
        .await
        .expect("failed to create the cluster");
        let nodes: Vec<NodeAddr> = cluster.nodes().iter().map(node_addr).collect();
        let target = EtcdTarget::new(WriteMode::Fenced);
        for node in &nodes {
            clock::install(&cluster, &node.name)
                .await
                .expect("failed to install the clock tools");
            let spec = service_spec(target.service(node, &nodes));
            cluster
                .start_service(&node.name, &spec)
                .await
                .expect("failed to start etcd");
        }
        let etcd = EtcdCluster {
            cluster,
            target,
            nodes,
        };
        etcd.wait_ready().await;
        etcd
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        for node in &self.nodes {
            loop {
                match self.target.probe(node, PROBE_TIMEOUT).await {
                    Ok(()) => break,
                    Err(e) if Instant::now() > deadline => {
                        panic!("{} not ready after {READY_TIMEOUT:?}: {e}", node.name)
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        }
    }

    fn node(&self, name: &str) -> &NodeAddr {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .expect("known node")
    }

    async fn etcd_pid(&self, node: &str) -> u32 {
        let clocks = clock::service_clocks(&self.cluster, node)
            .await
            .expect("failed to inspect the service");
        assert!(
            clocks.len() == 1 && clocks[0].1 == ProcessClock::Go,
            "one Go process on {node}: {clocks:?}"
        );
        clocks[0].0
    }

    async fn leader(&self) -> String {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let primaries = self.target.primaries(&self.nodes, PROBE_TIMEOUT).await;
            if let [one] = primaries.as_slice() {
                return one.clone();
            }
            assert!(Instant::now() < deadline, "no single leader: {primaries:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn client(&self, node: &str) -> Etcd {
        let ip = self.node(node).ip;
        Etcd::connect(
            [format!("http://{ip}:{CLIENT_PORT}")],
            Some(
                ConnectOptions::new()
                    .with_connect_timeout(REQUEST_TIMEOUT)
                    .with_timeout(REQUEST_TIMEOUT),
            ),
        )
        .await
        .expect("failed to connect to etcd")
    }

    async fn log(&self, node: &str) -> String {
        let bytes = self
            .cluster
            .get_file(node, LOG_PATH)
            .await
            .expect("failed to read the etcd log")
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn real_unix_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// The member's own idea of wall time: the `Date` header Go's net/http
/// writes from `time.Now()` on every response.
async fn member_wall_s(ip: Ipv4Addr) -> i64 {
    let mut stream = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect((ip, CLIENT_PORT)))
        .await
        .expect("connect timed out")
        .expect("failed to connect");
    stream
        .write_all(b"GET /version HTTP/1.0\r\nHost: etcd\r\n\r\n")
        .await
        .expect("failed to send");
    let mut response = Vec::new();
    tokio::time::timeout(REQUEST_TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("response timed out")
        .expect("failed to read");
    let text = String::from_utf8_lossy(&response);
    let date = text
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .unwrap_or_else(|| panic!("no Date header in {text:?}"));
    parse_http_date(date.trim())
}

/// "Thu, 26 Nov 2026 11:40:00 GMT" as Unix seconds.
fn parse_http_date(date: &str) -> i64 {
    let parts: Vec<&str> = date.split_whitespace().collect();
    assert_eq!(parts.len(), 6, "unexpected Date {date:?}");
    let day: i64 = parts[1].parse().expect("day");
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .expect("month") as i64
        + 1;
    let year: i64 = parts[3].parse().expect("year");
    let hms: Vec<i64> = parts[4]
        .split(':')
        .map(|x| x.parse().expect("time of day"))
        .collect();
    days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

async fn assert_member_offset(etcd: &EtcdCluster, node: &str, offset_s: i64, what: &str) {
    let before = real_unix_s();
    let seen = member_wall_s(etcd.node(node).ip).await;
    let after = real_unix_s();
    assert!(
        seen - offset_s >= before - DATE_SLACK_S && seen - offset_s <= after + DATE_SLACK_S,
        "{what}: {node} says {seen}, expected real [{before}, {after}] + {offset_s} s"
    );
}

/// Unix seconds of the `ts` of the last zap log line, e.g.
/// `{"level":"info","ts":"2026-11-26T11:40:00.123Z",...}`.
fn last_log_ts(log: &str) -> Option<i64> {
    let line = log.lines().rev().find(|l| l.contains("\"ts\":\""))?;
    let ts = line.split("\"ts\":\"").nth(1)?.split('"').next()?;
    let (date, time) = ts.split_once('T')?;
    let ymd: Vec<i64> = date.split('-').filter_map(|x| x.parse().ok()).collect();
    let hms: Vec<i64> = time
        .trim_end_matches('Z')
        .split(['.', ':', '+', 'Z'])
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    if ymd.len() != 3 || hms.len() != 3 {
        return None;
    }
    Some(days_from_civil(ymd[0], ymd[1], ymd[2]) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// Makes `node` write a log line now: a defragment is logged by the member
/// that runs it.
async fn fresh_log_ts(etcd: &EtcdCluster, node: &str) -> i64 {
    let mut client = etcd.client(node).await;
    client.defragment().await.expect("defragment failed");
    let log = etcd.log(node).await;
    last_log_ts(&log).unwrap_or_else(|| panic!("no zap log line on {node}: {log}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bump_on_one_etcd_member_shows_in_its_own_clock_only_and_heal_restores_its_vdso() {
    let Some(engine) = engine_or_skip("a_bump_on_one_etcd_member").await else {
        return;
    };
    let etcd = EtcdCluster::deploy(&engine, "bump").await;
    let pid = etcd.etcd_pid("n2").await;
    let pristine = clock::vdso_bytes(&etcd.cluster, "n2", None)
        .await
        .expect("show self failed");
    assert_eq!(
        clock::vdso_bytes(&etcd.cluster, "n2", Some(pid))
            .await
            .expect("show failed"),
        pristine,
        "etcd's vDSO before the fault"
    );
    for node in ["n1", "n2", "n3"] {
        assert_member_offset(&etcd, node, 0, "before the bump").await;
    }

    let started = Instant::now();
    let outcome = clock::bump(&etcd.cluster, "n2", 60_000)
        .await
        .expect("bump failed");
    eprintln!(
        "bump with a first patch took {} ms (ps, clockinject, clockctl: three docker execs)",
        started.elapsed().as_millis()
    );
    assert_eq!(outcome.processes.len(), 1, "{outcome:?}");
    assert_eq!(outcome.processes[0].pid, pid);
    assert_eq!(outcome.processes[0].mechanism, Mechanism::VdsoPatch);
    assert_member_offset(&etcd, "n2", 60, "n2 after +60 s").await;
    assert_member_offset(&etcd, "n1", 0, "n1 after n2's bump").await;
    assert_member_offset(&etcd, "n3", 0, "n3 after n2's bump").await;
    let now = real_unix_s();
    let n2_log = fresh_log_ts(&etcd, "n2").await;
    let n1_log = fresh_log_ts(&etcd, "n1").await;
    assert!(
        (n2_log - now - 60).abs() <= DATE_SLACK_S,
        "n2 logged at {n2_log}, real time is {now}: its log lines carry the +60 s"
    );
    assert!(
        (n1_log - now).abs() <= DATE_SLACK_S,
        "n1 logged at {n1_log}, real time is {now}"
    );
    // Raft kept working: a linearizable read through every member.
    etcd.wait_ready().await;

    let started = Instant::now();
    let healed = clock::heal(&etcd.cluster, "n2").await.expect("heal failed");
    eprintln!(
        "heal with a restore took {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(healed.restored, vec![pid], "{healed:?}");
    let after = clock::vdso_bytes(&etcd.cluster, "n2", Some(pid))
        .await
        .expect("show failed");
    assert_eq!(after, pristine, "heal wrote the original bytes back");
    assert_member_offset(&etcd, "n2", 0, "n2 after the heal").await;

    // Killed and restarted while a bump is in force: patched again.
    clock::bump(&etcd.cluster, "n2", 60_000)
        .await
        .expect("bump failed");
    etcd.cluster
        .restart_service("n2")
        .await
        .expect("restart failed");
    let reached = clock::reapply(&etcd.cluster, "n2")
        .await
        .expect("reapply failed");
    assert!(
        reached.len() == 1 && reached[0].newly_patched && reached[0].pid != pid,
        "the new etcd process was patched: {reached:?}"
    );
    etcd.wait_ready().await;
    assert_member_offset(&etcd, "n2", 60, "n2 restarted under the bump").await;
    clock::heal(&etcd.cluster, "n2").await.expect("heal failed");

    etcd.cluster.teardown(None).await.expect("teardown failed");
}

/// Real seconds from the grant until the lease is gone, polling its TTL
/// through `via`, keeping it alive through `via` every `keep_alive` if given;
/// `None` if it still lives after `watch`.
async fn lease_life_s(
    etcd: &EtcdCluster,
    via: &str,
    keep_alive: Option<Duration>,
    watch: Duration,
) -> Option<f64> {
    let mut client = etcd.client(via).await;
    let lease = client
        .lease_grant(LEASE_TTL_S, None)
        .await
        .expect("lease grant failed")
        .id();
    let granted = Instant::now();
    let (mut keeper, mut stream) = client
        .lease_keep_alive(lease)
        .await
        .expect("keep-alive stream failed");
    let mut next_keep_alive = keep_alive.map(|k| granted + k);
    loop {
        let ttl = client
            .lease_time_to_live(lease, None)
            .await
            .expect("time-to-live failed")
            .ttl();
        if ttl < 0 {
            return Some(granted.elapsed().as_secs_f64());
        }
        if granted.elapsed() > watch {
            let _ = client.lease_revoke(lease).await;
            return None;
        }
        if let Some(at) = next_keep_alive {
            if Instant::now() >= at {
                keeper.keep_alive().await.expect("keep-alive failed");
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, stream.message()).await;
                next_keep_alive = keep_alive.map(|k| Instant::now() + k);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2x_leader_clock_expires_a_4_s_lease_kept_through_a_follower_in_about_2_s() {
    let Some(engine) = engine_or_skip("a_2x_leader_clock_expires_a_lease").await else {
        return;
    };
    let etcd = EtcdCluster::deploy(&engine, "lease").await;
    let leader = etcd.leader().await;
    let follower = etcd
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .find(|n| *n != leader)
        .expect("a follower");

    // Real clocks: a lease nobody keeps alive lives its 4 s (the leader's
    // expiry loop runs every 500 ms), and one kept alive every 3 s lives on.
    let plain = lease_life_s(&etcd, &follower, None, WATCH).await;
    eprintln!("4 s lease, real clocks: gone after {plain:.2?} s");
    assert!(
        plain.is_some_and(|s| (3.5..6.0).contains(&s)),
        "with real clocks a 4 s lease lived {plain:.2?} s"
    );
    let kept_real = lease_life_s(&etcd, &follower, Some(KEEP_ALIVE), Duration::from_secs(10)).await;
    assert_eq!(
        kept_real, None,
        "with real clocks a lease kept alive every 3 s must live on"
    );

    let outcome = clock::rate(&etcd.cluster, &leader, 2.0)
        .await
        .expect("rate failed");
    assert_eq!(outcome.processes[0].mechanism, Mechanism::VdsoPatch);
    // Leadership may move when the leader's clock changes; measure against
    // whoever leads now, and only if the fast clock is still the leader's.
    let fast = lease_life_s(&etcd, &follower, None, WATCH).await;
    eprintln!("4 s lease, leader at 2x: gone after {fast:.2?} s");
    assert_eq!(
        etcd.leader().await,
        leader,
        "leadership moved during the measurement"
    );
    assert!(
        fast.is_some_and(|s| s < 3.2),
        "at 2x on the leader a 4 s lease lived {fast:.2?} s of real time (expected about 2)"
    );
    // Kept alive through the follower every 3 s, less than the TTL in real
    // time: the leader's fast clock still lets it lapse between two.
    let kept = lease_life_s(&etcd, &follower, Some(KEEP_ALIVE), WATCH).await;
    eprintln!("4 s lease kept alive every 3 s, leader at 2x: gone after {kept:.2?} s");
    assert!(
        kept.is_some_and(|s| s < 3.2),
        "a lease kept alive every 3 s lived {kept:.2?} s"
    );

    let healed = clock::heal(&etcd.cluster, &leader)
        .await
        .expect("heal failed");
    assert!(
        healed
            .kept
            .iter()
            .any(|(_, ahead_ns)| *ahead_ns > 1_000_000_000),
        "the leader's monotonic clock is seconds ahead, so its patch is kept: {healed:?}"
    );
    // After the heal the lease lives its full TTL again.
    let healed_life = lease_life_s(&etcd, &follower, None, WATCH).await;
    assert!(
        healed_life.is_some_and(|s| (3.5..6.0).contains(&s)),
        "after the heal a 4 s lease lived {healed_life:.2?} s"
    );
    etcd.cluster.teardown(None).await.expect("teardown failed");
}
