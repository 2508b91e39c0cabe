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
use splitbrain_checkers::history::{OpType, F};
use splitbrain_checkers::verdict::{AnomalyType, Validity};
use splitbrain_docker::{
    Cluster, ClusterGuard, ClusterSpec, DataDir, Engine, EngineOptions, ServiceSpec,
};
use splitbrain_records::{
    ClockFaults, ClockMechanism, HarnessInfo, Liveness, NodeRecord, ResultsRecord, RunConfig,
    RunRecord, TargetRecord, Timings,
};
use splitbrain_targets::client::{ClientConfig, Invocation};
use splitbrain_targets::target::{ClockEntry, NodeAddr, Target};
use splitbrain_vocab::{FaultKind, Pins, Topology, Victims};
use splitbrain_workloads::{FaultSchedule, ScheduleConfig, WorkloadConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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

impl RunOutcome {
    /// The anomaly types found, comma-separated.
    pub fn anomaly_names(&self) -> String {
        let names: Vec<&str> = self.anomaly_types.iter().map(|t| t.as_str()).collect();
        names.join(", ")
    }
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

/// What every stage of one run reads.
struct Scope<'a> {
    config: &'a RunConfig,
    seed: u64,
    target: Arc<dyn Target>,
    run_dir: &'a RunDir,
    cancel: &'a CancellationToken,
    /// When the command started: run.json's timings count from here.
    command_started: Instant,
}

/// One run, ended early when `cancel` is cancelled (see [`interrupt_token`]).
pub async fn run(
    config: RunConfig,
    cancel: &CancellationToken,
) -> Result<RunOutcome, CommandError> {
    let command_started = Instant::now();
    let seed = config.seed.unwrap_or_else(rand::random);
    println!("seed: {seed}  (reproduce the schedule with --seed {seed})");
    let target = resolve_target(&config)?;
    let run_dir = RunDir::create(&config.results_dir, target.name(), config.workload.as_str())
        .map_err(CommandError::BadInput)?;
    crate::logging::to_file(&run_dir.file(store::HARNESS_LOG))?;
    println!("run directory: {}", run_dir.path.display());
    tracing::info!(seed, ?config, "starting run");
    let mut record = RunRecord {
        config: config.clone(),
        seed,
        run_id: run_id(target.name(), &run_dir),
        harness: HarnessInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: env!("SPLITBRAIN_GIT_REVISION").to_string(),
        },
        image: None,
        clock_faults: None,
        target: None,
        timings: None,
        schedule: None,
    };
    run_dir.write_json(store::RUN_FILE, &record)?;

    let engine_options = EngineOptions::default();
    let engine = Engine::connect(engine_options.clone())
        .await
        .context("failed to connect to the Docker engine")?;
    let image = prepare_image(&engine, &config, target.as_ref(), cancel).await?;
    record.image = Some(image.clone());
    let scope = Scope {
        config: &config,
        seed,
        target,
        run_dir: &run_dir,
        cancel,
        command_started,
    };
    let mut guard = ClusterGuard::new(record.run_id.clone(), engine_options);
    let liveness = on_a_cluster(&scope, &engine, &image, &mut guard, &mut record).await;
    drop(guard);
    run_dir.write_json(store::RUN_FILE, &record)?;
    check_and_report(&run_dir, liveness?, seed)
}

/// The target the configuration names, able to take the faults it aims.
fn resolve_target(config: &RunConfig) -> Result<Arc<dyn Target>, CommandError> {
    let target = match &config.target_file {
        Some(path) => crate::target_registry::from_manifest(
            path,
            config.service_binary.as_deref(),
            config.workload,
        ),
        None => crate::target_registry::resolve(config),
    }
    .map_err(|e| CommandError::BadInput(anyhow!(e)))?;
    let wants_primaries =
        config.victims == Some(Victims::Primaries) || config.topology == Some(Topology::Primaries);
    if wants_primaries && target.as_primaries().is_none() {
        return Err(CommandError::BadInput(anyhow!(
            "target {} cannot name its primaries, so faults cannot be aimed at them",
            target.name()
        )));
    }
    Ok(target)
}

