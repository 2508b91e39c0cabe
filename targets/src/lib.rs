//! Clients and deployment recipes for the services under test.

pub mod adapter;
pub mod client;
pub mod etcd;
mod failure;
pub mod manifest;
mod process;
pub mod redis;
pub mod registry;
mod resource;
pub mod target;
