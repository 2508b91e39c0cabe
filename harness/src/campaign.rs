//! Campaign files: a matrix of runs, each with the verdict it must reach.
//!
//! ```toml
//! [defaults]                       # flags every run starts from
//! args = ["--time-limit", "20", "--recovery", "5"]
//!
//! [[run]]
//! name = "etcd append loses updates under client pauses"
//! args = ["--target", "etcd", "--workload", "append", "--nemesis", "client-pause"]
//! seeds = [1, 2]                   # one run per seed
//! expect = "lost-update"           # "valid", "invalid", or an anomaly type
//! ```
//!
//! A run's `args` are `splitbrain run` flags, parsed by the same parser, so a
//! campaign can express exactly what the command line can.

use std::path::Path;

use clap::Parser;
use serde::Deserialize;
use splitbrain_checkers::verdict::{AnomalyType, Validity};
use splitbrain_records::RunConfig;

use crate::cmd_run::RunLine;
use crate::runner::RunOutcome;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error("failed to read campaign {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("failed to parse campaign {path}: {message}")]
    Parse { path: String, message: String },
    #[error("failed to parse campaign {path}: run {index} ({name:?}): {message}")]
    Run {
        path: String,
        index: usize,
        name: String,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    run: Vec<RunEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunEntry {
    name: String,
    args: Vec<String>,
    #[serde(default)]
    seeds: Vec<u64>,
    expect: String,
}

/// What a run must conclude.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    Valid,
    /// Any anomaly.
    Invalid,
    Anomaly(AnomalyType),
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::Valid => f.write_str("valid"),
            Expectation::Invalid => f.write_str("invalid"),
            Expectation::Anomaly(t) => write!(f, "{t}"),
        }
    }
}

impl std::str::FromStr for Expectation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "valid" => Ok(Expectation::Valid),
            "invalid" => Ok(Expectation::Invalid),
            other => serde_json::from_value::<AnomalyType>(serde_json::json!(other))
                .map(Expectation::Anomaly)
                .map_err(|_| {
                    format!(
                        "unknown expectation {other:?}; expected valid, invalid, lost-mutual-exclusion, \
                         token-regression, stale-token-accepted, lost-update or split-brain"
                    )
                }),
        }
    }
}

impl Expectation {
    /// `None` when met, else why not.
    pub fn missed_by(&self, outcome: &RunOutcome) -> Option<String> {
        let found = || {
            if outcome.anomaly_types.is_empty() {
                "no anomaly".to_string()
            } else {
                outcome.anomaly_names()
            }
        };
        let verdict = match outcome.valid {
            Validity::Valid => "valid".to_string(),
            Validity::Invalid => format!("invalid ({})", found()),
            Validity::Unknown => format!(
                "unknown ({})",
                outcome.reason.as_deref().unwrap_or("no reason given")
            ),
        };
        let met = match self {
            Expectation::Valid => outcome.valid == Validity::Valid,
            Expectation::Invalid => outcome.valid == Validity::Invalid,
            Expectation::Anomaly(t) => outcome.anomaly_types.contains(t),
        };
        (!met).then(|| format!("expected {self}, got {verdict}"))
    }
}

/// One run of the expanded matrix.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub config: RunConfig,
    pub expect: Expectation,
}

/// The matrix a campaign file describes, expanded one case per seed.
#[derive(Debug)]
pub struct Campaign {
    pub name: String,
    pub cases: Vec<Case>,
}

impl Campaign {
    pub fn load(path: &Path) -> Result<Campaign, CampaignError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CampaignError::Read {
            path: shown.clone(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "campaign".to_string());
        let base = path.parent().unwrap_or(Path::new("."));
        Campaign::parse(&text, &shown, name, base)
    }

    /// `base` is the directory relative paths in the runs' args start from.
    pub fn parse(
        text: &str,
        path: &str,
        name: String,
        base: &Path,
    ) -> Result<Campaign, CampaignError> {
        let file: File = toml::from_str(text).map_err(|e| CampaignError::Parse {
            path: path.to_string(),
            message: e.to_string(),
        })?;
        if file.run.is_empty() {
            return Err(CampaignError::Parse {
                path: path.to_string(),
                message: "no [[run]] entries".to_string(),
            });
        }
        let mut cases = Vec::new();
        for (index, entry) in file.run.iter().enumerate() {
            let bad = |message: String| CampaignError::Run {
                path: path.to_string(),
                index: index + 1,
                name: entry.name.clone(),
                message,
            };
            let expect: Expectation = entry.expect.parse().map_err(bad)?;
            if entry.args.iter().any(|a| a == "--seed") {
                return Err(bad(
                    "give seeds with `seeds = [...]`, not `--seed`".to_string()
                ));
            }
            let seeds = if entry.seeds.is_empty() {
                vec![1]
            } else {
                entry.seeds.clone()
            };
            for seed in seeds {
                let line = file
                    .defaults
                    .args
                    .iter()
                    .chain(entry.args.iter())
                    .cloned()
                    .chain(["--seed".to_string(), seed.to_string()]);
                let mut parsed = RunLine::try_parse_from(line)
                    .map_err(|e| bad(e.render().to_string().trim().to_string()))?;
                // Files a campaign names are relative to the campaign file,
                // so it runs the same from any working directory.
                for path in [
                    &mut parsed.args.target_file,
                    &mut parsed.args.service_binary,
                ]
                .into_iter()
                .flatten()
                {
                    if path.is_relative() {
                        *path = base.join(&*path);
                    }
                }
                cases.push(Case {
                    name: format!("{} [seed {seed}]", entry.name),
                    config: parsed.args.into_config().map_err(bad)?,
                    expect: expect.clone(),
                });
            }
        }
        Ok(Campaign { name, cases })
    }
}

