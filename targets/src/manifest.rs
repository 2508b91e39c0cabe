//! Target manifests: a user's own service described in TOML, so that the
//! harness can deploy it and talk to it through the adapter protocol.
//!
//! ```toml
//! name = "my-locks"
//! protocol = 1
//! binary = "../target/release/my-locks"    # relative to this file; or image = "..."
//! command = ["{binary}", "--node", "{node}", "--listen", "{ip}:{port}",
//!            "--peers", "{peers}", "--data-dir", "{data_dir}"]
//! process_name = "my-locks"
//! port = 7000
//! data_dir = "/var/lib/splitbrain/my-locks"
//! faults = ["partition", "kill", "pause", "client-pause"]   # no clock dependency
//!
//! [readiness]
//! path = "/v1/health"
//! ```
//!
//! Placeholders in `command`, `env` values and `data_dir`: `{node}` (n1..nN),
//! `{ip}`, `{port}`, `{peers}` (`n1=IP:PORT,n2=IP:PORT,...`, every node in
//! order), `{data_dir}`, `{binary}` (where the binary lands in the node).
//! Anything else in braces is an error naming the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The adapter protocol versions this harness speaks.
pub const SUPPORTED_PROTOCOLS: &[u32] = &[1];
/// Where an uploaded binary lands in a node, by default.
pub const DEFAULT_BIN_DIR: &str = "/usr/local/bin";
const DEFAULT_READINESS_PATH: &str = "/v1/health";
/// `comm`, which kill and pause match, keeps this many bytes of the name.
const COMM_LEN: usize = 15;
const PLACEHOLDERS: &[&str] = &["node", "ip", "port", "peers", "data_dir", "binary"];

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("failed to read the manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to parse the manifest {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("failed to accept the manifest {path}: field `{field}`: {reason}")]
    Field {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
}

/// A fault the manifest says makes sense for the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    Partition,
    Kill,
    Pause,
    Clock,
    ClientPause,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Partition,
        Fault::Kill,
        Fault::Pause,
        Fault::Clock,
        Fault::ClientPause,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Clock => "clock",
            Fault::ClientPause => "client-pause",
        }
    }
}

/// Where the service comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A host file copied into every node before the service starts.
    Binary {
        host_path: PathBuf,
        node_path: String,
    },
    /// An image the nodes run instead of the base image.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// GET path answering 200 once the node serves.
    #[serde(default = "default_readiness_path")]
    pub path: String,
}

fn default_readiness_path() -> String {
    DEFAULT_READINESS_PATH.to_string()
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            path: default_readiness_path(),
        }
    }
}

/// The manifest as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    protocol: u32,
    binary: Option<PathBuf>,
    /// Where `binary` is put in a node; default `/usr/local/bin/<file name>`.
    binary_node_path: Option<String>,
    image: Option<String>,
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    process_name: String,
    port: u16,
    data_dir: String,
    faults: Vec<Fault>,
    #[serde(default)]
    readiness: Readiness,
    version_command: Option<Vec<String>>,
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub name: String,
    pub protocol: u32,
    pub source: Source,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub process_name: String,
    pub port: u16,
    pub data_dir: String,
    pub faults: Vec<Fault>,
    pub readiness: Readiness,
    pub version_command: Vec<String>,
}

/// The values placeholders expand to on one node.
#[derive(Debug, Clone)]
pub struct NodeValues<'a> {
    pub node: &'a str,
    pub ip: String,
    pub peers: String,
    pub data_dir: String,
}

impl Manifest {
    pub fn from_file(path: &Path) -> Result<Manifest, ManifestError> {
        Manifest::from_file_with_binary(path, None)
    }

