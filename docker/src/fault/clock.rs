//! Clock faults: per-node skew of what the node's service processes read.
//!
//! Nodes share the host kernel's clock, so a node's clock is skewed by
//! changing what its service reads, not what the kernel keeps (see
//! `splitbrain_clockshim` for the model and the state file). Every node has
//! one state file, written by clockctl; each service process reads it by one
//! of two mechanisms ([`Mechanism`]):
//!
//! - **the preload shim**, where the target starts its service with
//!   [`preload_env`] ([`add_preload`] does it to a [`ServiceSpec`]): simplest
//!   for dynamically linked C programs (Redis, the reference lock service);
//! - **the vDSO patch**, for every other process, Go programs (etcd) and
//!   static binaries included: clockinject ptrace-attaches to the running
//!   process and points its vDSO clock functions at code that reads the same
//!   state file. Nodes run with `CAP_SYS_PTRACE` for it.
//!
//! ```text
//!   apply(n2, +60 s)
//!     ps in n2 ──> etcd pid 31 (Go)     ──> clockinject patch 31 STATE (once per process)
//!              └─> redis pid 40 (shim)  ──> nothing to do
//!     clockctl set STATE ...            ──> both read +60 s from their next clock call
//!   heal(n2)
//!     clockctl set STATE real           ──> real time again
//!     clockinject restore 31            ──> original vDSO bytes (kept while a
//!                                           rate left monotonic ahead)
//! ```
//!
//! Per node:
//!
//! 1. [`install`] puts the shim, clockctl and clockinject into the node and
//!    publishes real time into the state file, before the service starts.
//! 2. [`apply`], [`bump`], [`strobe`], [`rate`] first make sure every
//!    running service process reads the state (patching those not under the
//!    shim), then exec clockctl, which rewrites the state in place under a
//!    seqlock; the processes see it on their next clock read, no restart. An
//!    archive upload (`put_file`) cannot do this: it replaces the file, and
//!    the processes would keep reading the old inode.
//! 3. [`heal`] publishes real time and restores patched processes' vDSOs.
//! 4. [`reapply`] patches a restarted service (after a kill fault) again if
//!    the node's state is still skewed; a preloaded one needs nothing.
//!
//! A service that is down when the clock changes cannot be patched: the
//! state is still written, so it applies when the service restarts (under
//! the shim by itself, through [`reapply`] otherwise), and
//! [`ClockOutcome::processes`] is empty so that the caller can record it.

use std::time::Duration;

use splitbrain_clockshim::{
    ClockRecord, ClockState, Strobe, CLOCKCTL, CLOCKINJECT, SHIM_FILE_ENV, SHIM_SO,
};

use crate::cluster::{Cluster, ExecOutput, ServiceSpec};
use crate::error::{DockerError, Result};

/// Where the shim is installed in a node.
pub const SHIM_PATH: &str = "/usr/local/lib/splitbrain/libclockshim.so";
/// Where clockctl is installed in a node.
pub const CLOCKCTL_PATH: &str = "/usr/local/lib/splitbrain/clockctl";
/// Where clockinject is installed in a node.
pub const CLOCKINJECT_PATH: &str = "/usr/local/lib/splitbrain/clockinject";
/// clockinject's exit status when it keeps a patch because restoring would
/// step the monotonic clocks back.
const CLOCKINJECT_KEPT: i64 = 3;
/// The node's clock state file, shared by every preloaded process in it.
pub const STATE_PATH: &str = "/var/lib/splitbrain/clock";

/// Bound on one clockctl or process-check exec; both take milliseconds.
pub const CLOCK_EXEC_TIMEOUT_MS: u64 = 15_000;

/// How a service process reads its node's clock state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// Started under the LD_PRELOAD shim.
    Preload,
    /// Its vDSO clock functions patched by clockinject.
    VdsoPatch,
}

impl Mechanism {
    /// The name run records and reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Preload => "ld-preload",
            Mechanism::VdsoPatch => "vdso-patch",
        }
    }
}

