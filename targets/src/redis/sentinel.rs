//! A primary and two replicas under three Sentinels (`--target redis-sentinel`).
//!
//! # Deployment
//!
//! Every node runs redis-server and, beside it, redis-sentinel, as in the
//! Jepsen 2013 test: a partition cuts a node's Sentinel off together with its
//! data node, so a minority side keeps an old view. n1 starts as primary and
//! the others replicate it; replication is asynchronous (Redis's default)
//! and no `min-replicas-to-write` is set, so a primary cut off from its
//! replicas keeps accepting grants.
//!
//! The kill and pause faults match the name `redis-server` only: they hit
//! the data node, while its Sentinel keeps running, so a killed primary is
//! seen down and failed over. The kill fault's restart starts redis-server
//! with its original command (the old primary comes back as a primary with
//! whatever it persisted) and leaves the running Sentinel alone; the Sentinels
//! then turn it into a replica of the new primary.
//!
//! # Clients
//!
//! Before every operation a client asks the Sentinels where the primary is,
//! its home Sentinel (node `process mod 3`) first and the others only if that
//! one does not answer, all within one request timeout. During a partition,
//! clients whose home Sentinel is on the minority side are therefore sent to
//! the old primary, as clients in the Jepsen test were.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use async_trait::async_trait;
use splitbrain_vocab::WriteMode;

use super::commands;
use super::connection::connect_once;
use super::deploy::{RedisLayout, RedisPersistence};
use super::discovery::{ask_primary, Discovery, MASTER_NAME};
use super::instance_client::{InstanceClient, Locator};
use super::outcome::within;
use super::recipe::{server_with_sentinel_command, Monitor};
use super::single::probe_node;
use super::tokens::TokenSemantics;
use crate::client::ClientConfig;
use crate::target::{
    nodes_answering_yes, ClientResult, NodeAddr, Primaries, ServiceCommand, Target, TargetError,
};

/// How long a primary must be unreachable before a Sentinel thinks it down
/// (Sentinel's own default is 30 s, far beyond a one-minute run).
pub const SENTINEL_DOWN_AFTER_MS: u64 = 1000;
/// Sentinel's failover timeout (default 3 min): also the delay before a
/// failed failover is retried.
pub const SENTINEL_FAILOVER_TIMEOUT_MS: u64 = 3000;
/// Sentinels that must agree the primary is down.
const QUORUM: usize = 2;

/// Redis primary/replicas with Sentinel failover.
#[derive(Debug, Clone)]
pub struct SentinelTarget {
    write_mode: WriteMode,
    persistence: RedisPersistence,
    layout: RedisLayout,
}

