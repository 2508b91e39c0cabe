//! `run.json`: what a run was asked to do and what it ran on.
//!
//! The run writes it in stages, each write replacing the file whole: first
//! `config`, `seed`, `run_id` and `harness`; after the deploy `image`,
//! `clock_faults` and `target`; then `timings` and `schedule` as the main
//! phase starts; `clock_faults.applied` after the final heal. A run that
//! stopped early leaves the stages it reached, so every later stage is
//! optional when reading.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};
use splitbrain_workloads::FaultSchedule;

use crate::config::RunConfig;

/// The whole of `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's configuration, as given on the command line or by a campaign.
    pub config: RunConfig,
    /// The seed the run used (drawn when `config.seed` is `None`); replays
    /// the fault schedule and the workload.
    pub seed: u64,
    /// Names the run's containers and network (`<target>-<stamp>-<hex>`).
    pub run_id: String,
    /// The harness that ran.
    pub harness: HarnessInfo,
    /// The image the nodes ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// How clock faults were planned and applied: absent before the deploy,
    /// `null` (`Some(None)`) when no clock fault was scheduled.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub clock_faults: Option<Option<ClockFaults>>,
    /// The deployed service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetRecord>,
    /// Startup timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    /// The fault schedule drawn from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<FaultSchedule>,
}

/// A field that is present, even as `null`, is `Some`: `null` and absent
/// say different things (see [`RunRecord::clock_faults`]).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Which harness wrote the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HarnessInfo {
    /// The `splitbrain` crate version.
    pub version: String,
    /// `git rev-parse HEAD` at build time, `-dirty` when the tree had
    /// changes, `unknown` outside a checkout.
    pub git_revision: String,
}

/// The service as deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// The target's name (`etcd`, a manifest's `name`).
    pub name: String,
    /// What the target's fencing tokens mean when they are not a global
    /// order (Redlock has none); `null` when they are.
    #[serde(default)]
    pub token_note: Option<String>,
    /// The service's version command as the first node answered it, or
    /// `unknown (<why>)`.
    pub version: String,
    /// The nodes, in order.
    pub nodes: Vec<NodeRecord>,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node's container and host name (`n1`, `n2`, ...).
    pub name: String,
    /// Its address on the run's network.
    pub ip: IpAddr,
}

/// Startup timings, in milliseconds since the command started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// The cluster was up and every node answered its probe.
    pub deploy_done_ms: u64,
    /// The history clock started, with the workers: time to the first op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_start_ms: Option<u64>,
}

/// How a clock fault reaches a service process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClockMechanism {
    /// Started under the LD_PRELOAD shim.
    #[serde(rename = "ld-preload")]
    Preload,
    /// Its vDSO clock functions patched in the running process.
    #[serde(rename = "vdso-patch")]
    VdsoPatch,
}

impl ClockMechanism {
    /// The name run.json and the report use.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockMechanism::Preload => "ld-preload",
            ClockMechanism::VdsoPatch => "vdso-patch",
        }
    }
}

/// Per node, the mechanisms that reached a service process there and the
/// pids they reached.
pub type ClockApplied = BTreeMap<String, BTreeMap<ClockMechanism, BTreeSet<u32>>>;

/// Clock faults of a run that scheduled them. Either planned (the clock
/// tools are installed, `planned` per node, `applied` after the final heal)
/// or refused (`planned` is `null`, `refused` says why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockFaults {
    /// Where each node's clock state lives (planned only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<String>,
    /// The tool that writes the clock state (planned only): `clockctl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// Per node, the mechanism meant to reach its service; `null` when refused.
    pub planned: Option<BTreeMap<String, ClockMechanism>>,
    /// What actually reached which pids, written after the final heal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<ClockApplied>,
    /// Why the target cannot take clock faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl ClockFaults {
    /// The clock tools are installed on `nodes`, each meant to be reached by
    /// `mechanism`.
    pub fn installed<'a>(
        state_file: &str,
        writer: &str,
        nodes: impl IntoIterator<Item = &'a str>,
        mechanism: ClockMechanism,
    ) -> ClockFaults {
        ClockFaults {
            state_file: Some(state_file.to_string()),
            writer: Some(writer.to_string()),
            planned: Some(
                nodes
                    .into_iter()
                    .map(|n| (n.to_string(), mechanism))
                    .collect(),
            ),
            applied: None,
            refused: None,
        }
    }

    /// The target cannot take clock faults, for `reason`.
    pub fn refused(reason: String) -> ClockFaults {
        ClockFaults {
            state_file: None,
            writer: None,
            planned: None,
            applied: None,
            refused: Some(reason),
        }
    }

    /// Records what the nemesis applied, given as JSON (`{node: {mechanism:
    /// [pid, ...]}}`); only a planned record takes it.
    pub fn set_applied(&mut self, applied: serde_json::Value) -> Result<(), serde_json::Error> {
        if self.planned.is_some() {
            self.applied = Some(serde_json::from_value(applied)?);
        }
        Ok(())
    }
}

/// The few `run.json` fields a listing of runs shows. Reads any `run.json`,
/// however old or partial, and skips the rest without building it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RunHeadline {
    /// The seed the run used.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The deployed service's name.
    #[serde(default)]
    pub target: Option<TargetHeadline>,
}

/// `target.name` of a [`RunHeadline`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TargetHeadline {
    /// The target's name.
    pub name: String,
}
