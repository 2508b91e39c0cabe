//! `clock`: skew the victims' service clocks (bump, strobe or rate),
//! through the preload shim or by patching the process's vDSO; healed by
//! putting real time back (a patch is kept, at real speed, where a fast
//! rate left the monotonic clocks ahead).

use async_trait::async_trait;
use splitbrain_docker::fault::clock as docker_clock;
use splitbrain_vocab::{ClockMode, FaultPlan};

use super::package::{FaultCtx, NodeFault, On, Step};
use super::record::{FaultRecord, SkewedRecord};

pub struct Clock;

#[async_trait]
impl NodeFault for Clock {
    async fn apply_node(&self, on: On<'_>, plan: &FaultPlan) -> Step {
        let FaultPlan::Clock { clock, .. } = *plan else {
            unreachable!("the clock package was given {plan:?}")
        };
        let (cluster, node) = (&on.ctx.cluster, on.node);
        let outcome = match clock {
            ClockMode::Bump { delta_ms } => docker_clock::bump(cluster, node, delta_ms).await,
            ClockMode::Strobe {
                delta_ms,
                period_ms,
            } => docker_clock::strobe(cluster, node, delta_ms, period_ms as i64).await,
            ClockMode::Rate { rate } => docker_clock::rate(cluster, node, rate).await,
        };
        let outcome = outcome.map_err(|e| e.to_string())?;
        let reached = note_skewed(on.ctx, node, &outcome.processes);
        on.record.processes.insert(node.to_string(), reached);
        Ok(())
    }

    async fn heal_node(&self, on: On<'_>) -> Step {
        let healed = docker_clock::heal(&on.ctx.cluster, on.node).await;
        let healed = healed.map_err(|e| e.to_string())?;
        on.record.note_clock_heal(on.node, &healed);
        Ok(())
    }

    /// Nodes without the clock tools were never skewed.
    async fn needs_heal(&self, ctx: &FaultCtx, _: &str) -> Result<bool, String> {
        Ok(ctx.clock_installed)
    }

    fn refuse(&self, ctx: &FaultCtx) -> Option<String> {
        let why = "refused: the clock tools were not installed on the nodes";
        (!ctx.clock_installed).then(|| why.to_string())
    }

    /// "+60000 ms on n2 (pid 31 by vdso-patch)": what a clock fault did,
    /// node by node, with the mechanism that reached each service process.
    fn describe(&self, record: &FaultRecord) -> String {
        let (Some(clock), Some(nodes)) = (record.clock, &record.nodes) else {
            return super::package::describe_targets(record);
        };
        let what = match clock {
            ClockMode::Bump { delta_ms } => format!("{delta_ms:+} ms"),
            ClockMode::Strobe {
                delta_ms,
                period_ms,
            } => format!("strobe {delta_ms:+} ms every {period_ms} ms"),
            ClockMode::Rate { rate } => format!("rate {rate}x"),
        };
        let parts: Vec<String> = nodes
            .iter()
            .map(|node| {
                let procs: Vec<String> = record
                    .processes
                    .get(node)
                    .into_iter()
                    .flatten()
                    .map(|p| format!("pid {} by {}", p.pid, p.mechanism))
                    .collect();
                if procs.is_empty() {
                    format!("{node} (service down: applies on restart)")
                } else {
                    format!("{node} ({})", procs.join(", "))
                }
            })
            .collect();
        format!("{what} on {}", parts.join(", "))
    }

    /// "healed: n1 vDSO restored, n2 kept patched (monotonic 14.3 s ahead)".
    fn describe_undo(&self, record: &FaultRecord) -> Option<String> {
        let restored = record
            .vdso_restored
            .keys()
            .map(|node| format!("{node} vDSO restored"));
        let kept = record.vdso_kept.iter().map(|(node, procs)| {
            let ahead_ms = procs.iter().map(|p| p.monotonic_ahead_ms).max();
            format!(
                "{node} kept patched (monotonic {:.1} s ahead)",
                ahead_ms.unwrap_or(0) as f64 / 1000.0
            )
        });
        let parts: Vec<String> = restored.chain(kept).collect();
        (!parts.is_empty()).then(|| format!("healed: {}", parts.join(", ")))
    }
}

/// A restarted service on `node` reads its node's clock again if that is
/// still skewed (a patched process does not survive its restart).
pub async fn reapply_clock(on: On<'_>) -> Step {
    if !on.ctx.clock_installed {
        return Ok(());
    }
    let reached = docker_clock::reapply(&on.ctx.cluster, on.node).await;
    let reached = reached.map_err(|e| e.to_string())?;
    if !reached.is_empty() {
        let reached = note_skewed(on.ctx, on.node, &reached);
        on.record
            .clock_reapplied
            .insert(on.node.to_string(), reached);
    }
    Ok(())
}

/// Books which mechanism reached which process (for run.json) and returns
/// them for the nemesis record.
fn note_skewed(
    ctx: &mut FaultCtx,
    node: &str,
    processes: &[docker_clock::SkewedProcess],
) -> Vec<SkewedRecord> {
    let applied = ctx.clock_applied.entry(node.to_string()).or_default();
    for p in processes {
        let pids = applied.entry(p.mechanism.as_str().to_string()).or_default();
        pids.insert(p.pid);
    }
    processes.iter().map(SkewedRecord::from).collect()
}
