//! The targets `--target` and `--target-file` can name.

use std::path::{Path, PathBuf};
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

/// `binary`, or, when no file is there, the file of the same name beside
/// the running `splitbrain`: a campaign that names the reference service's
/// debug build still finds it in a release build's directory.
fn beside_this_binary(binary: &Path) -> PathBuf {
    if binary.exists() {
        return binary.to_path_buf();
    }
    let beside = std::env::current_exe()
        .ok()
        .zip(binary.file_name())
        .map(|(exe, name)| exe.with_file_name(name));
    match beside {
        Some(other) if other.is_file() => {
            tracing::info!("no file at {}: using {}", binary.display(), other.display());
            other
        }
        _ => binary.to_path_buf(),
    }
}

/// A service described by a manifest (see docs/adapter-protocol.md).
/// `binary` replaces the manifest's own, e.g. with what cargo just built.
pub fn from_manifest(
    path: &Path,
    binary: Option<&Path>,
    workload: WorkloadKind,
) -> Result<Arc<dyn Target>, String> {
    let found = binary.map(beside_this_binary);
    let target = match found.as_deref() {
        Some(binary) => AdapterTarget::from_manifest_file_with_binary(path, binary),
        None => AdapterTarget::from_manifest_file(path),
    }
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(target.with_write_mode(write_mode(workload))))
}
