//! The targets `--target` and `--target-file` can name.

use std::path::Path;
use std::sync::Arc;

use splitbrain_records::RunConfig;
use splitbrain_targets::adapter::AdapterTarget;
use splitbrain_targets::etcd::{EtcdTarget, WriteMode};
use splitbrain_targets::redis::{RedisPersistence, RedisTarget, RedlockTarget, SentinelTarget};
use splitbrain_targets::target::Target;
use splitbrain_workloads::WorkloadKind;

pub const KNOWN: &[&str] = &["etcd", "redis", "redlock", "redis-sentinel"];

/// The `fenced` workload guards its writes with the token; `append`
/// deliberately does not.
fn write_mode(workload: WorkloadKind) -> WriteMode {
    match workload {
        WorkloadKind::Fenced => WriteMode::Fenced,
        _ => WriteMode::Unguarded,
    }
}

/// The built-in target named `name`, set up for `workload`.
pub fn resolve(
    name: &str,
    workload: WorkloadKind,
    persistence: RedisPersistence,
) -> Result<Arc<dyn Target>, String> {
    let mode = write_mode(workload);
    match name {
        "etcd" => Ok(Arc::new(EtcdTarget::new(mode))),
        "redis" => Ok(Arc::new(RedisTarget::new(mode, persistence))),
        "redlock" => Ok(Arc::new(RedlockTarget::new(mode, persistence))),
        "redis-sentinel" => Ok(Arc::new(SentinelTarget::new(mode, persistence))),
        other => Err(format!(
            "unknown target {other:?}; known targets: {} (or describe your own with --target-file)",
            KNOWN.join(", ")
        )),
    }
}

/// The cluster size a target is designed for, when `--nodes` is not given:
/// one Redis, Redlock's five independent nodes, a primary and two replicas.
fn default_nodes(name: &str) -> u64 {
    match name {
        "redis" => 1,
        "redlock" => 5,
        _ => 3,
    }
}

/// `--nodes`, or the target's own default.
pub fn node_count(config: &RunConfig) -> u64 {
    config
        .nodes
        .unwrap_or_else(|| default_nodes(&config.target))
}

/// A service described by a manifest (see docs/adapter-protocol.md).
/// `binary` replaces the manifest's own, e.g. with what cargo just built.
pub fn from_manifest(
    path: &Path,
    binary: Option<&Path>,
    workload: WorkloadKind,
) -> Result<Arc<dyn Target>, String> {
    let target = match binary {
        Some(binary) => AdapterTarget::from_manifest_file_with_binary(path, binary),
        None => AdapterTarget::from_manifest_file(path),
    }
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(target.with_write_mode(write_mode(workload))))
}