/// One service process a clock change reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkewedProcess {
    pub pid: u32,
    pub mechanism: Mechanism,
    /// Whether this change patched it (false: preloaded or patched before).
    pub newly_patched: bool,
}

/// What a clock change did on a node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockOutcome {
    /// The record clockctl published.
    pub record: ClockRecord,
    /// The running service processes, each checked to read the state;
    /// empty if the service was not running.
    pub processes: Vec<SkewedProcess>,
}

/// What healing a node's clock did.
#[derive(Debug, Clone, PartialEq)]
pub struct HealOutcome {
    /// The record clockctl published (real time; monotonic drift kept).
    pub record: ClockRecord,
    /// Patched processes whose original vDSO bytes were written back.
    pub restored: Vec<u32>,
    /// Patched processes left patched, with how far (ns) their monotonic
    /// clocks are ahead: the real vDSO would step them back.
    pub kept: Vec<(u32, i64)>,
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

impl ProcessClock {
    /// The mechanism that reaches this process.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            ProcessClock::Shimmed => Mechanism::Preload,
            ProcessClock::Go | ProcessClock::Bare => Mechanism::VdsoPatch,
        }
    }
}

/// Copy the shim, clockctl and clockinject into `node` and publish real
/// time, creating the state file. Do this before starting the service.
pub async fn install(cluster: &Cluster, node: &str) -> Result<()> {
    cluster.put_file(node, SHIM_PATH, SHIM_SO, 0o644).await?;
    cluster
        .put_file(node, CLOCKCTL_PATH, CLOCKCTL, 0o755)
        .await?;
    cluster
        .put_file(node, CLOCKINJECT_PATH, CLOCKINJECT, 0o755)
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

/// Publish `state` on `node` after making sure that every running service
/// process reads it (patching the vDSO of those not under the shim). The
/// fault's `apply`; [`bump`], [`strobe`] and [`rate`] change one part of
/// the current state through it.
pub async fn apply(cluster: &Cluster, node: &str, state: ClockState) -> Result<ClockOutcome> {
    state.validate().map_err(|e| DockerError::Refused {
        operation: "set the clock",
        reason: format!("on {node}: {e}"),
    })?;
    let processes = reach_service(cluster, node).await?;
    let record = publish(cluster, node, state).await?;
    Ok(ClockOutcome { record, processes })
}

/// After the service on `node` restarted: if the node's clock is not real
/// (an offset, a rate, a strobe, or monotonic drift a rate left), make the
/// new processes read it. Returns the processes reached, empty when the
/// clock is real.
pub async fn reapply(cluster: &Cluster, node: &str) -> Result<Vec<SkewedProcess>> {
    let current = read_state(cluster, node).await?;
    if current.state == ClockState::REAL && current.anchor_drift_ns == 0 {
        return Ok(Vec::new());
    }
    reach_service(cluster, node).await
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
    apply(
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
    apply(
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
    apply(
        cluster,
        node,
        ClockState {
            rate,
            ..current.state
        },
    )
    .await
}

/// Put `node`'s wall clock back on real time at real speed, and the
/// original vDSO into patched processes. Never refused: a heal must work
/// whatever the service is. Monotonic clocks keep any lead or lag a rate
/// fault gave them, since stepping them back is the one thing they must
/// never do: a process whose monotonic clocks are ahead stays patched
/// ([`HealOutcome::kept`]), at real speed.
pub async fn heal(cluster: &Cluster, node: &str) -> Result<HealOutcome> {
    let record = publish(cluster, node, ClockState::REAL).await?;
    let mut outcome = HealOutcome {
        record,
        restored: Vec::new(),
        kept: Vec::new(),
    };
    for (pid, clock) in service_clocks(cluster, node).await? {
        if clock.mechanism() != Mechanism::VdsoPatch {
            continue;
        }
        let Some(out) = clockinject(
            cluster,
            node,
            pid,
            &["restore"],
            "restore the vDSO of the service on",
        )
        .await?
        else {
            continue;
        };
        if out.exit_code == CLOCKINJECT_KEPT {
            let ahead = field(&out.stdout, "monotonic_ahead_ns")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            outcome.kept.push((pid, ahead));
        } else if out.stdout.starts_with("restored ") {
            outcome.restored.push(pid);
        }
    }
    Ok(outcome)
}

/// The first bytes of each vDSO clock function of process `pid` on `node`
/// (or of clockinject itself, `None`), as clockinject shows them, and
/// whether they are patched.
pub async fn vdso_bytes(cluster: &Cluster, node: &str, pid: Option<u32>) -> Result<VdsoBytes> {
    let pid_arg = pid.map_or_else(|| "self".to_string(), |p| p.to_string());
    let argv = [CLOCKINJECT_PATH, "show", pid_arg.as_str()];
    let out = clock_exec(cluster, node, "read the vDSO of", &argv).await?;
    let get = |k: &str| field(&out, k).map(str::to_string);
    Ok(VdsoBytes {
        clock_gettime: get("clock_gettime"),
        gettimeofday: get("gettimeofday"),
        time: get("time"),
        patched: get("patched").is_some_and(|v| v != "no"),
    })
}

/// The first 16 bytes (hex) of each vDSO clock function of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdsoBytes {
    pub clock_gettime: Option<String>,
    pub gettimeofday: Option<String>,
    pub time: Option<String>,
    pub patched: bool,
}

impl VdsoBytes {
    /// The bytes alone, to compare with another process's.
    pub fn functions(&self) -> [Option<&str>; 3] {
        [
            self.clock_gettime.as_deref(),
            self.gettimeofday.as_deref(),
            self.time.as_deref(),
        ]
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Runs `clockinject VERB PID ARGS...` against service process `pid`.
/// `None` if it failed because the process exited meanwhile (a kill racing
/// the fault): there is nothing left to skew or restore. A restore kept
/// for a monotonic lead (exit 3) is an answer, not a failure.
async fn clockinject(
    cluster: &Cluster,
    node: &str,
    pid: u32,
    verb_and_args: &[&str],
    operation: &'static str,
) -> Result<Option<ExecOutput>> {
    let pid_arg = pid.to_string();
    let mut argv = vec![CLOCKINJECT_PATH, verb_and_args[0], pid_arg.as_str()];
    argv.extend_from_slice(&verb_and_args[1..]);
    let out = cluster
        .exec(node, &argv, Duration::from_millis(CLOCK_EXEC_TIMEOUT_MS))
        .await?;
    if out.success() || out.exit_code == CLOCKINJECT_KEPT {
        return Ok(Some(out));
    }
    if process_gone(cluster, node, pid).await {
        return Ok(None);
    }
    Err(DockerError::Command {
        subject: node.to_string(),
        operation,
        command: argv.join(" "),
        exit_code: out.exit_code,
        stderr: out.stderr.trim().to_string(),
    })
}

async fn process_gone(cluster: &Cluster, node: &str, pid: u32) -> bool {
    match cluster.service_processes(node).await {
        Ok(ps) => !ps.iter().any(|p| p.pid == pid && !p.is_zombie()),
        Err(_) => false,
    }
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

/// Make every running service process on `node` read the state file:
/// preloaded ones already do, the others get their vDSO patched (once; a
/// patched process answers "already").
async fn reach_service(cluster: &Cluster, node: &str) -> Result<Vec<SkewedProcess>> {
    let mut reached = Vec::new();
    for (pid, clock) in service_clocks(cluster, node).await? {
        let mechanism = clock.mechanism();
        let mut newly_patched = false;
        if mechanism == Mechanism::VdsoPatch {
            let Some(out) = clockinject(
                cluster,
                node,
                pid,
                &["patch", STATE_PATH],
                "patch the vDSO of the service on",
            )
            .await?
            else {
                continue;
            };
            newly_patched = out.stdout.starts_with("patched ");
        }
        reached.push(SkewedProcess {
            pid,
            mechanism,
            newly_patched,
        });
    }
    Ok(reached)
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
        .await?
        .checked(node, operation, &join(argv))?;
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
