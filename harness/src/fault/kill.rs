//! `kill`: SIGKILL the service on the victims; undone by restarting it
//! with the same command (re-skewed if the node's clock is still off).
//! The final heal restarts every service that is not running.

use async_trait::async_trait;
use splitbrain_docker::fault::kill as docker_kill;
use splitbrain_vocab::FaultPlan;

use super::clock::reapply_clock;
use super::package::{FaultCtx, NodeFault, On, Step};

pub struct Kill;

#[async_trait]
impl NodeFault for Kill {
    async fn apply_node(&self, on: On<'_>, _: &FaultPlan) -> Step {
        let killed = docker_kill::apply(&on.ctx.cluster, on.node).await;
        killed.map(drop).map_err(|e| e.to_string())
    }

    async fn heal_node(&self, on: On<'_>) -> Step {
        let restarted = docker_kill::heal(&on.ctx.cluster, on.node).await;
        restarted.map_err(|e| e.to_string())?;
        reapply_clock(on).await
    }

    async fn needs_heal(&self, ctx: &FaultCtx, node: &str) -> Result<bool, String> {
        let running = ctx.cluster.is_running(node).await;
        running.map(|up| !up).map_err(|e| e.to_string())
    }
}
