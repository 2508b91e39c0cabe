//! `splitbrain clean`.
use std::process::ExitCode;

use crate::exit::CommandError;

#[derive(clap::Args, Debug)]
pub struct CleanArgs {}

pub async fn execute(_args: CleanArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Internal(anyhow::anyhow!("not built yet")))
}
