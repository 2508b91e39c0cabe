//! The run loop, in VOPR's order: the seed first, then a safety phase (ops
//! under faults), a heal, a liveness phase (a quiet window in which a grant
//! must succeed), final reads, teardown, and the check.
//!
//! ```text
//! seed │ deploy │ main: ops + fault schedule │ heal │ recovery │ final reads │ teardown │ check
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde_json::json;
use splitbrain_checkers::history::{OpType, F};
use splitbrain_checkers::verdict::{AnomalyType, Validity};
use splitbrain_docker::fault::clock::Mechanism;
use splitbrain_docker::{
    Cluster, ClusterGuard, ClusterSpec, DataDir, Engine, EngineOptions, ServiceSpec,
};
use splitbrain_targets::client::{ClientConfig, Invocation};
use splitbrain_targets::target::{ClockEntry, NodeAddr, Target};
use splitbrain_vocab::{FaultKind, Pins, Topology, Victims};
use splitbrain_workloads::{FaultSchedule, ScheduleConfig, WorkloadConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cmd_run::RunArgs;
use crate::exit::CommandError;
use crate::fault::FaultCtx;
use crate::nemesis::Nemesis;
use crate::progress::Progress;
use crate::recorder::Recorder;
use crate::store::{self, RunDir};
use crate::worker::{self, Clients};

/// Where the service writes its log inside a node (collected at teardown).
const SERVICE_LOG: &str = "/var/log/splitbrain/service.log";
/// Bound on a cluster becoming ready after its services start.
const READY_DEADLINE: Duration = Duration::from_secs(90);
/// Size of the data directory the disk fault fills: room for etcd's
/// preallocated 64 MiB WAL segments, small enough to fill in a second.
const DISK_FAULT_DIR_MB: u64 = 256;
/// Attempts at the final read of each resource before the run is unknown.
const FINAL_READ_ATTEMPTS: u32 = 10;

/// What a run concluded, for `run`'s exit code and for campaigns.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub valid: Validity,
    pub anomaly_types: BTreeSet<AnomalyType>,
    /// Why the verdict is not valid, when it is unknown.
    pub reason: Option<String>,
    pub run_dir: PathBuf,
    pub seed: u64,
    /// The human summary printed at the end of the run.
    pub summary: String,
    /// Ctrl-C cut the schedule or the recovery window short: the verdict
    /// covers only what ran.
    pub interrupted: bool,
}

/// A token cancelled by the first Ctrl-C (or SIGTERM). A run given it ends
/// its current phase early and still heals, tears down and checks what it
/// recorded; a campaign holds one for all its runs, so that it also stops
/// starting new ones.
pub fn interrupt_token() -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        if splitbrain_docker::shutdown_signal().await.is_ok() {
            eprintln!("interrupted: healing, tearing down and checking what was recorded");
            token.cancel();
        }
    });
    cancel
}

