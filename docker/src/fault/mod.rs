//! The faults, one module each, all of one shape:
//!
//! ```text
//! pub async fn apply(cluster: &Cluster, node: &str, ...) -> Result<...>
//! pub async fn heal(cluster: &Cluster, node: &str) -> Result<...>
//! ```
//!
//! `apply` injects the fault on one node (its extra arguments say how),
//! replacing one of the same kind already there; `heal` undoes it and is a
//! no-op where there is nothing to undo, so a final heal may heal every node
//! blindly. The partition is the exception that proves the rule: it is the
//! whole network's, so its `apply` takes a grudge and its `heal` the cluster.
//!
//! | module | apply | heal |
//! |---|---|---|
//! | [`partition`] | drop traffic as a grudge says (and [`partition::isolate_from_clients`]) | empty the chains |
//! | [`packet`] | delay, jitter, reorder, lose, duplicate packets to peers | flush rules, stop the delayer |
//! | [`kill`] | SIGKILL the service | restart it |
//! | [`pause`] | SIGSTOP the service | SIGCONT it |
//! | [`clock`] | skew what the service reads as time ([`clock::bump`], [`clock::strobe`], [`clock::rate`] too) | real time again |
//! | [`disk`] | fill the data directory until writes fail with ENOSPC | delete the fill |
//!
//! Faults are built on [`Cluster`]'s node I/O and service methods; the
//! cluster module never imports a fault. What a fault needs from creation
//! (the iptables chains, the data directory's mount) the cluster prepares
//! for every node, and a fault that writes a log in the nodes registers it
//! for collection at teardown.
//!
//! [`Cluster`]: crate::Cluster

pub mod clock;
pub mod disk;
pub mod kill;
pub mod packet;
pub mod partition;
pub mod pause;
