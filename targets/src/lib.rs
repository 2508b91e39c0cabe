//! Clients and deployment recipes for the services under test.

pub mod client;
pub mod etcd;
pub mod redis;
pub mod target;
