//! The nemesis: applies a schedule's faults to the live cluster and records
//! each start and stop as a `nemesis` op in the history.
//!
//! One fault window is active at a time, holding one fault or a set of them
//! (`clock+client-pause`), started in the order written and undone in
//! reverse. Order is meaning: in `clock+kill` the service killed under a
//! skewed clock restarts still skewed (re-patched) and the clock heals after;
//! in `kill+clock` the clock heals first and the service restarts on real
//! time; in `partition+clock` the clock jumps back while the partition
//! still holds. Every fault has a heal, and `heal_all` undoes everything
//! whatever the bookkeeping says, so a fault that failed halfway still ends
//! healed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use splitbrain_docker::fault::clock as docker_clock;
use splitbrain_docker::fault::{packet as docker_packet, partition as docker_partition};
use splitbrain_docker::selector::NodeSelector;
use splitbrain_docker::topology::{self, Topology as Cut};
use splitbrain_docker::Cluster;
use splitbrain_targets::target::{NodeAddr, Target};
use splitbrain_workloads::schedule::{ClockMode, Topology, Victims};
use splitbrain_workloads::{FaultKind, FaultPlan, ScheduledFault};

use crate::recorder::Recorder;
use crate::worker::Clients;

/// Bound on asking the target for its primaries.
const PRIMARIES_TIMEOUT: Duration = Duration::from_secs(3);

pub struct Nemesis {
    /// The clock tools are installed on every node (clock faults enabled).
    clock_installed: bool,
    /// Per node, the mechanisms that actually skewed a service process there
    /// and the pids they reached; what run.json reports.
    clock_applied: BTreeMap<String, BTreeMap<&'static str, BTreeSet<u32>>>,
    cluster: Arc<Cluster>,
    target: Arc<dyn Target>,
    nodes: Vec<NodeAddr>,
    recorder: Arc<Recorder>,
    clients: Arc<Clients>,
    /// The window's faults in the order they started.
    active: Vec<Active>,
}

/// What is in force and how to undo it.
enum Active {
    Partition,
    Kill(Vec<String>),
    Pause(Vec<String>),
    Packet(Vec<String>),
    Clock(Vec<String>),
    ClientPause,
    /// The fault could not be applied; nothing to undo.
    Refused(FaultKind),
}

impl Active {
    fn kind(&self) -> FaultKind {
        match self {
            Active::Partition => FaultKind::Partition,
            Active::Kill(_) => FaultKind::Kill,
            Active::Pause(_) => FaultKind::Pause,
            Active::Packet(_) => FaultKind::Packet,
            Active::Clock(_) => FaultKind::Clock,
            Active::ClientPause => FaultKind::ClientPause,
            Active::Refused(kind) => *kind,
        }
    }
}

impl Nemesis {
    pub fn new(
        clock_installed: bool,
        cluster: Arc<Cluster>,
        target: Arc<dyn Target>,
        nodes: Vec<NodeAddr>,
        recorder: Arc<Recorder>,
        clients: Arc<Clients>,
    ) -> Nemesis {
        Nemesis {
            clock_installed,
            clock_applied: BTreeMap::new(),
            cluster,
            target,
            nodes,
            recorder,
            clients,
            active: Vec::new(),
        }
    }

    fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// A few words for the progress line.
    pub fn active_description(&self) -> String {
        if self.active.is_empty() {
            return "no faults".to_string();
        }
        let parts: Vec<String> = self
            .active
            .iter()
            .map(|active| match active {
                Active::Refused(kind) => format!("{kind} refused"),
                Active::Kill(n) => format!("kill {}", n.join(",")),
                Active::Pause(n) => format!("pause {}", n.join(",")),
                Active::Packet(n) => format!("packet {}", n.join(",")),
                Active::Clock(n) => format!("clock {}", n.join(",")),
                a => a.kind().to_string(),
            })
            .collect();
        parts.join(" + ")
    }

    async fn primaries(&self) -> Vec<String> {
        match self.target.as_primaries() {
            Some(p) => p.primaries(&self.nodes, PRIMARIES_TIMEOUT).await,
            None => Vec::new(),
        }
    }

