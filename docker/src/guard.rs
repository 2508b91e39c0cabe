//! Teardown that always happens: by label, on drop, on signal, on demand.
//!
//! Everything a run creates carries the label `splitbrain.run=<run id>`, so
//! removal never needs to remember what was created: it asks the engine for
//! the label. That one mechanism serves the normal teardown's backstop
//! ([`ClusterGuard`]'s `Drop`, which also covers errors and panics), the
//! Ctrl-C path (the run loop selects on [`shutdown_signal`] and drops or
//! tears down its cluster) and `splitbrain clean` ([`clean`]).

use std::collections::HashMap;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::future::join_all;

use crate::engine::{Engine, EngineOptions};
use crate::error::{DockerError, Result};
use crate::labels::RUN_LABEL;

/// What a removal removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanReport {
    /// Container names.
    pub containers: Vec<String>,
    /// Network names.
    pub networks: Vec<String>,
}

/// Which labelled objects a removal takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanScope {
    /// Everything with a `splitbrain.run` label, whatever its value.
    AllRuns,
    /// Only what carries `splitbrain.run=<this id>`.
    Run(String),
}

impl CleanScope {
    /// The engine's label filter for this scope.
    pub fn label_filter(&self) -> String {
        match self {
            CleanScope::AllRuns => RUN_LABEL.to_string(),
            CleanScope::Run(id) => format!("{RUN_LABEL}={id}"),
        }
    }
}

/// Remove every container and network labelled `splitbrain.run`, and nothing
/// else. Containers go first because a network with endpoints cannot be
/// removed.
pub async fn clean(engine: &Engine) -> Result<CleanReport> {
    remove_labelled(engine, &CleanScope::AllRuns).await
}

/// Remove the containers and network of one run.
pub async fn remove_run(engine: &Engine, run_id: &str) -> Result<CleanReport> {
    remove_labelled(engine, &CleanScope::Run(run_id.to_string())).await
}

/// Remove what `scope` selects.
pub async fn remove_labelled(engine: &Engine, scope: &CleanScope) -> Result<CleanReport> {
    let filters = HashMap::from([("label", vec![scope.label_filter()])]);
    let subject = format!("objects labelled {}", scope.label_filter());
    // A removal that fails does not stop the others: the first error is
    // returned after everything else was tried.
    let mut first_error = None;
    let mut containers = remove_containers(engine, &subject, &filters, &mut first_error).await?;
    let mut networks = remove_networks(engine, &subject, &filters, &mut first_error).await?;
    if let Some(e) = first_error {
        return Err(e);
    }
    containers.sort();
    networks.sort();
    Ok(CleanReport {
        containers,
        networks,
    })
}

/// Remove the containers matching `filters`, all at once; returns the names
/// of those removed.
async fn remove_containers(
    engine: &Engine,
    subject: &str,
    filters: &HashMap<&str, Vec<String>>,
    first_error: &mut Option<DockerError>,
) -> Result<Vec<String>> {
    let docker = engine.docker();
    let containers = engine
        .call(
            subject,
            "list",
            docker.list_containers(Some(
                ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(filters)
                    .build(),
            )),
        )
        .await?;
    let removals = containers.into_iter().filter_map(|c| {
        let id = c.id?;
        let name = c
            .names
            .and_then(|n| n.first().cloned())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.clone());
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        Some(async move {
            let removed = engine
                .call(
                    &name,
                    "remove container",
                    docker.remove_container(&id, Some(options)),
                )
                .await;
            match removed {
                Ok(()) => Ok(Some(name)),
                // Removed by someone else in the meantime: that is the goal.
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        })
    });
    let mut removed = Vec::new();
    for r in join_all(removals).await {
        match r {
            Ok(Some(name)) => removed.push(name),
            Ok(None) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Ok(removed)
}

/// Remove the networks matching `filters` (after their containers, since a
/// network with endpoints cannot go); returns the names of those removed.
async fn remove_networks(
    engine: &Engine,
    subject: &str,
    filters: &HashMap<&str, Vec<String>>,
    first_error: &mut Option<DockerError>,
) -> Result<Vec<String>> {
    let docker = engine.docker();
    let networks = engine
        .call(
            subject,
            "list",
            docker.list_networks(Some(
                ListNetworksOptionsBuilder::new().filters(filters).build(),
            )),
        )
        .await?;
    let mut removed = Vec::new();
    for n in networks {
        let Some(id) = n.id else { continue };
        let name = n.name.unwrap_or_else(|| id.clone());
        match engine
            .call(&name, "remove network", docker.remove_network(&id))
            .await
        {
            Ok(()) => removed.push(name),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Ok(removed)
}

/// Removes a run's containers and network when dropped, unless disarmed.
///
/// `Drop` cannot await, and may run inside a Tokio runtime (where blocking on
/// another runtime panics), so the removal runs on a fresh thread with its
/// own single-threaded runtime and a fresh engine connection, and the drop
/// waits for it. Errors can only be logged there.
#[derive(Debug)]
pub struct ClusterGuard {
    run_id: String,
    options: EngineOptions,
    armed: bool,
}

impl ClusterGuard {
    pub fn new(run_id: impl Into<String>, options: EngineOptions) -> ClusterGuard {
        ClusterGuard {
            run_id: run_id.into(),
            options,
            armed: true,
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run was torn down properly: nothing is left to do on drop.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let run_id = self.run_id.clone();
        let options = self.options.clone();
        let worker = std::thread::Builder::new()
            .name(format!("teardown-{run_id}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async {
                    let engine = Engine::connect(options).await.map_err(|e| e.to_string())?;
                    remove_run(&engine, &run_id)
                        .await
                        .map_err(|e| e.to_string())
                })
            });
        let outcome = match worker {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err("the teardown thread panicked".to_string())),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(report) => tracing::info!(
                run_id = %self.run_id,
                containers = report.containers.len(),
                networks = report.networks.len(),
                "removed a run's leftovers on drop"
            ),
            Err(e) => {
                tracing::error!(run_id = %self.run_id, error = %e, "failed to remove a run on drop");
                eprintln!(
                    "failed to remove run {} on drop: {e}; run `splitbrain clean`",
                    self.run_id
                );
            }
        }
    }
}

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownSignal {
    Interrupt,
    Terminate,
}

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM. The run loop selects on
/// it next to its work and, when it fires, tears its cluster down (or drops
/// it, and the guard does).
pub async fn shutdown_signal() -> std::io::Result<ShutdownSignal> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => Ok(ShutdownSignal::Interrupt),
        _ = terminate.recv() => Ok(ShutdownSignal::Terminate),
    }
}
