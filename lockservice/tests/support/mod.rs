//! Real lock-service processes on loopback addresses, a recorder that turns
//! adapter-client operations into a history, and a TCP relay that can cut
//! the traffic between two nodes (a partition without touching the host's
//! firewall).

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use splitbrain_checkers::history::{read_history_from, OpType, F};
use splitbrain_checkers::Report;
use splitbrain_targets::adapter::AdapterClient;
use splitbrain_targets::client::{Client, ClientConfig, Completion, HistoryClock, Invocation};
use splitbrain_targets::etcd::WriteMode;
use splitbrain_testkit::loopback::{self, Process, ProcessSpec, Readiness};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const BINARY: &str = env!("CARGO_BIN_EXE_splitbrain-lockservice");
/// Bound on a node becoming ready.
const READY: Readiness = Readiness {
    timeout: Duration::from_secs(10),
    poll: Duration::from_millis(20),
};

/// One service process; killed when dropped.
pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    process: Process,
}

impl Node {
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILL, then the same command again.
    pub fn restart(&mut self) {
        self.process.restart();
    }

    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// Waits until `GET /v1/health` answers 200.
    pub async fn wait_ready(&self) {
        let answers = || async {
            health(self.addr)
                .await
                .map(|_| ())
                .ok_or("no health answer")
        };
        READY
            .wait(&self.name, Instant::now(), answers, || self.log_text())
            .await;
    }
}

/// The health answer of the node at `addr`, if it answers within a second.
pub async fn health(addr: SocketAddr) -> Option<Value> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET /v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf)
            .await
            .ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        if !text.starts_with("HTTP/1.1 200") {
            return None;
        }
        let body = text.split("\r\n\r\n").nth(1)?;
        serde_json::from_str(body).ok()
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}

/// A cluster of `n` nodes in `mode`, n1..nN on 127.0.<subnet>.1..N.
/// Node i reaches node j through `relays[i][j]` when relays are on.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    pub relays: Vec<Vec<Option<Relay>>>,
}

pub struct ClusterSpec<'a> {
    pub mode: &'a str,
    pub n: u8,
    pub subnet: u8,
    /// Route node-to-node traffic through cuttable relays.
    pub relayed: bool,
    pub env: Vec<(String, String)>,
    pub extra_args: Vec<String>,
}

impl Cluster {
    pub async fn start(spec: ClusterSpec<'_>) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes = loopback::nodes_in(spec.subnet, spec.n);
        let port = loopback::free_port(&nodes);
        let ips: Vec<Ipv4Addr> = nodes.iter().map(|n| n.ip).collect();
        let addrs: Vec<SocketAddr> = ips
            .iter()
            .map(|ip| SocketAddr::new((*ip).into(), port))
            .collect();
        let n = usize::from(spec.n);
        let mut relays: Vec<Vec<Option<Relay>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        if spec.relayed {
            for (i, row) in relays.iter_mut().enumerate() {
                for (j, slot) in row.iter_mut().enumerate() {
                    if i != j {
                        *slot = Some(Relay::start(ips[i], addrs[j]).await);
                    }
                }
            }
        }
        let mut nodes = Vec::new();
        for i in 0..n {
            let peers = (0..n)
                .map(|j| {
                    let addr = relays[i][j].as_ref().map_or(addrs[j], |r| r.addr);
                    format!("n{}={addr}", j + 1)
                })
                .collect::<Vec<_>>()
                .join(",");
            let name = format!("n{}", i + 1);
            let mut argv = vec![
                BINARY.to_string(),
                "--mode".into(),
                spec.mode.into(),
                "--node".into(),
                name.clone(),
                "--listen".into(),
                addrs[i].to_string(),
                "--peers".into(),
                peers,
                "--data-dir".into(),
                dir.path().join(&name).display().to_string(),
            ];
            argv.extend(spec.extra_args.iter().cloned());
            let process = Process::start(ProcessSpec {
                argv,
                env: spec.env.clone(),
                log: dir.path().join(format!("{name}.log")),
                installed: "the lock service (cargo builds it for the tests)".into(),
            });
            nodes.push(Node {
                name,
                addr: addrs[i],
                process,
            });
        }
        for node in &nodes {
            node.wait_ready().await;
        }
        Cluster { dir, nodes, relays }
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].addr)
    }

    /// Cuts (or restores) traffic between the nodes of `a` and those of `b`, both ways.
    pub fn partition(&self, a: &[usize], b: &[usize], cut: bool) {
        for &i in a {
            for &j in b {
                for (x, y) in [(i, j), (j, i)] {
                    if let Some(relay) = &self.relays[x][y] {
                        relay.set_cut(cut);
                    }
                }
            }
        }
    }

    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.name, n.log_text()))
            .collect()
    }
}

