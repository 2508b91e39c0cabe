//! Log collection at teardown: the service's log, the logs faults wrote in
//! the node, and the container's own output.

use std::path::Path;

use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;

use crate::error::{DockerError, Result};

use super::handle::Cluster;

impl Cluster {
    /// Have teardown also copy `path`, where it exists in a node, to
    /// `<logs dir>/<node>/<local_name>`. For the logs a fault writes in the
    /// nodes (the packet delayer's), so that this module need not know them.
    pub(crate) fn collect_at_teardown(&self, path: &str, local_name: &str) {
        let mut extra = self.extra_logs.lock().unwrap_or_else(|p| p.into_inner());
        extra.insert(local_name.to_string(), path.to_string());
    }

    /// Copy `node`'s service log, the registered fault logs and its
    /// `docker logs` into `dir/<node>/`.
    pub(super) async fn collect_logs(&self, node: &str, dir: &Path) -> Result<()> {
        let node_dir = dir.join(node);
        tokio::fs::create_dir_all(&node_dir)
            .await
            .map_err(|e| DockerError::io("create", node_dir.display().to_string(), e))?;
        for (path, local) in self.files_to_collect(node) {
            if let Some(bytes) = self.get_file(node, &path).await? {
                write_local(&node_dir.join(local), &bytes).await?;
            }
        }
        let bytes = self.docker_logs(node).await?;
        write_local(&node_dir.join("docker.log"), &bytes).await
    }

    /// Node path and local name of each file to copy from `node`.
    fn files_to_collect(&self, node: &str) -> Vec<(String, String)> {
        let mut files = Vec::new();
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(spec) = services.get(node) {
            files.push((spec.log_path.clone(), "service.log".to_string()));
        }
        drop(services);
        let extra = self.extra_logs.lock().unwrap_or_else(|p| p.into_inner());
        files.extend(
            extra
                .iter()
                .map(|(local, path)| (path.clone(), local.clone())),
        );
        files
    }

    /// The container's own stdout and stderr, timestamped.
    async fn docker_logs(&self, node: &str) -> Result<Vec<u8>> {
        let info = self.node(node)?;
        let docker = self.engine.docker();
        let read = async {
            let mut stream = docker.logs(
                &info.container_id,
                Some(
                    LogsOptionsBuilder::new()
                        .stdout(true)
                        .stderr(true)
                        .timestamps(true)
                        .follow(false)
                        .build(),
                ),
            );
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk?.into_bytes());
            }
            Ok(bytes)
        };
        self.engine
            .call_within(
                node,
                "read the logs of",
                self.engine.transfer_timeout(),
                read,
            )
            .await
    }
}

async fn write_local(target: &Path, bytes: &[u8]) -> Result<()> {
    tokio::fs::write(target, bytes)
        .await
        .map_err(|e| DockerError::io("write", target.display().to_string(), e))
}
