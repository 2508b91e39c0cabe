//! `splitbrain clean`: remove every container and network labelled
//! `splitbrain.run`, and nothing else (images stay; see `images rm`).
use std::process::ExitCode;

use anyhow::Context;
use splitbrain_docker::{clean, Engine, EngineOptions};

use crate::exit::CommandError;

#[derive(clap::Args, Debug)]
pub struct CleanArgs {}

pub async fn execute(_args: CleanArgs) -> Result<ExitCode, CommandError> {
    let engine = Engine::connect(EngineOptions::default())
        .await
        .context("clean")?;
    let report = clean(&engine).await.map_err(anyhow::Error::from)?;
    for c in &report.containers {
        println!("removed container {c}");
    }
    for n in &report.networks {
        println!("removed network {n}");
    }
    println!(
        "{} containers and {} networks removed",
        report.containers.len(),
        report.networks.len()
    );
    Ok(ExitCode::SUCCESS)
}
