//! `report.html`: one self-contained page per run that shows what broke,
//! when, under which fault, and the operations that prove it.
//!
//! The page is built from the run directory's stored files only (`run.json`,
//! `history.jsonl`, `results.json`, `harness.log`, `nodes/<node>/*`), so
//! `splitbrain report <RUN_DIR>` can rebuild it at any time. Nothing is
//! fetched: styles, script and charts are inline, so the file works offline
//! and as a CI artifact.
//!
//! Scale: the timeline's operations travel as compact column arrays in a JSON
//! block and a small script draws only the visible time window on a canvas,
//! merging operations that fall on the same pixel; the latency and
//! throughput charts are aggregated into a few SVG paths when written. A
//! 100,000-operation history opens in well under the 3 s budget (measured
//! by `tests/report_browser.rs`).
//!
//! Every string from a history, a log or the config is escaped
//! ([`html::escape`]) or passed to the script as JSON that cannot close its
//! `<script>` element ([`html::json_for_script`]); the script only ever
//! inserts text with `textContent`.

mod charts;
mod html;
mod page;
mod timeline;

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context;
use splitbrain_checkers::Report;

use crate::store;

pub use html::escape;
pub use timeline::Timeline;

/// The report's file name inside a run directory.
pub const REPORT_FILE: &str = "report.html";
/// Lines of each log shown; the rest stays in the raw file.
const LOG_TAIL_LINES: usize = 60;
/// Bytes read from the end of a log to find its tail.
const LOG_TAIL_BYTES: u64 = 64 * 1024;
/// Node log files shown, in name order; more are listed as raw files only.
const MAX_LOG_FILES: usize = 40;

/// What the report is built from.
pub struct Inputs {
    pub run_dir: PathBuf,
    pub run: Option<serde_json::Value>,
    pub timeline: Timeline,
    pub report: Option<Report>,
    /// `results.json` as stored: the liveness section lives only here.
    pub results: Option<serde_json::Value>,
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

/// Writes `<run_dir>/report.html` from the run's stored files and returns its
/// path. Missing or damaged inputs are shown as notes on the page rather than
/// failing: a partial report of a crashed run is still worth reading. Fails
/// only if the run directory does not exist or the page cannot be written.
pub fn write_report(run_dir: &Path) -> anyhow::Result<PathBuf> {
    if !run_dir.is_dir() {
        anyhow::bail!("failed to find run directory {}", run_dir.display());
    }
    let inputs = load(run_dir);
    let page = page::render(&inputs);
    let target = run_dir.join(REPORT_FILE);
    let tmp = run_dir.join(format!(".{REPORT_FILE}.tmp"));
    std::fs::write(&tmp, page).with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("failed to write {}", target.display()))?;
    Ok(target)
}

pub fn load(run_dir: &Path) -> Inputs {
    let mut notes = Vec::new();
    let run = read_json(&run_dir.join(store::RUN_FILE), &mut notes);
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
    let results = read_json(&run_dir.join(store::RESULTS_FILE), &mut notes);
    let mut report =
        results
            .as_ref()
            .and_then(|v| match serde_json::from_value::<Report>(v.clone()) {
                Ok(r) => Some(r),
                Err(e) => {
                    notes.push(format!("failed to understand {}: {e}", store::RESULTS_FILE));
                    None
                }
            });
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
        timeline,
        report,
        results,
        logs,
        notes,
    }
}

fn read_json(path: &Path, notes: &mut Vec<String>) -> Option<serde_json::Value> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                notes.push(format!("failed to parse {name}: {e}"));
                None
            }
        },
        Err(e) => {
            notes.push(format!("failed to read {name}: {e}"));
            None
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

#[cfg(test)]
mod tests {
    use super::*;

    const OVERLAP: &str = concat!(
        r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"acquire","key":"k"}"#,
        "\n",
        r#"{"index":1,"time":1000000,"process":1,"type":"ok","f":"acquire","key":"k","token":7}"#,
        "\n",
        r#"{"index":2,"time":2000000,"process":2,"type":"invoke","f":"acquire","key":"k"}"#,
        "\n",
        r#"{"index":3,"time":3000000,"process":2,"type":"ok","f":"acquire","key":"k","token":8}"#,
        "\n",
    );

    #[test]
    fn without_results_json_the_verdict_is_computed_from_the_history_and_the_page_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(store::HISTORY_FILE), OVERLAP).unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(page.contains(r#"class="banner invalid""#));
        assert!(page.contains("computed from the history"));
        assert!(page.contains("failed to read run.json"));
    }

    #[test]
    fn a_damaged_history_is_drawn_as_far_as_it_reads_and_its_verdict_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let history = format!("{OVERLAP}not a record\n");
        std::fs::write(dir.path().join(store::HISTORY_FILE), history).unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(page.contains(r#"class="banner unknown""#));
        assert!(page.contains("1 lines of history.jsonl are not history records"));
        assert!(page.contains("failed to check history.jsonl"));
        assert!(
            page.contains("2 ops over"),
            "the readable ops are still drawn"
        );
    }

    #[test]
    fn an_empty_run_directory_still_gets_a_page_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(page.contains(r#"class="banner unknown""#));
        assert!(page.contains("no verdict"));
        assert!(write_report(&dir.path().join("missing")).is_err());
    }
}
