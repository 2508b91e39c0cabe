//! `splitbrain check <HISTORY> [--out DIR]`: checks a recorded history.
//!
//! HISTORY is a history file (JSON Lines, format v1) or a run directory
//! holding `history.jsonl`. The human summary goes to stdout; `results.json`
//! goes to `--out`, by default the directory the history is in, so that
//! re-checking a run refreshes its results in place. The exit code is the
//! verdict (0 valid, 1 invalid, 2 unknown); unreadable or malformed input and
//! an unwritable `--out` exit 254, a failure of our own 255.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context as _};
use splitbrain_records::{Exit, ResultsRecord};

use crate::exit::CommandError;

/// File name of the history inside a run directory.
const HISTORY_FILE: &str = "history.jsonl";
/// File name of the verdict written next to it.
const RESULTS_FILE: &str = "results.json";

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// History to check: a JSON Lines file (format v1) or a run directory holding history.jsonl.
    pub history: PathBuf,
    /// Directory to write results.json into [default: the history's directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub async fn execute(args: CheckArgs) -> Result<ExitCode, CommandError> {
    // Parsing and checking are CPU-bound: keep them off the async workers.
    tokio::task::spawn_blocking(move || check(&args))
        .await
        .map_err(|e| CommandError::Internal(anyhow!("failed to run the checkers: {e}")))?
}

fn check(args: &CheckArgs) -> Result<ExitCode, CommandError> {
    let history_path = if args.history.is_dir() {
        args.history.join(HISTORY_FILE)
    } else {
        args.history.clone()
    };
    let out_dir = match &args.out {
        Some(dir) => dir.clone(),
        None => match history_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
    };
    let (history, warnings) = splitbrain_checkers::read_history(&history_path)
        .map_err(|e| CommandError::BadInput(e.into()))?;
    let mut report = splitbrain_checkers::check(&history);
    report.warnings = warnings.iter().map(ToString::to_string).collect();
    let (summary, valid) = (report.human_summary(), report.valid);
    // No liveness section: a history alone says nothing about recovery.
    let record = ResultsRecord {
        report,
        liveness: None,
    };
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| CommandError::Internal(anyhow!("failed to serialize the results: {e}")))?;
    let results = write_results(&out_dir, &json).map_err(CommandError::BadInput)?;
    print!("{summary}");
    println!("results: {}", results.display());
    Ok(Exit::from(valid).into())
}

/// Writes through a temporary file and a rename, so a reader never sees half a verdict.
fn write_results(dir: &Path, json: &[u8]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create output directory {}", dir.display()))?;
    let path = dir.join(RESULTS_FILE);
    let tmp = dir.join(format!(".{RESULTS_FILE}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(json)?;
            f.write_all(b"\n")?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow!("failed to write {}: {e}", path.display()));
    }
    Ok(path)
}
