//! `partition`: iptables drops between nodes (a grudge), or between some
//! nodes and the clients. Needs nothing of the service.

use async_trait::async_trait;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use splitbrain_docker::fault::partition as docker_partition;
use splitbrain_vocab::topology::sides;
use splitbrain_vocab::{Cut, FaultPlan, Topology};

use super::package::{Applied, Errors, FaultCtx, FaultPackage};
use super::record::FaultRecord as Rec;

pub struct Partition;

#[async_trait]
impl FaultPackage for Partition {
    async fn apply(&self, ctx: &mut FaultCtx, plan: &FaultPlan, record: &mut Rec) -> Applied {
        let FaultPlan::Partition { topology, seed } = *plan else {
            unreachable!("the partition package was given {plan:?}")
        };
        let names = ctx.node_names();
        let primaries = if topology == Topology::Primaries {
            ctx.primaries().await
        } else {
            Vec::new()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let cut = topology.cut(&names, &primaries, &mut rng);
        match cut.map_err(|e| e.to_string())? {
            Cut::FromClients(cut) => {
                record.nodes = Some(cut.clone());
                docker_partition::isolate_from_clients(&ctx.cluster, &cut)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(cut)
            }
            Cut::Nodes(grudge) => {
                record.sides = Some(sides(&grudge, &names));
                docker_partition::apply(&ctx.cluster, &grudge)
                    .await
                    .map_err(|e| e.to_string())?;
                record.grudge = Some(grudge);
                Ok(names)
            }
        }
    }

    async fn undo(&self, ctx: &mut FaultCtx, _: &[String], _: &mut Rec) -> Errors {
        heal(ctx).await
    }

    async fn heal_everywhere(&self, ctx: &mut FaultCtx, _: &mut Rec) -> Errors {
        heal(ctx).await
    }
}

async fn heal(ctx: &FaultCtx) -> Errors {
    match docker_partition::heal(&ctx.cluster).await {
        Ok(()) => Vec::new(),
        Err(e) => vec![e.to_string()],
    }
}
