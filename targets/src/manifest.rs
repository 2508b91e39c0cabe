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
//! faults = ["partition", "kill", "pause", "client-pause"]   # no clock dependency; packet goes with partition
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
use splitbrain_vocab::FaultKind;

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
    /// Not TOML, or not the fields a manifest has; `message` is toml's,
    /// with the line it points at.
    #[error("failed to parse the manifest {path}: {message}")]
    Parse {
        path: PathBuf,
        message: String,
        /// Boxed: toml's error is large, and every Result of this type pays for it.
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("failed to accept the manifest {path}: field `{field}`: {reason}")]
    Field {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
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
    faults: Vec<FaultKind>,
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
    pub faults: Vec<FaultKind>,
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
            source: Box::new(e),
        })?;
        raw.validate(base, binary_override)
            .map_err(|rejection| ManifestError::Field {
                path: path.to_path_buf(),
                field: rejection.field,
                reason: rejection.reason,
            })
    }

    pub fn allows(&self, fault: FaultKind) -> bool {
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

/// A field the manifest got wrong, and why.
struct Rejection {
    field: &'static str,
    reason: String,
}

fn reject<T>(field: &'static str, reason: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        field,
        reason: reason.into(),
    })
}

impl RawManifest {
    /// Checks every field in the order they are written, so the first
    /// mistake in the file is the one reported.
    fn validate(self, base: &Path, binary_override: Option<&Path>) -> Result<Manifest, Rejection> {
        check_name(&self.name)?;
        check_protocol(self.protocol)?;
        let source = source(
            self.binary,
            self.image,
            self.binary_node_path,
            base,
            binary_override,
        )?;
        check_command(&self.command, &self.env)?;
        check_process_name(&self.process_name)?;
        if self.port == 0 {
            return reject("port", "must be a port number from 1 to 65535");
        }
        check_data_dir(&self.data_dir)?;
        let mut faults = self.faults;
        faults.sort();
        faults.dedup();
        if !self.readiness.path.starts_with('/') {
            return reject(
                "readiness",
                format!("path {:?} must start with '/'", self.readiness.path),
            );
        }
        let version_command = version_command(self.version_command, &source)?;
        Ok(Manifest {
            name: self.name,
            protocol: self.protocol,
            source,
            command: self.command,
            env: self.env,
            process_name: self.process_name.chars().take(COMM_LEN).collect(),
            port: self.port,
            data_dir: self.data_dir,
            faults,
            readiness: self.readiness,
            version_command,
        })
    }
}

fn check_name(name: &str) -> Result<(), Rejection> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.trim().is_empty() || !name.chars().all(allowed) {
        return reject(
            "name",
            format!(
                "{name:?} must be non-empty ASCII letters, digits, '-' or '_' (it names result paths)"
            ),
        );
    }
    Ok(())
}

fn check_protocol(protocol: u32) -> Result<(), Rejection> {
    if !SUPPORTED_PROTOCOLS.contains(&protocol) {
        return reject(
            "protocol",
            format!("version {protocol} is not spoken here; supported: {SUPPORTED_PROTOCOLS:?}"),
        );
    }
    Ok(())
}

/// Where the service comes from: exactly one of `binary` and `image`.
fn source(
    binary: Option<PathBuf>,
    image: Option<String>,
    binary_node_path: Option<String>,
    base: &Path,
    binary_override: Option<&Path>,
) -> Result<Source, Rejection> {
    match (binary, image) {
        (Some(_), Some(_)) => reject("binary", "give either `binary` or `image`, not both"),
        (None, None) => reject(
            "binary",
            "give either `binary` (a host file to copy into each node) or `image`",
        ),
        (None, Some(image)) if image.trim().is_empty() => reject("image", "must not be empty"),
        (None, Some(image)) => Ok(Source::Image(image)),
        (Some(binary), None) => binary_source(&binary, binary_node_path, base, binary_override),
    }
}

/// A host file to upload: it must exist now, and lands at
/// `binary_node_path`, or in [`DEFAULT_BIN_DIR`] under the manifest's name
/// for it.
fn binary_source(
    binary: &Path,
    binary_node_path: Option<String>,
    base: &Path,
    binary_override: Option<&Path>,
) -> Result<Source, Rejection> {
    let host_path = match binary_override {
        Some(given) => given.to_path_buf(),
        None if binary.is_absolute() => binary.to_path_buf(),
        None => base.join(binary),
    };
    if !host_path.is_file() {
        let why = if binary_override.is_some() {
            "the binary given in place of the manifest's"
        } else {
            "relative paths are taken from the manifest's directory"
        };
        return reject(
            "binary",
            format!("no file at {} ({why})", host_path.display()),
        );
    }
    let node_path = match binary_node_path {
        Some(p) if p.starts_with('/') => p,
        Some(p) => {
            return reject(
                "binary_node_path",
                format!("{p:?} must be an absolute path"),
            )
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
    Ok(Source::Binary {
        host_path,
        node_path,
    })
}

fn check_command(command: &[String], env: &BTreeMap<String, String>) -> Result<(), Rejection> {
    if command
        .first()
        .is_none_or(|program| program.trim().is_empty())
    {
        return reject(
            "command",
            "must name a program: a non-empty list of arguments",
        );
    }
    for arg in command {
        check_placeholders(arg).or_else(|reason| reject("command", reason))?;
    }
    for (name, value) in env {
        check_placeholders(value).or_else(|reason| reject("env", format!("{name}: {reason}")))?;
    }
    Ok(())
}

fn check_process_name(process_name: &str) -> Result<(), Rejection> {
    if process_name.trim().is_empty() || process_name.contains('/') {
        return reject(
            "process_name",
            format!("{process_name:?} must be the executable's name as ps shows it (no path)"),
        );
    }
    Ok(())
}

fn check_data_dir(data_dir: &str) -> Result<(), Rejection> {
    if !data_dir.starts_with('/') {
        return reject("data_dir", format!("{data_dir:?} must be an absolute path"));
    }
    check_placeholders(data_dir).or_else(|reason| reject("data_dir", reason))?;
    if data_dir.contains("{data_dir}") {
        return reject("data_dir", "must not refer to itself");
    }
    Ok(())
}

/// The manifest's own version command, else one that fits the source.
fn version_command(given: Option<Vec<String>>, source: &Source) -> Result<Vec<String>, Rejection> {
    match given {
        Some(argv) if argv.is_empty() => reject("version_command", "must not be empty"),
        Some(argv) => Ok(argv),
        None => Ok(match source {
            Source::Binary { node_path, .. } => vec![node_path.clone(), "--version".into()],
            Source::Image(image) => vec!["echo".into(), image.clone()],
        }),
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
