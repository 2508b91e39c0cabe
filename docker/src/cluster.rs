//! A run's cluster: one bridge network, nodes n1..nN at fixed addresses, and
//! the service process each node runs.
//!
//! A node container's main process is Docker's init (tini) over
//! `sleep infinity`; the service under test is started with `docker exec`.
//! So killing, pausing or restarting the service never takes the container,
//! its network namespace or the iptables and queue rules in it away, and a
//! node's data directory survives a kill.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, ExecConfig, HostConfig, Ipam,
    IpamConfig, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder, ListNetworksOptionsBuilder,
    LogsOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::future::{join_all, try_join_all};
use futures_util::StreamExt;

use crate::engine::Engine;
use crate::error::{DockerError, Result};
use crate::guard::{remove_run, ClusterGuard};
use crate::subnet::{candidates, Ipv4Net};
use crate::{NODE_LABEL, RUN_LABEL};

/// The most nodes a cluster may have: host numbers 11.. in a /24.
pub const MAX_NODES: usize = 200;

/// Bound on what one exec may return on each of stdout and stderr.
const EXEC_OUTPUT_LIMIT_BYTES: usize = 8 << 20;

/// What to create.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Names the network and containers and is the value of the
    /// `splitbrain.run` label. Letters, digits, `_`, `.` and `-` only.
    pub run_id: String,
    /// How many nodes (n1..nN).
    pub nodes: usize,
    /// Image reference every node runs.
    pub image: String,
    /// Read-only bind mounts `host_path:container_path` (the project's own
    /// binaries go in this way or through [`Cluster::put_file`], never by
    /// rebuilding the image).
    pub read_only_mounts: Vec<(String, String)>,
    /// How long [`Cluster::kill_service`] and friends wait to see the
    /// process's state change.
    pub process_wait_ms: u64,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            run_id: String::new(),
            nodes: 3,
            image: String::new(),
            read_only_mounts: Vec::new(),
            process_wait_ms: 10_000,
        }
    }
}

/// One node of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `n1`, `n2`, ...; also the node's hostname and network alias.
    pub name: String,
    pub ip: Ipv4Addr,
    pub container_id: String,
    pub container_name: String,
}

/// How to run a node's service process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub argv: Vec<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// The process's name as the kernel knows it (`comm`, at most 15
    /// bytes): what kill, pause and `is_running` look for.
    pub process_name: String,
    /// Where in the node stdout and stderr are appended.
    pub log_path: String,
}

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
}

/// A process in a node as `ps` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessState {
    pub pid: u32,
    /// `ps`'s STAT column: `S`, `R`, `T` (stopped), `Z` (zombie), ...
    pub stat: String,
}

impl ProcessState {
    pub fn is_zombie(&self) -> bool {
        self.stat.starts_with('Z')
    }
    pub fn is_stopped(&self) -> bool {
        self.stat.starts_with('T')
    }
}

/// A running cluster. Dropping it without [`Cluster::teardown`] still
/// removes its containers and network (see [`ClusterGuard`]).
#[derive(Debug)]
pub struct Cluster {
    engine: Engine,
    spec: ClusterSpec,
    subnet: Ipv4Net,
    network_name: String,
    nodes: Vec<NodeInfo>,
    services: Mutex<HashMap<String, ServiceSpec>>,
    guard: ClusterGuard,
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

/// Quote one word for `sh`.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Cluster {
    /// Create the network and the nodes, start them, and prepare the
    /// iptables chains the faults use. On any failure, whatever was created
    /// is removed before the error is returned.
    pub async fn create(engine: &Engine, spec: ClusterSpec) -> Result<Cluster> {
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
        let guard = ClusterGuard::new(spec.run_id.clone(), engine.options().clone());
        match Self::create_inner(engine, &spec).await {
            Ok((subnet, network_name, nodes)) => {
                let cluster = Cluster {
                    engine: engine.clone(),
                    spec,
                    subnet,
                    network_name,
                    nodes,
                    services: Mutex::new(HashMap::new()),
                    guard,
                };
                Ok(cluster)
            }
            Err(e) => {
                let mut guard = guard;
                if remove_run(engine, &spec.run_id).await.is_ok() {
                    guard.disarm();
                }
                Err(e)
            }
        }
    }

