//! One Redis instance (`--target redis`): every process locks on node n1.

use std::time::Duration;

use async_trait::async_trait;
use splitbrain_vocab::WriteMode;

use super::commands;
use super::connection::{connect_once, lazy_manager};
use super::deploy::{RedisLayout, RedisPersistence};
use super::instance_client::{InstanceClient, Locator};
use super::tokens::TokenSemantics;
use crate::client::ClientConfig;
use crate::target::{ClientResult, NodeAddr, Target, TargetError};

/// A single redis-server; the lock, its counter and the resource all live there.
#[derive(Debug, Clone)]
pub struct RedisTarget {
    write_mode: WriteMode,
    persistence: RedisPersistence,
    layout: RedisLayout,
}

impl RedisTarget {
    pub fn new(write_mode: WriteMode, persistence: RedisPersistence) -> Self {
        RedisTarget {
            write_mode,
            persistence,
            layout: RedisLayout::default(),
        }
    }

    /// Other ports, directories or bind addresses than one node per container.
    pub fn with_layout(mut self, layout: RedisLayout) -> Self {
        self.layout = layout;
        self
    }

    pub fn write_mode(&self) -> WriteMode {
        self.write_mode
    }

    pub fn persistence(&self) -> RedisPersistence {
        self.persistence
    }

    pub fn layout(&self) -> &RedisLayout {
        &self.layout
    }

    /// Tokens come from a counter that a restart without persistence resets.
    pub fn token_semantics(&self) -> TokenSemantics {
        TokenSemantics::Counter
    }
}

/// Answers a read on a fresh connection, all within `timeout`.
pub(crate) async fn probe_node(
    node: &NodeAddr,
    port: u16,
    timeout: Duration,
) -> Result<(), TargetError> {
    let unreachable = |reason: &str| TargetError::unreachable(node, reason);
    let exchange = async {
        let mut conn = connect_once(node.ip, port, timeout)
            .await
            .map_err(|f| unreachable(f.message()))?;
        commands::probe(&mut conn, timeout)
            .await
            .map_err(|f| unreachable(f.message()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(unreachable(&format!(
            "no answer to a read within {} ms",
            timeout.as_millis()
        ))),
    }
}

#[async_trait]
impl Target for RedisTarget {
    fn name(&self) -> &str {
        "redis"
    }

    async fn probe(&self, node: &NodeAddr, timeout: Duration) -> Result<(), TargetError> {
        probe_node(node, self.layout.port, timeout).await
    }

    async fn client(&self, nodes: &[NodeAddr], process: u64, cfg: &ClientConfig) -> ClientResult {
        let Some(node) = nodes.first() else {
            return Err(TargetError::Client(
                "failed to pick a node: the cluster has none".into(),
            ));
        };
        let conn = lazy_manager(
            node.ip,
            self.layout.port,
            cfg.connect_timeout(),
            cfg.request_timeout(),
        )?;
        let locator = Locator::Fixed {
            node: node.name.clone(),
            conn,
        };
        Ok(Box::new(InstanceClient::new(
            locator,
            process,
            cfg,
            self.write_mode,
        )))
    }

    fn default_nodes(&self) -> usize {
        1
    }

    super::target_methods::redis_target_methods!(one_server_per_node);
}
