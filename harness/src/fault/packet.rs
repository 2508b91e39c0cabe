//! `packet`: delay, jitter and loss on the victims' traffic (iptables and
//! an in-node delayer: this kernel has no netem). Needs nothing of the
//! service.

use async_trait::async_trait;
use splitbrain_docker::fault::packet as docker_packet;
use splitbrain_vocab::{FaultKind, FaultPlan};

use super::record::FaultRecord;
use super::{FaultCtx, FaultPackage};

pub struct Packet;

#[async_trait]
impl FaultPackage for Packet {
    fn kind(&self) -> FaultKind {
        FaultKind::Packet
    }

    fn colour(&self) -> &'static str {
        "#84cc16"
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
        let FaultPlan::Packet {
            victims,
            delay_ms,
            jitter_ms,
            loss_pct,
            seed,
        } = *plan
        else {
            unreachable!("the packet package was given {plan:?}")
        };
        let chosen = ctx.victims(victims, seed).await?;
        record.nodes = Some(chosen.clone());
        for node in &chosen {
            docker_packet::apply_to_all(&ctx.cluster, node, delay_ms, jitter_ms, loss_pct)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(chosen)
    }

    async fn undo(&self, ctx: &mut FaultCtx, nodes: &[String], _: &mut FaultRecord) -> Vec<String> {
        heal(ctx, nodes).await
    }

    async fn heal_everywhere(&self, ctx: &mut FaultCtx, _: &mut FaultRecord) -> Vec<String> {
        heal(ctx, &ctx.node_names()).await
    }
}

async fn heal(ctx: &FaultCtx, nodes: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for node in nodes {
        if let Err(e) = docker_packet::heal(&ctx.cluster, node).await {
            errors.push(e.to_string());
        }
    }
    errors
}
