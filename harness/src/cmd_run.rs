//! `splitbrain run`.
use std::process::ExitCode;

use crate::exit::CommandError;

#[derive(clap::Args, Debug)]
pub struct RunArgs {}

pub async fn execute(_args: RunArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Internal(anyhow::anyhow!("not built yet")))
}
