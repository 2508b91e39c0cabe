//! `kill`: SIGKILL the service on the victims; undone by restarting it
//! with the same command (re-skewed if the node's clock is still off).

use async_trait::async_trait;
use splitbrain_docker::fault::kill as docker_kill;
use splitbrain_vocab::{FaultKind, FaultPlan};

use super::clock::reapply_clock;
use super::record::FaultRecord;
use super::{FaultCtx, FaultPackage};

pub struct Kill;

#[async_trait]
impl FaultPackage for Kill {
    fn kind(&self) -> FaultKind {
        FaultKind::Kill
    }

    fn colour(&self) -> &'static str {
        "#ef4444"
    }

    fn refusal(&self, ctx: &FaultCtx) -> Option<String> {
        ctx.target.fault(self.kind()).refusal()
    }

    async fn apply(
        &self,
        ctx: &mut FaultCtx,
        plan: &FaultPlan,
        record: &mut FaultRecord,
    ) -> Result<Vec<String>, String> {
        let FaultPlan::Kill { victims, seed } = *plan else {
            unreachable!("the kill package was given {plan:?}")
        };
        let chosen = ctx.victims(victims, seed).await?;
        record.nodes = Some(chosen.clone());
        for node in &chosen {
            docker_kill::apply(&ctx.cluster, node)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(chosen)
    }

    async fn undo(
        &self,
        ctx: &mut FaultCtx,
        nodes: &[String],
        record: &mut FaultRecord,
    ) -> Vec<String> {
        let mut errors = Vec::new();
        for node in nodes {
            if let Err(e) = restart(ctx, node, record).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Restarts every service that is not running.
    async fn heal_everywhere(&self, ctx: &mut FaultCtx, record: &mut FaultRecord) -> Vec<String> {
        let mut errors = Vec::new();
        for node in ctx.node_names() {
            let restarted = match ctx.cluster.is_running(&node).await {
                Ok(true) => Ok(()),
                Ok(false) => restart(ctx, &node, record).await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = restarted {
                errors.push(e);
            }
        }
        errors
    }
}

async fn restart(ctx: &mut FaultCtx, node: &str, record: &mut FaultRecord) -> Result<(), String> {
    docker_kill::heal(&ctx.cluster, node)
        .await
        .map_err(|e| e.to_string())?;
    reapply_clock(ctx, node, record).await
}
