//! `disk`: the service's data directory runs out of space. The harness
//! mounts a size-limited filesystem there when a disk fault is scheduled;
//! applying fills it with one file until writes fail with ENOSPC, and
//! undoing deletes the file.

use async_trait::async_trait;
use splitbrain_docker::fault::disk as docker_disk;
use splitbrain_vocab::FaultPlan;

use super::package::{FaultCtx, NodeFault, On, Step};

pub struct Disk;

#[async_trait]
impl NodeFault for Disk {
    fn refuse(&self, ctx: &FaultCtx) -> Option<String> {
        let name = ctx.target.name();
        let why = format!("refused: target {name} names no data directory to fill");
        ctx.cluster.data_dir().is_none().then_some(why)
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