    async fn victims(&self, victims: Victims, rng: &mut ChaCha8Rng) -> Result<Vec<String>, String> {
        let selector = match victims {
            Victims::One => NodeSelector::One,
            Victims::Minority => NodeSelector::Minority,
            Victims::Majority => NodeSelector::Majority,
            Victims::All => NodeSelector::All,
            Victims::Primaries => NodeSelector::Primaries,
        };
        let primaries = if victims == Victims::Primaries {
            self.primaries().await
        } else {
            Vec::new()
        };
        let chosen = selector
            .resolve(&self.node_names(), &primaries, rng)
            .map_err(|e| e.to_string())?;
        if chosen.is_empty() {
            return Err("no node matched (the target reported no primary)".to_string());
        }
        Ok(chosen)
    }

    /// Starts every fault of a window, in order, after stopping the last
    /// window if it is still active.
    pub async fn start_window(&mut self, window: &ScheduledFault) {
        self.stop().await;
        for plan in window.plans() {
            self.start(plan).await;
        }
    }

    /// Starts one fault on top of whatever is active. Failures are recorded
    /// in the history, never raised: a fault that did not happen is data
    /// about the run.
    async fn start(&mut self, plan: &FaultPlan) {
        let kind = plan.kind();
        let f = format!("start-{kind}");
        let mut value = serde_json::to_value(plan).unwrap_or(json!(null));
        let applied = self.apply(plan, &mut value).await;
        match applied {
            Ok(active) => {
                tracing::info!("{f}: {value}");
                self.recorder.nemesis(&f, value, None);
                self.active.push(active);
            }
            Err(error) => {
                tracing::warn!("{f} failed: {error}");
                self.recorder.nemesis(&f, value, Some(error));
                self.active.push(Active::Refused(kind));
            }
        }
    }

