//! Creation and teardown: the run's network, its node containers, the
//! fault chains every node starts with, and their removal.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Mutex;

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig, Mount,
    MountTmpfsOptions, MountType, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, ListNetworksOptionsBuilder};
use futures_util::future::{join_all, try_join_all};

use crate::engine::Engine;
use crate::error::{DockerError, Result};
use crate::guard::{remove_run, ClusterGuard};
use crate::labels::{NODE_LABEL, RUN_LABEL};
use crate::subnet::{candidates, Ipv4Net};

use super::handle::Cluster;
use super::io::exec_in;
use super::spec::{ClusterSpec, DataDir, NodeInfo, MAX_NODES};

/// The filter-table chain the partition fault fills (hooked into INPUT).
pub(crate) const PARTITION_CHAIN: &str = "SPLITBRAIN-PARTITION";
/// The filter-table chain client isolation fills (hooked into INPUT).
pub(crate) const CLIENTS_CHAIN: &str = "SPLITBRAIN-CLIENTS";
/// The mangle-table chain the packet fault fills (hooked into POSTROUTING).
pub(crate) const PACKET_CHAIN: &str = "SPLITBRAIN-PACKET";

/// How many candidate subnets creation tries before giving up.
const SUBNET_ATTEMPTS: usize = 16;

/// A data directory's permission bits: writable by whatever user a
/// target's service runs as (today every service runs as root, `docker
/// exec`'s default in our images), sticky like /tmp.
const DATA_DIR_MODE: i64 = 0o1777;

/// What teardown could not do without failing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeardownReport {
    /// Node name to the reason its logs are missing or incomplete.
    pub log_failures: BTreeMap<String, String>,
}

impl Cluster {
    /// Create the network and the nodes, start them, and prepare the
    /// iptables chains the faults use. On any failure, whatever was created
    /// is removed before the error is returned.
    pub async fn create(engine: &Engine, spec: ClusterSpec) -> Result<Cluster> {
        validate(&spec)?;
        // A reused run id would make the cleanup below (and the guard) remove
        // another run's nodes, so it is refused before anything is made.
        let in_use = networks_labelled(engine, &spec.run_id).await?;
        if !in_use.is_empty() {
            return Err(DockerError::Refused {
                operation: "create a cluster",
                reason: format!(
                    "run id {} is already in use by network {}",
                    spec.run_id,
                    in_use.join(", ")
                ),
            });
        }
        let mut guard = ClusterGuard::new(spec.run_id.clone(), engine.options().clone());
        match create_network_and_nodes(engine, &spec).await {
            Ok((subnet, network_name, nodes)) => Ok(Cluster {
                engine: engine.clone(),
                spec,
                subnet,
                network_name,
                nodes,
                services: Mutex::new(HashMap::new()),
                extra_logs: Mutex::new(BTreeMap::new()),
                guard,
            }),
            Err(e) => {
                if remove_run(engine, &spec.run_id).await.is_ok() {
                    guard.disarm();
                }
                Err(e)
            }
        }
    }

    /// Collect each node's logs into `logs_dir/<node>/` (when given), then
    /// remove the containers and the network. Log collection is best
    /// effort, and its failures are returned alongside; removal failures are
    /// errors, and the guard then tries again on drop.
    pub async fn teardown(mut self, logs_dir: Option<&Path>) -> Result<TeardownReport> {
        let mut report = TeardownReport::default();
        if let Some(dir) = logs_dir {
            let collected =
                join_all(self.nodes.iter().map(|n| self.collect_logs(&n.name, dir))).await;
            for (node, r) in self.nodes.iter().zip(collected) {
                if let Err(e) = r {
                    report.log_failures.insert(node.name.clone(), e.to_string());
                }
            }
        }
        remove_run(&self.engine, &self.spec.run_id).await?;
        self.guard.disarm();
        Ok(report)
    }
}

fn validate(spec: &ClusterSpec) -> Result<()> {
    if !valid_run_id(&spec.run_id) {
        return Err(DockerError::Refused {
            operation: "create a cluster",
            reason: format!(
                "run id {:?} must be 1-64 letters, digits, '_', '.' or '-'",
                spec.run_id
            ),
        });
    }
    if spec.nodes == 0 || spec.nodes > MAX_NODES {
        return Err(DockerError::Refused {
            operation: "create a cluster",
            reason: format!(
                "{} nodes asked, between 1 and {MAX_NODES} allowed",
                spec.nodes
            ),
        });
    }
    if let Some(dir) = &spec.data_dir {
        if !dir.path.starts_with('/') || dir.path == "/" || dir.size_mb == 0 {
            return Err(DockerError::Refused {
                operation: "create a cluster",
                reason: format!(
                    "data directory {:?} of {} MiB must be an absolute path other than / \
                     and at least 1 MiB",
                    dir.path, dir.size_mb
                ),
            });
        }
    }
    Ok(())
}

