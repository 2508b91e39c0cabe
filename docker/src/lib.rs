//! The Docker substrate: images, clusters, faults.

pub mod clock;
