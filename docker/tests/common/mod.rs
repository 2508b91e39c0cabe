//! Shared by the Docker-backed tests: reach the engine or skip (fail under
//! CI=true), get the base image, make unique run ids.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::sync::atomic::{AtomicU32, Ordering};

use splitbrain_docker::{images, Engine, EngineOptions};

/// The engine, or `None` after a loud skip message. Under `CI=true` an
/// unreachable engine fails the test instead: CI must prove the faults.
pub async fn engine_or_skip(test: &str) -> Option<Engine> {
    let options = EngineOptions {
        call_timeout_ms: 30_000,
        transfer_timeout_ms: 600_000,
    };
    match Engine::connect(options).await {
        Ok(engine) => Some(engine),
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: the Docker engine is required under CI=true: {e}");
            }
            eprintln!();
            eprintln!("==================================================================");
            eprintln!("SKIP {test}: no Docker engine reachable ({e})");
            eprintln!("==================================================================");
            None
        }
    }
}

static BASE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The base image reference, built on first use (several tests in one
/// binary share one build).
pub async fn base_image(engine: &Engine) -> String {
    BASE.get_or_init(|| async {
        images::ensure_base(engine, |line| eprintln!("image: {line}"))
            .await
            .expect("failed to prepare the base image")
            .reference
    })
    .await
    .clone()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A run id unique to this process and call, readable in `docker ps`.
pub fn run_id(test: &str) -> String {
    format!(
        "t-{test}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