    /// As [`Manifest::from_file`], with `binary` (when given) in place of
    /// the manifest's own: a harness that just built the service knows
    /// where cargo put it, and the manifest's path need not exist.
    pub fn from_file_with_binary(
        path: &Path,
        binary: Option<&Path>,
    ) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Manifest::parse(&text, path, base, binary)
    }

    /// Parses `text` as if read from `path`; a relative `binary` is taken
    /// relative to `base`.
    pub fn from_str_at(text: &str, path: &Path, base: &Path) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, path, base, None)
    }

    fn parse(
        text: &str,
        path: &Path,
        base: &Path,
        binary_override: Option<&Path>,
    ) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            message: parse_message(text, &e),
        })?;
        let field = |field: &'static str, reason: String| ManifestError::Field {
            path: path.to_path_buf(),
            field,
            reason,
        };
        if raw.name.trim().is_empty()
            || !raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(field(
                "name",
                format!(
                    "{:?} must be non-empty ASCII letters, digits, '-' or '_' (it names result paths)",
                    raw.name
                ),
            ));
        }
        if !SUPPORTED_PROTOCOLS.contains(&raw.protocol) {
            return Err(field(
                "protocol",
                format!(
                    "version {} is not spoken here; supported: {SUPPORTED_PROTOCOLS:?}",
                    raw.protocol
                ),
            ));
        }
        let source = match (raw.binary, raw.image) {
            (Some(_), Some(_)) => {
                return Err(field(
                    "binary",
                    "give either `binary` or `image`, not both".into(),
                ))
            }
            (None, None) => {
                return Err(field(
                    "binary",
                    "give either `binary` (a host file to copy into each node) or `image`".into(),
                ))
            }
            (None, Some(image)) if image.trim().is_empty() => {
                return Err(field("image", "must not be empty".into()))
            }
            (None, Some(image)) => Source::Image(image),
            (Some(binary), None) => {
                let host_path = match binary_override {
                    Some(given) => given.to_path_buf(),
                    None if binary.is_absolute() => binary.clone(),
                    None => base.join(&binary),
                };
                if !host_path.is_file() {
                    let why = if binary_override.is_some() {
                        "the binary given in place of the manifest's"
                    } else {
                        "relative paths are taken from the manifest's directory"
                    };
                    return Err(field(
                        "binary",
                        format!("no file at {} ({why})", host_path.display()),
                    ));
                }
                let node_path = match raw.binary_node_path {
                    Some(p) if p.starts_with('/') => p,
                    Some(p) => {
                        return Err(field(
                            "binary_node_path",
                            format!("{p:?} must be an absolute path"),
                        ))
                    }
                    // Named as the manifest names it, whichever file is uploaded.
                    None => {
                        let file_name = binary
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        format!("{DEFAULT_BIN_DIR}/{file_name}")
                    }
                };
                Source::Binary {
                    host_path,
                    node_path,
                }
            }
        };
        if raw.command.is_empty() || raw.command[0].trim().is_empty() {
            return Err(field(
                "command",
                "must name a program: a non-empty list of arguments".into(),
            ));
        }
        for arg in &raw.command {
            check_placeholders(arg).map_err(|reason| field("command", reason))?;
        }
        for (name, value) in &raw.env {
            check_placeholders(value)
                .map_err(|reason| field("env", format!("{name}: {reason}")))?;
        }
        if raw.process_name.trim().is_empty() || raw.process_name.contains('/') {
            return Err(field(
                "process_name",
                format!(
                    "{:?} must be the executable's name as ps shows it (no path)",
                    raw.process_name
                ),
            ));
        }
        if raw.port == 0 {
            return Err(field(
                "port",
                "must be a port number from 1 to 65535".into(),
            ));
        }
        if !raw.data_dir.starts_with('/') {
            return Err(field(
                "data_dir",
                format!("{:?} must be an absolute path", raw.data_dir),
            ));
        }
        check_placeholders(&raw.data_dir).map_err(|reason| field("data_dir", reason))?;
        if raw.data_dir.contains("{data_dir}") {
            return Err(field("data_dir", "must not refer to itself".into()));
        }
        let mut faults = raw.faults;
        faults.sort();
        faults.dedup();
        if !raw.readiness.path.starts_with('/') {
            return Err(field(
                "readiness",
                format!("path {:?} must start with '/'", raw.readiness.path),
            ));
        }
        let version_command = match raw.version_command {
            Some(argv) if argv.is_empty() => {
                return Err(field("version_command", "must not be empty".into()))
            }
            Some(argv) => argv,
            None => match &source {
                Source::Binary { node_path, .. } => vec![node_path.clone(), "--version".into()],
                Source::Image(image) => vec!["echo".into(), image.clone()],
            },
        };
        Ok(Manifest {
            name: raw.name,
            protocol: raw.protocol,
            source,
            command: raw.command,
            env: raw.env,
            process_name: raw.process_name.chars().take(COMM_LEN).collect(),
            port: raw.port,
            data_dir: raw.data_dir,
            faults,
            readiness: raw.readiness,
            version_command,
        })
    }

    pub fn allows(&self, fault: Fault) -> bool {
        self.faults.contains(&fault)
    }

    /// `text` with every placeholder replaced by its value on one node.
    pub fn expand(&self, text: &str, values: &NodeValues<'_>) -> String {
        let binary = match &self.source {
            Source::Binary { node_path, .. } => node_path.as_str(),
            Source::Image(_) => "",
        };
        text.replace("{node}", values.node)
            .replace("{ip}", &values.ip)
            .replace("{port}", &self.port.to_string())
            .replace("{peers}", &values.peers)
            .replace("{data_dir}", &values.data_dir)
            .replace("{binary}", binary)
    }
}

/// toml's message with the line it points at, on one line:
/// `line 6 (port = "7000"): invalid type: string "7000", expected u16`.
fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
            format!("line {line_no} ({line}): {message}")
        }
        None => message,
    }
}

/// Every `{...}` in `text` must be a known placeholder.
fn check_placeholders(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("{text:?} has an unclosed '{{'"));
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} in {text:?}; known: {}",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_checked() {
        assert!(check_placeholders("{ip}:{port}").is_ok());
        assert!(check_placeholders("{host}").unwrap_err().contains("{host}"));
        assert!(check_placeholders("{ip").unwrap_err().contains("unclosed"));
    }
}
