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
mod package;
mod packet;
mod partition;
mod pause;
pub mod record;

use splitbrain_vocab::FaultKind;

pub use package::{describe_targets, FaultCtx, FaultPackage};

/// A fault's entry: its kind, its colour in the report, its package.
pub struct Entry {
    pub kind: FaultKind,
    pub colour: &'static str,
    pub package: &'static dyn FaultPackage,
}

/// Every fault, in the order the final heal undoes them: the network
/// first, then processes resumed, clocks healed, disks freed, and services
/// restarted last (re-skewed where a clock is still off).
pub static REGISTRY: [Entry; 7] = [
    entry(FaultKind::Partition, "#f59e0b", &partition::Partition),
    entry(FaultKind::Packet, "#84cc16", &packet::Packet),
    entry(
        FaultKind::ClientPause,
        "#ec4899",
        &client_pause::ClientPause,
    ),
    entry(FaultKind::Pause, "#8b5cf6", &pause::Pause),
    entry(FaultKind::Clock, "#06b6d4", &clock::Clock),
    entry(FaultKind::Disk, "#a16207", &disk::Disk),
    entry(FaultKind::Kill, "#ef4444", &kill::Kill),
];

const fn entry(kind: FaultKind, colour: &'static str, package: &'static dyn FaultPackage) -> Entry {
    Entry {
        kind,
        colour,
        package,
    }
}

/// The entry of `kind`.
pub fn entry_of(kind: FaultKind) -> &'static Entry {
    let found = REGISTRY.iter().find(|e| e.kind == kind);
    found.unwrap_or_else(|| panic!("fault {kind} has no package in the registry"))
}

/// The package of `kind`.
pub fn package(kind: FaultKind) -> &'static dyn FaultPackage {
    entry_of(kind).package
}

/// The entry a record's name (`partition`, `client-pause`) refers to.
pub fn entry_named(name: &str) -> Option<&'static Entry> {
    let kind: FaultKind = name.parse().ok()?;
    Some(entry_of(kind))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_fault_kind_has_exactly_one_package() {
        for kind in FaultKind::ALL {
            let n = REGISTRY.iter().filter(|e| e.kind == kind).count();
            assert_eq!(n, 1, "{kind} has {n} packages");
        }
        assert_eq!(REGISTRY.len(), FaultKind::ALL.len());
        assert!(entry_named("client-pause").is_some());
        assert!(entry_named("heal").is_none());
    }

    #[test]
    fn fault_colours_are_distinct() {
        let colours: BTreeSet<&str> = REGISTRY.iter().map(|e| e.colour).collect();
        assert_eq!(colours.len(), REGISTRY.len());
    }
}
