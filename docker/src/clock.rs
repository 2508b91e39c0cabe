//! Clock faults: per-node skew through the LD_PRELOAD shim.
//!
//! Nodes share the host kernel's clock, so a node's clock is skewed by
//! changing what its service reads, not what the kernel keeps (see
//! `splitbrain_clockshim` for the shim and the state file). Per node:
//!
//! 1. [`install`] puts `libclockshim.so` and `clockctl` into the node and
//!    publishes real time into the node's state file, before the service
//!    starts, so the service maps the file on its first clock read.
//! 2. The service starts with [`preload_env`] in its environment
//!    ([`add_preload`] does it to a [`ServiceSpec`]).
//! 3. [`set_clock`], [`bump`], [`strobe`], [`rate`] and [`heal`] exec
//!    clockctl in the node, which rewrites the state in place under a seqlock;
//!    the running service sees it on its next clock read, no restart. An
//!    archive upload (`put_file`) cannot do this: it replaces the file, and
//!    the service would keep reading the old inode.
//!
//! A fault is never pretended. Before skewing a node whose service is
//! running, the service's processes are checked: a Go program (etcd) reads
//! time through the vDSO, which no preload reaches, and a process that was
//! not started under the shim would ignore the file; both are refused with a
//! plain message. A service that is down (after a kill fault) cannot be
//! checked: the state is still written, so it applies when the service
//! restarts under the same spec, and [`ClockOutcome::verified_pids`] is
//! empty so that the caller can record that it was not verified.

use std::time::Duration;

use splitbrain_clockshim::{ClockRecord, ClockState, Strobe, CLOCKCTL, SHIM_FILE_ENV, SHIM_SO};

use crate::cluster::{Cluster, ServiceSpec};
use crate::error::{DockerError, Result};

/// Where the shim is installed in a node.
pub const SHIM_PATH: &str = "/usr/local/lib/splitbrain/libclockshim.so";
/// Where clockctl is installed in a node.
pub const CLOCKCTL_PATH: &str = "/usr/local/lib/splitbrain/clockctl";
/// The node's clock state file, shared by every preloaded process in it.
pub const STATE_PATH: &str = "/var/lib/splitbrain/clock";

/// Bound on one clockctl or process-check exec; both take milliseconds.
pub const CLOCK_EXEC_TIMEOUT_MS: u64 = 15_000;

/// What a clock change did on a node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockOutcome {
    /// The record clockctl published.
    pub record: ClockRecord,
    /// Service processes checked to have the shim loaded and not to be Go
    /// programs; empty if the service was not running.
    pub verified_pids: Vec<u32>,
}

/// How one running service process stands towards the shim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessClock {
    /// The shim is mapped into the process.
    Shimmed,
    /// A Go program: it reads the vDSO directly, the shim cannot reach it.
    Go,
    /// Not a Go program and no shim mapped: started without the preload.
    Bare,
}

/// Copy the shim and clockctl into `node` and publish real time, creating
/// the state file. Do this before starting the service.
pub async fn install(cluster: &Cluster, node: &str) -> Result<()> {
    cluster.put_file(node, SHIM_PATH, SHIM_SO, 0o644).await?;
    cluster
        .put_file(node, CLOCKCTL_PATH, CLOCKCTL, 0o755)
        .await?;
    publish(cluster, node, ClockState::REAL).await.map(|_| ())
}

/// The environment a service needs to run under the shim.
pub fn preload_env() -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".to_string(), SHIM_PATH.to_string()),
        (SHIM_FILE_ENV.to_string(), STATE_PATH.to_string()),
    ]
}

/// Add [`preload_env`] to `spec`, keeping any preload it already had
/// (after the shim, so that the shim's clock functions win).
pub fn add_preload(spec: &mut ServiceSpec) {
    let mut preload = vec![SHIM_PATH.to_string()];
    let file_prefix = format!("{SHIM_FILE_ENV}=");
    spec.env.retain(|kv| match kv.strip_prefix("LD_PRELOAD=") {
        Some(others) => {
            preload.extend(
                others
                    .split([':', ' '])
                    .filter(|o| !o.is_empty() && *o != SHIM_PATH)
                    .map(str::to_string),
            );
            false
        }
        None => !kv.starts_with(&file_prefix),
    });
    spec.env.push(format!("LD_PRELOAD={}", preload.join(":")));
    spec.env.push(format!("{SHIM_FILE_ENV}={STATE_PATH}"));
}

