//! `client-pause`: stall a client that holds a lock or leadership (its
//! keep-alives included) past its lease. Acts on the controller's own
//! clients, so it needs nothing of the service; it ends by itself.

use std::time::Duration;

use async_trait::async_trait;
use splitbrain_vocab::{FaultKind, FaultPlan};

use super::record::FaultRecord;
use super::{FaultCtx, FaultPackage};

/// How long to wait for someone to hold something: stalling an idle
/// client proves nothing.
const HOLDER_WAIT_STEPS: u32 = 40;
const HOLDER_WAIT_STEP_MS: u64 = 50;

pub struct ClientPause;

#[async_trait]
impl FaultPackage for ClientPause {
    fn kind(&self) -> FaultKind {
        FaultKind::ClientPause
    }

    fn colour(&self) -> &'static str {
        "#ec4899"
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

    async fn undo(&self, _: &mut FaultCtx, _: &[String], _: &mut FaultRecord) -> Vec<String> {
        Vec::new()
    }

    async fn heal_everywhere(&self, _: &mut FaultCtx, _: &mut FaultRecord) -> Vec<String> {
        Vec::new()
    }
}