/// One run, ended early when `cancel` is cancelled (see [`interrupt_token`]).
pub async fn run(args: RunArgs, cancel: &CancellationToken) -> Result<RunOutcome, CommandError> {
    let command_started = Instant::now();
    let seed = args.seed.unwrap_or_else(rand::random);
    println!("seed: {seed}  (reproduce the schedule with --seed {seed})");
    let target = match &args.target_file {
        Some(path) => crate::target_registry::from_manifest(
            path,
            args.service_binary.as_deref(),
            args.workload,
        ),
        None => {
            crate::target_registry::resolve(&args.target, args.workload, args.redis_persistence)
        }
    }
    .map_err(|e| CommandError::BadInput(anyhow!(e)))?;
    let wants_primaries =
        args.victims == Some(Victims::Primaries) || args.topology == Some(Topology::Primaries);
    if wants_primaries && target.as_primaries().is_none() {
        return Err(CommandError::BadInput(anyhow!(
            "target {} cannot name its primaries, so faults cannot be aimed at them",
            target.name()
        )));
    }
    let run_dir = RunDir::create(&args.results_dir, target.name(), args.workload.as_str())
        .map_err(CommandError::BadInput)?;
    crate::logging::to_file(&run_dir.file(store::HARNESS_LOG))?;
    println!("run directory: {}", run_dir.path.display());
    tracing::info!(seed, ?args, "starting run");

    // Names containers and the network and labels them for cleanup. Two
    // runs may start in the same second (in different result stores), so
    // the id carries a random suffix besides the run directory's stamp.
    let stamp = run_dir
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let run_id = format!(
        "{}-{stamp}-{:06x}",
        target.name(),
        rand::random::<u32>() & 0xff_ffff
    )
    .chars()
    .map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '-'
        }
    })
    .collect::<String>();
    let mut meta = json!({
        "config": &args,
        "seed": seed,
        "run_id": run_id,
        "harness": {
            "version": env!("CARGO_PKG_VERSION"),
            "git_revision": env!("SPLITBRAIN_GIT_REVISION"),
        },
    });
    run_dir.write_json(store::RUN_FILE, &meta)?;

    let engine_options = EngineOptions::default();
    let engine = Engine::connect(engine_options.clone())
        .await
        .context("failed to connect to the Docker engine")?;
    let image = match &args.image {
        Some(image) => image.clone(),
        None => {
            // A cold build takes a minute: Ctrl-C must not wait for it
            // (dropping the build kills mmdebstrap).
            let packages = target.packages();
            let build = splitbrain_docker::images::ensure_with(&engine, &packages, |line| {
                tracing::info!("image: {line}");
                eprintln!("image: {line}");
            });
            let built = tokio::select! {
                r = build => r.context("failed to prepare the base image")?,
                _ = cancel.cancelled() => {
                    return Err(anyhow!("interrupted while preparing the base image").into())
                }
            };
            built.reference
        }
    };
    meta["image"] = json!(image);

    let mut guard = ClusterGuard::new(run_id.clone(), engine_options);
    let outcome = {
        let deployed = tokio::select! {
            r = deploy(&engine, &args, &run_id, &image, target.as_ref()) => r,
            _ = cancel.cancelled() => Err(anyhow!("interrupted while deploying")),
        };
        match deployed {
            Err(e) => Err(e),
            Ok((cluster, nodes)) => {
                meta["clock_faults"] = if clock_skew_enabled(&args, target.as_ref()) {
                    let planned = clock_mechanism(target.as_ref());
                    json!({
                        "state_file": splitbrain_docker::fault::clock::STATE_PATH,
                        "writer": "clockctl",
                        "planned": nodes.iter().map(|n| (n.name.clone(), json!(planned))).collect::<serde_json::Map<_, _>>(),
                    })
                } else if args.nemesis.includes(FaultKind::Clock) {
                    json!({ "planned": null, "refused": target.fault(FaultKind::Clock).refusal().unwrap_or_else(|| "the target does not support clock faults".to_string()) })
                } else {
                    json!(null)
                };
                meta["target"] = json!({
                    "name": target.name(),
                    "token_note": target.token_note(),
                    "version": target_version(&cluster, target.as_ref()).await,
                    "nodes": nodes.iter().map(|n| json!({"name": n.name, "ip": n.ip.to_string()})).collect::<Vec<_>>(),
                });
                run_dir.write_json(store::RUN_FILE, &meta)?;
                meta["timings"] =
                    json!({ "deploy_done_ms": command_started.elapsed().as_millis() as u64 });
                let cluster = Arc::new(cluster);
                let phases = phases(
                    &args,
                    seed,
                    target.clone(),
                    cluster.clone(),
                    nodes,
                    &run_dir,
                    &mut meta,
                    cancel,
                    command_started,
                )
                .await;
                let cluster = Arc::try_unwrap(cluster)
                    .map_err(|_| anyhow!("the cluster is still in use at teardown"))?;
                let teardown = cluster.teardown(Some(&run_dir.nodes_dir())).await;
                match teardown {
                    Ok(_) => guard.disarm(),
                    Err(e) => tracing::error!(
                        "failed to tear down cleanly: {e}; the guard removes what is left"
                    ),
                }
                phases
            }
        }
    };
    drop(guard);
    run_dir.write_json(store::RUN_FILE, &meta)?;
    let liveness = outcome?;
    check_and_report(&run_dir, liveness, seed)
}

