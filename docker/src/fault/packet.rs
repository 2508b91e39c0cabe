//! Packet faults: delay, jitter, reordering, loss and duplication of the
//! packets a node sends to chosen peers.
//!
//! The usual tool, `tc qdisc ... netem`, needs the kernel's sch_netem, and
//! the kernel this project was built on has none (nor sch_prio to steer
//! only some peers' traffic into it). So the fault is built from what every
//! netfilter kernel has, inside the node's own namespace, in the mangle
//! table's `SPLITBRAIN-PACKET` chain (hooked into `POSTROUTING`):
//! - loss: `-m statistic --mode random --probability p -j DROP`;
//! - duplication: `-m statistic ... -j TEE --gateway <peer>` sends a copy;
//! - delay, jitter and reordering: `-j NFQUEUE --queue-bypass` hands the
//!   packets to a small delayer in the node (`delayer.py`, uploaded on
//!   demand) that holds each packet for the delay and then accepts it; a
//!   reordered packet is accepted at once, overtaking the held ones, as
//!   netem's `reorder` does. `--queue-bypass` lets traffic through if the
//!   delayer is gone, so a crash fades the fault instead of partitioning.

use std::time::{Duration, Instant};

use crate::cluster::{sh_quote, Cluster, PACKET_CHAIN};
use crate::error::{DockerError, Result};

/// Where the in-node packet delayer writes its log.
pub const DELAYER_LOG: &str = "/var/log/splitbrain/delayer.log";
const DELAYER_PATH: &str = "/usr/local/lib/splitbrain/delayer.py";
const DELAYER_PIDFILE: &str = "/run/splitbrain-delayer.pid";
const DELAYER_SOURCE: &str = include_str!("delayer.py");
/// NFQUEUE numbers are per network namespace, so one fixed number serves
/// every node.
const QUEUE_NUM: u16 = 7;
/// How often a wait for the delayer's pidfile looks again.
const FILE_POLL_MS: u64 = 50;

/// What happens to packets towards the chosen peers.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketFault {
    pub delay_ms: u64,
    /// Each delay is drawn uniformly from `delay_ms ± jitter_ms`.
    pub jitter_ms: u64,
    pub loss_pct: f64,
    pub duplicate_pct: f64,
    /// Share of packets sent at once instead of delayed (they overtake the
    /// delayed ones); needs a non-zero delay to reorder anything.
    pub reorder_pct: f64,
    /// Seeds the delayer's jitter and reordering draws.
    pub seed: u64,
}

impl Default for PacketFault {
    fn default() -> Self {
        PacketFault {
            delay_ms: 0,
            jitter_ms: 0,
            loss_pct: 0.0,
            duplicate_pct: 0.0,
            reorder_pct: 0.0,
            seed: 0,
        }
    }
}

impl PacketFault {
    fn validate(&self) -> Result<()> {
        for (name, pct) in [
            ("loss_pct", self.loss_pct),
            ("duplicate_pct", self.duplicate_pct),
            ("reorder_pct", self.reorder_pct),
        ] {
            if !(0.0..=100.0).contains(&pct) {
                return Err(DockerError::Refused {
                    operation: "inject a packet fault",
                    reason: format!("{name} = {pct} is not between 0 and 100"),
                });
            }
        }
        if self.jitter_ms > self.delay_ms {
            return Err(DockerError::Refused {
                operation: "inject a packet fault",
                reason: format!(
                    "jitter_ms = {} exceeds delay_ms = {}",
                    self.jitter_ms, self.delay_ms
                ),
            });
        }
        Ok(())
    }

    fn needs_delayer(&self) -> bool {
        self.delay_ms > 0 || self.reorder_pct > 0.0
    }
}

/// The mangle-table rules for `fault` towards `peer_ips`.
fn packet_rules(fault: &PacketFault, peer_ips: &[String]) -> String {
    let mut rules = format!("*mangle\n-F {PACKET_CHAIN}\n");
    for ip in peer_ips {
        if fault.loss_pct > 0.0 {
            rules.push_str(&format!(
                "-A {PACKET_CHAIN} -d {ip}/32 -m statistic --mode random --probability {:.6} -j DROP\n",
                fault.loss_pct / 100.0
            ));
        }
        if fault.duplicate_pct > 0.0 {
            rules.push_str(&format!(
                "-A {PACKET_CHAIN} -d {ip}/32 -m statistic --mode random --probability {:.6} -j TEE --gateway {ip}\n",
                fault.duplicate_pct / 100.0
            ));
        }
        if fault.needs_delayer() {
            rules.push_str(&format!(
                "-A {PACKET_CHAIN} -d {ip}/32 -j NFQUEUE --queue-num {QUEUE_NUM} --queue-bypass\n"
            ));
        }
    }
    rules.push_str("COMMIT\n");
    rules
}

/// Apply `fault` to what `node` sends to `peers`, replacing any packet
/// fault already on `node`.
pub async fn apply(
    cluster: &Cluster,
    node: &str,
    peers: &[String],
    fault: &PacketFault,
) -> Result<()> {
    fault.validate()?;
    cluster.node(node)?;
    let mut ips = Vec::new();
    for p in peers {
        if p == node {
            return Err(DockerError::Refused {
                operation: "inject a packet fault",
                reason: format!("{node} cannot be its own peer"),
            });
        }
        ips.push(cluster.node(p)?.ip.to_string());
    }
    heal(cluster, node).await?;
    if fault.needs_delayer() {
        start_delayer(cluster, node, fault).await?;
    }
    let script = format!(
        "iptables-restore -w -n <<'SPLITBRAIN_RULES'\n{}SPLITBRAIN_RULES\n",
        packet_rules(fault, &ips)
    );
    cluster
        .sh(node, "inject a packet fault on", &script)
        .await?;
    Ok(())
}

