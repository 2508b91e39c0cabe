//! The targets `--target` and `--target-file` can name.

use std::path::Path;
use std::sync::Arc;

use splitbrain_targets::adapter::AdapterTarget;
use splitbrain_targets::etcd::{EtcdTarget, WriteMode};
use splitbrain_targets::target::Target;
use splitbrain_workloads::WorkloadKind;

pub const KNOWN: &[&str] = &["etcd"];

/// The `fenced` workload guards its writes with the token; `append`
/// deliberately does not.
fn write_mode(workload: WorkloadKind) -> WriteMode {
    match workload {
        WorkloadKind::Fenced => WriteMode::Fenced,
        _ => WriteMode::Unguarded,
    }
}

/// The built-in target named `name`, set up for `workload`.
pub fn resolve(name: &str, workload: WorkloadKind) -> Result<Arc<dyn Target>, String> {
    match name {
        "etcd" => Ok(Arc::new(EtcdTarget::new(write_mode(workload)))),
        other => Err(format!(
            "unknown target {other:?}; known targets: {} (or describe your own with --target-file)",
            KNOWN.join(", ")
        )),
    }
}

/// A service described by a manifest (see docs/adapter-protocol.md).
pub fn from_manifest(path: &Path, workload: WorkloadKind) -> Result<Arc<dyn Target>, String> {
    let target = AdapterTarget::from_manifest_file(path).map_err(|e| e.to_string())?;
    Ok(Arc::new(target.with_write_mode(write_mode(workload))))
}
