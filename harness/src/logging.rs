//! The controller's log: everything at info and above goes to the run's
//! `harness.log`; warnings also reach stderr.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. A second call (a second run in one
/// process, as in tests) keeps the first subscriber.
pub fn to_file(path: &Path) -> anyhow::Result<()> {
    let file = File::create(path)
        .with_context(|| format!("failed to create the harness log {}", path.display()))?;
    let writer = Arc::new(file).and(std::io::stderr.with_max_level(tracing::Level::WARN));
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Ok(())
}