/// A TCP relay from a port on `from_ip` to `to`. While cut, bytes stop
/// flowing both ways and new connections are held open unanswered, as
/// dropped packets would leave them.
pub struct Relay {
    pub addr: SocketAddr,
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(from_ip: Ipv4Addr, to: SocketAddr) -> Relay {
        let listener = TcpListener::bind((from_ip, 0)).await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let (cut, _) = watch::channel(false);
        let cut_rx = cut.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    // Held unanswered until the cut heals, then relayed afresh.
                    if !wait_cut(&mut cut_rx, false).await {
                        return;
                    }
                    let Ok(outbound) = TcpStream::connect(to).await else {
                        return;
                    };
                    let (mut a, mut b) = (inbound, outbound);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = wait_cut(&mut cut_rx, true) => {
                            // Stall: keep both sockets open, move nothing.
                            wait_cut(&mut cut_rx, false).await;
                        }
                    }
                });
            }
        });
        Relay { addr, cut, task }
    }

    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// Whether the cut became `want` (false if the relay is gone).
async fn wait_cut(rx: &mut watch::Receiver<bool>, want: bool) -> bool {
    rx.wait_for(|cut| *cut == want).await.is_ok()
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn config(lease_ms: u64, request_timeout_ms: u64) -> ClientConfig {
    ClientConfig {
        lease_ms,
        request_timeout_ms,
        // No waiting at the service: a held lock is refused at once.
        acquire_timeout_ms: request_timeout_ms,
        connect_timeout_ms: 500,
    }
}

/// Records every operation of every process as history format v1.
pub struct Recorder {
    clock: HistoryClock,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            clock: HistoryClock::start(),
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn push(&self, mut line: Value) {
        let mut lines = self.lines.lock().expect("recorder lock");
        line["index"] = json!(lines.len());
        // Stamped under the lock, so time never decreases along the history.
        line["time"] = json!(self.clock.now_ns());
        lines.push(line);
    }

    /// Invokes `inv` on `client` as `process`, recording both ends.
    pub async fn invoke(
        &self,
        client: &mut AdapterClient,
        process: u64,
        f: F,
        key: &str,
        token: Option<u64>,
        value: Option<Value>,
    ) -> Completion {
        let inv = Invocation {
            f: f.clone(),
            key: key.to_string(),
            token,
            value: value.clone(),
        };
        let mut invoke = json!({
            "process": process, "type": "invoke",
            "f": f.to_string(), "key": key,
        });
        if let Some(token) = token {
            invoke["token"] = json!(token);
        }
        if let Some(value) = &value {
            invoke["value"] = value.clone();
        }
        self.push(invoke);
        let c = client.invoke(&inv, &self.clock).await;
        let kind = match c.kind {
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            _ => "info",
        };
        let mut done = json!({
            "process": process, "type": kind,
            "f": f.to_string(), "key": key,
        });
        if let Some(token) = c.token {
            done["token"] = json!(token);
        }
        if let Some(v) = c.valid_until {
            done["valid_until"] = json!(v);
        }
        match (&c.value, f) {
            (Some(v), _) => done["value"] = v.clone(),
            (None, F::Write) => done["value"] = value.unwrap_or(Value::Null),
            _ => {}
        }
        if let Some(e) = &c.error {
            done["error"] = json!(e);
        }
        self.push(done);
        c
    }

    pub fn jsonl(&self) -> String {
        let lines = self.lines.lock().expect("recorder lock");
        let mut out = Vec::new();
        for line in lines.iter() {
            writeln!(out, "{line}").expect("write to memory");
        }
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// The checkers' verdict on what was recorded.
    pub fn check(&self) -> Report {
        let jsonl = self.jsonl();
        let (history, _warnings) =
            read_history_from(jsonl.as_bytes(), "test").expect("the recorded history is valid");
        splitbrain_checkers::check(&history)
    }
}

pub fn client(
    endpoint: &str,
    node: &str,
    process: u64,
    cfg: &ClientConfig,
    mode: WriteMode,
) -> AdapterClient {
    AdapterClient::new(endpoint, node, process, cfg, mode)
}

pub fn anomaly_types(report: &Report) -> Vec<&'static str> {
    let mut types: Vec<_> = report.anomalies.iter().map(|a| a.kind.as_str()).collect();
    types.sort();
    types.dedup();
    types
}
