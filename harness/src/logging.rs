//! The controller's log: everything at info and above goes to the current
//! run's `harness.log`; warnings also reach stderr.
//!
//! The subscriber is global and installed once; the file behind it is
//! swapped per run, so a campaign's runs each get their own log.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::EnvFilter;

static CURRENT_LOG: Mutex<Option<File>> = Mutex::new(None);

/// Writes to whichever run log is current; drops lines when there is none.
struct CurrentLog;

impl Write for CurrentLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match CURRENT_LOG
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match CURRENT_LOG
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

/// Sends the log to `path` from now on, installing the subscriber on first use.
pub fn to_file(path: &Path) -> anyhow::Result<()> {
    let file = File::create(path)
        .with_context(|| format!("failed to create the harness log {}", path.display()))?;
    *CURRENT_LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    let writer = (|| CurrentLog).and(std::io::stderr.with_max_level(tracing::Level::WARN));
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    // A second run in one process keeps the subscriber it already has.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Ok(())
}
