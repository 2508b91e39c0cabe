//! A client worker: one slot of `--concurrency`, driving logical processes
//! one after another.
//!
//! A process whose op ends `info` may still have an effect in flight, so it
//! never invokes again: the slot retires it and continues as a fresh process
//! (`slot + concurrency`, `slot + 2 * concurrency`, ...), as Jepsen does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::{Client, ClientConfig, Completion, Invocation};
use splitbrain_targets::target::{NodeAddr, Target};
use splitbrain_workloads::{ProcessGenerator, Step, WorkloadConfig, WorkloadKind};
use tokio::time::Instant;

use crate::recorder::Recorder;

/// Shared between the workers and the nemesis.
pub struct Clients {
    /// What the workers are to do.
    pub setup: Setup,
    pub recorder: Arc<Recorder>,
    /// Slot -> the process currently running in it and whether it holds something.
    holders: Mutex<HashMap<u64, (u64, bool)>>,
    /// Slot -> a stall the nemesis asked for (client-pause), taken before the next write or renewal.
    stalls: Mutex<HashMap<u64, Duration>>,
    stop: AtomicBool,
    /// When the next invoke may start, spacing invokes by `1 / rate`.
    next_invoke: Mutex<Instant>,
    invoke_spacing: Duration,
    invoked: AtomicU64,
}

/// What the workers are to do: fixed for a run.
pub struct Setup {
    pub target: Arc<dyn Target>,
    pub nodes: Vec<NodeAddr>,
    pub client_cfg: ClientConfig,
    pub workload: WorkloadConfig,
    pub seed: u64,
    pub concurrency: u64,
    pub rate_per_s: f64,
    pub max_ops: u64,
}

impl Clients {
    pub fn new(setup: Setup, recorder: Arc<Recorder>) -> Clients {
        Clients {
            invoke_spacing: Duration::from_secs_f64(1.0 / setup.rate_per_s),
            setup,
            recorder,
            holders: Mutex::new(HashMap::new()),
            stalls: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            next_invoke: Mutex::new(Instant::now()),
            invoked: AtomicU64::new(0),
        }
    }

    /// A client for `process`, bounded by the connect timeout and a second.
    pub async fn connect(&self, process: u64) -> Result<Box<dyn Client>, String> {
        let s = &self.setup;
        let bound = s.client_cfg.connect_timeout() + Duration::from_secs(1);
        let built = s.target.client(&s.nodes, process, &s.client_cfg);
        match tokio::time::timeout(bound, built).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out building a client".to_string()),
        }
    }

    /// Asks workers to finish their current op and stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Waits for this invoke's turn under `--rate`; false once `--max-ops` is spent.
    async fn pace(&self) -> bool {
        if self.invoked.fetch_add(1, Ordering::Relaxed) >= self.setup.max_ops {
            return false;
        }
        let at = {
            let mut next = self.next_invoke.lock().unwrap_or_else(|e| e.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + self.invoke_spacing;
            at
        };
        tokio::time::sleep_until(at).await;
        true
    }

    /// The slots whose process currently holds a lock or leadership, with that process.
    pub fn holding(&self) -> Vec<(u64, u64)> {
        let holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(u64, u64)> = holders
            .iter()
            .filter(|(_, (_, holds))| *holds)
            .map(|(slot, (process, _))| (*slot, *process))
            .collect();
        v.sort_unstable();
        v
    }

    /// Stalls `slot` for `pause` before its next write or renewal.
    pub fn request_stall(&self, slot: u64, pause: Duration) {
        self.stalls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slot, pause);
    }

    fn take_stall(&self, slot: u64) -> Option<Duration> {
        self.stalls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&slot)
    }

    fn set_holding(&self, slot: u64, process: u64, holds: bool) {
        self.holders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slot, (process, holds));
    }

    /// A bound on one invocation, above every bound the client sets itself,
    /// so that a client that ignores its own timeouts still ends as `info`.
    pub fn invoke_bound(&self) -> Duration {
        self.setup.client_cfg.acquire_timeout()
            + self.setup.client_cfg.request_timeout() * 2
            + self.setup.client_cfg.connect_timeout()
            + Duration::from_secs(1)
    }
}

