//! What one run was asked to do: `run.json`'s `config`, built by
//! `splitbrain run` from its flags and by `splitbrain campaign` from a
//! campaign entry's `args`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use splitbrain_vocab::{
    ClockMode, FaultKind, FaultSet, RedisPersistence, TargetOptions, Topology, Victims,
};
use splitbrain_workloads::WorkloadKind;

/// A run's configuration. Field names are the flags' long names with their
/// unit last; a field missing from an older `run.json` reads as its
/// `splitbrain run` default ([`RunConfig::default`]), because the flag it
/// stands for did not exist yet and the run behaved as that default does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// `--target`: the built-in service under test (`etcd`, `redis`,
    /// `redlock`, `redis-sentinel`); ignored when `target_file` is set.
    pub target: String,
    /// `--target-file`: a manifest describing a service of the user's own.
    pub target_file: Option<PathBuf>,
    /// `--service-binary`: uploaded instead of the manifest's `binary`.
    pub service_binary: Option<PathBuf>,
    /// `--workload`: lock, fenced, append or election.
    pub workload: WorkloadKind,
    /// `--nemesis`: the kinds of fault window, `+` joining faults that share one.
    pub nemesis: NemesisList,
    /// `--victims`: which nodes node faults hit, when pinned.
    pub victims: Option<Victims>,
    /// `--topology`: how partitions cut, when pinned.
    pub topology: Option<Topology>,
    /// `--clock`: the clock fault, when pinned.
    pub clock: Option<ClockMode>,
    /// `--nemesis-interval`: seconds of each fault window and of each quiet
    /// window between them.
    pub nemesis_interval_s: u64,
    /// `--nodes`: the cluster size; `None` is the target's own default.
    pub nodes: Option<u64>,
    /// `--redis-persistence`: how Redis targets keep their data across a
    /// kill (the old form of `--target-opt persistence=...`).
    pub redis_persistence: RedisPersistence,
    /// `--target-opt KEY=VALUE`: the target's own options (added after
    /// version 0.1.0 of this record; absent when none were given).
    #[serde(default, skip_serializing_if = "TargetOptions::is_empty")]
    pub target_opts: TargetOptions,
    /// `--concurrency`: concurrent client processes.
    pub concurrency: u64,
    /// `--time-limit`: seconds of the main phase (operations and faults).
    pub time_limit_s: u64,
    /// `--rate`: upper bound on operations invoked per second, over all clients.
    pub rate_per_s: f64,
    /// `--lease-ms`: lease TTL for locks and campaigns.
    pub lease_ms: u64,
    /// `--hold-ms`: `[min, max]` a holder keeps a lock or leadership;
    /// `None` is 50 to twice the lease.
    pub hold_ms: Option<(u64, u64)>,
    /// `--keys`: lock or election names the clients contend on.
    pub keys: u64,
    /// `--seed` as given; the seed the run used is `run.json`'s `seed`.
    pub seed: Option<u64>,
    /// `--results`: the results store the run directory was created in.
    pub results_dir: PathBuf,
    /// `--image`: the node image given instead of the built base image.
    pub image: Option<String>,
    /// `--recovery`: seconds of the quiet window after the final heal.
    pub recovery_s: u64,
    /// `--request-timeout-ms`: bound on one request (get, put, keep-alive).
    pub request_timeout_ms: u64,
    /// `--acquire-timeout-ms`: bound on waiting for a lock or an election win.
    pub acquire_timeout_ms: u64,
    /// `--junit`: where the run's JUnit XML report was written.
    pub junit: Option<PathBuf>,
    /// `--max-ops`: operations invoked at most, whatever the time limit.
    pub max_ops: u64,
}

impl Default for RunConfig {
    /// The defaults of `splitbrain run`'s flags (the harness tests that
    /// they agree).
    fn default() -> Self {
        RunConfig {
            target: "etcd".to_string(),
            target_file: None,
            service_binary: None,
            workload: WorkloadKind::Lock,
            nemesis: NemesisList(
                [FaultKind::Partition, FaultKind::Pause, FaultKind::Kill]
                    .map(FaultSet::single)
                    .to_vec(),
            ),
            victims: None,
            topology: None,
            clock: None,
            nemesis_interval_s: 5,
            nodes: None,
            redis_persistence: RedisPersistence::None,
            target_opts: TargetOptions::default(),
            concurrency: 10,
            time_limit_s: 60,
            rate_per_s: 200.0,
            lease_ms: 2000,
            hold_ms: None,
            keys: 1,
            seed: None,
            results_dir: PathBuf::from("results"),
            image: None,
            recovery_s: 10,
            request_timeout_ms: 1500,
            acquire_timeout_ms: 4000,
            junit: None,
            max_ops: 1_000_000,
        }
    }
}

/// The `--nemesis` list (`none` is the empty list): one entry per kind of
/// fault window, `+` joining faults that share a window. Serialized as a
/// list of fault sets (`["partition", "clock+client-pause"]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NemesisList(pub Vec<FaultSet>);

impl NemesisList {
    /// Whether any window may apply `kind`.
    pub fn includes(&self, kind: FaultKind) -> bool {
        self.0.iter().any(|set| set.contains(kind))
    }
}

impl std::str::FromStr for NemesisList {
    type Err = String;
    /// `none`, or comma-separated fault sets; a repeated set counts once.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "none" {
            return Ok(NemesisList(Vec::new()));
        }
        let mut sets = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let set: FaultSet = part.parse()?;
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
        if sets.is_empty() {
            return Err("expected at least one fault, or `none`".to_string());
        }
        Ok(NemesisList(sets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemesis_lists_parse_none_sets_and_repeats() {
        assert_eq!("none".parse::<NemesisList>(), Ok(NemesisList(Vec::new())));
        let list: NemesisList = "partition, clock+client-pause,partition".parse().unwrap();
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            serde_json::json!(["partition", "clock+client-pause"])
        );
        assert!(list.includes(FaultKind::ClientPause) && !list.includes(FaultKind::Kill));
        assert!(",".parse::<NemesisList>().is_err());
        assert!("partition,earthquake"
            .parse::<NemesisList>()
            .is_err_and(|e| e.contains("earthquake")));
    }

    #[test]
    fn a_config_from_before_a_flag_existed_reads_that_flag_as_its_default() {
        let old: RunConfig =
            serde_json::from_value(serde_json::json!({"target": "redis", "concurrency": 4}))
                .unwrap();
        assert_eq!(old.target, "redis");
        assert_eq!(old.concurrency, 4);
        assert_eq!(old.max_ops, RunConfig::default().max_ops);
        assert_eq!(old.nemesis, RunConfig::default().nemesis);
    }
}
