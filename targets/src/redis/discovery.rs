//! How a client finds the primary: it asks the Sentinels, in its own order,
//! which node they name, and maps the answer back to a node of the cluster.

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::connection::lazy_manager;
use super::deploy::RedisLayout;
use super::outcome::within;
use crate::client::ClientConfig;
use crate::target::{NodeAddr, TargetError};

/// The name the Sentinels monitor the primary under.
pub const MASTER_NAME: &str = "splitbrain";

/// `SENTINEL get-master-addr-by-name`, mapped back to a node name.
pub(crate) async fn ask_primary<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    nodes: &[NodeAddr],
    port: u16,
    limit: Duration,
) -> Result<String, String> {
    let mut cmd = redis::cmd("SENTINEL");
    cmd.arg("get-master-addr-by-name").arg(MASTER_NAME);
    let addr: Option<(String, u16)> = within(
        "ask a Sentinel for the primary",
        limit,
        cmd.query_async(conn),
    )
    .await
    .map_err(|f| f.message().to_string())?;
    let Some((ip, answered_port)) = addr else {
        return Err(format!(
            "failed to find the primary: the Sentinel does not know {MASTER_NAME}"
        ));
    };
    nodes
        .iter()
        .find(|n| n.ip.to_string() == ip && answered_port == port)
        .map(|n| n.name.clone())
        .ok_or_else(|| {
            format!(
                "failed to find the primary: the Sentinel names {ip}:{answered_port}, not a node"
            )
        })
}

/// A client's way to the primary: its Sentinels in the order it asks them,
/// and a connection to every data node.
pub(crate) struct Discovery {
    sentinels: Vec<(String, ConnectionManager)>,
    data: Vec<(String, ConnectionManager)>,
    nodes: Vec<NodeAddr>,
    port: u16,
}

impl Discovery {
    /// Connections, made on first use, to every node's Sentinel, node
    /// `home` first and the others in cluster order after it, and to every
    /// data node.
    pub(crate) fn connect(
        nodes: &[NodeAddr],
        home: usize,
        layout: &RedisLayout,
        cfg: &ClientConfig,
    ) -> Result<Self, TargetError> {
        let connect = |node: &NodeAddr, port: u16| {
            lazy_manager(node.ip, port, cfg.connect_timeout(), cfg.request_timeout())
                .map(|conn| (node.name.clone(), conn))
        };
        let sentinels = (0..nodes.len())
            .map(|i| connect(&nodes[(home + i) % nodes.len()], layout.sentinel_port))
            .collect::<Result<Vec<_>, _>>()?;
        let data = nodes
            .iter()
            .map(|node| connect(node, layout.port))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Discovery {
            sentinels,
            data,
            nodes: nodes.to_vec(),
            port: layout.port,
        })
    }

    /// The node the first answering Sentinel names, and a connection to it.
    pub(crate) async fn primary(
        &self,
        limit: Duration,
    ) -> Result<(String, ConnectionManager), String> {
        let count = u32::try_from(self.sentinels.len().max(1)).unwrap_or(u32::MAX);
        let per_sentinel = (limit / count).max(Duration::from_millis(1));
        let mut errors = Vec::new();
        for (name, conn) in &self.sentinels {
            let mut conn = conn.clone();
            match ask_primary(&mut conn, &self.nodes, self.port, per_sentinel).await {
                Ok(primary) => {
                    if let Some((_, data)) = self.data.iter().find(|(n, _)| *n == primary) {
                        return Ok((primary, data.clone()));
                    }
                    errors.push(format!("{name}: names unknown node {primary}"));
                }
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        Err(format!(
            "failed to find the primary: no Sentinel answered ({})",
            errors.join("; ")
        ))
    }
}
