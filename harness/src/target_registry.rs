//! The targets `--target` can name.

use std::sync::Arc;

use splitbrain_targets::etcd::{EtcdTarget, WriteMode};
use splitbrain_targets::target::Target;
use splitbrain_workloads::WorkloadKind;

pub const KNOWN: &[&str] = &["etcd"];

/// The target named `name`, set up for `workload` (the `fenced` workload
/// guards its writes with the token; `append` deliberately does not).
pub fn resolve(name: &str, workload: WorkloadKind) -> Result<Arc<dyn Target>, String> {
    let write_mode = match workload {
        WorkloadKind::Fenced => WriteMode::Fenced,
        _ => WriteMode::Unguarded,
    };
    match name {
        "etcd" => Ok(Arc::new(EtcdTarget::new(write_mode))),
        other => Err(format!(
            "unknown target {other:?}; known targets: {}",
            KNOWN.join(", ")
        )),
    }
}
