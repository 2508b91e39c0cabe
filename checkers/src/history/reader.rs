//! Streaming JSON Lines reader: one reused line buffer, borrowed fields, and
//! errors that name the file, the line and the reason.

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::builder::{Builder, Record};
use super::{CompactValue, History, OpType, Process};

/// Longest line accepted. A read of a large resource is one line, so this is
/// generous; it exists so a file without newlines cannot exhaust memory.
pub const MAX_LINE_BYTES: u64 = 256 << 20;

/// Something worth telling the user that does not stop the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The line it concerns, if one.
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a history could not be read. `origin` is the file path (or `<memory>`).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("failed to open history {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read history {origin} at line {line}: {source}")]
    Io {
        origin: String,
        line: u64,
        source: std::io::Error,
    },
    #[error("failed to read history {origin}: line {line}: {reason}")]
    Invalid {
        origin: String,
        line: u64,
        reason: String,
    },
}

/// A line as written, borrowing its strings from the line buffer. Unknown
/// fields (`node`, `error`, later additions) are skipped without allocating.
#[derive(Deserialize)]
struct RawRecord<'a> {
    index: u64,
    time: i64,
    process: Process,
    #[serde(rename = "type")]
    kind: OpType,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(default)]
    token: Option<u64>,
    #[serde(default)]
    valid_until: Option<i64>,
    #[serde(default)]
    value: Option<CompactValue>,
}

/// Reads and validates a history file. See [`read_history_from`].
pub fn read_history(path: impl AsRef<Path>) -> Result<(History, Vec<Warning>), HistoryError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| HistoryError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    read_history_from(
        BufReader::with_capacity(1 << 20, file),
        &path.display().to_string(),
    )
}

/// Reads and validates a history from any reader; `origin` names it in errors.
///
/// Blank lines are skipped. A last line that has no newline and does not parse
/// is taken for the tail of a crashed run: the history is checked up to the
/// line before, with a warning. Anything else that does not parse, or breaks
/// the contract (see [`crate::history`]), is an error naming the line.
pub fn read_history_from<R: BufRead>(
    mut reader: R,
    origin: &str,
) -> Result<(History, Vec<Warning>), HistoryError> {
    let mut builder = Builder::new();
    let mut buf = Vec::with_capacity(4096);
    let mut line: u64 = 0;
    let mut warnings = Vec::new();
    loop {
        buf.clear();
        line += 1;
        let n = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| HistoryError::Io {
                origin: origin.to_string(),
                line,
                source,
            })?;
        if n == 0 {
            break;
        }
        let terminated = buf.last() == Some(&b'\n');
        if !terminated && n as u64 > MAX_LINE_BYTES {
            return Err(HistoryError::Invalid {
                origin: origin.to_string(),
                line,
                reason: format!("line is longer than {MAX_LINE_BYTES} bytes"),
            });
        }
        let mut text: &[u8] = &buf;
        while let [rest @ .., b'\n' | b'\r'] = text {
            text = rest;
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // One UTF-8 check for the whole line is cheaper than serde_json's check
        // of each string in it.
        let parsed = match std::str::from_utf8(text) {
            Ok(text) => serde_json::from_str(text).map_err(|e| describe(&e)),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        let raw: RawRecord<'_> = match parsed {
            Ok(r) => r,
            Err(e) if !terminated => {
                warnings.push(Warning {
                    line: Some(line),
                    message: format!(
                        "last line is cut off (no newline at end of file, {e}); \
                         checked up to line {}",
                        line - 1
                    ),
                });
                break;
            }
            Err(reason) => {
                return Err(HistoryError::Invalid {
                    origin: origin.to_string(),
                    line,
                    reason,
                })
            }
        };
        builder
            .push(Record {
                index: raw.index,
                time: raw.time,
                process: raw.process,
                kind: raw.kind,
                f: &raw.f,
                key: raw.key.as_deref(),
                token: raw.token,
                valid_until: raw.valid_until,
                value: raw.value,
            })
            .map_err(|reason| HistoryError::Invalid {
                origin: origin.to_string(),
                line,
                reason,
            })?;
    }
    let (history, more) = builder.finish();
    warnings.extend(more);
    Ok((history, warnings))
}

/// serde_json's message without its "at line 1 column N" (always line 1 here),
/// with the column kept.
fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => &msg,
    };
    let what = match e.classify() {
        serde_json::error::Category::Eof => "incomplete JSON",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "not a v1 record",
        serde_json::error::Category::Io => "unreadable",
    };
    format!("{what}: {msg} (column {})", e.column())
}
