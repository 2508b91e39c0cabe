//! Test support shared by the workspace's integration tests: services run
//! as processes on loopback addresses ([`loopback`], [`cluster`]), and the
//! conformance suite ([`suite`]) that every lock target's [`bed::TestBed`]
//! runs through [`conformance!`].

pub mod bed;
pub mod beds;
pub mod behaviours;
pub mod cluster;
pub mod loopback;
pub mod ops;
pub mod suite;
