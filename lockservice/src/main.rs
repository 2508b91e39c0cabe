//! `splitbrain-lockservice`: the reference in-house lock service.
//!
//! It speaks the adapter protocol (`docs/adapter-protocol.md`) and plants,
//! per `--mode`, one bug of a class the harness claims to find, so that a
//! test can prove the harness finds it and passes `safe`:
//!
//! | mode | planted bug | anomaly |
//! |---|---|---|
//! | `safe` | none | none under any fault, clock rates up to 4x included |
//! | `no-fencing` | the resource accepts any token | `stale-token-accepted`, `lost-update` |
//! | `volatile-tokens` | the token counter lives in memory | `token-regression` after a kill |
//! | `wallclock-lease` | leases expire by `CLOCK_REALTIME` | `lost-mutual-exclusion` after a clock bump |
//! | `async-replica` | replication after the reply, failover on a timeout | `split-brain`, `lost-mutual-exclusion` |
//! | `bully` | Bully election, no quorum | `split-brain` under partition |
//!
//! `store` holds the state model (tokens, leases, grace period, fencing),
//! `cluster` which node serves and how the others relay to it.

mod api;
mod cluster;
mod mode;
mod protocol;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cluster::{parse_peers, Cluster, Peer, Timing};
use crate::mode::Mode;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A lock service that speaks the splitbrain adapter protocol"
)]
struct Args {
    #[arg(long, value_enum)]
    mode: Mode,
    /// This node's name; must be one of --peers.
    #[arg(long)]
    node: String,
    /// Address to serve the protocol on.
    #[arg(long)]
    listen: SocketAddr,
    /// Every node, this one included, in order: `n1=IP:PORT,n2=IP:PORT,...`.
    /// The first is the primary of the single-node modes.
    #[arg(long, default_value = "")]
    peers: String,
    #[arg(long)]
    data_dir: PathBuf,
    /// Longest lease granted; longer requests get this.
    #[arg(long, default_value_t = 60_000)]
    max_lease_ms: u64,
    /// How much faster than real time this node's clock may run while
    /// leases stay safe: each lease is held `lease_ms` times this on the
    /// node's own clock. Default: 4 in `safe` (the fastest rate the
    /// harness's clock fault sets), 1 in every other mode.
    #[arg(long)]
    clock_rate_bound: Option<f64>,
    /// Health poll interval between nodes (replicated modes).
    #[arg(long, default_value_t = 100)]
    heartbeat_ms: u64,
    /// Silence after which a backup takes over or a bully node leads.
    #[arg(long, default_value_t = 1000)]
    failover_ms: u64,
    #[arg(long, default_value_t = 300)]
    connect_timeout_ms: u64,
    /// Bound on relaying one request (plus the request's own wait).
    #[arg(long, default_value_t = 1000)]
    forward_timeout_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("failed to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), String> {
    let mut peers = parse_peers(&args.peers)?;
    if peers.is_empty() {
        peers.push(Peer {
            name: args.node.clone(),
            addr: args.listen,
        });
    }
    let me = peers
        .iter()
        .position(|p| p.name == args.node)
        .ok_or_else(|| format!("failed to find --node {} in --peers", args.node))?;
    let opened = Store::open(args.mode, &args.data_dir, args.max_lease_ms.max(1)).map_err(|e| {
        format!(
            "failed to open the state in {}: {e}",
            args.data_dir.display()
        )
    })?;
    let restarted = opened.restarted;
    let store = opened.store.with_clock_rate_bound(
        args.clock_rate_bound
            .unwrap_or(args.mode.default_clock_rate_bound()),
    );
    let grace_until = restarted.then(|| Instant::now() + Duration::from_millis(store.grace_ms()));
    let timing = Timing {
        heartbeat: Duration::from_millis(args.heartbeat_ms.max(1)),
        failover: Duration::from_millis(args.failover_ms.max(1)),
        connect_timeout: Duration::from_millis(args.connect_timeout_ms.max(1)),
        forward_timeout: Duration::from_millis(args.forward_timeout_ms.max(1)),
    };
    let cluster = Arc::new(Cluster::new(args.mode, me, peers, timing, restarted));
    let store = Arc::new(Mutex::new(store));
    if args.mode.is_replicated() {
        tokio::spawn(cluster.clone().monitor());
        tokio::spawn(cluster.clone().replicate(store.clone()));
    }
    let app = Arc::new(api::App {
        store,
        cluster,
        grace_until,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("failed to listen on {}: {e}", args.listen))?;
    eprintln!(
        "{} serving the adapter protocol v{} on {} in mode {}{}",
        args.node,
        protocol::PROTOCOL_VERSION,
        args.listen,
        args.mode.as_str(),
        grace_until.map_or(String::new(), |_| " (restarted: grace period)".into()),
    );
    axum::serve(listener, api::router(app))
        .await
        .map_err(|e| format!("failed to serve: {e}"))
}
