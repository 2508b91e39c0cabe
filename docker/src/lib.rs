//! The Docker substrate: images, clusters, faults.
