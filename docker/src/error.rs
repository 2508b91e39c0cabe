//! The one error type of this crate. Every variant names what it was doing
//! and to what (a node, a network, an image), so that a message read alone in
//! a log says which call failed: "failed to start n2: ...".

use std::time::Duration;

/// A failure of the Docker substrate.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The engine could not be reached at all.
    #[error("failed to connect to the Docker engine: {message}")]
    Connect { message: String },

    /// The engine answered a call with an error.
    #[error("failed to {operation} {subject}: {message}")]
    Engine {
        subject: String,
        operation: &'static str,
        /// The HTTP status the engine answered with, when it answered at all.
        status: Option<u16>,
        message: String,
    },

    /// The engine did not answer within the bound given to the call.
    #[error("failed to {operation} {subject}: no answer within {} ms", .timeout.as_millis())]
    Timeout {
        subject: String,
        operation: &'static str,
        timeout: Duration,
    },

    /// A command run inside a node (by this crate, not by a target) failed.
    #[error("failed to {operation} {subject}: `{command}` exited with {exit_code}: {stderr}")]
    Command {
        subject: String,
        operation: &'static str,
        command: String,
        exit_code: i64,
        stderr: String,
    },

    /// A condition this crate waits for (a process gone, a process stopped)
    /// did not come true in time.
    #[error("failed to {operation} {subject}: {what} not seen within {} ms", .timeout.as_millis())]
    NotObserved {
        subject: String,
        operation: &'static str,
        what: String,
        timeout: Duration,
    },

    /// The caller named a node that this cluster does not have.
    #[error("failed to find node {node} in run {run_id}")]
    UnknownNode { node: String, run_id: String },

    /// The caller asked for something this crate refuses, with the reason.
    #[error("failed to {operation}: {reason}")]
    Refused {
        operation: &'static str,
        reason: String,
    },

    /// The caller asked for something on one node (or object) that this
    /// crate refuses there, with the reason.
    #[error("failed to {operation} {subject}: {reason}")]
    RefusedOn {
        subject: String,
        operation: &'static str,
        reason: String,
    },

    /// Building the base root filesystem failed outside the engine.
    #[error("failed to build the base image: {message}")]
    Build { message: String },

    /// A local file operation (logs, temporary build files) failed.
    #[error("failed to {operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DockerError {
    /// Whether the engine said the object does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            DockerError::Engine {
                status: Some(404),
                ..
            }
        )
    }

    pub(crate) fn engine(
        subject: impl Into<String>,
        operation: &'static str,
        e: bollard::errors::Error,
    ) -> Self {
        let (status, message) = match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            } => (Some(status_code), message),
            other => (None, other.to_string()),
        };
        DockerError::Engine {
            subject: subject.into(),
            operation,
            status,
            message: message.trim().to_string(),
        }
    }

    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<String>,
        source: std::io::Error,
    ) -> Self {
        DockerError::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = DockerError> = std::result::Result<T, E>;
