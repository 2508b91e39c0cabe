//! `disk`: the service's data directory runs out of space. The harness
//! mounts a size-limited filesystem there when a disk fault is scheduled;
//! applying fills it with one file until writes fail with ENOSPC, and
//! undoing deletes the file.

use async_trait::async_trait;
use splitbrain_docker::fault::disk as docker_disk;
use splitbrain_targets::target::Target;
use splitbrain_vocab::{FaultKind, FaultPlan};

use super::package::{FaultCtx, NodeFault, On, Step};

pub struct Disk;

#[async_trait]
impl NodeFault for Disk {
    fn refuse(&self, ctx: &FaultCtx) -> Option<String> {
        refusal(ctx.target.as_ref(), ctx.cluster.data_dir().is_some())
    }

    async fn apply_node(&self, on: On<'_>, _: &FaultPlan) -> Step {
        let fill = docker_disk::apply(&on.ctx.cluster, on.node).await;
        let bytes = fill.map_err(|e| e.to_string())?.filled_bytes;
        on.record.filled_bytes.insert(on.node.to_string(), bytes);
        Ok(())
    }

    async fn heal_node(&self, on: On<'_>) -> Step {
        let freed = docker_disk::heal(&on.ctx.cluster, on.node).await;
        freed.map_err(|e| e.to_string())
    }

    /// Without the size-limited directory nothing was ever filled.
    async fn needs_heal(&self, ctx: &FaultCtx, _: &str) -> Result<bool, String> {
        Ok(ctx.cluster.data_dir().is_some())
    }
}

/// Why the fault cannot apply: the target's own reason first (Redis
/// without persistence writes nothing there), else a cluster created
/// without a data directory to fill.
fn refusal(target: &dyn Target, has_data_dir: bool) -> Option<String> {
    let refused = target.fault(FaultKind::Disk).refusal();
    refused.or_else(|| {
        let why = format!(
            "refused: target {} names no data directory to fill",
            target.name()
        );
        (!has_data_dir).then_some(why)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitbrain_targets::redis::{RedisPersistence, RedisTarget, WriteMode};

    #[test]
    fn redis_without_persistence_refuses_the_disk_fault_with_its_reason() {
        let none = RedisTarget::new(WriteMode::Fenced, RedisPersistence::None);
        // The runner mounts no data directory for a target that refuses.
        let why = refusal(&none, false).expect("persistence none is refused");
        assert!(
            why.starts_with("refused: Redis with persistence none writes nothing")
                && why.contains("aof-everysec or aof-always"),
            "{why}"
        );
        for persistence in [RedisPersistence::AofEverysec, RedisPersistence::AofAlways] {
            let aof = RedisTarget::new(WriteMode::Fenced, persistence);
            assert_eq!(refusal(&aof, true), None, "{persistence:?}");
            let why = refusal(&aof, false).expect("no directory, no fault");
            assert!(why.contains("names no data directory"), "{why}");
        }
    }
}
