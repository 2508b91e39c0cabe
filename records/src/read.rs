//! Reading a record back from a run directory.

use std::path::Path;

use serde::de::DeserializeOwned;

/// Why a record could not be read. Messages name the file, not its path:
/// a report shows them next to the run they belong to.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("failed to read {name}: {source}")]
    Read {
        name: String,
        source: std::io::Error,
    },
    /// Not JSON at all (or cut off).
    #[error("failed to parse {name}: {source}")]
    Parse {
        name: String,
        source: serde_json::Error,
    },
    /// JSON, but not the record: a field has the wrong type or a required
    /// one is missing.
    #[error("failed to understand {name}: {source}")]
    Understand {
        name: String,
        source: serde_json::Error,
    },
}

/// Reads a record (a [`crate::RunRecord`], a [`crate::ResultsRecord`], a
/// headline) from the JSON file at `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, RecordError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|source| RecordError::Read {
        name: name.clone(),
        source,
    })?;
    from_slice(&bytes, name)
}

/// Parses a record from `bytes`, naming it `name` in errors.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8], name: String) -> Result<T, RecordError> {
    serde_json::from_slice(bytes).map_err(|source| {
        if source.is_data() {
            RecordError::Understand { name, source }
        } else {
            RecordError::Parse { name, source }
        }
    })
}