/// `I/N`: this runner takes every case whose position modulo N is I-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard must be I/N, got {s:?}"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index in {s:?}"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count in {s:?}"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard must satisfy 1 <= I <= N, got {s:?}"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[defaults]
args = ["--time-limit", "20"]

[[run]]
name = "append loses updates"
args = ["--workload", "append", "--nemesis", "client-pause"]
seeds = [1, 2]
expect = "lost-update"

[[run]]
name = "fenced stays valid"
args = ["--workload", "fenced", "--time-limit", "30"]
expect = "valid"
"#;

    #[test]
    fn every_campaign_shipped_in_campaigns_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("campaigns/ exists") {
            let path = entry.expect("readable directory").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let c = Campaign::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!c.cases.is_empty(), "{}", path.display());
                seen += 1;
            }
        }
        assert!(
            seen >= 3,
            "found only {seen} campaign files in {}",
            dir.display()
        );
    }

    #[test]
    fn a_campaign_expands_one_case_per_seed_with_defaults_first() {
        let c = Campaign::parse(GOOD, "c.toml", "c".into(), Path::new("/camp")).unwrap();
        assert_eq!(c.cases.len(), 3);
        assert_eq!(c.cases[0].config.seed, Some(1));
        assert_eq!(c.cases[1].config.seed, Some(2));
        assert_eq!(c.cases[0].config.time_limit_s, 20);
        assert_eq!(
            c.cases[2].config.time_limit_s, 30,
            "a run's args override defaults"
        );
        assert_eq!(
            c.cases[0].expect,
            Expectation::Anomaly(AnomalyType::LostUpdate)
        );
        assert_eq!(c.cases[2].expect, Expectation::Valid);
    }

    #[test]
    fn files_named_by_a_campaign_are_relative_to_it() {
        let text = r#"
[[run]]
name = "mine"
args = ["--target-file", "svc.toml", "--service-binary", "/abs/bin"]
expect = "valid"
"#;
        let c = Campaign::parse(text, "c.toml", "c".into(), Path::new("/camp")).unwrap();
        assert_eq!(
            c.cases[0].config.target_file.as_deref(),
            Some(Path::new("/camp/svc.toml"))
        );
        assert_eq!(
            c.cases[0].config.service_binary.as_deref(),
            Some(Path::new("/abs/bin"))
        );
    }

    #[test]
    fn bad_entries_are_named_in_the_error() {
        let bad_flag = GOOD.replace("\"--workload\", \"fenced\"", "\"--workload\", \"mutex\"");
        let e = Campaign::parse(&bad_flag, "c.toml", "c".into(), Path::new("/camp"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("run 2") && e.contains("fenced stays valid") && e.contains("mutex"),
            "{e}"
        );
        let bad_expect = GOOD.replace("\"lost-update\"", "\"lost-updates\"");
        let e = Campaign::parse(&bad_expect, "c.toml", "c".into(), Path::new("/camp"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("run 1") && e.contains("lost-updates"), "{e}");
        let e = Campaign::parse(
            "[[run]]\nname = 1",
            "c.toml",
            "c".into(),
            Path::new("/camp"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("c.toml"), "{e}");
        let e = Campaign::parse("", "c.toml", "c".into(), Path::new("/camp"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no [[run]]"), "{e}");
    }

    #[test]
    fn shards_partition_the_cases() {
        let shards: Vec<Shard> = (1..=3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for position in 0..10 {
            assert_eq!(shards.iter().filter(|s| s.takes(position)).count(), 1);
        }
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("1-3".parse::<Shard>().is_err());
    }

    fn outcome(valid: Validity, types: &[AnomalyType]) -> RunOutcome {
        RunOutcome {
            valid,
            anomaly_types: types.iter().copied().collect(),
            reason: (valid == Validity::Unknown).then(|| "nothing granted".to_string()),
            run_dir: "r".into(),
            seed: 1,
            summary: String::new(),
            interrupted: false,
        }
    }

    #[test]
    fn expectations_are_met_only_by_the_verdict_they_name() {
        let lost = Expectation::Anomaly(AnomalyType::LostUpdate);
        assert_eq!(
            lost.missed_by(&outcome(Validity::Invalid, &[AnomalyType::LostUpdate])),
            None
        );
        let miss = lost
            .missed_by(&outcome(Validity::Invalid, &[AnomalyType::SplitBrain]))
            .unwrap();
        assert!(
            miss.contains("expected lost-update") && miss.contains("split-brain"),
            "{miss}"
        );
        assert!(Expectation::Valid
            .missed_by(&outcome(Validity::Valid, &[]))
            .is_none());
        let miss = Expectation::Valid
            .missed_by(&outcome(Validity::Unknown, &[]))
            .unwrap();
        assert!(miss.contains("nothing granted"), "{miss}");
        assert!(Expectation::Invalid
            .missed_by(&outcome(Validity::Valid, &[]))
            .is_some());
    }
}
