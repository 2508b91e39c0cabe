//! `disk`: the service's data directory runs out of space. The harness
//! mounts a size-limited filesystem there when a disk fault is scheduled;
//! applying fills it with one file until writes fail with ENOSPC, and
//! undoing deletes the file.

use async_trait::async_trait;
use splitbrain_docker::fault::disk as docker_disk;
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
        let refused = ctx.target.fault(self.kind()).refusal();
        refused.or_else(|| {
            let why = format!(
                "refused: target {} names no data directory to fill",
                ctx.target.name()
            );
            ctx.cluster.data_dir().is_none().then_some(why)
        })
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

async fn free(ctx: &FaultCtx, nodes: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for node in nodes {
        if let Err(e) = docker_disk::heal(&ctx.cluster, node).await {
            errors.push(e.to_string());
        }
    }
    errors
}
