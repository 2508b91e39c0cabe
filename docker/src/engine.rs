//! A handle on the Docker engine that bounds every call.
//!
//! bollard has one client-wide timeout (120 s unless told otherwise), which
//! is far too long for a `kill` and too short for an image import. Each call
//! here therefore carries its own bound through [`Engine::call`], and the
//! client-wide timeout is only a backstop set to the longest transfer.

use std::future::Future;
use std::time::Duration;

use bollard::Docker;

use crate::error::{DockerError, Result};

/// Bounds for calls to the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Bound on an ordinary call (create, start, inspect, remove, exec setup).
    pub call_timeout_ms: u64,
    /// Bound on a bulk transfer (image import, archive upload or download).
    pub transfer_timeout_ms: u64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            call_timeout_ms: 30_000,
            transfer_timeout_ms: 600_000,
        }
    }
}

/// A connection to the local Docker engine, with the API version negotiated
/// down to what the engine speaks (20.10 speaks 1.41; bollard 0.21 asks for
/// a newer one by default and the engine would refuse it).
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    options: EngineOptions,
}

impl Engine {
    /// Connect through `DOCKER_HOST` or the local socket and negotiate the
    /// API version.
    pub async fn connect(options: EngineOptions) -> Result<Engine> {
        let transfer = Duration::from_millis(options.transfer_timeout_ms);
        let call = Duration::from_millis(options.call_timeout_ms);
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| DockerError::Connect {
                message: e.to_string(),
            })?
            .with_timeout(transfer);
        let docker = match tokio::time::timeout(call, docker.negotiate_version()).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                return Err(DockerError::Connect {
                    message: e.to_string(),
                })
            }
            Err(_) => {
                return Err(DockerError::Connect {
                    message: format!("no answer within {} ms", call.as_millis()),
                })
            }
        };
        Ok(Engine { docker, options })
    }

    /// The underlying bollard client, for calls this crate does not wrap.
    /// Callers are responsible for bounding them.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    pub(crate) fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.options.call_timeout_ms)
    }

    pub(crate) fn transfer_timeout(&self) -> Duration {
        Duration::from_millis(self.options.transfer_timeout_ms)
    }

    /// Run one engine call under the ordinary call bound.
    pub(crate) async fn call<T>(
        &self,
        subject: &str,
        operation: &'static str,
        fut: impl Future<Output = std::result::Result<T, bollard::errors::Error>>,
    ) -> Result<T> {
        self.call_within(subject, operation, self.call_timeout(), fut)
            .await
    }

    /// Run one engine call under an explicit bound.
    pub(crate) async fn call_within<T>(
        &self,
        subject: &str,
        operation: &'static str,
        timeout: Duration,
        fut: impl Future<Output = std::result::Result<T, bollard::errors::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(DockerError::engine(subject, operation, e)),
            Err(_) => Err(DockerError::Timeout {
                subject: subject.to_string(),
                operation,
                timeout,
            }),
        }
    }
}