/// Runs slot `slot` until [`Clients::stop`].
pub async fn run_slot(clients: Arc<Clients>, slot: u64) {
    let mut process = slot;
    while !clients.stopping() {
        let mut client = match clients.connect(process).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("p{process}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut generator =
            ProcessGenerator::new(clients.setup.workload.clone(), clients.setup.seed, process);
        let mut last: Option<Completion> = None;
        // What the service granted this process and it has not given back:
        // tracked here from completions, not from the generator's plans.
        let mut held: Option<(String, Option<u64>)> = None;
        let retired = loop {
            if clients.stopping() {
                break false;
            }
            let step = generator.next(last.as_ref());
            clients.set_holding(slot, process, generator.holding().is_some());
            match step {
                Step::Sleep(d) => {
                    tokio::time::sleep(d).await;
                    last = None;
                }
                Step::Invoke(inv) => {
                    // Stall where a stale holder does harm: before its write
                    // when there is a resource, else before its renewal.
                    let stall_point = if clients.setup.workload.kind.has_resource() {
                        inv.f == F::Write
                    } else {
                        inv.f == F::Renew
                    };
                    if generator.holding().is_some() && stall_point {
                        if let Some(pause) = clients.take_stall(slot) {
                            tracing::info!(
                                "p{process}: stalled for {} ms while holding",
                                pause.as_millis()
                            );
                            tokio::time::sleep(pause).await;
                        }
                    }
                    if !clients.pace().await || clients.stopping() {
                        break false;
                    }
                    let c = invoke(&clients, client.as_mut(), process, &inv).await;
                    if c.kind == OpType::Info {
                        break true;
                    }
                    match inv.f {
                        F::Acquire | F::Campaign if c.kind == OpType::Ok => {
                            held = Some((inv.key.clone(), c.token));
                        }
                        F::Release | F::Resign => held = None,
                        _ => {}
                    }
                    last = Some(c);
                }
            }
        };
        clients.set_holding(slot, process, false);
        if retired {
            // A retired process never invokes again, so it cannot record a
            // release: leave its lease to expire on the server rather than
            // revoke it unrecorded, which would end its hold before the
            // lease bound the history promises.
            drop(client);
            process += clients.setup.concurrency;
        } else {
            if let Some((key, token)) = held {
                release_on_stop(&clients, client.as_mut(), process, key, token).await;
            }
            let _ =
                tokio::time::timeout(clients.setup.client_cfg.request_timeout(), client.close())
                    .await;
        }
    }
}

/// Records `inv`, performs it within the harness bound, records how it ended.
pub async fn invoke(
    clients: &Clients,
    client: &mut dyn Client,
    process: u64,
    inv: &Invocation,
) -> Completion {
    clients.recorder.invoke(process, inv);
    let started = Instant::now();
    let c = tokio::time::timeout(
        clients.invoke_bound(),
        client.invoke(inv, clients.recorder.clock()),
    )
    .await
    .unwrap_or_else(|_| {
        Completion::info(format!(
            "no answer within {} ms (harness bound)",
            started.elapsed().as_millis()
        ))
    });
    clients.recorder.complete(process, inv, &c);
    c
}

/// A process still holding something when the run stops gives it back with
/// a recorded release: closing the client revokes its lease, and an
/// unrecorded release would read as a hold that lasted to its lease bound.
async fn release_on_stop(
    clients: &Clients,
    client: &mut dyn Client,
    process: u64,
    key: String,
    token: Option<u64>,
) {
    let f = if clients.setup.workload.kind == WorkloadKind::Election {
        F::Resign
    } else {
        F::Release
    };
    let inv = Invocation {
        f,
        key,
        token,
        value: None,
    };
    invoke(clients, client, process, &inv).await;
}
