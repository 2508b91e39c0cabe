//! What reading a history can run into: warnings that do not stop the
//! check, and errors that do.

use std::path::PathBuf;

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