    async fn apply(
        &mut self,
        plan: &FaultPlan,
        value: &mut serde_json::Value,
    ) -> Result<Active, String> {
        let cluster = self.cluster.clone();
        let cluster = &cluster;
        if let Some(refusal) = self.target.fault_refusal(plan.kind().as_str()) {
            return Err(refusal);
        }
        match *plan {
            FaultPlan::Partition { topology, seed } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let names = self.node_names();
                if topology == Topology::Clients {
                    let cut = NodeSelector::Minority
                        .resolve(&names, &[], &mut rng)
                        .map_err(|e| e.to_string())?;
                    value["nodes"] = json!(cut);
                    docker_partition::isolate_from_clients(cluster, &cut)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(Active::Partition);
                }
                let cut = match topology {
                    Topology::One => Cut::One,
                    Topology::Majority => Cut::Majority,
                    Topology::RandomHalves => Cut::RandomHalves,
                    Topology::Bridge => Cut::Bridge,
                    Topology::MajoritiesRing => Cut::MajoritiesRing,
                    Topology::Primaries | Topology::Clients => Cut::Primaries,
                };
                let primaries = if cut == Cut::Primaries {
                    self.primaries().await
                } else {
                    Vec::new()
                };
                let grudge = cut
                    .grudge(&names, &primaries, &mut rng)
                    .map_err(|e| e.to_string())?;
                value["grudge"] = json!(grudge);
                value["sides"] = json!(describe_sides(&grudge, &names));
                docker_partition::apply(cluster, &grudge)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Active::Partition)
            }
            FaultPlan::Kill { victims, seed } => {
                let chosen = self
                    .victims(victims, &mut ChaCha8Rng::seed_from_u64(seed))
                    .await?;
                value["nodes"] = json!(chosen);
                self.require(self.target.as_kill().is_some(), "kill")?;
                for node in &chosen {
                    cluster
                        .kill_service(node)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(Active::Kill(chosen))
            }
            FaultPlan::Pause { victims, seed } => {
                let chosen = self
                    .victims(victims, &mut ChaCha8Rng::seed_from_u64(seed))
                    .await?;
                value["nodes"] = json!(chosen);
                self.require(self.target.as_pause().is_some(), "pause")?;
                for node in &chosen {
                    cluster
                        .pause_service(node)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(Active::Pause(chosen))
            }
            FaultPlan::Clock {
                victims,
                clock,
                seed,
            } => {
                if !self.clock_installed {
                    return Err(self.target.clock_refusal().unwrap_or_else(|| {
                        format!(
                            "refused: target {} does not support clock faults",
                            self.target.name()
                        )
                    }));
                }
                let chosen = self
                    .victims(victims, &mut ChaCha8Rng::seed_from_u64(seed))
                    .await?;
                value["nodes"] = json!(chosen);
                for node in &chosen {
                    let outcome = match clock {
                        ClockMode::Bump { delta_ms } => {
                            docker_clock::bump(cluster, node, delta_ms).await
                        }
                        ClockMode::Strobe {
                            delta_ms,
                            period_ms,
                        } => docker_clock::strobe(cluster, node, delta_ms, period_ms as i64).await,
                        ClockMode::Rate { rate } => docker_clock::rate(cluster, node, rate).await,
                    }
                    .map_err(|e| e.to_string())?;
                    value["processes"][node.as_str()] = self.note_skewed(node, &outcome.processes);
                }
                Ok(Active::Clock(chosen))
            }
            FaultPlan::Packet {
                victims,
                delay_ms,
                jitter_ms,
                loss_pct,
                seed,
            } => {
                let chosen = self
                    .victims(victims, &mut ChaCha8Rng::seed_from_u64(seed))
                    .await?;
                value["nodes"] = json!(chosen);
                for node in &chosen {
                    docker_packet::apply_to_all(cluster, node, delay_ms, jitter_ms, loss_pct)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(Active::Packet(chosen))
            }
            FaultPlan::ClientPause { pause_ms, .. } => {
                // Wait briefly for someone to hold something: stalling an idle client proves nothing.
                let mut holders = self.clients.holding();
                for _ in 0..40 {
                    if !holders.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    holders = self.clients.holding();
                }
                let Some(&(slot, process)) = holders.first() else {
                    return Err("no client held a lock or leadership to stall".to_string());
                };
                value["process"] = json!(process);
                self.clients
                    .request_stall(slot, Duration::from_millis(pause_ms));
                Ok(Active::ClientPause)
            }
        }
    }

    fn require(&self, supported: bool, fault: &str) -> Result<(), String> {
        if supported {
            Ok(())
        } else {
            Err(format!(
                "refused: target {} does not support {fault}",
                self.target.name()
            ))
        }
    }

    /// Undoes the active faults, the last started first, and records each stop.
    pub async fn stop(&mut self) {
        while let Some(active) = self.active.pop() {
            let f = format!("stop-{}", active.kind());
            let mut value = json!({ "fault": active.kind().as_str() });
            let result = self.undo(&active, &mut value).await;
            match result {
                Ok(()) => self.recorder.nemesis(&f, value, None),
                Err(e) => {
                    tracing::warn!("{f} failed: {e}");
                    self.recorder.nemesis(&f, value, Some(e))
                }
            };
        }
    }

    /// Undoes `active`, noting in `value` what the undo did beyond the obvious
    /// (clock patches kept or put back on restarted processes).
    async fn undo(&mut self, active: &Active, value: &mut Value) -> Result<(), String> {
        let cluster = self.cluster.clone();
        let mut errors = Vec::new();
        match active {
            Active::Partition => {
                if let Err(e) = docker_partition::heal(&cluster).await {
                    errors.push(e.to_string());
                }
            }
            Active::Kill(nodes) => {
                for node in nodes {
                    if let Err(e) = cluster.restart_service(node).await {
                        errors.push(e.to_string());
                    } else if let Err(e) = self.reapply_clock(node, value).await {
                        errors.push(e);
                    }
                }
            }
            Active::Pause(nodes) => {
                for node in nodes {
                    if let Err(e) = cluster.resume_service(node).await {
                        errors.push(e.to_string());
                    }
                }
            }
            Active::Packet(nodes) => {
                for node in nodes {
                    if let Err(e) = docker_packet::heal(&cluster, node).await {
                        errors.push(e.to_string());
                    }
                }
            }
            Active::Clock(nodes) => {
                for node in nodes {
                    match docker_clock::heal(&cluster, node).await {
                        Ok(healed) => note_heal(value, node, &healed),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
            }
            Active::ClientPause | Active::Refused(_) => {}
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The final heal: stop the active faults, then undo every kind of fault
    /// on every node regardless, and restart any service that is not running.
    pub async fn heal_all(&mut self) {
        self.stop().await;
        let cluster = self.cluster.clone();
        let mut value = json!({ "nodes": self.node_names() });
        let mut errors = Vec::new();
        if let Err(e) = docker_partition::heal(&cluster).await {
            errors.push(e.to_string());
        }
        for node in self.node_names() {
            if let Err(e) = docker_packet::heal(&cluster, &node).await {
                errors.push(e.to_string());
            }
            if let Err(e) = cluster.resume_service(&node).await {
                errors.push(e.to_string());
            }
            if self.clock_installed {
                match docker_clock::heal(&cluster, &node).await {
                    Ok(healed) => note_heal(&mut value, &node, &healed),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            match cluster.is_running(&node).await {
                Ok(true) => {}
                Ok(false) => {
                    if let Err(e) = cluster.restart_service(&node).await {
                        errors.push(e.to_string());
                    } else if let Err(e) = self.reapply_clock(&node, &mut value).await {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        self.recorder.nemesis("heal", value, error);
    }

    /// A restarted service on `node` reads its node's clock again if that
    /// is still skewed (a patched process does not survive its restart).
    async fn reapply_clock(&mut self, node: &str, value: &mut Value) -> Result<(), String> {
        if !self.clock_installed {
            return Ok(());
        }
        let reached = docker_clock::reapply(&self.cluster, node)
            .await
            .map_err(|e| e.to_string())?;
        if !reached.is_empty() {
            value["clock_reapplied"][node] = self.note_skewed(node, &reached);
        }
        Ok(())
    }

    /// Records which mechanism reached which process; returns it as JSON for
    /// the nemesis event.
    fn note_skewed(&mut self, node: &str, processes: &[docker_clock::SkewedProcess]) -> Value {
        let applied = self.clock_applied.entry(node.to_string()).or_default();
        for p in processes {
            applied
                .entry(p.mechanism.as_str())
                .or_default()
                .insert(p.pid);
        }
        json!(processes
            .iter()
            .map(|p| json!({
                "pid": p.pid,
                "mechanism": p.mechanism.as_str(),
                "newly_patched": p.newly_patched,
            }))
            .collect::<Vec<_>>())
    }

    /// Per node, which mechanisms skewed which service pids during the run.
    pub fn clock_applied(&self) -> Value {
        json!(self.clock_applied)
    }
}

/// Groups of nodes that still see each other, for the history and the report.
fn describe_sides(grudge: &topology::Grudge, nodes: &[String]) -> Vec<Vec<String>> {
    let mut sides: Vec<Vec<String>> = Vec::new();
    for node in nodes {
        let seen: Vec<String> = topology::visible(grudge, nodes, node).into_iter().collect();
        if !sides.contains(&seen) {
            sides.push(seen);
        }
    }
    sides
}

/// Notes on a clock heal: patched processes restored, or kept patched
/// because their monotonic clocks are ahead.
fn note_heal(value: &mut Value, node: &str, healed: &docker_clock::HealOutcome) {
    if !healed.restored.is_empty() {
        value["vdso_restored"][node] = json!(healed.restored);
    }
    if !healed.kept.is_empty() {
        value["vdso_kept"][node] = json!(healed
            .kept
            .iter()
            .map(
                |(pid, ahead_ns)| json!({ "pid": pid, "monotonic_ahead_ms": ahead_ns / 1_000_000 })
            )
            .collect::<Vec<_>>());
    }
}
