//! `splitbrain`: Jepsen-style fault-injection verification for lock and
//! leader-election services. See the README for the model and exit codes.

mod campaign;
mod cmd_campaign;
mod cmd_check;
mod cmd_clean;
mod cmd_images;
mod cmd_report;
mod cmd_run;
mod exit;
mod fault;
mod junit;
mod logging;
mod nemesis;
mod progress;
mod recorder;
mod report;
mod runner;
mod store;
mod target_registry;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use splitbrain_records::Exit;

#[derive(Parser, Debug)]
#[command(name = "splitbrain", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a recorded history for anomalies.
    Check(cmd_check::CheckArgs),
    /// Deploy a target, drive clients under faults, record and check the history.
    Run(Box<cmd_run::RunArgs>),
    /// Run a matrix of runs, each with the verdict it must reach.
    Campaign(cmd_campaign::CampaignArgs),
    /// Build, list or remove the base images that nodes run on.
    Images(cmd_images::ImagesArgs),
    /// Remove every container and network labelled `splitbrain.run`.
    Clean(cmd_clean::CleanArgs),
    /// Regenerate a run's self-contained `report.html` from its stored files.
    Report(cmd_report::ReportArgs),
    /// Serve an index of stored runs and their reports on loopback.
    Serve(cmd_report::ServeArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own exit code for usage errors is 2, which we reserve for
            // an unknown verdict.
            let _ = e.print();
            return if e.use_stderr() {
                Exit::BadInput.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return Exit::Internal.into();
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Check(args) => cmd_check::execute(args).await,
            Command::Run(args) => cmd_run::execute(*args).await,
            Command::Campaign(args) => cmd_campaign::execute(args).await,
            Command::Images(args) => cmd_images::execute(args).await,
            Command::Clean(args) => cmd_clean::execute(args).await,
            Command::Report(args) => cmd_report::execute(args).await,
            Command::Serve(args) => cmd_report::serve(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            let (kind, err) = match &e {
                exit::CommandError::BadInput(err) => ("error", err),
                exit::CommandError::Internal(err) => ("internal error", err),
            };
            eprintln!("{kind}: {err:#}");
            e.code().into()
        }
    }
}
