//! Network partitions, applied inside each node's own network namespace.
//!
//! Each node has two iptables chains hooked first into its `INPUT` from
//! creation: `SPLITBRAIN-PARTITION` (drops from the peers it holds a grudge
//! against) and `SPLITBRAIN-CLIENTS` (drops from the host's address on the
//! bridge, which is where the controller's clients come from). Rules change
//! with `iptables-restore --noflush`, so a node's chain switches from one
//! grudge to the next atomically. The host's firewall is never touched: the
//! container has NET_ADMIN over its own namespace only.
//!
//! Unlike the per-node faults, a partition is the whole cluster's: `apply`
//! takes the grudge and `heal` the cluster.

use std::collections::BTreeSet;

use futures_util::future::join_all;

use crate::cluster::{Cluster, CLIENTS_CHAIN, PARTITION_CHAIN};
use crate::error::{DockerError, Result};
use crate::topology::Grudge;

/// Cut the network by `grudge`: every node drops traffic from the nodes
/// its entry names; nodes without an entry drop nothing. Replaces any
/// earlier grudge (but not a client isolation).
pub async fn apply(cluster: &Cluster, grudge: &Grudge) -> Result<()> {
    for (node, peers) in grudge {
        cluster.node(node)?;
        for p in peers {
            cluster.node(p)?;
        }
    }
    let plans: Vec<(String, Vec<String>)> = cluster
        .nodes()
        .iter()
        .map(|n| {
            let peers = grudge.get(&n.name).cloned().unwrap_or_default();
            let ips = peers
                .iter()
                .filter_map(|p| cluster.node(p).ok())
                .map(|p| p.ip.to_string())
                .collect();
            (n.name.clone(), ips)
        })
        .collect();
    fill_chains(cluster, PARTITION_CHAIN, "partition", &plans).await
}

/// Make `nodes` drop everything from the host's bridge address, so the
/// controller's clients cannot reach them while they still reach each
/// other. Replaces an earlier client isolation; [`heal`] removes it.
pub async fn isolate_from_clients(cluster: &Cluster, nodes: &[String]) -> Result<()> {
    let chosen: BTreeSet<&str> = nodes.iter().map(String::as_str).collect();
    for n in &chosen {
        cluster.node(n)?;
    }
    let gateway = cluster.gateway_ip().to_string();
    let plans: Vec<(String, Vec<String>)> = cluster
        .nodes()
        .iter()
        .map(|n| {
            let sources = if chosen.contains(n.name.as_str()) {
                vec![gateway.clone()]
            } else {
                Vec::new()
            };
            (n.name.clone(), sources)
        })
        .collect();
    fill_chains(cluster, CLIENTS_CHAIN, "isolate from clients", &plans).await
}

/// Remove every partition and client isolation on every node.
pub async fn heal(cluster: &Cluster) -> Result<()> {
    let empty: Vec<(String, Vec<String>)> = cluster
        .nodes()
        .iter()
        .map(|n| (n.name.clone(), Vec::new()))
        .collect();
    fill_chains(cluster, PARTITION_CHAIN, "heal the partition on", &empty).await?;
    fill_chains(cluster, CLIENTS_CHAIN, "heal the partition on", &empty).await
}

async fn fill_chains(
    cluster: &Cluster,
    chain: &str,
    operation: &'static str,
    plans: &[(String, Vec<String>)],
) -> Result<()> {
    let results = join_all(plans.iter().map(|(node, sources)| async move {
        cluster
            .sh(node, operation, &drop_sources_script(chain, sources))
            .await
    }))
    .await;
    // Every node was attempted; report the first failure.
    results
        .into_iter()
        .find_map(|r| r.err())
        .map_or(Ok(()), Err::<(), DockerError>)
}

/// The script that (re)fills one filter-table chain with source drops.
fn drop_sources_script(chain: &str, sources: &[String]) -> String {
    let mut rules = format!("*filter\n-F {chain}\n");
    for s in sources {
        rules.push_str(&format!("-A {chain} -s {s}/32 -j DROP\n"));
    }
    rules.push_str("COMMIT\n");
    format!("iptables-restore -w -n <<'SPLITBRAIN_RULES'\n{rules}SPLITBRAIN_RULES\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_script_flushes_then_drops_each_source() {
        let s = drop_sources_script("C", &["10.0.0.2".to_string(), "10.0.0.3".to_string()]);
        assert!(s.starts_with("iptables-restore -w -n <<'SPLITBRAIN_RULES'\n*filter\n-F C\n"));
        assert!(s.contains("-A C -s 10.0.0.2/32 -j DROP\n-A C -s 10.0.0.3/32 -j DROP\nCOMMIT\n"));
        assert!(drop_sources_script("C", &[]).contains("-F C\nCOMMIT"));
    }
}
