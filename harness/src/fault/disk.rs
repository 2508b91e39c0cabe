//! `disk`: the service's data directory runs out of space. The harness
//! mounts a size-limited filesystem there when a disk fault is scheduled;
//! applying fills it with one file until writes fail with ENOSPC, and
//! undoing deletes the file.

use async_trait::async_trait;
use splitbrain_docker::fault::disk as docker_disk;
use splitbrain_targets::target::Target;
use splitbrain_vocab::{FaultKind, FaultPlan};

use super::record::FaultRecord;
use super::{FaultCtx, FaultPackage};

pub struct Disk;

#[async_trait]
impl FaultPackage for Disk {
    fn kind(&self) -> FaultKind {
        FaultKind::Disk
    }

    fn colour(&self) -> &'static str {
        "#a16207"
    }

    fn refusal(&self, ctx: &FaultCtx) -> Option<String> {
        refusal(ctx.target.as_ref(), ctx.cluster.data_dir().is_some())
    }

    async fn apply(
        &self,
        ctx: &mut FaultCtx,
        plan: &FaultPlan,
        record: &mut FaultRecord,
    ) -> Result<Vec<String>, String> {
        let FaultPlan::Disk { victims, seed } = *plan else {
            unreachable!("the disk package was given {plan:?}")
        };
        let chosen = ctx.victims(victims, seed).await?;
        record.nodes = Some(chosen.clone());
        for node in &chosen {
            let fill = docker_disk::apply(&ctx.cluster, node)
                .await
                .map_err(|e| e.to_string())?;
            record.filled_bytes.insert(node.clone(), fill.filled_bytes);
        }
        Ok(chosen)
    }

    async fn undo(&self, ctx: &mut FaultCtx, nodes: &[String], _: &mut FaultRecord) -> Vec<String> {
        free(ctx, nodes).await
    }

    async fn heal_everywhere(&self, ctx: &mut FaultCtx, _: &mut FaultRecord) -> Vec<String> {
        if ctx.cluster.data_dir().is_none() {
            return Vec::new();
        }
        free(ctx, &ctx.node_names()).await
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

async fn free(ctx: &FaultCtx, nodes: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for node in nodes {
        if let Err(e) = docker_disk::heal(&ctx.cluster, node).await {
            errors.push(e.to_string());
        }
    }
    errors
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
