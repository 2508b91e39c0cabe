//! The reference service as its example manifest
//! (`examples/reference-service.toml`) describes it, started on loopback
//! through the adapter target and driven by the target's own clients: the
//! conformance suite (`splitbrain_testkit::suite`), and what only a service
//! run from a manifest shows.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::adapter::AdapterTarget;
use splitbrain_targets::client::{ClientConfig, HistoryClock};
use splitbrain_targets::etcd::WriteMode;
use splitbrain_targets::manifest::Manifest;
use splitbrain_targets::target::Target;
use splitbrain_testkit::bed::{Contention, Profile, TestBed};
use splitbrain_testkit::cluster::{ClusterSpec, LocalCluster};
use splitbrain_testkit::loopback::{self, Readiness};
use splitbrain_testkit::ops::{completion, inv, ok, write_k};

/// The binary cargo built for this test, whatever the profile.
const BINARY: &str = env!("CARGO_BIN_EXE_splitbrain-lockservice");

const READY: Readiness = Readiness {
    timeout: Duration::from_secs(10),
    poll: Duration::from_millis(20),
};

/// The reference service in mode `safe`.
struct ReferenceBed;

/// The example manifest, naming the binary this test has and a port free
/// on every node (7000 may be taken on this host).
fn example_manifest(nodes: &[splitbrain_targets::target::NodeAddr]) -> Manifest {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-service.toml");
    let text = std::fs::read_to_string(&example).expect("read the example manifest");
    let text = text.replace("../target/release/splitbrain-lockservice", BINARY);
    let base = example.parent().expect("examples dir");
    let mut manifest = Manifest::from_str_at(&text, &example, base).expect("the example parses");
    manifest.port = loopback::free_port(nodes);
    manifest
}

impl TestBed for ReferenceBed {
    type Service = AdapterTarget;
    const NAME: &'static str = "reference service (safe)";

    fn profile() -> Profile {
        Profile {
            nodes: 1,
            // A grant may wait 3.5 s at the service: past the 1 s a lease
            // stays held there.
            config: ClientConfig {
                lease_ms: 250,
                request_timeout_ms: 500,
                acquire_timeout_ms: 4000,
                connect_timeout_ms: 500,
            },
            contention: Contention::Queues,
            tokens: true,
            grant_node: "n1",
            // `safe` holds a lease 4 times as long on its own clock, so
            // that a clock running up to 4 times fast cannot end it early.
            held_at_most: Duration::from_millis(1100),
            late_renewal_says: None,
            late_release: OpType::Fail,
            paused_acquire: OpType::Info,
            gave_up: OpType::Fail,
            write_to_killed: OpType::Fail,
            durable: true,
            builds_clients_while_down: true,
        }
    }

    async fn start(nodes: u8, write_mode: WriteMode) -> LocalCluster<AdapterTarget> {
        LocalCluster::start(ClusterSpec::new(
            loopback::nodes(nodes),
            READY,
            "the reference service (cargo builds it for this test)",
            |nodes, dir| {
                AdapterTarget::new(example_manifest(nodes))
                    .with_write_mode(write_mode)
                    .with_data_root(dir)
            },
        ))
        .await
    }
}

splitbrain_testkit::conformance!(ReferenceBed { lacks: [] });

/// A client that does not wait at the service: a held lock is refused at once.
fn no_wait(lease_ms: u64, request_timeout_ms: u64) -> ClientConfig {
    ClientConfig {
        lease_ms,
        request_timeout_ms,
        acquire_timeout_ms: request_timeout_ms,
        connect_timeout_ms: 500,
    }
}

/// Three nodes from the example manifest: n1 is primary; processes on n2
/// and n3 are relayed to it; the election works as the lock does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_service_runs_from_its_manifest() {
    let bed = ReferenceBed::start(3, WriteMode::Fenced).await;
    let (target, nodes) = (&bed.target, &bed.nodes);
    // What the harness's upload does: the node path names the host file.
    let uploads = target.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].host_path, Path::new(BINARY));
    for node in nodes {
        assert_eq!(target.service(node, nodes).argv[0], uploads[0].node_path);
    }
    let primaries = target
        .as_primaries()
        .expect("the protocol reports roles")
        .primaries(nodes, Duration::from_secs(1))
        .await;
    assert_eq!(primaries, vec!["n1"]);

    let clock = HistoryClock::start();
    let cfg = no_wait(2000, 2000);
    // Processes 1 and 2 land on n2 and n3, which relay to n1.
    let mut p1 = bed.client(1, &cfg).await;
    let mut p2 = bed.client(2, &cfg).await;
    let before = clock.now_ns();
    let grant = ok(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(grant.node.as_deref(), Some("n2"));
    let token = grant.token;
    assert!(grant.valid_until.expect("a lease bound") >= before + 2_000_000_000);
    let refused = completion(p2.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    ok(p1.as_mut(), &clock, inv(F::Read, "k", token, None)).await;
    ok(p1.as_mut(), &clock, write_k(token, 7)).await;
    ok(p1.as_mut(), &clock, inv(F::Renew, "k", token, None)).await;
    ok(p1.as_mut(), &clock, inv(F::Release, "k", token, None)).await;
    let read = completion(p2.as_mut(), &clock, inv(F::Read, "k", None, None)).await;
    assert_eq!(read.value, Some(json!([7])));

    let won = ok(
        p2.as_mut(),
        &clock,
        inv(F::Campaign, "e", None, Some(json!(2))),
    )
    .await;
    let seen = completion(p1.as_mut(), &clock, inv(F::Observe, "e", None, None)).await;
    assert_eq!(seen.value, Some(json!(2)));
    assert_eq!(seen.token, won.token);
    ok(p2.as_mut(), &clock, inv(F::Resign, "e", won.token, None)).await;
    let empty = ok(p1.as_mut(), &clock, inv(F::Observe, "e", None, None)).await;
    assert_eq!(empty.value, None);
}

/// A node that cannot reach the primary relays nothing: `fail`, since
/// nothing was sent, with the service's 503 in the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_to_a_dead_primary_is_fail() {
    let mut bed = ReferenceBed::start(2, WriteMode::Fenced).await;
    bed.kill(0);
    let clock = HistoryClock::start();
    let cfg = no_wait(1000, 2000);
    // Process 1 talks to n2.
    let mut p1 = bed.client(1, &cfg).await;
    let refused = completion(p1.as_mut(), &clock, inv(F::Acquire, "k", None, None)).await;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    assert!(
        refused.error.as_deref().unwrap_or("").contains("503"),
        "{refused:?}"
    );
}
