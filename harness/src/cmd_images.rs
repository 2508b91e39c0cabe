//! `splitbrain images`.
use std::process::ExitCode;

use crate::exit::CommandError;

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {}

pub async fn execute(_args: ImagesArgs) -> Result<ExitCode, CommandError> {
    Err(CommandError::Internal(anyhow::anyhow!("not built yet")))
}
