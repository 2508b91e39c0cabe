//! The harness's own workload generators driving the adapter client against
//! a 3-node cluster on loopback, with a SIGKILL and restart of the serving
//! node halfway: `safe` stays valid under every workload, `volatile-tokens`
//! is caught regressing tokens.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use splitbrain_checkers::history::OpType;
use splitbrain_checkers::verdict::Validity;
use splitbrain_checkers::Report;
use splitbrain_targets::etcd::WriteMode;
use splitbrain_workloads::{ProcessGenerator, Step, WorkloadConfig, WorkloadKind};
use support::{anomaly_types, client, config, Cluster, ClusterSpec, Recorder};

const PROCESSES: u64 = 6;
const LEASE_MS: u64 = 500;
const RUN_MS: u64 = 4000;
const KILL_AT_MS: u64 = 1500;

/// Runs `kind` for [`RUN_MS`] with SIGKILL and restart of n1 at [`KILL_AT_MS`].
async fn run(mode: &str, kind: WorkloadKind, subnet: u8) -> Report {
    let mut cluster = Cluster::start(ClusterSpec {
        mode,
        n: 3,
        subnet,
        relayed: false,
        env: Vec::new(),
        extra_args: Vec::new(),
    })
    .await;
    let rec = Arc::new(Recorder::new());
    let write_mode = match kind {
        WorkloadKind::Append => WriteMode::Unguarded,
        _ => WriteMode::Fenced,
    };
    let cfg = config(LEASE_MS, 1000);
    let deadline = Instant::now() + Duration::from_millis(RUN_MS);
    let mut tasks = Vec::new();
    for process in 0..PROCESSES {
        let node = usize::try_from(process % 3).expect("small");
        let mut c = client(
            &cluster.endpoint(node),
            &format!("n{}", node + 1),
            process,
            &cfg,
            write_mode,
        );
        let rec = rec.clone();
        let mut gen = ProcessGenerator::new(WorkloadConfig::new(kind, LEASE_MS), 7, process);
        tasks.push(tokio::spawn(async move {
            let mut last = None;
            while Instant::now() < deadline {
                match gen.next(last.as_ref()) {
                    Step::Sleep(d) => {
                        tokio::time::sleep(d).await;
                        last = None;
                    }
                    Step::Invoke(inv) => {
                        let done = rec
                            .invoke(&mut c, process, inv.f, &inv.key, inv.token, inv.value)
                            .await;
                        if done.kind == OpType::Info {
                            // A process whose op ended info never invokes again.
                            return;
                        }
                        last = Some(done);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(KILL_AT_MS)).await;
    cluster.nodes[0].restart();
    for task in tasks {
        task.await.expect("process task");
    }
    if kind != WorkloadKind::Lock && kind != WorkloadKind::Election {
        // The final read, after every write completed; the restarted node
        // may still be coming up.
        let mut reader = client(&cluster.endpoint(0), "n1", PROCESSES, &cfg, write_mode);
        for _ in 0..50 {
            let read = rec
                .invoke(
                    &mut reader,
                    PROCESSES,
                    splitbrain_checkers::history::F::Read,
                    "default",
                    None,
                    None,
                )
                .await;
            if read.kind == OpType::Ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let report = rec.check();
    if std::env::var_os("SPLITBRAIN_KEEP_HISTORY").is_some() {
        let path = std::env::temp_dir().join(format!("lockservice-{mode}-{}.jsonl", kind.as_str()));
        std::fs::write(&path, rec.jsonl()).expect("write history");
        eprintln!("history: {}", path.display());
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_stays_valid_under_every_workload_across_a_kill() {
    for (kind, subnet) in [
        (WorkloadKind::Lock, 71),
        (WorkloadKind::Fenced, 72),
        (WorkloadKind::Append, 73),
        (WorkloadKind::Election, 74),
    ] {
        let report = run("safe", kind, subnet).await;
        assert_eq!(
            report.valid,
            Validity::Valid,
            "{kind:?}: {}",
            report.human_summary()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_tokens_regress_under_the_lock_workload_across_a_kill() {
    let report = run("volatile-tokens", WorkloadKind::Lock, 75).await;
    assert_eq!(
        report.valid,
        Validity::Invalid,
        "{}",
        report.human_summary()
    );
    assert!(
        anomaly_types(&report).contains(&"token-regression"),
        "{}",
        report.human_summary()
    );
}
