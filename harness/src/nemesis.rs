//! The nemesis: applies a schedule's fault windows to the live cluster,
//! through each fault's package (see [`crate::fault`]), and records each
//! start and stop as a `nemesis` op in the history.
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

use serde_json::json;
use splitbrain_vocab::{FaultKind, FaultPlan, ScheduledFault};
use std::sync::Arc;

use crate::fault::record::{self, FaultRecord};
use crate::fault::{package, FaultCtx, REGISTRY};
use crate::recorder::Recorder;

pub struct Nemesis {
    ctx: FaultCtx,
    recorder: Arc<Recorder>,
    /// The window's faults in the order they started.
    active: Vec<Active>,
}

/// A fault in force: its kind and the nodes its undo is given; `None`
/// when it could not be applied (nothing to undo).
struct Active {
    kind: FaultKind,
    nodes: Option<Vec<String>>,
}

impl Nemesis {
    pub fn new(ctx: FaultCtx, recorder: Arc<Recorder>) -> Nemesis {
        Nemesis {
            ctx,
            recorder,
            active: Vec::new(),
        }
    }

    /// A few words for the progress line.
    pub fn active_description(&self) -> String {
        if self.active.is_empty() {
            return "no faults".to_string();
        }
        let parts: Vec<String> = self
            .active
            .iter()
            .map(|active| match &active.nodes {
                None => format!("{} refused", active.kind),
                Some(nodes) if nodes.is_empty() || active.kind == FaultKind::Partition => {
                    active.kind.to_string()
                }
                Some(nodes) => format!("{} {}", active.kind, nodes.join(",")),
            })
            .collect();
        parts.join(" + ")
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
        let fault = package(kind);
        let f = format!("start-{kind}");
        let mut rec = FaultRecord::default();
        let refusal = self.ctx.target.fault(kind).refusal();
        let applied = match refusal.or_else(|| fault.refusal(&self.ctx)) {
            Some(refusal) => Err(refusal),
            None => fault.apply(&mut self.ctx, plan, &mut rec).await,
        };
        let value = record::start_value(plan, &rec);
        match applied {
            Ok(nodes) => {
                tracing::info!("{f}: {value}");
                self.recorder.nemesis(&f, value, None);
                self.active.push(Active {
                    kind,
                    nodes: Some(nodes),
                });
            }
            Err(error) => {
                tracing::warn!("{f} failed: {error}");
                self.recorder.nemesis(&f, value, Some(error));
                self.active.push(Active { kind, nodes: None });
            }
        }
    }

    /// Undoes the active faults, the last started first, and records each stop.
    pub async fn stop(&mut self) {
        while let Some(active) = self.active.pop() {
            let f = format!("stop-{}", active.kind);
            let mut rec = FaultRecord {
                fault: Some(active.kind),
                ..FaultRecord::default()
            };
            let errors = match &active.nodes {
                Some(nodes) => {
                    let fault = package(active.kind);
                    fault.undo(&mut self.ctx, nodes, &mut rec).await
                }
                None => Vec::new(),
            };
            self.record_errors(&f, record::value(&rec), errors);
        }
    }

    /// The final heal: stop the active faults, then let every fault undo
    /// itself everywhere, whatever the bookkeeping says.
    pub async fn heal_all(&mut self) {
        self.stop().await;
        let mut rec = FaultRecord {
            nodes: Some(self.ctx.node_names()),
            ..FaultRecord::default()
        };
        let mut errors = Vec::new();
        for entry in &REGISTRY {
            let healed = entry.package.heal_everywhere(&mut self.ctx, &mut rec).await;
            errors.extend(healed);
        }
        self.record_errors("heal", record::value(&rec), errors);
    }

    fn record_errors(&self, f: &str, value: serde_json::Value, errors: Vec<String>) {
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        if let Some(e) = &error {
            tracing::warn!("{f} failed: {e}");
        }
        self.recorder.nemesis(f, value, error);
    }

    /// Per node, which mechanisms skewed which service pids during the run.
    pub fn clock_applied(&self) -> serde_json::Value {
        json!(self.ctx.clock_applied)
    }
}