fn valid_run_id(run_id: &str) -> bool {
    !run_id.is_empty()
        && run_id.len() <= 64
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn seed_of(run_id: &str) -> u64 {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn run_labels(spec: &ClusterSpec) -> HashMap<String, String> {
    HashMap::from([(RUN_LABEL.to_string(), spec.run_id.clone())])
}

async fn create_network_and_nodes(
    engine: &Engine,
    spec: &ClusterSpec,
) -> Result<(Ipv4Net, String, Vec<NodeInfo>)> {
    let network_name = format!("splitbrain-{}", spec.run_id);
    let subnet = create_network(engine, spec, &network_name).await?;
    let names: Vec<String> = (1..=spec.nodes).map(|i| format!("n{i}")).collect();
    let ips: Vec<Ipv4Addr> = (1..=spec.nodes)
        .map(|i| subnet.host(10 + i as u32))
        .collect();
    // Every node resolves every other by name without Docker's DNS, so
    // isolating a node from the gateway cannot break name resolution.
    let extra_hosts: Vec<String> = names
        .iter()
        .zip(&ips)
        .map(|(n, ip)| format!("{n}:{ip}"))
        .collect();
    let creations = names.iter().zip(&ips).map(|(name, ip)| {
        let body = node_body(spec, &network_name, name, *ip, &extra_hosts);
        create_node(engine, spec, name, *ip, body)
    });
    let nodes = try_join_all(creations).await?;
    try_join_all(nodes.iter().map(|n| prepare_fault_chains(engine, n))).await?;
    Ok((subnet, network_name, nodes))
}

/// Create the run's bridge network on a free /24 and return the subnet.
async fn create_network(
    engine: &Engine,
    spec: &ClusterSpec,
    network_name: &str,
) -> Result<Ipv4Net> {
    let existing = engine
        .call(
            "networks",
            "list",
            engine
                .docker()
                .list_networks(None::<bollard::query_parameters::ListNetworksOptions>),
        )
        .await?;
    let taken: Vec<Ipv4Net> = existing
        .iter()
        .filter_map(|n| n.ipam.as_ref()?.config.as_ref())
        .flatten()
        .filter_map(|c| Ipv4Net::parse(c.subnet.as_deref()?))
        .collect();
    // Another run may take a candidate between our listing and our
    // create: the engine refuses overlapping pools, and we move on.
    let mut last_error = None;
    for subnet in candidates(seed_of(&spec.run_id), &taken)
        .into_iter()
        .take(SUBNET_ATTEMPTS)
    {
        let request = network_request(spec, network_name, subnet);
        match engine
            .call(
                network_name,
                "create network",
                engine.docker().create_network(request),
            )
            .await
        {
            Ok(_) => return Ok(subnet),
            Err(e) if e.to_string().contains("overlap") => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or(DockerError::Refused {
        operation: "create a network",
        reason: "every candidate subnet in 10.213.0.0/16 is taken".to_string(),
    }))
}

fn network_request(
    spec: &ClusterSpec,
    network_name: &str,
    subnet: Ipv4Net,
) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: network_name.to_string(),
        driver: Some("bridge".to_string()),
        ipam: Some(Ipam {
            driver: Some("default".to_string()),
            config: Some(vec![IpamConfig {
                subnet: Some(subnet.to_string()),
                gateway: Some(subnet.host(1).to_string()),
                ..Default::default()
            }]),
            options: None,
        }),
        labels: Some(run_labels(spec)),
        ..Default::default()
    }
}

/// The container of node `name` at `ip`: idle under tini, on the run's
/// network, with the mounts and capabilities the faults need.
fn node_body(
    spec: &ClusterSpec,
    network_name: &str,
    name: &str,
    ip: Ipv4Addr,
    extra_hosts: &[String],
) -> ContainerCreateBody {
    let mut labels = run_labels(spec);
    labels.insert(NODE_LABEL.to_string(), name.to_string());
    let binds: Vec<String> = spec
        .read_only_mounts
        .iter()
        .map(|(h, c)| format!("{h}:{c}:ro"))
        .collect();
    let endpoint = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(ip.to_string()),
            ..Default::default()
        }),
        aliases: Some(vec![name.to_string()]),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: Some(name.to_string()),
        cmd: Some(vec!["sleep".to_string(), "infinity".to_string()]),
        labels: Some(labels),
        host_config: Some(HostConfig {
            // tini as PID 1 reaps whatever the service forks and
            // orphans; `sleep` alone would leave zombies.
            init: Some(true),
            // NET_ADMIN: iptables and NFQUEUE in the node's own
            // namespace. SYS_PTRACE: clockinject patching the
            // service's vDSO for clock faults (fault/clock.rs).
            cap_add: Some(vec!["NET_ADMIN".to_string(), "SYS_PTRACE".to_string()]),
            network_mode: Some(network_name.to_string()),
            extra_hosts: Some(extra_hosts.to_vec()),
            binds: (!binds.is_empty()).then_some(binds),
            mounts: spec.data_dir.as_ref().map(|d| vec![data_dir_mount(d)]),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network_name.to_string(), endpoint)])),
        }),
        ..Default::default()
    }
}

