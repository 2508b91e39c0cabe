//! `packet`: delay, jitter and loss on the victims' traffic (iptables and
//! an in-node delayer: this kernel has no netem). Needs nothing of the
//! service.

use async_trait::async_trait;
use splitbrain_docker::fault::packet as docker_packet;
use splitbrain_vocab::FaultPlan;

use super::package::{NodeFault, On, Step};

pub struct Packet;

#[async_trait]
impl NodeFault for Packet {
    async fn apply_node(&self, on: On<'_>, plan: &FaultPlan) -> Step {
        let FaultPlan::Packet {
            delay_ms,
            jitter_ms,
            loss_pct,
            ..
        } = *plan
        else {
            unreachable!("the packet package was given {plan:?}")
        };
        let cluster = &on.ctx.cluster;
        let slowed = docker_packet::apply_to_all(cluster, on.node, delay_ms, jitter_ms, loss_pct);
        slowed.await.map_err(|e| e.to_string())
    }

    async fn heal_node(&self, on: On<'_>) -> Step {
        let healed = docker_packet::heal(&on.ctx.cluster, on.node).await;
        healed.map_err(|e| e.to_string())
    }
}
