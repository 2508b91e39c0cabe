//! Clients and deployment recipes for the services under test.

pub mod client;
pub mod target;