async fn deploy(
    engine: &Engine,
    args: &RunArgs,
    run_id: &str,
    image: &str,
    target: &dyn Target,
) -> anyhow::Result<(Cluster, Vec<NodeAddr>)> {
    let started = Instant::now();
    let cluster = Cluster::create(
        engine,
        ClusterSpec {
            run_id: run_id.to_string(),
            nodes: args.node_count() as usize,
            image: image.to_string(),
            data_dir: disk_data_dir(args, target),
            ..ClusterSpec::default()
        },
    )
    .await
    .context("failed to create the cluster")?;
    let nodes: Vec<NodeAddr> = cluster
        .nodes()
        .iter()
        .map(|n| NodeAddr {
            name: n.name.clone(),
            ip: n.ip,
        })
        .collect();
    for upload in target.uploads() {
        let bytes = std::fs::read(&upload.host_path).with_context(|| {
            format!(
                "failed to read {} to upload into the nodes",
                upload.host_path.display()
            )
        })?;
        for node in &nodes {
            cluster
                .put_file(&node.name, &upload.node_path, &bytes, upload.mode)
                .await
                .with_context(|| {
                    format!("failed to upload {} to {}", upload.node_path, node.name)
                })?;
        }
    }
    let clock = clock_skew_enabled(args, target);
    for node in &nodes {
        let mut spec = service_spec(target, node, &nodes);
        if clock {
            splitbrain_docker::fault::clock::install(&cluster, &node.name)
                .await
                .with_context(|| format!("failed to install the clock shim on {}", node.name))?;
            if clock_mechanism(target) == Mechanism::Preload.as_str() {
                splitbrain_docker::fault::clock::add_preload(&mut spec);
            }
        }
        cluster
            .start_service(&node.name, &spec)
            .await
            .with_context(|| format!("failed to start the service on {}", node.name))?;
    }
    let deadline = Instant::now() + READY_DEADLINE;
    for node in &nodes {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match target.probe(node, left.min(Duration::from_secs(2))).await {
                Ok(()) => break,
                Err(e) if Instant::now() >= deadline => {
                    return Err(anyhow!(
                        "{} was not ready within {} s: {e}",
                        node.name,
                        READY_DEADLINE.as_secs()
                    ))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    tracing::info!("cluster ready in {} ms", started.elapsed().as_millis());
    Ok((cluster, nodes))
}

/// Whether nodes start under the clock shim: only when a clock fault is
/// scheduled and the target reads time where the shim can reach it.
pub fn clock_skew_enabled(args: &RunArgs, target: &dyn Target) -> bool {
    args.nemesis.includes(FaultKind::Clock) && target.fault(FaultKind::Clock).applies()
}

/// The size-limited data directory the disk fault fills, mounted only when
/// a disk fault is scheduled on a target that keeps data there.
fn disk_data_dir(args: &RunArgs, target: &dyn Target) -> Option<DataDir> {
    let applies = target.fault(FaultKind::Disk).applies();
    if !(args.nemesis.includes(FaultKind::Disk) && applies) {
        return None;
    }
    let path = target.data_dir()?;
    Some(DataDir {
        path,
        size_mb: DISK_FAULT_DIR_MB,
    })
}

/// How the target's service is meant to read its skewed clock: under the
/// preload shim, or through its patched vDSO. A preloaded service whose
/// process turns out not to load the shim is patched too; run.json's
/// `clock_faults.applied` says what actually happened.
fn clock_mechanism(target: &dyn Target) -> &'static str {
    match target.clock_entry() {
        ClockEntry::Preload => Mechanism::Preload.as_str(),
        ClockEntry::VdsoPatch => Mechanism::VdsoPatch.as_str(),
    }
}

pub fn service_spec(target: &dyn Target, node: &NodeAddr, nodes: &[NodeAddr]) -> ServiceSpec {
    let cmd = target.service(node, nodes);
    ServiceSpec {
        argv: cmd.argv,
        env: cmd
            .env
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        process_name: cmd.process_name,
        log_path: SERVICE_LOG.to_string(),
    }
}

async fn target_version(cluster: &Cluster, target: &dyn Target) -> String {
    let Some(node) = cluster.nodes().first() else {
        return "unknown".into();
    };
    match cluster
        .exec(
            &node.name,
            &target.version_command(),
            Duration::from_secs(10),
        )
        .await
    {
        Ok(out) if out.success() => out.stdout.trim().to_string(),
        Ok(out) => format!("unknown ({})", out.stderr.trim()),
        Err(e) => format!("unknown ({e})"),
    }
}

/// What the liveness phase saw.
struct Liveness {
    /// Grants that succeeded in the recovery window after the final heal.
    grants_after_heal: u64,
    interrupted: bool,
    final_reads_missing: Vec<String>,
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
async fn phases(
    args: &RunArgs,
    seed: u64,
    target: Arc<dyn Target>,
    cluster: Arc<Cluster>,
    nodes: Vec<NodeAddr>,
    run_dir: &RunDir,
    meta: &mut serde_json::Value,
    cancel: &CancellationToken,
    command_started: Instant,
) -> anyhow::Result<Liveness> {
    let clock = splitbrain_targets::client::HistoryClock::start();
    // Time to the first op: the history clock starts as the workers do.
    meta["timings"]["history_start_ms"] = json!(command_started.elapsed().as_millis() as u64);
    let recorder = Arc::new(Recorder::create(&run_dir.file(store::HISTORY_FILE), clock)?);
    let mut workload = WorkloadConfig::new(args.workload, args.lease_ms);
    workload.keys = (0..args.keys).map(|k| format!("k{k}")).collect();
    if let Some((min, max)) = args.hold_ms {
        workload.hold_min_ms = min;
        workload.hold_max_ms = max;
    }
    let schedule = FaultSchedule::generate(&ScheduleConfig {
        faults: args.nemesis.0.clone(),
        interval_ms: args.nemesis_interval_s * 1000,
        duration_ms: args.time_limit_s * 1000,
        lease_ms: args.lease_ms,
        nodes: nodes.len(),
        primaries_available: target.as_primaries().is_some(),
        pins: Pins {
            victims: args.victims,
            topology: args.topology,
            clock: args.clock,
        },
        seed,
    });
    meta["schedule"] = serde_json::to_value(&schedule)?;
    run_dir.write_json(store::RUN_FILE, meta)?;

    let client_cfg = ClientConfig {
        lease_ms: args.lease_ms,
        request_timeout_ms: args.request_timeout_ms,
        acquire_timeout_ms: args.acquire_timeout_ms,
        connect_timeout_ms: args.request_timeout_ms,
    };
    let clients = Arc::new(Clients::new(
        worker::Setup {
            target: target.clone(),
            nodes: nodes.clone(),
            client_cfg,
            workload: workload.clone(),
            seed,
            concurrency: args.concurrency,
            rate_per_s: args.rate_per_s,
            max_ops: args.max_ops,
        },
        recorder.clone(),
    ));
    let mut nemesis = Nemesis::new(
        FaultCtx {
            clock_installed: clock_skew_enabled(args, target.as_ref()),
            clock_applied: Default::default(),
            cluster: cluster.clone(),
            target: target.clone(),
            nodes: nodes.clone(),
            clients: clients.clone(),
        },
        recorder.clone(),
    );

    let main = Duration::from_secs(args.time_limit_s);
    let recovery = Duration::from_secs(args.recovery_s);
    let progress = Progress::start(main + recovery, recorder.clone());
    let workers: Vec<_> = (0..args.concurrency)
        .map(|slot| tokio::spawn(worker::run_slot(clients.clone(), slot)))
        .collect();

    let started = Instant::now();
    let mut interrupted = false;
    // Safety phase: the fault schedule runs against live clients.
    for fault in &schedule.faults {
        for (at, start) in [(fault.start_ms, true), (fault.stop_ms, false)] {
            let when = started + Duration::from_millis(at);
            tokio::select! {
                _ = tokio::time::sleep_until(when) => {}
                _ = cancel.cancelled() => { interrupted = true; }
            }
            if interrupted {
                break;
            }
            if start {
                nemesis.start_window(fault).await;
            } else {
                nemesis.stop().await;
            }
            progress.set_faults(nemesis.active_description());
        }
        if interrupted {
            break;
        }
    }
    if !interrupted {
        tokio::select! {
            _ = tokio::time::sleep_until(started + main) => {}
            _ = cancel.cancelled() => { interrupted = true; }
        }
    }

    // Heal everything, then a quiet window in which the service must grant again.
    nemesis.heal_all().await;
    if meta["clock_faults"].is_object() && meta["clock_faults"]["planned"].is_object() {
        meta["clock_faults"]["applied"] = nemesis.clock_applied();
    }
    progress.set_faults(String::from("healed; recovery"));
    let grants_before = recorder.counts().grants_ok.load(Ordering::Relaxed);
    if !interrupted {
        tokio::select! {
            _ = tokio::time::sleep(recovery) => {}
            _ = cancel.cancelled() => { interrupted = true; }
        }
    }
    let grants_after_heal = recorder.counts().grants_ok.load(Ordering::Relaxed) - grants_before;
    clients.stop();
    for w in workers {
        let _ = tokio::time::timeout(clients.invoke_bound() * 2, w).await;
    }
    progress.finish();

    let final_reads_missing = if workload.kind.has_resource() {
        final_reads(&clients, &workload.keys, args.concurrency).await
    } else {
        Vec::new()
    };
    if let Some(e) = recorder.write_error() {
        return Err(anyhow!("failed to record the history: {e}"));
    }
    Ok(Liveness {
        grants_after_heal,
        interrupted,
        final_reads_missing,
    })
}

/// One read per resource after every write completed: what the lost-update
/// checker compares acknowledged writes against.
async fn final_reads(clients: &Clients, keys: &[String], concurrency: u64) -> Vec<String> {
    let mut missing = Vec::new();
    // Process ids above any a worker slot can reach in a bounded run.
    let mut process = concurrency * 1_000_000;
    for key in keys {
        let mut done = false;
        for _ in 0..FINAL_READ_ATTEMPTS {
            process += 1;
            let Ok(Ok(mut client)) = tokio::time::timeout(
                clients.client_cfg.connect_timeout() + Duration::from_secs(1),
                clients
                    .target
                    .client(&clients.nodes, process, &clients.client_cfg),
            )
            .await
            else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let inv = Invocation {
                f: F::Read,
                key: key.clone(),
                token: None,
                value: None,
            };
            let c = worker::invoke(clients, client.as_mut(), process, &inv).await;
            let _ =
                tokio::time::timeout(clients.client_cfg.request_timeout(), client.close()).await;
            if c.kind == OpType::Ok {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !done {
            missing.push(key.clone());
        }
    }
    missing
}

fn check_and_report(
    run_dir: &RunDir,
    liveness: Liveness,
    seed: u64,
) -> Result<RunOutcome, CommandError> {
    let history_path = run_dir.file(store::HISTORY_FILE);
    let (history, warnings) = splitbrain_checkers::read_history(&history_path)
        .map_err(|e| CommandError::Internal(anyhow!("failed to read back the history: {e}")))?;
    let mut report = splitbrain_checkers::check(&history);
    report
        .warnings
        .extend(warnings.iter().map(|w| w.to_string()));
    let mut liveness_reasons = Vec::new();
    if liveness.interrupted {
        liveness_reasons
            .push("the run was interrupted before its recovery window ended".to_string());
    } else if liveness.grants_after_heal == 0 {
        liveness_reasons.push(
            "no lock or election grant succeeded in the recovery window after the final heal"
                .to_string(),
        );
    }
    if !liveness.final_reads_missing.is_empty() {
        liveness_reasons.push(format!(
            "the final read failed for {}: lost updates cannot be judged",
            liveness.final_reads_missing.join(", ")
        ));
    }
    if !liveness_reasons.is_empty() && report.valid == Validity::Valid {
        report.valid = Validity::Unknown;
        report.reason = Some(liveness_reasons.join("; "));
    }
    let mut doc = serde_json::to_value(&report).map_err(|e| CommandError::Internal(e.into()))?;
    doc["liveness"] = json!({
        "grants_after_heal": liveness.grants_after_heal,
        "interrupted": liveness.interrupted,
        "final_reads_missing": liveness.final_reads_missing,
        "problems": liveness_reasons,
    });
    run_dir.write_json(store::RESULTS_FILE, &doc)?;
    let mut summary = report.human_summary();
    for reason in &liveness_reasons {
        summary.push_str(&format!("liveness: {reason}\n"));
    }
    println!("{summary}");
    println!("results: {}", run_dir.file(store::RESULTS_FILE).display());
    // The report is a view of the stored files: failing to draw it loses nothing.
    // Drawing a large history takes seconds: keep it off the async workers.
    match tokio::task::block_in_place(|| crate::report::write_report(&run_dir.path)) {
        Ok(path) => println!("report: {}", path.display()),
        Err(e) => eprintln!("warning: failed to write the HTML report: {e:#}"),
    }
    Ok(RunOutcome {
        valid: report.valid,
        anomaly_types: report.anomalies.iter().map(|a| a.kind).collect(),
        reason: report.reason.clone(),
        run_dir: run_dir.path.clone(),
        seed,
        summary,
        interrupted: liveness.interrupted,
    })
}
