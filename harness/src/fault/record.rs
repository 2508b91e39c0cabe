//! The typed value of a nemesis record: what a fault's `start-*`, `stop-*`
//! and the final `heal` record say beyond the plan as drawn.
//!
//! A `start-*` record's value is the [`FaultPlan`] as drawn (its own
//! fields: `fault`, `victims`, `topology`, `clock`, `seed`, ...) merged
//! with a [`FaultRecord`] of what applying it resolved. The report reads
//! the same struct back; every field is optional so histories written
//! before a field existed, and hand-written ones, still read. Fields are
//! additive only, like the history format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use splitbrain_docker::fault::clock::{HealOutcome, SkewedProcess};
use splitbrain_vocab::{ClockMode, FaultKind, FaultPlan, Grudge};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// The fault's name, on `stop-*` records (a start record's plan has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
    /// A clock fault's mode (from the plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockMode>,
    /// The nodes hit; for a `clients` partition, the nodes cut off from
    /// the clients; on `heal`, every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
    /// A partition's cut: node to the nodes it drops traffic from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grudge: Option<Grudge>,
    /// A partition's groups of nodes that still see each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sides: Option<Vec<Vec<String>>>,
    /// The logical process a client pause stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<u64>,
    /// Per node, the service processes a clock fault reached and how.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub processes: BTreeMap<String, Vec<SkewedRecord>>,
    /// Per node, how many bytes the disk fault's fill file took: the data
    /// directory's free space when the fault started.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filled_bytes: BTreeMap<String, u64>,
    /// Per node, restarted service processes re-patched to the node's
    /// still-skewed clock.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub clock_reapplied: BTreeMap<String, Vec<SkewedRecord>>,
    /// Per node, patched pids whose original vDSO bytes a heal put back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vdso_restored: BTreeMap<String, Vec<u32>>,
    /// Per node, patched pids a heal left patched (real speed), because
    /// their monotonic clocks are ahead and the real vDSO would step back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vdso_kept: BTreeMap<String, Vec<KeptRecord>>,
}

/// One service process a clock change reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkewedRecord {
    pub pid: u32,
    /// `ld-preload` or `vdso-patch`.
    pub mechanism: String,
    /// Whether this change patched it (false: preloaded, or patched before).
    #[serde(default)]
    pub newly_patched: bool,
}

impl From<&SkewedProcess> for SkewedRecord {
    fn from(p: &SkewedProcess) -> Self {
        SkewedRecord {
            pid: p.pid,
            mechanism: p.mechanism.as_str().to_string(),
            newly_patched: p.newly_patched,
        }
    }
}

/// A process a clock heal left patched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptRecord {
    pub pid: u32,
    pub monotonic_ahead_ms: i64,
}

impl FaultRecord {
    /// Reads a record's value; anything unreadable reads as empty (a
    /// history from elsewhere may carry anything in a nemesis value).
    pub fn read(value: &Value) -> FaultRecord {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    /// Notes what a clock heal did on `node`.
    pub fn note_clock_heal(&mut self, node: &str, healed: &HealOutcome) {
        if !healed.restored.is_empty() {
            self.vdso_restored
                .insert(node.to_string(), healed.restored.clone());
        }
        if !healed.kept.is_empty() {
            let kept = healed.kept.iter().map(|&(pid, ahead_ns)| KeptRecord {
                pid,
                monotonic_ahead_ms: ahead_ns / 1_000_000,
            });
            self.vdso_kept.insert(node.to_string(), kept.collect());
        }
    }
}

/// A `start-*` record's value: the plan's fields, then what applying it
/// resolved (a resolved field wins over a plan field of the same name).
pub fn start_value(plan: &FaultPlan, record: &FaultRecord) -> Value {
    let mut value = serde_json::to_value(plan).unwrap_or(Value::Null);
    if let (Some(map), Ok(Value::Object(resolved))) =
        (value.as_object_mut(), serde_json::to_value(record))
    {
        map.extend(resolved);
    }
    value
}

/// A `stop-*` or `heal` record's value.
pub fn value(record: &FaultRecord) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}
