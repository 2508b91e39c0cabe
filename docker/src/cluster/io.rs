//! Node I/O: run a command in a node, copy a file in or out.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::StreamExt;

use crate::engine::Engine;
use crate::error::{DockerError, Result};

use super::handle::Cluster;
use super::spec::NodeInfo;

/// Bound on what one exec may return on each of stdout and stderr.
const EXEC_OUTPUT_LIMIT_BYTES: usize = 8 << 20;

/// What a command run in a node returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// `self` if the command succeeded, otherwise the error naming
    /// `operation` on `subject` and the `command` that failed.
    pub(crate) fn checked(
        self,
        subject: &str,
        operation: &'static str,
        command: &str,
    ) -> Result<ExecOutput> {
        if self.success() {
            return Ok(self);
        }
        Err(DockerError::Command {
            subject: subject.to_string(),
            operation,
            command: command.to_string(),
            exit_code: self.exit_code,
            stderr: self.stderr.trim().to_string(),
        })
    }
}

/// Quote one word for `sh`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Cluster {
    /// Run `argv` in `node` and wait for it, at most `timeout`. A command
    /// that outlives the bound is also killed inside the node (by
    /// coreutils `timeout`), so nothing lingers.
    pub async fn exec<S: AsRef<str>>(
        &self,
        node: &str,
        argv: &[S],
        timeout: Duration,
    ) -> Result<ExecOutput> {
        let info = self.node(node)?;
        exec_in(&self.engine, info, "exec in", argv, timeout).await
    }

    /// Run a shell script in `node`; a non-zero exit is an error naming
    /// `operation`.
    pub(crate) async fn sh(
        &self,
        node: &str,
        operation: &'static str,
        script: &str,
    ) -> Result<ExecOutput> {
        self.exec(node, &["sh", "-c", script], self.engine.call_timeout())
            .await?
            .checked(node, operation, script)
    }

    /// Write `bytes` to `path` in `node` with permission bits `mode`,
    /// creating missing parent directories.
    pub async fn put_file(&self, node: &str, path: &str, bytes: &[u8], mode: u32) -> Result<()> {
        let info = self.node(node)?;
        let relative = path.trim_start_matches('/');
        if relative.is_empty() || relative.ends_with('/') {
            return Err(DockerError::Refused {
                operation: "put a file",
                reason: format!("{path:?} is not a file path"),
            });
        }
        let archive = one_file_archive(path, relative, bytes, mode)?;
        self.engine
            .call_within(
                node,
                "put a file into",
                self.engine.transfer_timeout(),
                self.engine.docker().upload_to_container(
                    &info.container_id,
                    Some(UploadToContainerOptionsBuilder::new().path("/").build()),
                    bollard::body_full(archive.into()),
                ),
            )
            .await
    }

    /// Read a regular file from `node`; `None` if it does not exist.
    pub async fn get_file(&self, node: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let info = self.node(node)?;
        let docker = self.engine.docker();
        let download = async {
            let mut stream = docker.download_from_container(
                &info.container_id,
                Some(
                    DownloadFromContainerOptionsBuilder::new()
                        .path(path)
                        .build(),
                ),
            );
            let mut archive = Vec::new();
            while let Some(chunk) = stream.next().await {
                archive.extend_from_slice(&chunk?);
            }
            Ok(archive)
        };
        let archive = match self
            .engine
            .call_within(
                node,
                "get a file from",
                self.engine.transfer_timeout(),
                download,
            )
            .await
        {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        first_file_of(&archive, path)
    }
}

/// Run `argv` in the container of `node`, at most `timeout`, under
/// coreutils `timeout` as a backstop inside the node. Shared by
/// [`Cluster::exec`] and creation, which runs commands before there is a
/// `Cluster`.
pub(super) async fn exec_in<S: AsRef<str>>(
    engine: &Engine,
    node: &NodeInfo,
    operation: &'static str,
    argv: &[S],
    timeout: Duration,
) -> Result<ExecOutput> {
    let docker = engine.docker();
    let backstop_secs = timeout.as_secs() + 2;
    let mut cmd = vec![
        "timeout".to_string(),
        "-s".to_string(),
        "KILL".to_string(),
        backstop_secs.to_string(),
    ];
    cmd.extend(argv.iter().map(|a| a.as_ref().to_string()));
    let config = ExecConfig {
        cmd: Some(cmd),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let started = Instant::now();
    let created = engine
        .call(
            &node.name,
            operation,
            docker.create_exec(&node.container_id, config),
        )
        .await?;
    let remaining = timeout.saturating_sub(started.elapsed());
    let (stdout, stderr) = engine
        .call_within(
            &node.name,
            operation,
            remaining,
            read_attached(engine, &created.id),
        )
        .await?;
    let inspect = engine
        .call(
            &node.name,
            "inspect an exec in",
            docker.inspect_exec(&created.id),
        )
        .await?;
    Ok(ExecOutput {
        // An exec whose stream ended has exited; no code means the engine
        // lost it, which we report as the conventional "unknown" 255.
        exit_code: inspect.exit_code.unwrap_or(255),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Start exec `id` attached and read its stdout and stderr to the end, each
/// up to the output bound.
async fn read_attached(
    engine: &Engine,
    id: &str,
) -> std::result::Result<(Vec<u8>, Vec<u8>), bollard::errors::Error> {
    let results = engine
        .docker()
        .start_exec(
            id,
            Some(StartExecOptions {
                detach: false,
                tty: false,
                output_capacity: None,
            }),
        )
        .await?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let StartExecResults::Attached { mut output, .. } = results {
        while let Some(chunk) = output.next().await {
            match chunk? {
                LogOutput::StdOut { message } => append_bounded(&mut stdout, &message),
                LogOutput::StdErr { message } => append_bounded(&mut stderr, &message),
                _ => {}
            }
        }
    }
    Ok((stdout, stderr))
}

fn append_bounded(buf: &mut Vec<u8>, chunk: &[u8]) {
    let room = EXEC_OUTPUT_LIMIT_BYTES.saturating_sub(buf.len());
    buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
}

/// A tar holding `bytes` at `relative` (owned by root, mode `mode`), as the
/// engine's archive upload wants it; `path` names it in errors.
fn one_file_archive(path: &str, relative: &str, bytes: &[u8], mode: u32) -> Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, relative, bytes)
        .map_err(|e| DockerError::io("pack", path, e))?;
    builder
        .into_inner()
        .map_err(|e| DockerError::io("pack", path, e))
}

/// The content of the first regular file in `archive`, the engine's answer
/// to a download of `path`.
fn first_file_of(archive: &[u8], path: &str) -> Result<Option<Vec<u8>>> {
    let mut tar = tar::Archive::new(archive);
    let entries = tar
        .entries()
        .map_err(|e| DockerError::io("unpack", path, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| DockerError::io("unpack", path, e))?;
        if entry.header().entry_type().is_file() {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes)
                .map_err(|e| DockerError::io("unpack", path, e))?;
            return Ok(Some(bytes));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_packed_file_unpacks_to_the_same_bytes() {
        let archive = one_file_archive("/a/b", "a/b", b"hello", 0o644).unwrap();
        assert_eq!(
            first_file_of(&archive, "/a/b").unwrap(),
            Some(b"hello".to_vec())
        );
    }
}