/// Delay (± jitter) and drop what `node` sends to every other node.
pub async fn apply_to_all(
    cluster: &Cluster,
    node: &str,
    delay_ms: u64,
    jitter_ms: u64,
    loss_pct: f64,
) -> Result<()> {
    let peers: Vec<String> = cluster
        .node_names()
        .into_iter()
        .filter(|n| n != node)
        .collect();
    let fault = PacketFault {
        delay_ms,
        jitter_ms,
        loss_pct,
        ..PacketFault::default()
    };
    apply(cluster, node, &peers, &fault).await
}

/// Remove the packet fault on `node`, releasing every packet the delayer
/// holds. A no-op when there is none.
pub async fn heal(cluster: &Cluster, node: &str) -> Result<()> {
    cluster.node(node)?;
    // Rules first, so no new packet is queued while the delayer drains.
    let script = format!(
        "iptables -w -t mangle -F {PACKET_CHAIN} && \
         if [ -s {DELAYER_PIDFILE} ]; then kill -TERM \"$(cat {DELAYER_PIDFILE})\" 2>/dev/null || rm -f {DELAYER_PIDFILE}; fi"
    );
    cluster
        .sh(node, "heal the packet fault on", &script)
        .await?;
    let gone = wait_for_file(
        cluster,
        node,
        DELAYER_PIDFILE,
        false,
        "heal the packet fault on",
    )
    .await;
    if gone.is_err() {
        // The delayer did not exit in time: kill it; the rules are gone
        // already, so only its held packets are lost.
        cluster
            .sh(
                node,
                "heal the packet fault on",
                &format!(
                    "kill -KILL \"$(cat {DELAYER_PIDFILE})\" 2>/dev/null; rm -f {DELAYER_PIDFILE}"
                ),
            )
            .await?;
    }
    Ok(())
}

async fn start_delayer(cluster: &Cluster, node: &str, fault: &PacketFault) -> Result<()> {
    cluster
        .put_file(node, DELAYER_PATH, DELAYER_SOURCE.as_bytes(), 0o755)
        .await?;
    cluster.collect_at_teardown(DELAYER_LOG, "delayer.log");
    let command = format!(
        "mkdir -p /var/log/splitbrain && exec python3 {DELAYER_PATH} {QUEUE_NUM} {} {} {} {} {DELAYER_PIDFILE} >>{} 2>&1 </dev/null",
        fault.delay_ms,
        fault.jitter_ms,
        fault.reorder_pct.round() as u64,
        fault.seed,
        sh_quote(DELAYER_LOG),
    );
    cluster
        .spawn_detached(node, "start the packet delayer on", &["sh", "-c", &command])
        .await?;
    // The pidfile appears only once the queue is bound: until then the
    // rules would let packets bypass the delay.
    wait_for_file(
        cluster,
        node,
        DELAYER_PIDFILE,
        true,
        "start the packet delayer on",
    )
    .await
    .map_err(|e| match e {
        DockerError::NotObserved {
            subject,
            operation,
            timeout,
            ..
        } => DockerError::NotObserved {
            subject,
            operation,
            what: format!("the delayer bound to its queue (see {DELAYER_LOG})"),
            timeout,
        },
        other => other,
    })
}

/// Wait until `path` in `node` is written (`present`) or removed, at most
/// the cluster's process wait.
async fn wait_for_file(
    cluster: &Cluster,
    node: &str,
    path: &str,
    present: bool,
    operation: &'static str,
) -> Result<()> {
    let wait = cluster.process_wait();
    let deadline = Instant::now() + wait;
    let test = if present { "-s" } else { "-e" };
    loop {
        let out = cluster
            .exec(node, &["test", test, path], cluster.engine().call_timeout())
            .await?;
        if out.success() == present {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DockerError::NotObserved {
                subject: node.to_string(),
                operation,
                what: format!("{path} {}", if present { "written" } else { "removed" }),
                timeout: wait,
            });
        }
        tokio::time::sleep(Duration::from_millis(FILE_POLL_MS)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_cover_each_requested_effect_per_peer() {
        let fault = PacketFault {
            delay_ms: 200,
            loss_pct: 10.0,
            duplicate_pct: 5.0,
            ..PacketFault::default()
        };
        let r = packet_rules(&fault, &["10.0.0.2".to_string()]);
        assert!(
            r.contains("-d 10.0.0.2/32 -m statistic --mode random --probability 0.100000 -j DROP")
        );
        assert!(r.contains("--probability 0.050000 -j TEE --gateway 10.0.0.2"));
        assert!(r.contains("-j NFQUEUE --queue-num 7 --queue-bypass"));
        let loss_only = PacketFault {
            loss_pct: 1.0,
            ..PacketFault::default()
        };
        assert!(!packet_rules(&loss_only, &["10.0.0.2".to_string()]).contains("NFQUEUE"));
    }

    #[test]
    fn out_of_range_faults_are_refused() {
        let bad = PacketFault {
            loss_pct: 101.0,
            ..PacketFault::default()
        };
        assert!(bad.validate().is_err());
        let jitter = PacketFault {
            delay_ms: 10,
            jitter_ms: 20,
            ..PacketFault::default()
        };
        assert!(jitter.validate().is_err());
        assert!(PacketFault::default().validate().is_ok());
    }
}
