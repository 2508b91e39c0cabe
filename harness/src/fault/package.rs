//! What every fault package is and works on: the live run ([`FaultCtx`]),
//! the package trait, and the node-by-node shape most faults share.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use splitbrain_docker::Cluster;
use splitbrain_targets::target::{NodeAddr, Target};
use splitbrain_vocab::{FaultPlan, Victims};

use super::record::FaultRecord as Rec;
use crate::worker::Clients;

/// Bound on asking the target for its primaries.
const PRIMARIES_TIMEOUT: Duration = Duration::from_secs(3);

/// What a fault package works on: the live run.
pub struct FaultCtx {
    pub cluster: Arc<Cluster>,
    pub target: Arc<dyn Target>,
    pub nodes: Vec<NodeAddr>,
    pub clients: Arc<Clients>,
    /// The clock tools are installed on every node (clock faults enabled).
    pub clock_installed: bool,
    /// Per node, the mechanisms that actually skewed a service process
    /// there and the pids they reached: what run.json reports.
    pub clock_applied: BTreeMap<String, BTreeMap<String, BTreeSet<u32>>>,
}

impl FaultCtx {
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The nodes the target names as primaries now (none if it cannot).
    pub async fn primaries(&self) -> Vec<String> {
        match self.target.as_primaries() {
            Some(p) => p.primaries(&self.nodes, PRIMARIES_TIMEOUT).await,
            None => Vec::new(),
        }
    }

    /// The nodes `victims` names, drawn from `seed`; never empty.
    pub async fn victims(&self, victims: Victims, seed: u64) -> Result<Vec<String>, String> {
        let primaries = if victims == Victims::Primaries {
            self.primaries().await
        } else {
            Vec::new()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let chosen = victims
            .resolve(&self.node_names(), &primaries, &mut rng)
            .map_err(|e| e.to_string())?;
        if chosen.is_empty() {
            return Err("no node matched (the target reported no primary)".to_string());
        }
        Ok(chosen)
    }
}

/// One fault: everything the harness knows about it. Its kind and colour
/// are its registry entry's.
#[async_trait]
pub trait FaultPackage: Send + Sync {
    /// Why this fault cannot be applied in this run, beyond the target's
    /// own answer (which the nemesis asks first).
    fn refusal(&self, ctx: &FaultCtx) -> Option<String> {
        let _ = ctx;
        None
    }

    /// Applies `plan` (of this package's kind). Returns the nodes it hit
    /// (what [`FaultPackage::undo`] is given) and notes in `record` what
    /// it resolved. An error means nothing is left to undo.
    async fn apply(&self, ctx: &mut FaultCtx, plan: &FaultPlan, record: &mut Rec) -> Applied;

    /// Undoes one application on `nodes`; returns the errors met.
    async fn undo(&self, ctx: &mut FaultCtx, nodes: &[String], record: &mut Rec) -> Errors;

    /// The final heal: undoes this fault on every node whatever the
    /// bookkeeping says, so a fault that failed halfway still ends healed.
    async fn heal_everywhere(&self, ctx: &mut FaultCtx, record: &mut Rec) -> Errors;

    /// Who a start record says the fault hit, for the report.
    fn describe(&self, record: &Rec) -> String {
        describe_targets(record)
    }

    /// What undoing it did beyond the obvious, from a `stop-*` or `heal`
    /// record, when that is worth a word in the report.
    fn describe_undo(&self, record: &Rec) -> Option<String> {
        let _ = record;
        None
    }
}

/// What applying a fault returns: the nodes it hit, or why it failed.
pub type Applied = Result<Vec<String>, String>;
/// What undoing or healing met: every error, none on success.
pub type Errors = Vec<String>;
/// One step on one node.
pub type Step = Result<(), String>;

/// The run and the node a [`NodeFault`] step works on.
pub struct On<'a> {
    pub ctx: &'a mut FaultCtx,
    pub node: &'a str,
    pub record: &'a mut Rec,
}

/// A fault that hits its victims one node at a time (kill, pause, clock,
/// packet, disk): it says what to do on one node, and gets its package
/// (victims resolved, every node tried on heal) from the blanket impl.
#[async_trait]
pub trait NodeFault: Send + Sync {
    /// Applies the fault on one victim, noting what it did in the record.
    async fn apply_node(&self, on: On<'_>, plan: &FaultPlan) -> Step;

    /// Undoes it on one node.
    async fn heal_node(&self, on: On<'_>) -> Step;

    /// Whether the final heal must undo it on `node`.
    async fn needs_heal(&self, ctx: &FaultCtx, node: &str) -> Result<bool, String> {
        let _ = (ctx, node);
        Ok(true)
    }

    /// Why it cannot be applied in this run (as [`FaultPackage::refusal`]).
    fn refuse(&self, ctx: &FaultCtx) -> Option<String> {
        let _ = ctx;
        None
    }

    /// As [`FaultPackage::describe`].
    fn describe(&self, record: &Rec) -> String {
        describe_targets(record)
    }

    /// As [`FaultPackage::describe_undo`].
    fn describe_undo(&self, record: &Rec) -> Option<String> {
        let _ = record;
        None
    }
}

#[async_trait]
impl<T: NodeFault> FaultPackage for T {
    fn refusal(&self, ctx: &FaultCtx) -> Option<String> {
        self.refuse(ctx)
    }

    async fn apply(&self, ctx: &mut FaultCtx, plan: &FaultPlan, record: &mut Rec) -> Applied {
        let Some((victims, seed)) = plan.node_victims() else {
            unreachable!("a node fault was given {plan:?}, which hits no nodes")
        };
        let nodes = ctx.victims(victims, seed).await?;
        record.nodes = Some(nodes.clone());
        for node in &nodes {
            let on = On { ctx, node, record };
            self.apply_node(on, plan).await?;
        }
        Ok(nodes)
    }

    async fn undo(&self, ctx: &mut FaultCtx, nodes: &[String], record: &mut Rec) -> Errors {
        let mut errors = Vec::new();
        for node in nodes {
            let on = On { ctx, node, record };
            errors.extend(self.heal_node(on).await.err());
        }
        errors
    }

    async fn heal_everywhere(&self, ctx: &mut FaultCtx, record: &mut Rec) -> Errors {
        let mut errors = Vec::new();
        for node in ctx.node_names() {
            let healed = match self.needs_heal(ctx, &node).await {
                Ok(true) => {
                    self.heal_node(On {
                        ctx,
                        node: &node,
                        record,
                    })
                    .await
                }
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            errors.extend(healed.err());
        }
        errors
    }

    fn describe(&self, record: &Rec) -> String {
        NodeFault::describe(self, record)
    }

    fn describe_undo(&self, record: &Rec) -> Option<String> {
        NodeFault::describe_undo(self, record)
    }
}

/// The default description: partition sides, nodes hit, or the process.
pub fn describe_targets(record: &Rec) -> String {
    let names = |nodes: &[String]| nodes.join(" ");
    if let Some(sides) = &record.sides {
        let sides: Vec<String> = sides.iter().map(|s| format!("[{}]", names(s))).collect();
        sides.join(" ")
    } else if let Some(nodes) = &record.nodes {
        names(nodes)
    } else if let Some(p) = record.process {
        format!("p{p}")
    } else {
        String::new()
    }
}