/// Names containers and the network and labels them for cleanup. Two runs
/// may start in the same second (in different result stores), so the id
/// carries a random suffix besides the run directory's stamp.
fn run_id(target: &str, run_dir: &RunDir) -> String {
    let stamp = run_dir
        .path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    format!("{target}-{stamp}-{:06x}", rand::random::<u32>() & 0xff_ffff)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `--image`, or the base image, built if it is not there yet.
async fn prepare_image(
    engine: &Engine,
    config: &RunConfig,
    target: &dyn Target,
    cancel: &CancellationToken,
) -> anyhow::Result<String> {
    if let Some(image) = &config.image {
        return Ok(image.clone());
    }
    // A cold build takes a minute: Ctrl-C must not wait for it (dropping
    // the build kills mmdebstrap).
    let packages = target.packages();
    let build = splitbrain_docker::images::ensure_with(engine, &packages, |line| {
        tracing::info!("image: {line}");
        eprintln!("image: {line}");
    });
    tokio::select! {
        r = build => Ok(r.context("failed to prepare the base image")?.reference),
        _ = cancel.cancelled() => Err(anyhow!("interrupted while preparing the base image")),
    }
}

/// Deploy, drive the phases, tear down: everything that needs the cluster.
/// The guard removes what a failed deploy or teardown leaves behind.
async fn on_a_cluster(
    scope: &Scope<'_>,
    engine: &Engine,
    image: &str,
    guard: &mut ClusterGuard,
    record: &mut RunRecord,
) -> anyhow::Result<Liveness> {
    let target = scope.target.as_ref();
    let (cluster, nodes) = tokio::select! {
        r = deploy(engine, scope.config, &record.run_id, image, target) => r,
        _ = scope.cancel.cancelled() => Err(anyhow!("interrupted while deploying")),
    }?;
    record.clock_faults = Some(clock_faults(scope.config, target, &nodes));
    record.target = Some(TargetRecord {
        name: target.name().to_string(),
        token_note: target.token_note(),
        version: target_version(&cluster, target).await,
        nodes: nodes
            .iter()
            .map(|n| NodeRecord {
                name: n.name.clone(),
                ip: n.ip.into(),
            })
            .collect(),
    });
    scope.run_dir.write_json(store::RUN_FILE, &*record)?;
    record.timings = Some(Timings {
        deploy_done_ms: elapsed_ms(scope.command_started),
        history_start_ms: None,
    });
    let cluster = Arc::new(cluster);
    let phases = phases(scope, cluster.clone(), nodes, record).await;
    let cluster =
        Arc::try_unwrap(cluster).map_err(|_| anyhow!("the cluster is still in use at teardown"))?;
    match cluster.teardown(Some(&scope.run_dir.nodes_dir())).await {
        Ok(_) => guard.disarm(),
        Err(e) => {
            tracing::error!("failed to tear down cleanly: {e}; the guard removes what is left")
        }
    }
    phases
}

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// run.json's `clock_faults`: planned when the nodes run under the clock
/// tools, refused when clock faults are scheduled but cannot reach the
/// target, `null` when none are scheduled.
fn clock_faults(
    config: &RunConfig,
    target: &dyn Target,
    nodes: &[NodeAddr],
) -> Option<ClockFaults> {
    if clock_skew_enabled(config, target) {
        Some(ClockFaults::installed(
            splitbrain_docker::fault::clock::STATE_PATH,
            "clockctl",
            nodes.iter().map(|n| n.name.as_str()),
            clock_mechanism(target),
        ))
    } else if config.nemesis.includes(FaultKind::Clock) {
        Some(ClockFaults::refused(
            target
                .fault(FaultKind::Clock)
                .refusal()
                .unwrap_or_else(|| "the target does not support clock faults".to_string()),
        ))
    } else {
        None
    }
}

async fn deploy(
    engine: &Engine,
    config: &RunConfig,
    run_id: &str,
    image: &str,
    target: &dyn Target,
) -> anyhow::Result<(Cluster, Vec<NodeAddr>)> {
    let started = Instant::now();
    let cluster = Cluster::create(
        engine,
        ClusterSpec {
            run_id: run_id.to_string(),
            nodes: crate::target_registry::node_count(config, target) as usize,
            image: image.to_string(),
            data_dir: disk_data_dir(config, target),
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
    upload(&cluster, target, &nodes).await?;
    start_services(&cluster, target, &nodes, clock_skew_enabled(config, target)).await?;
    wait_ready(target, &nodes).await?;
    tracing::info!("cluster ready in {} ms", started.elapsed().as_millis());
    Ok((cluster, nodes))
}

/// Copies the target's files (a service binary, a config) into every node.
async fn upload(cluster: &Cluster, target: &dyn Target, nodes: &[NodeAddr]) -> anyhow::Result<()> {
    for upload in target.uploads() {
        let bytes = std::fs::read(&upload.host_path).with_context(|| {
            format!(
                "failed to read {} to upload into the nodes",
                upload.host_path.display()
            )
        })?;
        for node in nodes {
            cluster
                .put_file(&node.name, &upload.node_path, &bytes, upload.mode)
                .await
                .with_context(|| {
                    format!("failed to upload {} to {}", upload.node_path, node.name)
                })?;
        }
    }
    Ok(())
}

/// Starts the service on every node, under the clock tools when `clock`.
async fn start_services(
    cluster: &Cluster,
    target: &dyn Target,
    nodes: &[NodeAddr],
    clock: bool,
) -> anyhow::Result<()> {
    for node in nodes {
        let mut spec = service_spec(target, node, nodes);
        if clock {
            splitbrain_docker::fault::clock::install(cluster, &node.name)
                .await
                .with_context(|| format!("failed to install the clock shim on {}", node.name))?;
            if clock_mechanism(target) == ClockMechanism::Preload {
                splitbrain_docker::fault::clock::add_preload(&mut spec);
            }
        }
        cluster
            .start_service(&node.name, &spec)
            .await
            .with_context(|| format!("failed to start the service on {}", node.name))?;
    }
    Ok(())
}

/// Probes every node until it answers, within [`READY_DEADLINE`] in all.
async fn wait_ready(target: &dyn Target, nodes: &[NodeAddr]) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_DEADLINE;
    for node in nodes {
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
    Ok(())
}

/// Whether nodes start under the clock shim: only when a clock fault is
/// scheduled and the target reads time where the shim can reach it.
fn clock_skew_enabled(config: &RunConfig, target: &dyn Target) -> bool {
    config.nemesis.includes(FaultKind::Clock) && target.fault(FaultKind::Clock).applies()
}

/// The size-limited data directory the disk fault fills, mounted only when
/// a disk fault is scheduled on a target that keeps data there.
fn disk_data_dir(config: &RunConfig, target: &dyn Target) -> Option<DataDir> {
    let applies = target.fault(FaultKind::Disk).applies();
    if !(config.nemesis.includes(FaultKind::Disk) && applies) {
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
fn clock_mechanism(target: &dyn Target) -> ClockMechanism {
    match target.clock_entry() {
        ClockEntry::Preload => ClockMechanism::Preload,
        ClockEntry::VdsoPatch => ClockMechanism::VdsoPatch,
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

/// The phases between deploy and teardown: ops under the fault schedule,
/// heal, recovery, final reads. What liveness saw comes back for the check.
async fn phases(
    scope: &Scope<'_>,
    cluster: Arc<Cluster>,
    nodes: Vec<NodeAddr>,
    record: &mut RunRecord,
) -> anyhow::Result<Liveness> {
    let config = scope.config;
    let clock = splitbrain_targets::client::HistoryClock::start();
    // Time to the first op: the history clock starts as the workers do.
    if let Some(timings) = &mut record.timings {
        timings.history_start_ms = Some(elapsed_ms(scope.command_started));
    }
    let recorder = Arc::new(Recorder::create(
        &scope.run_dir.file(store::HISTORY_FILE),
        clock,
    )?);
    let schedule = schedule(scope, nodes.len());
    record.schedule = Some(schedule.clone());
    scope.run_dir.write_json(store::RUN_FILE, &*record)?;

    let workload = workload(config);
    let clients = start_clients(scope, &nodes, &workload, &recorder);
    let mut nemesis = Nemesis::new(
        FaultCtx {
            clock_installed: clock_skew_enabled(config, scope.target.as_ref()),
            clock_applied: Default::default(),
            cluster,
            target: scope.target.clone(),
            nodes,
            clients: clients.clone(),
        },
        recorder.clone(),
    );
    let main = Duration::from_secs(config.time_limit_s);
    let recovery = Duration::from_secs(config.recovery_s);
    let progress = Progress::start(main + recovery, recorder.clone());
    let workers: Vec<_> = (0..config.concurrency)
        .map(|slot| tokio::spawn(worker::run_slot(clients.clone(), slot)))
        .collect();

    let interrupted = main_phase(&schedule, &mut nemesis, &progress, main, scope.cancel).await;
    let (grants_after_heal, interrupted) = heal_and_recover(
        &mut nemesis,
        &recorder,
        &progress,
        &mut record.clock_faults,
        recovery,
        scope.cancel,
        interrupted,
    )
    .await;
    clients.stop();
    for w in workers {
        let _ = tokio::time::timeout(clients.invoke_bound() * 2, w).await;
    }
    progress.finish();

    let final_reads_missing = if workload.kind.has_resource() {
        final_reads(&clients, &workload.keys, config.concurrency).await
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
        problems: Vec::new(),
    })
}

/// The clients the worker slots invoke through, recording into `recorder`.
fn start_clients(
    scope: &Scope<'_>,
    nodes: &[NodeAddr],
    workload: &WorkloadConfig,
    recorder: &Arc<Recorder>,
) -> Arc<Clients> {
    let config = scope.config;
    Arc::new(Clients::new(
        worker::Setup {
            target: scope.target.clone(),
            nodes: nodes.to_vec(),
            client_cfg: client_config(config),
            workload: workload.clone(),
            seed: scope.seed,
            concurrency: config.concurrency,
            rate_per_s: config.rate_per_s,
            max_ops: config.max_ops,
        },
        recorder.clone(),
    ))
}

fn workload(config: &RunConfig) -> WorkloadConfig {
    let mut workload = WorkloadConfig::new(config.workload, config.lease_ms);
    workload.keys = (0..config.keys).map(|k| format!("k{k}")).collect();
    if let Some((min, max)) = config.hold_ms {
        workload.hold_min_ms = min;
        workload.hold_max_ms = max;
    }
    workload
}

fn client_config(config: &RunConfig) -> ClientConfig {
    ClientConfig {
        lease_ms: config.lease_ms,
        request_timeout_ms: config.request_timeout_ms,
        acquire_timeout_ms: config.acquire_timeout_ms,
        connect_timeout_ms: config.request_timeout_ms,
    }
}

/// The fault schedule the seed draws for this cluster.
fn schedule(scope: &Scope<'_>, nodes: usize) -> FaultSchedule {
    let config = scope.config;
    FaultSchedule::generate(&ScheduleConfig {
        faults: config.nemesis.0.clone(),
        interval_ms: config.nemesis_interval_s * 1000,
        duration_ms: config.time_limit_s * 1000,
        lease_ms: config.lease_ms,
        nodes,
        primaries_available: scope.target.as_primaries().is_some(),
        pins: Pins {
            victims: config.victims,
            topology: config.topology,
            clock: config.clock,
        },
        seed: scope.seed,
    })
}

/// The safety phase: the fault schedule runs against live clients until
/// the time limit. Returns whether Ctrl-C cut it short.
async fn main_phase(
    schedule: &FaultSchedule,
    nemesis: &mut Nemesis,
    progress: &Progress,
    main: Duration,
    cancel: &CancellationToken,
) -> bool {
    let started = Instant::now();
    for fault in &schedule.faults {
        for (at, start) in [(fault.start_ms, true), (fault.stop_ms, false)] {
            if cancelled_before(started + Duration::from_millis(at), cancel).await {
                return true;
            }
            if start {
                nemesis.start_window(fault).await;
            } else {
                nemesis.stop().await;
            }
            progress.set_faults(nemesis.active_description());
        }
    }
    cancelled_before(started + main, cancel).await
}

/// Heals every fault, records which clock mechanisms applied, then waits
/// out a quiet recovery window in which the service must grant again,
/// unless Ctrl-C already cut the run short. Returns the grants in the
/// window and whether the run was interrupted.
async fn heal_and_recover(
    nemesis: &mut Nemesis,
    recorder: &Recorder,
    progress: &Progress,
    clock_faults: &mut Option<Option<ClockFaults>>,
    recovery: Duration,
    cancel: &CancellationToken,
    interrupted: bool,
) -> (u64, bool) {
    nemesis.heal_all().await;
    if let Some(Some(clock_faults)) = clock_faults {
        if let Err(e) = clock_faults.set_applied(nemesis.clock_applied()) {
            tracing::error!("failed to record which clock mechanisms applied: {e}");
        }
    }
    progress.set_faults(String::from("healed; recovery"));
    let grants_before = recorder.counts().grants_ok.load(Ordering::Relaxed);
    let interrupted = interrupted || cancelled_before(Instant::now() + recovery, cancel).await;
    let grants = recorder.counts().grants_ok.load(Ordering::Relaxed) - grants_before;
    (grants, interrupted)
}

/// Waits until `deadline`; true if `cancel` came first.
async fn cancelled_before(deadline: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(deadline) => false,
        _ = cancel.cancelled() => true,
    }
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
            let Ok(mut client) = clients.connect(process).await else {
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
                tokio::time::timeout(clients.setup.client_cfg.request_timeout(), client.close())
                    .await;
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

/// Why liveness makes a valid history's verdict unknown, one line each.
fn liveness_problems(liveness: &Liveness) -> Vec<String> {
    let mut problems = Vec::new();
    if liveness.interrupted {
        problems.push("the run was interrupted before its recovery window ended".to_string());
    } else if liveness.grants_after_heal == 0 {
        problems.push(
            "no lock or election grant succeeded in the recovery window after the final heal"
                .to_string(),
        );
    }
    if !liveness.final_reads_missing.is_empty() {
        problems.push(format!(
            "the final read failed for {}: lost updates cannot be judged",
            liveness.final_reads_missing.join(", ")
        ));
    }
    problems
}

fn check_and_report(
    run_dir: &RunDir,
    mut liveness: Liveness,
    seed: u64,
) -> Result<RunOutcome, CommandError> {
    let history_path = run_dir.file(store::HISTORY_FILE);
    let (history, warnings) = splitbrain_checkers::read_history(&history_path)
        .map_err(|e| CommandError::Internal(anyhow!("failed to read back the history: {e}")))?;
    let mut report = splitbrain_checkers::check(&history);
    report
        .warnings
        .extend(warnings.iter().map(|w| w.to_string()));
    liveness.problems = liveness_problems(&liveness);
    if !liveness.problems.is_empty() && report.valid == Validity::Valid {
        report.valid = Validity::Unknown;
        report.reason = Some(liveness.problems.join("; "));
    }
    let mut summary = report.human_summary();
    for problem in &liveness.problems {
        summary.push_str(&format!("liveness: {problem}\n"));
    }
    let outcome = RunOutcome {
        valid: report.valid,
        anomaly_types: report.anomalies.iter().map(|a| a.kind).collect(),
        reason: report.reason.clone(),
        run_dir: run_dir.path.clone(),
        seed,
        summary,
        interrupted: liveness.interrupted,
    };
    let results = ResultsRecord {
        report,
        liveness: Some(liveness),
    };
    run_dir.write_json(store::RESULTS_FILE, &results)?;
    println!("{}", outcome.summary);
    println!("results: {}", run_dir.file(store::RESULTS_FILE).display());
    // The report is a view of the stored files: failing to draw it loses nothing.
    // Drawing a large history takes seconds: keep it off the async workers.
    match tokio::task::block_in_place(|| crate::report::write_report(&run_dir.path)) {
        Ok(path) => println!("report: {}", path.display()),
        Err(e) => eprintln!("warning: failed to write the HTML report: {e:#}"),
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use splitbrain_docker::fault::clock::Mechanism;

    use super::*;

    /// run.json names a mechanism as the Docker layer that applies it does.
    #[test]
    fn clock_mechanisms_are_named_as_the_docker_layer_names_them() {
        for (ours, docker) in [
            (ClockMechanism::Preload, Mechanism::Preload),
            (ClockMechanism::VdsoPatch, Mechanism::VdsoPatch),
        ] {
            assert_eq!(ours.as_str(), docker.as_str());
        }
    }

    #[test]
    fn liveness_problems_name_the_interruption_the_missing_grant_and_the_missing_reads() {
        let quiet = Liveness {
            grants_after_heal: 0,
            ..Liveness::default()
        };
        assert_eq!(liveness_problems(&quiet).len(), 1);
        let cut = Liveness {
            interrupted: true,
            final_reads_missing: vec!["k0".to_string()],
            ..Liveness::default()
        };
        let problems = liveness_problems(&cut);
        assert!(
            problems[0].contains("interrupted") && problems[1].contains("k0"),
            "{problems:?}"
        );
        let fine = Liveness {
            grants_after_heal: 3,
            ..Liveness::default()
        };
        assert!(liveness_problems(&fine).is_empty());
    }
}
