//! `splitbrain check`.
use std::process::ExitCode;

use crate::exit::CommandError;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {}

pub async fn execute(_args: CheckArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Internal(anyhow::anyhow!("not built yet")))
}
