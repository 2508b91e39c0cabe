//! Faults as packages: one module per fault, each saying how to apply its
//! plan to the live cluster, how to undo it, how to heal it everywhere
//! whatever the bookkeeping says, and how the report draws its records.
//! [`REGISTRY`] lists them; the nemesis and the report ask it by kind.
//!
//! A package applies what the schedule planned (the draw from the seed is
//! the workloads crate's; the vocabulary is the vocab crate's) through the
//! Docker crate's fault module of the same name.
//!
//! ```text
//! FaultPlan ──apply──▶ nodes hit + FaultRecord ──▶ start-<fault> record
//!            ◀─undo──  (the window ends)        ──▶ stop-<fault> record
//!            ◀─heal_everywhere─ (the final heal) ─▶ heal record
//! ```

mod client_pause;
mod clock;
mod disk;
mod kill;
mod packet;
mod partition;
mod pause;
pub mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use splitbrain_docker::Cluster;
use splitbrain_targets::target::{NodeAddr, Target};
use splitbrain_vocab::{FaultKind, FaultPlan, Victims};

use crate::worker::Clients;
use record::FaultRecord;

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

/// One fault: everything the harness knows about it.
#[async_trait]
pub trait FaultPackage: Send + Sync {
    fn kind(&self) -> FaultKind;

    /// Its colour in the report's timeline and charts.
    fn colour(&self) -> &'static str;

    /// Why this fault cannot be applied to the run's target, if it cannot.
    fn refusal(&self, ctx: &FaultCtx) -> Option<String>;

    /// Applies `plan` (of this package's kind). Returns the nodes it hit
    /// (what [`FaultPackage::undo`] is given) and notes in `record` what
    /// it resolved. An error means nothing is left to undo.
    async fn apply(
        &self,
        ctx: &mut FaultCtx,
        plan: &FaultPlan,
        record: &mut FaultRecord,
    ) -> Result<Vec<String>, String>;

    /// Undoes one application on `nodes`; returns the errors met.
    async fn undo(
        &self,
        ctx: &mut FaultCtx,
        nodes: &[String],
        record: &mut FaultRecord,
    ) -> Vec<String>;

    /// The final heal: undoes this fault on every node whatever the
    /// bookkeeping says, so a fault that failed halfway still ends healed.
    async fn heal_everywhere(&self, ctx: &mut FaultCtx, record: &mut FaultRecord) -> Vec<String>;

    /// Who a start record says the fault hit, for the report.
    fn describe(&self, record: &FaultRecord) -> String {
        describe_targets(record)
    }

    /// What undoing it did beyond the obvious, from a `stop-*` or `heal`
    /// record, when that is worth a word in the report.
    fn describe_undo(&self, record: &FaultRecord) -> Option<String> {
        let _ = record;
        None
    }
}

/// Every fault, in the order the final heal undoes them: the network
/// first, then processes resumed, clocks healed, and services restarted
/// last (re-skewed where a clock is still off), on disks with room again.
pub static REGISTRY: [&dyn FaultPackage; 7] = [
    &partition::Partition,
    &packet::Packet,
    &client_pause::ClientPause,
    &pause::Pause,
    &clock::Clock,
    &disk::Disk,
    &kill::Kill,
];

/// The package of `kind`.
pub fn package(kind: FaultKind) -> &'static dyn FaultPackage {
    let found = REGISTRY.iter().find(|p| p.kind() == kind);
    *found.unwrap_or_else(|| panic!("fault {kind} has no package in the registry"))
}

/// The package a record's name (`partition`, `client-pause`) refers to.
pub fn package_named(name: &str) -> Option<&'static dyn FaultPackage> {
    let kind: FaultKind = name.parse().ok()?;
    Some(package(kind))
}

/// The default description: partition sides, nodes hit, or the process.
pub fn describe_targets(record: &FaultRecord) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_kind_has_exactly_one_package() {
        for kind in FaultKind::ALL {
            let n = REGISTRY.iter().filter(|p| p.kind() == kind).count();
            assert_eq!(n, 1, "{kind} has {n} packages");
        }
        assert_eq!(REGISTRY.len(), FaultKind::ALL.len());
        assert!(package_named("client-pause").is_some());
        assert!(package_named("heal").is_none());
    }

    #[test]
    fn fault_colours_are_distinct() {
        let colours: BTreeSet<&str> = REGISTRY.iter().map(|p| p.colour()).collect();
        assert_eq!(colours.len(), REGISTRY.len());
    }
}