/// The data directory as a tmpfs of its own: the size limit is what the
/// disk fault fills, and it lives as long as the container, not the service.
fn data_dir_mount(dir: &DataDir) -> Mount {
    Mount {
        target: Some(dir.path.clone()),
        typ: Some(MountType::TMPFS),
        tmpfs_options: Some(MountTmpfsOptions {
            size_bytes: Some(i64::try_from(dir.size_bytes()).unwrap_or(i64::MAX)),
            mode: Some(DATA_DIR_MODE),
            options: None,
        }),
        ..Default::default()
    }
}

async fn create_node(
    engine: &Engine,
    spec: &ClusterSpec,
    name: &str,
    ip: Ipv4Addr,
    body: ContainerCreateBody,
) -> Result<NodeInfo> {
    let docker = engine.docker();
    let container_name = format!("splitbrain-{}-{name}", spec.run_id);
    let options = CreateContainerOptionsBuilder::new()
        .name(&container_name)
        .build();
    let created = engine
        .call(name, "create", docker.create_container(Some(options), body))
        .await?;
    engine
        .call(
            name,
            "start",
            docker.start_container(
                &created.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            ),
        )
        .await?;
    Ok(NodeInfo {
        name: name.to_string(),
        ip,
        container_id: created.id,
        container_name,
    })
}

/// Create the (empty) chains the partition and packet faults fill, hooked
/// first into INPUT and POSTROUTING, so that a fault is one atomic
/// `iptables-restore` and a missing iptables shows at creation, not at the
/// first fault.
async fn prepare_fault_chains(engine: &Engine, node: &NodeInfo) -> Result<()> {
    const OPERATION: &str = "prepare the fault chains on";
    let script = format!(
        "iptables -w -N {PARTITION_CHAIN} && iptables -w -I INPUT 1 -j {PARTITION_CHAIN} && \
         iptables -w -N {CLIENTS_CHAIN} && iptables -w -I INPUT 1 -j {CLIENTS_CHAIN} && \
         iptables -w -t mangle -N {PACKET_CHAIN} && iptables -w -t mangle -I POSTROUTING 1 -j {PACKET_CHAIN}"
    );
    let argv = ["sh", "-c", script.as_str()];
    exec_in(engine, node, OPERATION, &argv, engine.call_timeout())
        .await?
        .checked(&node.name, OPERATION, &script)
        .map(|_| ())
}

/// The names of the networks labelled with `run_id` (at most one while a
/// run is live; used by creation to refuse a reused id, and by tests).
pub async fn networks_labelled(engine: &Engine, run_id: &str) -> Result<Vec<String>> {
    let filters = HashMap::from([("label", vec![format!("{RUN_LABEL}={run_id}")])]);
    let nets = engine
        .call(
            run_id,
            "list networks of",
            engine.docker().list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(&filters).build(),
            )),
        )
        .await?;
    Ok(nets.into_iter().filter_map(|n| n.name).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_limited_to_name_safe_characters() {
        assert!(valid_run_id("test-1.a_b"));
        assert!(!valid_run_id(""));
        assert!(!valid_run_id("a b"));
        assert!(!valid_run_id("a/b"));
    }

    #[test]
    fn data_dir_is_a_sized_tmpfs_writable_by_any_service_user() {
        let spec = ClusterSpec {
            run_id: "r".to_string(),
            data_dir: Some(DataDir {
                path: "/var/lib/svc".to_string(),
                size_mb: 8,
            }),
            ..ClusterSpec::default()
        };
        let body = node_body(&spec, "net", "n1", Ipv4Addr::new(10, 0, 0, 11), &[]);
        let mounts = body.host_config.unwrap().mounts.unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].target.as_deref(), Some("/var/lib/svc"));
        assert_eq!(mounts[0].typ, Some(MountType::TMPFS));
        let tmpfs = mounts[0].tmpfs_options.as_ref().unwrap();
        assert_eq!(tmpfs.size_bytes, Some(8 << 20));
        assert_eq!(tmpfs.mode, Some(0o1777));
        let without = ClusterSpec {
            data_dir: None,
            ..spec
        };
        let body = node_body(&without, "net", "n1", Ipv4Addr::new(10, 0, 0, 11), &[]);
        assert!(body.host_config.unwrap().mounts.is_none());
    }

    #[test]
    fn data_dirs_must_be_absolute_and_sized() {
        let with = |path: &str, size_mb| ClusterSpec {
            run_id: "r".to_string(),
            data_dir: Some(DataDir {
                path: path.to_string(),
                size_mb,
            }),
            ..ClusterSpec::default()
        };
        assert!(validate(&with("/data", 1)).is_ok());
        assert!(validate(&with("data", 1)).is_err());
        assert!(validate(&with("/", 1)).is_err());
        assert!(validate(&with("/data", 0)).is_err());
    }
}
