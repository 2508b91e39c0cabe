//! The reference service started only from its manifest
//! (`examples/reference-service.toml`) on loopback addresses, probed, and
//! driven through the target's own clients.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::adapter::AdapterTarget;
use splitbrain_targets::client::{ClientConfig, Completion, HistoryClock, Invocation};
use splitbrain_targets::manifest::Manifest;
use splitbrain_targets::target::{NodeAddr, Target};
use support::{config, free_port, loopback_ips, Node, BINARY};

fn inv(f: F, key: &str, token: Option<u64>, value: Option<serde_json::Value>) -> Invocation {
    Invocation {
        f,
        key: key.to_string(),
        token,
        value,
    }
}

fn assert_ok(c: &Completion) {
    assert_eq!(c.kind, OpType::Ok, "{c:?}");
}

/// One node of the reference service in mode `safe`, from a manifest
/// written here, started on loopback block `block` and ready.
struct OneNode {
    target: AdapterTarget,
    nodes: Vec<NodeAddr>,
    node: Node,
    _dir: tempfile::TempDir,
}

async fn one_safe_node(block: u8) -> OneNode {
    let ips = loopback_ips(block, 1);
    let port = free_port(&ips);
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        r#"
name = "one"
protocol = 1
binary = "{BINARY}"
command = ["{{binary}}", "--mode", "safe", "--node", "{{node}}", "--listen", "{{ip}}:{{port}}", "--data-dir", "{{data_dir}}"]
process_name = "splitbrain-lockservice"
port = {port}
data_dir = "/unused"
faults = ["kill"]
"#
    );
    let path = dir.path().join("one.toml");
    std::fs::write(&path, text).expect("write manifest");
    let target = AdapterTarget::from_manifest_file(&path)
        .expect("manifest")
        .with_data_root(dir.path());
    let nodes = vec![NodeAddr {
        name: "n1".into(),
        ip: ips[0],
    }];
    let cmd = target.service(&nodes[0], &nodes);
    let mut argv = cmd.argv;
    argv[0] = BINARY.to_string();
    let addr = format!("{}:{port}", ips[0]).parse().expect("address");
    let node = Node::start(argv, cmd.env, "n1", addr, dir.path().join("n1.log"));
    node.wait_ready().await;
    OneNode {
        target,
        nodes,
        node,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_service_runs_from_its_manifest() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reference-service.toml");
    let text = std::fs::read_to_string(&example).expect("read the example manifest");
    // The manifest names a release build; the test has the one cargo built for it.
    let text = text.replace("../target/release/splitbrain-lockservice", BINARY);
    let base = example.parent().expect("examples dir");
    let mut manifest = Manifest::from_str_at(&text, &example, base).expect("the example parses");
    let ips = loopback_ips(51, 3);
    // Port 7000 may be taken on this host; any port the manifest names works.
    manifest.port = free_port(&ips);
    let dir = tempfile::tempdir().expect("tempdir");
    let target = AdapterTarget::new(manifest).with_data_root(dir.path());
    let nodes: Vec<NodeAddr> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| NodeAddr {
            name: format!("n{}", i + 1),
            ip: *ip,
        })
        .collect();

    // What the harness's upload does: the node path names the host file.
    let uploads = target.uploads();
    assert_eq!(uploads.len(), 1);
    let mut running = Vec::new();
    for node in &nodes {
        let cmd = target.service(node, &nodes);
        assert_eq!(cmd.argv[0], uploads[0].node_path);
        let mut argv = cmd.argv.clone();
        argv[0] = uploads[0].host_path.display().to_string();
        let addr = format!("{}:{}", node.ip, target.manifest().port)
            .parse()
            .expect("address");
        let log = dir.path().join(format!("{}.log", node.name));
        running.push(Node::start(argv, cmd.env, &node.name, addr, log));
    }
    for node in &nodes {
        let mut ready = false;
        for _ in 0..100 {
            if target.probe(node, Duration::from_millis(500)).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "{} never became ready", node.name);
    }
    let primaries = target
        .as_primaries()
        .expect("the protocol reports roles")
        .primaries(&nodes, Duration::from_secs(1))
        .await;
    assert_eq!(primaries, vec!["n1"]);

    let clock = HistoryClock::start();
    let cfg = config(2000, 2000);
    // Processes 1 and 2 land on n2 and n3, which relay to n1.
    let mut p1 = target.client(&nodes, 1, &cfg).await.expect("client");
    let mut p2 = target.client(&nodes, 2, &cfg).await.expect("client");
    let before = clock.now_ns();
    let grant = p1.invoke(&inv(F::Acquire, "k", None, None), &clock).await;
    assert_ok(&grant);
    assert_eq!(grant.node.as_deref(), Some("n2"));
    let token = grant.token;
    assert!(grant.valid_until.expect("a lease bound") >= before + 2_000_000_000);
    let refused = p2.invoke(&inv(F::Acquire, "k", None, None), &clock).await;
    assert_eq!(refused.kind, OpType::Fail, "{refused:?}");
    assert_ok(&p1.invoke(&inv(F::Read, "k", token, None), &clock).await);
    assert_ok(
        &p1.invoke(&inv(F::Write, "k", token, Some(json!(7))), &clock)
            .await,
    );
    assert_ok(&p1.invoke(&inv(F::Renew, "k", token, None), &clock).await);
    assert_ok(&p1.invoke(&inv(F::Release, "k", token, None), &clock).await);
    let read = p2.invoke(&inv(F::Read, "k", None, None), &clock).await;
    assert_eq!(read.value, Some(json!([7])));

    let won = p2
        .invoke(&inv(F::Campaign, "e", None, Some(json!(2))), &clock)
        .await;
    assert_ok(&won);
    let seen = p1.invoke(&inv(F::Observe, "e", None, None), &clock).await;
    assert_eq!(seen.value, Some(json!(2)));
    assert_eq!(seen.token, won.token);
    assert_ok(
        &p2.invoke(&inv(F::Resign, "e", won.token, None), &clock)
            .await,
    );
    let empty = p1.invoke(&inv(F::Observe, "e", None, None), &clock).await;
    assert_ok(&empty);
    assert_eq!(empty.value, None);
    drop(running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_an_unreachable_probe_and_a_refused_request() {
    let OneNode {
        target,
        nodes,
        mut node,
        _dir,
    } = one_safe_node(52).await;
    target
        .probe(&nodes[0], Duration::from_secs(1))
        .await
        .expect("ready");
    node.kill9();
    let probe = target.probe(&nodes[0], Duration::from_millis(500)).await;
    assert!(probe.is_err(), "{probe:?}");
    let clock = HistoryClock::start();
    let mut p0 = target
        .client(&nodes, 0, &config(1000, 1000))
        .await
        .expect("client");
    // Connection refused: nothing was sent, so nothing happened.
    let c = p0.invoke(&inv(F::Acquire, "k", None, None), &clock).await;
    assert_eq!(c.kind, OpType::Fail, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_waited_longer_than_its_lease_counts_the_lease_from_a_renewal() {
    let OneNode {
        target,
        nodes,
        node: _node,
        _dir,
    } = one_safe_node(53).await;

    let clock = HistoryClock::start();
    let lease_ns = 1_000_000_000;
    let holder_cfg = config(1000, 1000);
    // The waiter may wait 2.5 s at the service for the holder to let go.
    let waiter_cfg = ClientConfig {
        acquire_timeout_ms: 3000,
        ..config(1000, 500)
    };
    let mut holder = target.client(&nodes, 0, &holder_cfg).await.expect("client");
    let mut waiter = target.client(&nodes, 1, &waiter_cfg).await.expect("client");
    let held = holder
        .invoke(&inv(F::Acquire, "k", None, None), &clock)
        .await;
    assert_ok(&held);

    // The holder renews once (inside its lease) and lets go 1.5 s in: the
    // waiter's grant comes back more than a lease after its request.
    let acquire = inv(F::Acquire, "k", None, None);
    let renew = inv(F::Renew, "k", held.token, None);
    let release = inv(F::Release, "k", held.token, None);
    let waited_from = clock.now_ns();
    let (waited, _) = tokio::join!(waiter.invoke(&acquire, &clock), async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_ok(&holder.invoke(&renew, &clock).await);
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_ok(&holder.invoke(&release, &clock).await);
    });
    let granted_at = clock.now_ns();
    assert_ok(&waited);
    assert!(
        granted_at - waited_from > lease_ns,
        "the grant came {} ms after the request, within the lease: the test proves nothing",
        (granted_at - waited_from) / 1_000_000
    );
    let until = waited.valid_until.expect("a lease bound");
    // Counted from the request, the bound would lie before the grant; a
    // renewal sent after the grant bounds it from there.
    assert!(
        until > granted_at && until <= granted_at + lease_ns,
        "valid_until {} ms after the grant, expected within (0, 1000]",
        (until - granted_at) / 1_000_000
    );
}
