//! The service process in each node: start it, find it, and kill, restart,
//! pause or resume it. These act on the process only, never on the
//! container, so the node's network namespace, fault rules and data
//! directory outlive them.

use std::time::{Duration, Instant};

use bollard::exec::StartExecOptions;
use bollard::models::ExecConfig;

use crate::error::{DockerError, Result};

use super::handle::Cluster;
use super::spec::ServiceSpec;

/// How often a wait for a process's state looks again.
const PROCESS_POLL_MS: u64 = 50;

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

impl Cluster {
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
        const PS: [&str; 4] = ["ps", "-e", "-o", "pid=,stat=,comm="];
        let out = self
            .exec(node, &PS, self.engine.call_timeout())
            .await?
            .checked(node, "list processes in", &PS.join(" "))?;
        Ok(parse_ps(&out.stdout, name))
    }

    /// The pids of the live (not zombie) processes named `name` in `node`.
    async fn live_pids_named(&self, node: &str, name: &str) -> Result<Vec<u32>> {
        Ok(self
            .processes_named(node, name)
            .await?
            .into_iter()
            .filter(|p| !p.is_zombie())
            .map(|p| p.pid)
            .collect())
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
        let running = self.live_pids_named(node, &spec.process_name).await?;
        if let Some(pid) = running.first() {
            return Err(DockerError::Refused {
                operation: "start a service",
                reason: format!(
                    "{} is already running on {node} as pid {pid}",
                    spec.process_name
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
        let config = ExecConfig {
            cmd: Some(argv.to_vec()),
            env: Some(env.to_vec()),
            attach_stdout: Some(false),
            attach_stderr: Some(false),
            ..Default::default()
        };
        let created = self
            .engine
            .call(
                node,
                operation,
                docker.create_exec(&info.container_id, config),
            )
            .await?;
        let detached = StartExecOptions {
            detach: true,
            tty: false,
            output_capacity: None,
        };
        self.engine
            .call(
                node,
                operation,
                docker.start_exec(&created.id, Some(detached)),
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
        let victims = self.live_pids_named(node, &spec.process_name).await?;
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
        let pids = self.live_pids_named(node, &spec.process_name).await?;
        if pids.is_empty() {
            return Err(DockerError::Refused {
                operation: "pause the service on",
                reason: format!("{} is not running on {node}", spec.process_name),
            });
        }
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
        let pids = self.live_pids_named(node, &spec.process_name).await?;
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
            tokio::time::sleep(Duration::from_millis(PROCESS_POLL_MS)).await;
        }
    }
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
}
