//! splitbrain's history format and safety checkers.
//!
//! This crate is pure: no async runtime, no Docker, no network.

pub mod history;
pub mod verdict;
