//! What a report is built from: the run directory's stored files, read
//! through their records, with every problem reading them kept as a note.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use splitbrain_checkers::Report;
use splitbrain_records::{Liveness, RecordError, ResultsRecord, RunRecord};

use super::timeline::Timeline;
use crate::store;

/// Lines of each log shown; the rest stays in the raw file.
const LOG_TAIL_LINES: usize = 60;
/// Bytes read from the end of a log to find its tail.
const LOG_TAIL_BYTES: u64 = 64 * 1024;
/// Node log files shown, in name order; more are listed as raw files only.
const MAX_LOG_FILES: usize = 40;

/// What the report is built from.
pub struct Inputs {
    pub run_dir: PathBuf,
    /// `run.json`, when it reads as a run record.
    pub run: Option<RunRecord>,
    /// `run.json` as stored, pretty-printed for the page's folded copy: it
    /// shows what the file holds, fields this harness does not know included.
    pub run_json: Option<String>,
    pub timeline: Timeline,
    pub report: Option<Report>,
    /// `results.json`'s liveness section (written by runs, not by `check`).
    pub liveness: Option<Liveness>,
    pub logs: Vec<LogTail>,
    /// Problems reading the inputs, shown on the page.
    pub notes: Vec<String>,
}

/// The last lines of one log file.
pub struct LogTail {
    /// Relative to the run directory.
    pub name: String,
    pub lines: Vec<String>,
    pub truncated: bool,
}

pub fn load(run_dir: &Path) -> Inputs {
    let mut notes = Vec::new();
    let (run, run_json) = read_run(&run_dir.join(store::RUN_FILE), &mut notes);
    let history_path = run_dir.join(store::HISTORY_FILE);
    let timeline = match std::fs::File::open(&history_path) {
        Ok(f) => match Timeline::read(BufReader::new(f)) {
            Ok(t) => t,
            Err(e) => {
                notes.push(format!("failed to read {}: {e}", store::HISTORY_FILE));
                Timeline::default()
            }
        },
        Err(e) => {
            notes.push(format!("failed to open {}: {e}", store::HISTORY_FILE));
            Timeline::default()
        }
    };
    if timeline.unreadable_lines > 0 {
        notes.push(format!(
            "{} lines of {} are not history records and are not drawn ({})",
            timeline.unreadable_lines,
            store::HISTORY_FILE,
            timeline.first_unreadable.as_deref().unwrap_or("")
        ));
    }
    let (mut report, liveness) =
        match splitbrain_records::read::<ResultsRecord>(&run_dir.join(store::RESULTS_FILE)) {
            Ok(results) => (Some(results.report), results.liveness),
            Err(e) => {
                notes.push(e.to_string());
                (None, None)
            }
        };
    if report.is_none() && history_path.is_file() {
        // No stored verdict: check the history now, and say so.
        match splitbrain_checkers::read_history(&history_path) {
            Ok((history, warnings)) => {
                let mut r = splitbrain_checkers::check(&history);
                r.warnings.extend(warnings.iter().map(|w| w.to_string()));
                notes.push(format!("no usable {}: the verdict below was computed from the history when this report was written", store::RESULTS_FILE));
                report = Some(r);
            }
            Err(e) => notes.push(format!("failed to check {}: {e}", store::HISTORY_FILE)),
        }
    }
    let logs = log_tails(run_dir, &mut notes);
    Inputs {
        run_dir: run_dir.to_path_buf(),
        run,
        run_json,
        timeline,
        report,
        liveness,
        logs,
        notes,
    }
}

/// `run.json` as a record, and as stored for display: a record this
/// harness cannot understand is still shown.
fn read_run(path: &Path, notes: &mut Vec<String>) -> (Option<RunRecord>, Option<String>) {
    let name = store::RUN_FILE.to_string();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(source) => {
            notes.push(RecordError::Read { name, source }.to_string());
            return (None, None);
        }
    };
    let stored = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    match splitbrain_records::read::from_slice(&bytes, name) {
        Ok(run) => (Some(run), stored),
        Err(e) => {
            notes.push(e.to_string());
            (None, stored)
        }
    }
}

/// The harness log and every regular file under `nodes/<node>/`, in name order.
fn log_tails(run_dir: &Path, notes: &mut Vec<String>) -> Vec<LogTail> {
    let mut files: Vec<PathBuf> = Vec::new();
    let nodes = run_dir.join(store::NODES_DIR);
    if let Ok(entries) = std::fs::read_dir(&nodes) {
        let mut node_dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        node_dirs.sort();
        for dir in node_dirs {
            // symlink_metadata: a link in a node directory is not followed out of the run.
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {
                    let mut inner: Vec<PathBuf> = std::fs::read_dir(&dir)
                        .map(|es| es.flatten().map(|e| e.path()).collect())
                        .unwrap_or_default();
                    inner.sort();
                    files.extend(inner.into_iter().filter(|p| {
                        std::fs::symlink_metadata(p)
                            .map(|m| m.is_file())
                            .unwrap_or(false)
                    }));
                }
                Ok(m) if m.is_file() => files.push(dir),
                _ => {}
            }
        }
    }
    if files.len() > MAX_LOG_FILES {
        notes.push(format!(
            "{} node log files; the first {MAX_LOG_FILES} are shown",
            files.len()
        ));
        files.truncate(MAX_LOG_FILES);
    }
    let harness = run_dir.join(store::HARNESS_LOG);
    if harness.is_file() {
        files.push(harness);
    }
    files
        .iter()
        .filter_map(|path| {
            let name = path
                .strip_prefix(run_dir)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            match tail(path) {
                Ok((lines, truncated)) => Some(LogTail {
                    name,
                    lines,
                    truncated,
                }),
                Err(e) => {
                    notes.push(format!("failed to read {name}: {e}"));
                    None
                }
            }
        })
        .collect()
}

/// The last [`LOG_TAIL_LINES`] lines of a file, reading at most [`LOG_TAIL_BYTES`].
fn tail(path: &Path) -> std::io::Result<(Vec<String>, bool)> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(LOG_TAIL_BYTES).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The first line is probably cut in the middle.
        lines.remove(0);
    }
    let truncated = start > 0 || lines.len() > LOG_TAIL_LINES;
    let from = lines.len().saturating_sub(LOG_TAIL_LINES);
    Ok((
        lines[from..].iter().map(|l| l.to_string()).collect(),
        truncated,
    ))
}
