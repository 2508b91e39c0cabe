//! `splitbrain report` and `splitbrain serve`.
use std::process::ExitCode;

use crate::exit::CommandError;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {}

pub async fn execute(_args: ReportArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Internal(anyhow::anyhow!("not built yet")))
}

pub async fn serve(_args: ServeArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Internal(anyhow::anyhow!("not built yet")))
}