    async fn create_inner(
        engine: &Engine,
        spec: &ClusterSpec,
    ) -> Result<(Ipv4Net, String, Vec<NodeInfo>)> {
        let docker = engine.docker();
        let network_name = format!("splitbrain-{}", spec.run_id);
        let labels = HashMap::from([(RUN_LABEL.to_string(), spec.run_id.clone())]);

        let existing = engine
            .call(
                "networks",
                "list",
                docker.list_networks(None::<bollard::query_parameters::ListNetworksOptions>),
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
        let mut chosen = None;
        let mut last_error = None;
        for subnet in candidates(seed_of(&spec.run_id), &taken)
            .into_iter()
            .take(16)
        {
            let request = NetworkCreateRequest {
                name: network_name.clone(),
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
                labels: Some(labels.clone()),
                ..Default::default()
            };
            match engine
                .call(
                    &network_name,
                    "create network",
                    docker.create_network(request),
                )
                .await
            {
                Ok(_) => {
                    chosen = Some(subnet);
                    break;
                }
                Err(e) if e.to_string().contains("overlap") => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        let Some(subnet) = chosen else {
            return Err(last_error.unwrap_or(DockerError::Refused {
                operation: "create a network",
                reason: "every candidate subnet in 10.213.0.0/16 is taken".to_string(),
            }));
        };

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
        let binds: Vec<String> = spec
            .read_only_mounts
            .iter()
            .map(|(h, c)| format!("{h}:{c}:ro"))
            .collect();

        let creations = names.iter().zip(&ips).map(|(name, ip)| {
            let container_name = format!("splitbrain-{}-{name}", spec.run_id);
            let mut labels = labels.clone();
            labels.insert(NODE_LABEL.to_string(), name.clone());
            let body = ContainerCreateBody {
                image: Some(spec.image.clone()),
                hostname: Some(name.clone()),
                cmd: Some(vec!["sleep".to_string(), "infinity".to_string()]),
                labels: Some(labels),
                host_config: Some(HostConfig {
                    // tini as PID 1 reaps whatever the service forks and
                    // orphans; `sleep` alone would leave zombies.
                    init: Some(true),
                    // NET_ADMIN: iptables and NFQUEUE in the node's own
                    // namespace. SYS_PTRACE: clockinject patching the
                    // service's vDSO for clock faults (clock.rs).
                    cap_add: Some(vec!["NET_ADMIN".to_string(), "SYS_PTRACE".to_string()]),
                    network_mode: Some(network_name.clone()),
                    extra_hosts: Some(extra_hosts.clone()),
                    binds: (!binds.is_empty()).then(|| binds.clone()),
                    ..Default::default()
                }),
                networking_config: Some(NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(
                        network_name.clone(),
                        EndpointSettings {
                            ipam_config: Some(EndpointIpamConfig {
                                ipv4_address: Some(ip.to_string()),
                                ..Default::default()
                            }),
                            aliases: Some(vec![name.clone()]),
                            ..Default::default()
                        },
                    )])),
                }),
                ..Default::default()
            };
            async move {
                let created = engine
                    .call(
                        name,
                        "create",
                        docker.create_container(
                            Some(
                                CreateContainerOptionsBuilder::new()
                                    .name(&container_name)
                                    .build(),
                            ),
                            body,
                        ),
                    )
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
                Ok::<_, DockerError>(NodeInfo {
                    name: name.clone(),
                    ip: *ip,
                    container_id: created.id,
                    container_name,
                })
            }
        });
        let nodes = try_join_all(creations).await?;
        try_join_all(nodes.iter().map(|n| prepare_fault_chains(engine, n))).await?;
        Ok((subnet, network_name, nodes))
    }

    pub fn run_id(&self) -> &str {
        &self.spec.run_id
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    pub fn network_name(&self) -> &str {
        &self.network_name
    }

    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    /// The host's address on the run's bridge: where the controller's
    /// clients come from, as the nodes see them.
    pub fn gateway_ip(&self) -> Ipv4Addr {
        self.subnet.host(1)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn node(&self, name: &str) -> Result<&NodeInfo> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| DockerError::UnknownNode {
                node: name.to_string(),
                run_id: self.spec.run_id.clone(),
            })
    }

    fn process_wait(&self) -> Duration {
        Duration::from_millis(self.spec.process_wait_ms)
    }

    pub(crate) fn process_wait_ms(&self) -> u64 {
        self.spec.process_wait_ms
    }

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
        let docker = self.engine.docker();
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
        let created = self
            .engine
            .call(
                node,
                "exec in",
                docker.create_exec(&info.container_id, config),
            )
            .await?;
        let remaining = timeout.saturating_sub(started.elapsed());
        let collect = async {
            let results = docker
                .start_exec(
                    &created.id,
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
                        bollard::container::LogOutput::StdOut { message } => {
                            append_bounded(&mut stdout, &message)
                        }
                        bollard::container::LogOutput::StdErr { message } => {
                            append_bounded(&mut stderr, &message)
                        }
                        _ => {}
                    }
                }
            }
            Ok((stdout, stderr))
        };
        let (stdout, stderr) = self
            .engine
            .call_within(node, "exec in", remaining, collect)
            .await?;
        let inspect = self
            .engine
            .call(node, "inspect an exec in", docker.inspect_exec(&created.id))
            .await?;
        Ok(ExecOutput {
            // An exec whose stream ended has exited; no code means the engine
            // lost it, which we report as the conventional "unknown" 255.
            exit_code: inspect.exit_code.unwrap_or(255),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Run a shell script in `node`; a non-zero exit is an error naming
    /// `operation`.
    pub(crate) async fn sh(
        &self,
        node: &str,
        operation: &'static str,
        script: &str,
    ) -> Result<ExecOutput> {
        let out = self
            .exec(node, &["sh", "-c", script], self.engine.call_timeout())
            .await?;
        if out.success() {
            Ok(out)
        } else {
            Err(DockerError::Command {
                subject: node.to_string(),
                operation,
                command: script.to_string(),
                exit_code: out.exit_code,
                stderr: out.stderr.trim().to_string(),
            })
        }
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
        let archive = builder
            .into_inner()
            .map_err(|e| DockerError::io("pack", path, e))?;
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
        let mut tar = tar::Archive::new(archive.as_slice());
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

    /// The service's processes in `node` (zombies included, flagged).
    pub async fn service_processes(&self, node: &str) -> Result<Vec<ProcessState>> {
        let spec = self.service_spec(node)?;
        self.processes_named(node, &spec.process_name).await
    }

    pub(crate) async fn processes_named(
        &self,
        node: &str,
        name: &str,
    ) -> Result<Vec<ProcessState>> {
        let out = self
            .exec(
                node,
                &["ps", "-e", "-o", "pid=,stat=,comm="],
                self.engine.call_timeout(),
            )
            .await?;
        if !out.success() {
            return Err(DockerError::Command {
                subject: node.to_string(),
                operation: "list processes in",
                command: "ps -e -o pid=,stat=,comm=".to_string(),
                exit_code: out.exit_code,
                stderr: out.stderr.trim().to_string(),
            });
        }
        Ok(parse_ps(&out.stdout, name))
    }

    fn service_spec(&self, node: &str) -> Result<ServiceSpec> {
        self.node(node)?;
        let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        services
            .get(node)
            .cloned()
            .ok_or_else(|| DockerError::Refused {
                operation: "find the service",
                reason: format!("no service was ever started on {node}"),
            })
    }

    /// Start the service on `node`, detached; its stdout and stderr are
    /// appended to `spec.log_path` in the node. Readiness is the target's to
    /// probe. Refused if the service is already running there.
    pub async fn start_service(&self, node: &str, spec: &ServiceSpec) -> Result<()> {
        self.node(node)?;
        if spec.argv.is_empty() || spec.process_name.is_empty() || spec.log_path.is_empty() {
            return Err(DockerError::Refused {
                operation: "start a service",
                reason: "argv, process_name and log_path must all be given".to_string(),
            });
        }
        let running: Vec<_> = self
            .processes_named(node, &spec.process_name)
            .await?
            .into_iter()
            .filter(|p| !p.is_zombie())
            .collect();
        if let Some(p) = running.first() {
            return Err(DockerError::Refused {
                operation: "start a service",
                reason: format!(
                    "{} is already running on {node} as pid {}",
                    spec.process_name, p.pid
                ),
            });
        }
        {
            let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
            services.insert(node.to_string(), spec.clone());
        }
        // `exec` replaces the shell, so the service's comm is its own name
        // and SIGKILL reaches it rather than a wrapper.
        let mut cmd = vec![
            "sh".to_string(),
            "-c".to_string(),
            r#"mkdir -p "$(dirname "$0")" && exec "$@" >>"$0" 2>&1 < /dev/null"#.to_string(),
            spec.log_path.clone(),
        ];
        cmd.extend(spec.argv.iter().cloned());
        self.spawn_detached_with_env(node, "start", &cmd, &spec.env)
            .await
    }

    /// Start `argv` in `node` and return without waiting for it.
    pub(crate) async fn spawn_detached(
        &self,
        node: &str,
        operation: &'static str,
        argv: &[&str],
    ) -> Result<()> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        self.spawn_detached_with_env(node, operation, &argv, &[])
            .await
    }

    async fn spawn_detached_with_env(
        &self,
        node: &str,
        operation: &'static str,
        argv: &[String],
        env: &[String],
    ) -> Result<()> {
        let info = self.node(node)?;
        let docker = self.engine.docker();
        let created = self
            .engine
            .call(
                node,
                operation,
                docker.create_exec(
                    &info.container_id,
                    ExecConfig {
                        cmd: Some(argv.to_vec()),
                        env: Some(env.to_vec()),
                        attach_stdout: Some(false),
                        attach_stderr: Some(false),
                        ..Default::default()
                    },
                ),
            )
            .await?;
        self.engine
            .call(
                node,
                operation,
                docker.start_exec(
                    &created.id,
                    Some(StartExecOptions {
                        detach: true,
                        tty: false,
                        output_capacity: None,
                    }),
                ),
            )
            .await?;
        Ok(())
    }

    /// Whether the service process exists on `node` and is not a zombie (a
    /// paused process is running in this sense).
    pub async fn is_running(&self, node: &str) -> Result<bool> {
        Ok(self
            .service_processes(node)
            .await?
            .iter()
            .any(|p| !p.is_zombie()))
    }

    /// SIGKILL every process with the service's exact name and wait until
    /// none is left. Returns how many were killed (0 if it was not running).
    pub async fn kill_service(&self, node: &str) -> Result<usize> {
        let spec = self.service_spec(node)?;
        let victims: Vec<u32> = self
            .processes_named(node, &spec.process_name)
            .await?
            .into_iter()
            .filter(|p| !p.is_zombie())
            .map(|p| p.pid)
            .collect();
        if victims.is_empty() {
            return Ok(0);
        }
        self.signal(node, "kill the service on", "KILL", &victims)
            .await?;
        self.wait_for_processes(
            node,
            &spec.process_name,
            "kill the service on",
            "the process gone",
            |ps| ps.iter().all(|p| p.is_zombie()),
        )
        .await?;
        Ok(victims.len())
    }

    /// Kill the service if it runs, then start it again with the spec it was
    /// last started with.
    pub async fn restart_service(&self, node: &str) -> Result<()> {
        let spec = self.service_spec(node)?;
        self.kill_service(node).await?;
        self.start_service(node, &spec).await
    }

    /// SIGSTOP the service process: it keeps its sockets but answers
    /// nothing, like a process in a long GC pause. Waits until the kernel
    /// reports it stopped.
    pub async fn pause_service(&self, node: &str) -> Result<()> {
        let spec = self.service_spec(node)?;
        let pids = self
            .live_pids(node, &spec.process_name, "pause the service on")
            .await?;
        self.signal(node, "pause the service on", "STOP", &pids)
            .await?;
        self.wait_for_processes(
            node,
            &spec.process_name,
            "pause the service on",
            "the process stopped",
            |ps| ps.iter().filter(|p| !p.is_zombie()).all(|p| p.is_stopped()),
        )
        .await
    }

    /// SIGCONT the service process and wait until it is no longer stopped.
    /// A no-op when the service is not running or was never started, so a
    /// final heal may resume every node blindly.
    pub async fn resume_service(&self, node: &str) -> Result<()> {
        self.node(node)?;
        let Ok(spec) = self.service_spec(node) else {
            return Ok(());
        };
        let pids: Vec<u32> = self
            .processes_named(node, &spec.process_name)
            .await?
            .into_iter()
            .filter(|p| !p.is_zombie())
            .map(|p| p.pid)
            .collect();
        if pids.is_empty() {
            return Ok(());
        }
        self.signal(node, "resume the service on", "CONT", &pids)
            .await?;
        self.wait_for_processes(
            node,
            &spec.process_name,
            "resume the service on",
            "the process running",
            |ps| ps.iter().all(|p| !p.is_stopped()),
        )
        .await
    }

    async fn live_pids(&self, node: &str, name: &str, operation: &'static str) -> Result<Vec<u32>> {
        let pids: Vec<u32> = self
            .processes_named(node, name)
            .await?
            .into_iter()
            .filter(|p| !p.is_zombie())
            .map(|p| p.pid)
            .collect();
        if pids.is_empty() {
            return Err(DockerError::Refused {
                operation,
                reason: format!("{name} is not running on {node}"),
            });
        }
        Ok(pids)
    }

    async fn signal(
        &self,
        node: &str,
        operation: &'static str,
        signal: &str,
        pids: &[u32],
    ) -> Result<()> {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        // A process may exit between listing and signalling; that is not
        // a failure of the signal, so kill's status is not checked here and
        // the wait that follows judges the outcome.
        let script = format!("kill -{signal} {} 2>/dev/null; true", pids.join(" "));
        self.sh(node, operation, &script).await.map(|_| ())
    }

    async fn wait_for_processes(
        &self,
        node: &str,
        name: &str,
        operation: &'static str,
        what: &str,
        done: impl Fn(&[ProcessState]) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + self.process_wait();
        loop {
            let ps = self.processes_named(node, name).await?;
            if done(&ps) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(DockerError::NotObserved {
                    subject: node.to_string(),
                    operation,
                    what: what.to_string(),
                    timeout: self.process_wait(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
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

    async fn collect_logs(&self, node: &str, dir: &Path) -> Result<()> {
        let info = self.node(node)?;
        let node_dir = dir.join(node);
        tokio::fs::create_dir_all(&node_dir)
            .await
            .map_err(|e| DockerError::io("create", node_dir.display().to_string(), e))?;
        let service_log = {
            let services = self.services.lock().unwrap_or_else(|p| p.into_inner());
            services.get(node).map(|s| s.log_path.clone())
        };
        let mut files: Vec<(String, String)> = Vec::new();
        if let Some(path) = service_log {
            files.push((path, "service.log".to_string()));
        }
        files.push((
            crate::packet::DELAYER_LOG.to_string(),
            "delayer.log".to_string(),
        ));
        for (path, local) in files {
            if let Some(bytes) = self.get_file(node, &path).await? {
                let target = node_dir.join(local);
                tokio::fs::write(&target, bytes)
                    .await
                    .map_err(|e| DockerError::io("write", target.display().to_string(), e))?;
            }
        }
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
        let bytes = self
            .engine
            .call_within(
                node,
                "read the logs of",
                self.engine.transfer_timeout(),
                read,
            )
            .await?;
        let target = node_dir.join("docker.log");
        tokio::fs::write(&target, bytes)
            .await
            .map_err(|e| DockerError::io("write", target.display().to_string(), e))
    }
}

/// Create the (empty) chains the partition and packet faults fill, hooked
/// first into INPUT and POSTROUTING, so that a fault is one atomic
/// `iptables-restore` and a missing iptables shows at creation, not at the
/// first fault.
async fn prepare_fault_chains(engine: &Engine, node: &NodeInfo) -> Result<()> {
    use crate::packet::PACKET_CHAIN;
    use crate::partition::{CLIENTS_CHAIN, PARTITION_CHAIN};
    let script = format!(
        "iptables -w -N {PARTITION_CHAIN} && iptables -w -I INPUT 1 -j {PARTITION_CHAIN} && \
         iptables -w -N {CLIENTS_CHAIN} && iptables -w -I INPUT 1 -j {CLIENTS_CHAIN} && \
         iptables -w -t mangle -N {PACKET_CHAIN} && iptables -w -t mangle -I POSTROUTING 1 -j {PACKET_CHAIN}"
    );
    let docker = engine.docker();
    let run = async {
        let created = docker
            .create_exec(
                &node.container_id,
                ExecConfig {
                    cmd: Some(vec!["sh".to_string(), "-c".to_string(), script.clone()]),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        let mut stderr = Vec::new();
        if let StartExecResults::Attached { mut output, .. } = docker
            .start_exec(&created.id, None::<StartExecOptions>)
            .await?
        {
            while let Some(chunk) = output.next().await {
                if let bollard::container::LogOutput::StdErr { message } = chunk? {
                    append_bounded(&mut stderr, &message);
                }
            }
        }
        let inspect = docker.inspect_exec(&created.id).await?;
        Ok((inspect.exit_code.unwrap_or(255), stderr))
    };
    let (exit_code, stderr) = engine
        .call(&node.name, "prepare the fault chains on", run)
        .await?;
    if exit_code != 0 {
        return Err(DockerError::Command {
            subject: node.name.clone(),
            operation: "prepare the fault chains on",
            command: script,
            exit_code,
            stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// What teardown could not do without failing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeardownReport {
    /// Node name to the reason its logs are missing or incomplete.
    pub log_failures: BTreeMap<String, String>,
}

fn append_bounded(buf: &mut Vec<u8>, chunk: &[u8]) {
    let room = EXEC_OUTPUT_LIMIT_BYTES.saturating_sub(buf.len());
    buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
}

/// Parse `ps -o pid=,stat=,comm=` output, keeping processes whose comm is
/// exactly `name` (the kernel truncates comm to 15 bytes, so `name` is too).
fn parse_ps(out: &str, name: &str) -> Vec<ProcessState> {
    let name: String = name.chars().take(15).collect();
    out.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let pid = fields.next()?.parse().ok()?;
            let stat = fields.next()?.to_string();
            let comm = fields.collect::<Vec<_>>().join(" ");
            (comm == name).then_some(ProcessState { pid, stat })
        })
        .collect()
}

/// Used by tests and callers that list networks themselves.
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
    fn ps_output_is_matched_by_exact_truncated_name() {
        let out = "  1 Ss   docker-init\n  7 S    sleep\n 42 Sl   redis-server\n 43 Z    redis-server\n 50 S redis-server-x\n";
        let ps = parse_ps(out, "redis-server");
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].pid, 42);
        assert!(ps[1].is_zombie());
        let long = parse_ps(" 9 T a-very-long-pro\n", "a-very-long-process-name");
        assert_eq!(long.len(), 1);
        assert!(long[0].is_stopped());
    }

    #[test]
    fn run_ids_are_limited_to_name_safe_characters() {
        assert!(valid_run_id("test-1.a_b"));
        assert!(!valid_run_id(""));
        assert!(!valid_run_id("a b"));
        assert!(!valid_run_id("a/b"));
    }

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
