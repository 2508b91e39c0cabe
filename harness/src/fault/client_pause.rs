//! `client-pause`: stall a client that holds a lock or leadership (its
//! keep-alives included) past its lease. Acts on the controller's own
//! clients, so it needs nothing of the service; it ends by itself.

use std::time::Duration;

use async_trait::async_trait;
use splitbrain_vocab::FaultPlan;

use super::package::{Applied, Errors, FaultCtx, FaultPackage};
use super::record::FaultRecord as Rec;

/// How long to wait for someone to hold something: stalling an idle
/// client proves nothing.
const HOLDER_WAIT_STEPS: u32 = 40;
const HOLDER_WAIT_STEP_MS: u64 = 50;

pub struct ClientPause;

#[async_trait]
impl FaultPackage for ClientPause {
    async fn apply(&self, ctx: &mut FaultCtx, plan: &FaultPlan, record: &mut Rec) -> Applied {
        let FaultPlan::ClientPause { pause_ms, .. } = *plan else {
            unreachable!("the client-pause package was given {plan:?}")
        };
        let mut holders = ctx.clients.holding();
        for _ in 0..HOLDER_WAIT_STEPS {
            if !holders.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(HOLDER_WAIT_STEP_MS)).await;
            holders = ctx.clients.holding();
        }
        let Some(&(slot, process)) = holders.first() else {
            return Err("no client held a lock or leadership to stall".to_string());
        };
        record.process = Some(process);
        ctx.clients
            .request_stall(slot, Duration::from_millis(pause_ms));
        Ok(Vec::new())
    }

    /// The stalled client resumes by itself.
    async fn undo(&self, _: &mut FaultCtx, _: &[String], _: &mut Rec) -> Errors {
        Vec::new()
    }

    async fn heal_everywhere(&self, _: &mut FaultCtx, _: &mut Rec) -> Errors {
        Vec::new()
    }
}
