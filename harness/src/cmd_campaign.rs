//! `splitbrain campaign <FILE.toml>`: run a matrix of campaigns, each with
//! the verdict it must reach; exit 0 only if every expectation was met.
//!
//! Exit codes: 0 every expectation met, 1 at least one missed (or a run
//! failed to complete, or the campaign was interrupted before it ran them
//! all), 254 a bad campaign file or flag, 255 internal error.
//!
//! Ctrl-C (or SIGTERM) ends the current run early, as in `splitbrain run`
//! (heal, teardown, check), and starts no further run: those are reported
//! as missed, "not run".

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::anyhow;
use splitbrain_checkers::verdict::Validity;
use splitbrain_records::Exit;

use crate::campaign::{Campaign, Shard};
use crate::exit::CommandError;
use crate::junit;

#[derive(clap::Args, Debug)]
pub struct CampaignArgs {
    /// The campaign file (TOML): see `campaigns/self-check.toml`.
    pub file: PathBuf,
    /// Store every run under this directory instead of each run's `--results`.
    #[arg(long = "results", value_name = "DIR")]
    pub results_dir: Option<PathBuf>,
    /// Write a JUnit XML report here: one test case per run.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Run only shard I of N (1-based), to spread a matrix over CI runners.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

pub async fn execute(args: CampaignArgs) -> Result<ExitCode, CommandError> {
    let campaign = Campaign::load(&args.file).map_err(|e| CommandError::BadInput(e.into()))?;
    let cases: Vec<_> = campaign
        .cases
        .iter()
        .enumerate()
        .filter(|(i, _)| args.shard.is_none_or(|s| s.takes(*i)))
        .map(|(_, c)| c.clone())
        .collect();
    println!(
        "campaign {}: {} runs{}",
        campaign.name,
        cases.len(),
        args.shard
            .map(|s| format!(
                " (shard {}/{} of {})",
                s.index,
                s.count,
                campaign.cases.len()
            ))
            .unwrap_or_default()
    );
    let cancel = crate::runner::interrupt_token();
    let mut junit_cases = Vec::new();
    let mut missed = 0usize;
    for (n, mut case) in cases.into_iter().enumerate() {
        if cancel.is_cancelled() {
            missed += 1;
            println!(
                "\n== [{}] {}: not run, the campaign was interrupted",
                n + 1,
                case.name
            );
            junit_cases.push(junit::Case {
                name: case.name.clone(),
                failure: Some("not run: the campaign was interrupted".to_string()),
                details: String::new(),
                time: std::time::Duration::ZERO,
            });
            continue;
        }
        if let Some(dir) = &args.results_dir {
            case.config.results_dir = dir.clone();
        }
        println!("\n== [{}] {} (expect {})", n + 1, case.name, case.expect);
        let started = Instant::now();
        let (failure, details) = match crate::runner::run(case.config.clone(), &cancel).await {
            Ok(outcome) => {
                let details = format!(
                    "{}\nrun directory: {}",
                    outcome.summary,
                    outcome.run_dir.display()
                );
                let failure = if outcome.interrupted {
                    // A partial schedule proves nothing either way.
                    Some(format!(
                        "interrupted before the run ended (its partial verdict: {})",
                        match outcome.valid {
                            Validity::Valid => "valid",
                            Validity::Invalid => "invalid",
                            Validity::Unknown => "unknown",
                        }
                    ))
                } else {
                    case.expect.missed_by(&outcome)
                };
                (failure, details)
            }
            Err(e) => {
                let err = match e {
                    CommandError::BadInput(e) => e,
                    CommandError::Internal(e) => e,
                };
                (
                    Some(format!("the run did not complete: {err:#}")),
                    String::new(),
                )
            }
        };
        match &failure {
            None => println!("== [{}] met: {}", n + 1, case.expect),
            Some(why) => {
                missed += 1;
                println!("== [{}] MISSED: {why}", n + 1);
            }
        }
        junit_cases.push(junit::Case {
            name: case.name.clone(),
            failure,
            details,
            time: started.elapsed(),
        });
    }
    println!(
        "\ncampaign {}: {} of {} expectations met",
        campaign.name,
        junit_cases.len() - missed,
        junit_cases.len()
    );
    for case in junit_cases.iter().filter(|c| c.failure.is_some()) {
        println!(
            "  MISSED {}: {}",
            case.name,
            case.failure.as_deref().unwrap_or("")
        );
    }
    if let Some(path) = &args.junit {
        junit::write(path, &campaign.name, &junit_cases).map_err(CommandError::Internal)?;
        println!("junit: {}", path.display());
    }
    if junit_cases.is_empty() {
        return Err(CommandError::BadInput(anyhow!("this shard has no runs")));
    }
    Ok(if missed == 0 {
        Exit::Valid
    } else {
        Exit::Invalid
    }
    .into())
}