/// Publish `state` on `node` after checking that its service (if running)
/// will see it.
pub async fn set_clock(cluster: &Cluster, node: &str, state: ClockState) -> Result<ClockOutcome> {
    state.validate().map_err(|e| DockerError::Refused {
        operation: "set the clock",
        reason: format!("on {node}: {e}"),
    })?;
    let verified_pids = verify_service(cluster, node).await?;
    let record = publish(cluster, node, state).await?;
    Ok(ClockOutcome {
        record,
        verified_pids,
    })
}

/// Step `node`'s wall clock by `delta_ms` on top of its current skew,
/// keeping its rate and strobe. Monotonic clocks do not move.
pub async fn bump(cluster: &Cluster, node: &str, delta_ms: i64) -> Result<ClockOutcome> {
    let current = read_state(cluster, node).await?;
    let delta_ns = delta_ms
        .checked_mul(1_000_000)
        .ok_or_else(|| DockerError::Refused {
            operation: "bump the clock",
            reason: format!("{delta_ms} ms on {node} does not fit in nanoseconds"),
        })?;
    let offset_ns = current
        .state
        .offset_ns
        .checked_add(delta_ns)
        .ok_or_else(|| DockerError::Refused {
            operation: "bump the clock",
            reason: format!("{delta_ms} ms on {node} overflows its offset"),
        })?;
    set_clock(
        cluster,
        node,
        ClockState {
            offset_ns,
            ..current.state
        },
    )
    .await
}

/// Make `node`'s wall clock alternate between its current offset and that
/// plus `delta_ms`, switching every half `period_ms`.
pub async fn strobe(
    cluster: &Cluster,
    node: &str,
    delta_ms: i64,
    period_ms: i64,
) -> Result<ClockOutcome> {
    let current = read_state(cluster, node).await?;
    let strobe = Strobe {
        delta_ns: delta_ms.saturating_mul(1_000_000),
        period_ns: period_ms.saturating_mul(1_000_000),
    };
    set_clock(
        cluster,
        node,
        ClockState {
            strobe: Some(strobe),
            ..current.state
        },
    )
    .await
}

/// Run every clock of `node` at `rate` times real speed (monotonic ones
/// too), keeping its offset and strobe.
pub async fn rate(cluster: &Cluster, node: &str, rate: f64) -> Result<ClockOutcome> {
    let current = read_state(cluster, node).await?;
    set_clock(
        cluster,
        node,
        ClockState {
            rate,
            ..current.state
        },
    )
    .await
}

/// Put `node`'s wall clock back on real time at real speed. Never refused:
/// a heal must work whatever the service is. Monotonic clocks keep any lead
/// or lag a rate fault gave them, since stepping them back is the one thing
/// they must never do.
pub async fn heal(cluster: &Cluster, node: &str) -> Result<ClockRecord> {
    publish(cluster, node, ClockState::REAL).await
}

/// The state currently published on `node`.
pub async fn read_state(cluster: &Cluster, node: &str) -> Result<ClockRecord> {
    let argv = [CLOCKCTL_PATH, "show", STATE_PATH];
    let out = clock_exec(cluster, node, "read the clock state of", &argv).await?;
    parse_record(node, "read the clock state of", &argv, &out)
}

