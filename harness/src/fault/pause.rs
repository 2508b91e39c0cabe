//! `pause`: SIGSTOP the service on the victims; undone by SIGCONT.

use async_trait::async_trait;
use splitbrain_docker::fault::pause as docker_pause;
use splitbrain_vocab::{FaultKind, FaultPlan};

use super::record::FaultRecord;
use super::{FaultCtx, FaultPackage};

pub struct Pause;

#[async_trait]
impl FaultPackage for Pause {
    fn kind(&self) -> FaultKind {
        FaultKind::Pause
    }

    fn colour(&self) -> &'static str {
        "#8b5cf6"
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
        let FaultPlan::Pause { victims, seed } = *plan else {
            unreachable!("the pause package was given {plan:?}")
        };
        let chosen = ctx.victims(victims, seed).await?;
        record.nodes = Some(chosen.clone());
        for node in &chosen {
            docker_pause::apply(&ctx.cluster, node)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(chosen)
    }

    async fn undo(&self, ctx: &mut FaultCtx, nodes: &[String], _: &mut FaultRecord) -> Vec<String> {
        resume(ctx, nodes).await
    }

    async fn heal_everywhere(&self, ctx: &mut FaultCtx, _: &mut FaultRecord) -> Vec<String> {
        resume(ctx, &ctx.node_names()).await
    }
}

async fn resume(ctx: &FaultCtx, nodes: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for node in nodes {
        if let Err(e) = docker_pause::heal(&ctx.cluster, node).await {
            errors.push(e.to_string());
        }
    }
    errors
}
