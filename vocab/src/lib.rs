//! The vocabulary at the bottom of splitbrain: the words the other crates
//! speak to each other, and nothing that does I/O.
//!
//! - [`op`]: operations as clients produce them ([`Invocation`],
//!   [`Completion`], three-valued through [`OpType`]) and the run's one
//!   [`HistoryClock`]. The checkers read these back from the history.
//! - [`fault`]: which faults exist ([`FaultKind`]), which may share a
//!   window ([`FaultSet`]), and a fault with every choice drawn
//!   ([`FaultPlan`]), aimed by [`Victims`] or cut along a [`Topology`].
//! - [`select`] and [`topology`]: the one place where victims and
//!   topologies become node names, as pure seeded functions.
//! - [`write`]: how a client writes the protected resource.
//! - [`options`]: the options a target takes (`--target-opt KEY=VALUE`).
//! - [`persistence`]: how a Redis server keeps its data across a kill.
//!
//! ```text
//!              vocab
//!     ┌──────────┼───────────┬──────────┐
//!  checkers   workloads    targets    docker
//!     └──────────┴─────┬─────┴──────────┘
//!                   harness
//! ```
//!
//! # Example: from a fault spec to the nodes it hits
//!
//! ```
//! use rand::SeedableRng;
//! use splitbrain_vocab::{Cut, FaultSet, Topology, Victims};
//!
//! let set: FaultSet = "clock+client-pause".parse().unwrap();
//! assert_eq!(set.to_string(), "clock+client-pause");
//! assert!("kill+pause".parse::<FaultSet>().unwrap_err().contains("service process"));
//!
//! let nodes: Vec<String> = ["n1", "n2", "n3", "n4", "n5"].map(String::from).to_vec();
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let hit = Victims::Majority.resolve(&nodes, &[], &mut rng).unwrap();
//! assert_eq!(hit.len(), 3);
//!
//! let Cut::Nodes(grudge) = Topology::Bridge.cut(&nodes, &[], &mut rng).unwrap() else {
//!     unreachable!("a bridge cuts nodes from each other")
//! };
//! // One node sees everyone; two halves do not see each other.
//! let sides = splitbrain_vocab::topology::sides(&grudge, &nodes);
//! assert_eq!(sides.iter().filter(|side| side.len() == 5).count(), 1);
//! ```

pub mod fault;
pub mod op;
pub mod options;
pub mod persistence;
pub mod select;
pub mod topology;
pub mod write;

pub use fault::{
    ClockMode, FaultKind, FaultPlan, FaultSet, Pins, ScheduledFault, Topology, Victims,
};
pub use op::{Completion, HistoryClock, Invocation, OpType, F};
pub use options::TargetOptions;
pub use persistence::RedisPersistence;
pub use select::SelectorError;
pub use topology::{Cut, Grudge, TopologyError};
pub use write::WriteMode;
