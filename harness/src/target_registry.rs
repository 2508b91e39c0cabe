//! The targets `--target` and `--target-file` can name.

use std::path::Path;
use std::sync::Arc;

use splitbrain_records::RunConfig;
use splitbrain_targets::adapter::AdapterTarget;
use splitbrain_targets::registry;
use splitbrain_targets::target::Target;
use splitbrain_vocab::WriteMode;
use splitbrain_workloads::WorkloadKind;

/// The `fenced` workload guards its writes with the token; `append`
/// deliberately does not.
fn write_mode(workload: WorkloadKind) -> WriteMode {
    match workload {
        WorkloadKind::Fenced => WriteMode::Fenced,
        _ => WriteMode::Unguarded,
    }
}

/// The built-in target the configuration names, with its options, set up
/// for its workload.
pub fn resolve(config: &RunConfig) -> Result<Arc<dyn Target>, String> {
    let mode = write_mode(config.workload);
    registry::builtin(&config.target, mode, &config.target_opts).map_err(|e| e.to_string())
}

/// `--nodes`, or the target's own default.
pub fn node_count(config: &RunConfig, target: &dyn Target) -> u64 {
    config.nodes.unwrap_or(target.default_nodes() as u64)
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
