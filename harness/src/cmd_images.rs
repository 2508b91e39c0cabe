//! `splitbrain images`: build, list or remove the base images nodes run on.
//!
//! Base images are built locally from Debian packages (no registry is
//! needed); see the splitbrain-docker crate's `images` module.
use std::process::ExitCode;

use anyhow::Context;
use splitbrain_docker::images::{self, BaseImageSpec};
use splitbrain_docker::{Engine, EngineOptions};
use splitbrain_targets::registry;

use crate::exit::CommandError;

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    #[command(subcommand)]
    action: ImagesAction,
}

#[derive(clap::Subcommand, Debug)]
enum ImagesAction {
    /// Build the node image for every built-in target with mmdebstrap and
    /// import it (reused when its tag, a hash of the package list, is
    /// already present).
    Build {
        /// Build and import again even if the tag is present.
        #[arg(long)]
        force: bool,
        /// Bound on the whole mmdebstrap run.
        #[arg(long, default_value_t = 900_000)]
        build_timeout_ms: u64,
    },
    /// List the base images the engine has.
    List,
    /// Remove base images by reference or id (all of them with --all).
    Rm {
        references: Vec<String>,
        #[arg(long, conflicts_with = "references")]
        all: bool,
    },
}

pub async fn execute(args: ImagesArgs) -> Result<ExitCode, CommandError> {
    let engine = Engine::connect(EngineOptions::default())
        .await
        .context("images")?;
    match args.action {
        ImagesAction::Build {
            force,
            build_timeout_ms,
        } => {
            // One image for every built-in target: each run reuses it, its
            // packages being a superset of any one target's.
            let spec = BaseImageSpec {
                build_timeout_ms,
                ..BaseImageSpec::with_packages(&registry::all_packages())
            };
            let started = std::time::Instant::now();
            let progress = |line: &str| eprintln!("  {line}");
            let image = if force {
                images::build(&engine, &spec, progress).await
            } else {
                images::ensure(&engine, &spec, progress).await
            }
            .map_err(anyhow::Error::from)?;
            eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
            println!("{}", image.reference);
        }
        ImagesAction::List => {
            for image in images::list(&engine).await.map_err(anyhow::Error::from)? {
                println!(
                    "{}\t{}\t{} MB",
                    image.references.join(","),
                    image
                        .id
                        .trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect::<String>(),
                    image.size_bytes / 1_000_000
                );
            }
        }
        ImagesAction::Rm { references, all } => {
            let targets: Vec<String> = if all {
                images::list(&engine)
                    .await
                    .map_err(anyhow::Error::from)?
                    .into_iter()
                    .flat_map(|i| i.references)
                    .collect()
            } else if references.is_empty() {
                return Err(CommandError::BadInput(anyhow::anyhow!(
                    "name the images to remove, or pass --all"
                )));
            } else {
                references
            };
            for r in targets {
                images::remove(&engine, &r)
                    .await
                    .map_err(anyhow::Error::from)?;
                println!("removed {r}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