/// How each running service process on `node` stands towards the shim.
pub async fn service_clocks(cluster: &Cluster, node: &str) -> Result<Vec<(u32, ProcessClock)>> {
    let pids: Vec<u32> = cluster
        .service_processes(node)
        .await?
        .into_iter()
        .filter(|p| !p.is_zombie())
        .map(|p| p.pid)
        .collect();
    if pids.is_empty() {
        return Ok(Vec::new());
    }
    // Go binaries carry the build-info magic "\xff Go buildinf:"; the maps
    // file lists every shared object the process has loaded.
    let script = format!(
        "for p in {}; do \
           if grep -q -a -F 'Go buildinf:' /proc/$p/exe; then echo \"$p go\"; \
           elif grep -q -F '{SHIM_PATH}' /proc/$p/maps; then echo \"$p shimmed\"; \
           else echo \"$p bare\"; fi; \
         done",
        pids.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = clock_exec(
        cluster,
        node,
        "inspect the service clock on",
        &["sh", "-c", &script],
    )
    .await?;
    let parsed: Vec<(u32, ProcessClock)> = out
        .lines()
        .filter_map(|line| {
            let (pid, kind) = line.split_once(' ')?;
            let kind = match kind.trim() {
                "go" => ProcessClock::Go,
                "shimmed" => ProcessClock::Shimmed,
                "bare" => ProcessClock::Bare,
                _ => return None,
            };
            Some((pid.parse().ok()?, kind))
        })
        .collect();
    Ok(parsed)
}

async fn verify_service(cluster: &Cluster, node: &str) -> Result<Vec<u32>> {
    let clocks = service_clocks(cluster, node).await?;
    for (pid, clock) in &clocks {
        let reason = match clock {
            ProcessClock::Shimmed => continue,
            ProcessClock::Go => format!(
                "the service on {node} (pid {pid}) is a Go program: Go reads the time through the \
                 vDSO, which the LD_PRELOAD clock shim cannot reach, so its clock cannot be skewed \
                 until per-process vDSO patching exists"
            ),
            ProcessClock::Bare => format!(
                "the service on {node} (pid {pid}) was not started under the clock shim: start it \
                 with clock::preload_env() after clock::install()"
            ),
        };
        return Err(DockerError::Refused {
            operation: "skew the clock",
            reason,
        });
    }
    Ok(clocks.into_iter().map(|(pid, _)| pid).collect())
}

async fn publish(cluster: &Cluster, node: &str, state: ClockState) -> Result<ClockRecord> {
    let argv = state
        .clockctl_set_argv(CLOCKCTL_PATH, STATE_PATH)
        .map_err(|e| DockerError::Refused {
            operation: "set the clock",
            reason: format!("on {node}: {e}"),
        })?;
    let out = clock_exec(cluster, node, "set the clock of", &argv).await?;
    parse_record(node, "set the clock of", &argv, &out)
}

async fn clock_exec<S: AsRef<str>>(
    cluster: &Cluster,
    node: &str,
    operation: &'static str,
    argv: &[S],
) -> Result<String> {
    let out = cluster
        .exec(node, argv, Duration::from_millis(CLOCK_EXEC_TIMEOUT_MS))
        .await?;
    if !out.success() {
        return Err(DockerError::Command {
            subject: node.to_string(),
            operation,
            command: join(argv),
            exit_code: out.exit_code,
            stderr: out.stderr.trim().to_string(),
        });
    }
    Ok(out.stdout)
}

fn parse_record<S: AsRef<str>>(
    node: &str,
    operation: &'static str,
    argv: &[S],
    stdout: &str,
) -> Result<ClockRecord> {
    ClockRecord::parse_clockctl(stdout).ok_or_else(|| DockerError::Command {
        subject: node.to_string(),
        operation,
        command: join(argv),
        exit_code: 0,
        stderr: format!("unreadable clockctl output: {:?}", stdout.trim()),
    })
}

fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(env: &[&str]) -> ServiceSpec {
        ServiceSpec {
            argv: vec!["redis-server".to_string()],
            env: env.iter().map(|s| s.to_string()).collect(),
            process_name: "redis-server".to_string(),
            log_path: "/var/log/redis.log".to_string(),
        }
    }

    #[test]
    fn add_preload_puts_the_shim_first_and_keeps_other_preloads_and_env() {
        let mut s = spec(&[
            "A=1",
            "LD_PRELOAD=/lib/other.so",
            "SPLITBRAIN_CLOCK_FILE=/old",
        ]);
        add_preload(&mut s);
        assert_eq!(
            s.env,
            vec![
                "A=1".to_string(),
                format!("LD_PRELOAD={SHIM_PATH}:/lib/other.so"),
                format!("SPLITBRAIN_CLOCK_FILE={STATE_PATH}"),
            ]
        );
        add_preload(&mut s);
        assert_eq!(s.env.len(), 3, "adding twice changes nothing: {:?}", s.env);
        assert_eq!(s.env[1], format!("LD_PRELOAD={SHIM_PATH}:/lib/other.so"));
    }

    #[test]
    fn preload_env_names_the_installed_paths() {
        let env = preload_env();
        assert!(env.contains(&("LD_PRELOAD".to_string(), SHIM_PATH.to_string())));
        assert!(env.contains(&(SHIM_FILE_ENV.to_string(), STATE_PATH.to_string())));
    }
}
