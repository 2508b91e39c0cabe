//! `splitbrain run`: deploy a target, drive clients under faults, record the
//! history as it happens, heal, check.
//!
//! With no flags it runs the embedded default: a one-minute lock campaign on a
//! 3-node etcd cluster with partition, pause and kill faults.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Parser;
use splitbrain_checkers::verdict::Validity;
use splitbrain_records::{Exit, NemesisList, RunConfig};
use splitbrain_vocab::{ClockMode, RedisPersistence, TargetOptions, Topology, Victims};
use splitbrain_workloads::WorkloadKind;

use crate::exit::CommandError;

/// `splitbrain run`'s flags; [`RunArgs::into_config`] turns them into the
/// [`RunConfig`] a run takes. Defaults agree with [`RunConfig::default`].
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Service under test.
    #[arg(long, default_value = "etcd")]
    pub target: String,
    /// A service of your own, described by a manifest (TOML); overrides --target.
    #[arg(long = "target-file", value_name = "FILE")]
    pub target_file: Option<PathBuf>,
    /// With --target-file: upload this binary instead of the manifest's `binary`.
    #[arg(long = "service-binary", value_name = "PATH", requires = "target_file")]
    pub service_binary: Option<PathBuf>,
    /// lock | fenced | append | election.
    #[arg(long, default_value = "lock")]
    pub workload: WorkloadKind,
    /// Comma-separated faults: partition, kill, pause, clock, packet, client-pause, disk; or `none`.
    /// Join faults with `+` to apply them in the same window (`clock+client-pause`).
    #[arg(long, default_value = "partition,pause,kill")]
    pub nemesis: NemesisList,
    /// Fix which nodes node faults hit: one, minority, majority, all, primaries.
    #[arg(long)]
    pub victims: Option<Victims>,
    /// Fix how partitions cut: one, majority, random-halves, bridge,
    /// majorities-ring, primaries, clients.
    #[arg(long)]
    pub topology: Option<Topology>,
    /// Fix the clock fault: bump:MS (signed), strobe:MS:PERIOD_MS or rate:FACTOR.
    #[arg(long)]
    pub clock: Option<ClockMode>,
    /// Seconds of each fault window and of each quiet window between them.
    #[arg(long = "nemesis-interval", default_value_t = 5, value_name = "SECS")]
    pub nemesis_interval_s: u64,
    /// Number of nodes in the cluster, 1 to 9 (default: the target's own
    /// design: 3 for etcd and redis-sentinel, 1 for redis, 5 for redlock).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub nodes: Option<u64>,
    /// Redis persistence: none, aof-everysec or aof-always (the old form of
    /// `--target-opt persistence=...`).
    #[arg(long = "redis-persistence", default_value = "none")]
    pub redis_persistence: RedisPersistence,
    /// A target's own option, KEY=VALUE (repeatable): `persistence=aof-always`
    /// for the Redis targets. An option the target does not take is an error.
    #[arg(long = "target-opt", value_name = "KEY=VALUE")]
    pub target_opt: Vec<TargetOptions>,
    /// Concurrent client processes (1 to 200).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=200))]
    pub concurrency: u64,
    /// Seconds of the main phase (operations and faults); heal and recovery follow.
    #[arg(long = "time-limit", default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub time_limit_s: u64,
    /// Upper bound on operations invoked per second, over all clients.
    #[arg(long = "rate", default_value_t = 200.0, value_name = "OPS_PER_S")]
    pub rate_per_s: f64,
    /// Lease TTL for locks and campaigns, in milliseconds.
    #[arg(long = "lease-ms", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub lease_ms: u64,
    /// How long a holder keeps a lock or leadership, MIN:MAX milliseconds
    /// (default: 50 to twice the lease, so leases must be renewed).
    #[arg(long = "hold-ms", value_name = "MIN:MAX", value_parser = parse_range_ms)]
    pub hold_ms: Option<(u64, u64)>,
    /// Lock or election names the clients contend on.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub keys: u64,
    /// Seed for workloads and faults; printed first, reproduces the schedule.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where runs are stored.
    #[arg(long = "results", default_value = "results", value_name = "DIR")]
    pub results_dir: PathBuf,
    /// Run nodes on this image instead of building the base image.
    #[arg(long)]
    pub image: Option<String>,
    /// Seconds of the quiet recovery window after the final heal, in which a grant must succeed.
    #[arg(long = "recovery", default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub recovery_s: u64,
    /// Bound on one request (get, put, keep-alive), in milliseconds.
    #[arg(long = "request-timeout-ms", default_value_t = 1500)]
    pub request_timeout_ms: u64,
    /// Bound on waiting for a lock or an election win, in milliseconds.
    #[arg(long = "acquire-timeout-ms", default_value_t = 4000)]
    pub acquire_timeout_ms: u64,
    /// Write a JUnit XML report of this run here (one test case).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Stop invoking after this many operations, whatever the time limit.
    #[arg(long = "max-ops", default_value_t = 1_000_000)]
    pub max_ops: u64,
}

fn parse_range_ms(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected MIN:MAX in milliseconds, got {s:?}");
    let (min, max) = s.split_once(':').ok_or_else(bad)?;
    let (min, max): (u64, u64) = (
        min.parse().map_err(|_| bad())?,
        max.parse().map_err(|_| bad())?,
    );
    if min > max {
        return Err(format!("MIN must not exceed MAX in {s:?}"));
    }
    Ok((min, max))
}