impl SentinelTarget {
    pub fn new(write_mode: WriteMode, persistence: RedisPersistence) -> Self {
        SentinelTarget {
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

    pub fn layout(&self) -> &RedisLayout {
        &self.layout
    }

    /// Tokens come from the primary's counter; a failover to a replica that
    /// missed the last increments reuses tokens.
    pub fn token_semantics(&self) -> TokenSemantics {
        TokenSemantics::Counter
    }

    /// The primary the Sentinel on `node` names, within `timeout`.
    pub async fn primary_named_by(
        &self,
        node: &NodeAddr,
        nodes: &[NodeAddr],
        timeout: Duration,
    ) -> Result<String, String> {
        let mut conn = connect_once(node.ip, self.layout.sentinel_port, timeout)
            .await
            .map_err(|f| f.message().to_string())?;
        ask_primary(&mut conn, nodes, self.layout.port, timeout).await
    }

    fn monitor(&self, nodes: &[NodeAddr]) -> Monitor<'static> {
        Monitor {
            name: MASTER_NAME,
            primary: nodes.first().map_or(Ipv4Addr::LOCALHOST, |n| n.ip),
            quorum: QUORUM,
            down_after_ms: SENTINEL_DOWN_AFTER_MS,
            failover_timeout_ms: SENTINEL_FAILOVER_TIMEOUT_MS,
        }
    }

    /// The Sentinel on `node` knows a replica and enough other Sentinels to
    /// reach its quorum; else why not.
    async fn sentinel_ready(&self, node: &NodeAddr, limit: Duration) -> Result<(), String> {
        let mut conn = connect_once(node.ip, self.layout.sentinel_port, limit)
            .await
            .map_err(|f| f.message().to_string())?;
        let mut cmd = redis::cmd("SENTINEL");
        cmd.arg("master").arg(MASTER_NAME);
        let state: HashMap<String, String> = within(
            "ask the Sentinel about the primary",
            limit,
            cmd.query_async(&mut conn),
        )
        .await
        .map_err(|f| f.message().to_string())?;
        let count = |field: &str| {
            state
                .get(field)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let (peers, replicas) = (count("num-other-sentinels"), count("num-slaves"));
        if peers + 1 < QUORUM || replicas == 0 {
            return Err(format!(
                "its Sentinel knows {peers} other Sentinels and {replicas} replicas so far"
            ));
        }
        Ok(())
    }

    /// The data node on `node`, if a replica, has finished its initial sync:
    /// a replica still in it holds nothing yet, and a failover to it would
    /// lose everything, for reasons that have nothing to do with the faults
    /// under test.
    async fn replica_synced(&self, node: &NodeAddr, limit: Duration) -> Result<(), String> {
        let mut data = connect_once(node.ip, self.layout.port, limit)
            .await
            .map_err(|f| f.message().to_string())?;
        match commands::role(&mut data, limit)
            .await
            .map_err(|f| f.message().to_string())?
        {
            commands::Role::Replica { link } if link != "connected" => {
                Err(format!("its replica link is {link:?}, not yet connected"))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Target for SentinelTarget {
    fn name(&self) -> &str {
        "redis-sentinel"
    }

    fn service(&self, node: &NodeAddr, nodes: &[NodeAddr]) -> ServiceCommand {
        server_with_sentinel_command(&self.layout, node, self.persistence, &self.monitor(nodes))
    }

    /// The data node answers a read (and, on a replica, has finished its
    /// initial sync), and the Sentinel beside it knows a replica and enough
    /// other Sentinels to reach its quorum: until then a failover could not
    /// happen, and a run would test less than it claims.
    async fn probe(&self, node: &NodeAddr, timeout: Duration) -> Result<(), TargetError> {
        let started = tokio::time::Instant::now();
        probe_node(node, self.layout.port, timeout).await?;
        let left = timeout.saturating_sub(started.elapsed());
        let exchange = async {
            self.sentinel_ready(node, left).await?;
            self.replica_synced(node, left).await
        };
        match tokio::time::timeout(left, exchange).await {
            Ok(result) => result.map_err(|reason| TargetError::unreachable(node, reason)),
            Err(_) => Err(TargetError::unreachable(
                node,
                format!(
                    "its Sentinel did not answer within {} ms",
                    timeout.as_millis()
                ),
            )),
        }
    }

    async fn client(&self, nodes: &[NodeAddr], process: u64, cfg: &ClientConfig) -> ClientResult {
        let Some(home) = NodeAddr::home_index(nodes, process) else {
            return Err(TargetError::Client(
                "failed to pick a Sentinel: the cluster has none".into(),
            ));
        };
        let discovery = Discovery::connect(nodes, home, &self.layout, cfg)?;
        Ok(Box::new(InstanceClient::new(
            Locator::Sentinel(discovery),
            process,
            cfg,
            self.write_mode,
        )))
    }

    fn as_primaries(&self) -> Option<&dyn Primaries> {
        Some(self)
    }

    // Every fault applies as to any Redis target. Kill and pause hit
    // redis-server, not the Sentinel beside it. Both read the skewed clock
    // (the shim's environment reaches both through the node's start
    // script); a Sentinel whose clock jumps enters TILT mode for 30 s and
    // takes no action.
    super::target_methods::redis_target_methods!();
}

#[async_trait]
impl Primaries for SentinelTarget {
    /// The nodes that, asked directly with `ROLE`, say they are a primary:
    /// two names while an isolated old primary has not yet been demoted.
    async fn primaries(&self, nodes: &[NodeAddr], timeout: Duration) -> Vec<String> {
        nodes_answering_yes(self.layout.port, nodes, timeout, |port, node| async move {
            let mut conn = connect_once(node.ip, port, timeout).await.ok()?;
            let role = commands::role(&mut conn, timeout).await.ok()?;
            Some(role == commands::Role::Primary)
        })
        .await
    }
}
