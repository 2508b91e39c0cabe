//! `pause`: SIGSTOP the service on the victims; undone by SIGCONT.

use async_trait::async_trait;
use splitbrain_docker::fault::pause as docker_pause;
use splitbrain_vocab::FaultPlan;

use super::package::{NodeFault, On, Step};

pub struct Pause;

#[async_trait]
impl NodeFault for Pause {
    async fn apply_node(&self, on: On<'_>, _: &FaultPlan) -> Step {
        let paused = docker_pause::apply(&on.ctx.cluster, on.node).await;
        paused.map_err(|e| e.to_string())
    }

    async fn heal_node(&self, on: On<'_>) -> Step {
        let resumed = docker_pause::heal(&on.ctx.cluster, on.node).await;
        resumed.map_err(|e| e.to_string())
    }
}