/// One `splitbrain run` command line without the program name: how a
/// campaign parses its entries' `args`, with the same parser as the CLI.
#[derive(Parser, Debug)]
#[command(name = "run", no_binary_name = true, args_override_self = true)]
pub struct RunLine {
    #[command(flatten)]
    pub args: RunArgs,
}

impl RunArgs {
    /// `--target-opt`s merged, the later winning; `--redis-persistence`
    /// other than its default counts as `persistence` unless that is given.
    fn target_options(&self) -> TargetOptions {
        let mut opts = TargetOptions::default();
        for given in &self.target_opt {
            for key in given.keys() {
                opts.insert(key, given.get(key).unwrap_or_default());
            }
        }
        if self.redis_persistence != RedisPersistence::None {
            opts.set_default("persistence", self.redis_persistence.as_str());
        }
        opts
    }

    /// The configuration a run takes, once the checks clap cannot make
    /// flag by flag pass.
    pub fn into_config(self) -> Result<RunConfig, String> {
        self.validate()?;
        let target_opts = self.target_options();
        Ok(RunConfig {
            target: self.target,
            target_file: self.target_file,
            service_binary: self.service_binary,
            workload: self.workload,
            nemesis: self.nemesis,
            victims: self.victims,
            topology: self.topology,
            clock: self.clock,
            nemesis_interval_s: self.nemesis_interval_s,
            nodes: self.nodes,
            redis_persistence: self.redis_persistence,
            target_opts,
            concurrency: self.concurrency,
            time_limit_s: self.time_limit_s,
            rate_per_s: self.rate_per_s,
            lease_ms: self.lease_ms,
            hold_ms: self.hold_ms,
            keys: self.keys,
            seed: self.seed,
            results_dir: self.results_dir,
            image: self.image,
            recovery_s: self.recovery_s,
            request_timeout_ms: self.request_timeout_ms,
            acquire_timeout_ms: self.acquire_timeout_ms,
            junit: self.junit,
            max_ops: self.max_ops,
        })
    }

    fn validate(&self) -> Result<(), String> {
        if !(self.rate_per_s.is_finite() && self.rate_per_s > 0.0) {
            return Err(format!(
                "--rate must be a positive number, got {}",
                self.rate_per_s
            ));
        }
        if self.nemesis_interval_s == 0 && !self.nemesis.0.is_empty() {
            return Err("--nemesis-interval must be at least 1 second".to_string());
        }
        if self.request_timeout_ms == 0 || self.acquire_timeout_ms == 0 {
            return Err("timeouts must be at least 1 ms".to_string());
        }
        Ok(())
    }
}

pub async fn execute(args: RunArgs) -> Result<ExitCode, CommandError> {
    let config = args
        .into_config()
        .map_err(|e| CommandError::BadInput(anyhow!(e)))?;
    let started = std::time::Instant::now();
    let junit = config.junit.clone();
    let name = format!("{}-{}", config.target, config.workload.as_str());
    let cancel = crate::runner::interrupt_token();
    let outcome = crate::runner::run(config, &cancel).await?;
    if let Some(path) = junit {
        let failure = match outcome.valid {
            Validity::Valid => None,
            Validity::Invalid => Some(format!("anomalies: {}", outcome.anomaly_names())),
            Validity::Unknown => Some(format!(
                "unknown: {}",
                outcome.reason.as_deref().unwrap_or("no reason given")
            )),
        };
        let case = crate::junit::Case {
            name: format!("{name} [seed {}]", outcome.seed),
            failure,
            details: format!(
                "{}\nrun directory: {}",
                outcome.summary,
                outcome.run_dir.display()
            ),
            time: started.elapsed(),
        };
        crate::junit::write(&path, "splitbrain run", &[case]).map_err(CommandError::Internal)?;
    }
    Ok(Exit::from(outcome.valid).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// run.json reads a field missing from an older record as its flag's
    /// default: the two must agree.
    #[test]
    fn the_flags_defaults_are_the_records_defaults() {
        let parsed = RunLine::try_parse_from(Vec::<String>::new()).unwrap();
        assert_eq!(parsed.args.into_config(), Ok(RunConfig::default()));
    }

    #[test]
    fn target_options_merge_and_the_old_persistence_flag_is_one_of_them() {
        let config = |line: &[&str]| {
            let parsed = RunLine::try_parse_from(line).unwrap();
            parsed.args.into_config().unwrap().target_opts
        };
        let opts = config(&["--target-opt", "persistence=aof-always"]);
        assert_eq!(opts.get("persistence"), Some("aof-always"));
        let opts = config(&["--redis-persistence", "aof-everysec"]);
        assert_eq!(opts.get("persistence"), Some("aof-everysec"));
        let both = [
            "--redis-persistence",
            "aof-everysec",
            "--target-opt",
            "persistence=aof-always,x=1",
        ];
        let opts = config(&both);
        assert_eq!(
            opts.get("persistence"),
            Some("aof-always"),
            "the new form wins"
        );
        assert_eq!(opts.get("x"), Some("1"));
        assert!(config(&[]).is_empty());
        assert!(RunLine::try_parse_from(["--target-opt", "persistence"]).is_err());
    }

    #[test]
    fn flags_clap_cannot_check_alone_are_refused() {
        for line in [
            &["--rate", "0"][..],
            &["--nemesis-interval", "0"],
            &["--request-timeout-ms", "0"],
        ] {
            let parsed = RunLine::try_parse_from(line).unwrap();
            assert!(parsed.args.into_config().is_err(), "{line:?}");
        }
        let quiet = RunLine::try_parse_from(["--nemesis", "none", "--nemesis-interval", "0"]);
        assert!(quiet.unwrap().args.into_config().is_ok());
    }
}
