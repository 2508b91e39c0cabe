//! `splitbrain serve` over real HTTP on loopback: the index lists runs
//! newest first with their verdicts, reports and raw files are served, and
//! nothing outside the results directory is: not through `..` (plain or
//! percent-encoded), not through an absolute path, not through a symlink.
//!
//! Requests are written by hand on a TCP socket so that no client library
//! normalizes `..` away before the server sees it.

mod report_fixture;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use report_fixture::{write_run, Options};

/// Bound on each socket operation and on the server's start.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(results: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["serve", "--bind", "127.0.0.1:0", "--results"])
        .arg(results)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The first line names the bound address: "serving DIR on http://ADDR/".
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(IO_TIMEOUT)
        .expect("serve printed no address");
    let url = line.trim().rsplit(' ').next().unwrap();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    Server { child, addr }
}

/// Sends `GET <target>` exactly as given; returns the status code and body.
fn get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn header(addr: SocketAddr, target: &str, name: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_string();
    head.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l.split_once(':').unwrap().1.trim().to_string())
}

/// A results directory with two runs of one family, a `latest` link, a
/// secret next to it (outside) and a symlink pointing at the secret.
fn results_tree() -> (tempfile::TempDir, std::path::PathBuf) {
    let top = tempfile::tempdir().unwrap();
    std::fs::write(top.path().join("secret.txt"), "TOP SECRET 4711").unwrap();
    let results = top.path().join("results");
    let older = results.join("etcd-lock/20261126T090000Z");
    let newer = results.join("etcd-lock/20261126T101500Z");
    std::fs::create_dir_all(&older).unwrap();
    std::fs::create_dir_all(&newer).unwrap();
    write_run(&newer, &Options::small());
    std::fs::write(
        older.join("run.json"),
        r#"{"seed": 3, "target": {"name": "etcd"}}"#,
    )
    .unwrap();
    std::fs::write(
        older.join("results.json"),
        r#"{"valid": true, "anomaly_count": 0}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("report")
        .arg(&newer)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::os::unix::fs::symlink("20261126T101500Z", results.join("etcd-lock/latest")).unwrap();
    std::os::unix::fs::symlink(top.path().join("secret.txt"), newer.join("leak.txt")).unwrap();
    (top, results)
}

#[test]
fn index_lists_runs_newest_first_with_verdicts_and_links_reports_and_raw_files() {
    let (_top, results) = results_tree();
    let server = start(&results);
    let (status, index) = get(server.addr, "/");
    assert_eq!(status, 200);
    let newer = index
        .find("etcd-lock/20261126T101500Z")
        .expect("newer run not listed");
    let older = index
        .find("etcd-lock/20261126T090000Z")
        .expect("older run not listed");
    assert!(newer < older, "runs are not newest first");
    assert!(index.contains(r#"class="run invalid""#) && index.contains(r#"class="run valid""#));
    assert!(index.contains(r#"href="/etcd-lock/20261126T101500Z/report.html""#));
    assert!(index.contains(r#"href="/etcd-lock/20261126T101500Z/history.jsonl""#));
    assert_eq!(
        index.matches("20261126T101500Z/report.html").count(),
        1,
        "the latest link listed the run twice"
    );

    let (status, report) = get(server.addr, "/etcd-lock/latest/report.html");
    assert_eq!(status, 200);
    assert!(report.contains(r#"id="banner""#));
    assert!(
        header(server.addr, "/etcd-lock/latest/report.html", "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let (status, history) = get(server.addr, "/etcd-lock/20261126T101500Z/history.jsonl");
    assert_eq!(status, 200);
    assert!(history.starts_with(r#"{"#));
    // Logs are text, never HTML, whatever they hold.
    assert!(header(
        server.addr,
        "/etcd-lock/20261126T101500Z/nodes/n1/service.log",
        "content-type"
    )
    .unwrap()
    .starts_with("text/plain"));
}

#[test]
fn serve_refuses_dot_dot_absolute_paths_and_symlinks_leading_outside_the_results_directory() {
    let (_top, results) = results_tree();
    let server = start(&results);
    for target in [
        "/../secret.txt",
        "/etcd-lock/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/etcd-lock/%2E%2E/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "//etc/passwd",
        "/%2Fetc%2Fpasswd",
        "/etcd-lock/..%5C..%5Csecret.txt",
    ] {
        let (status, body) = get(server.addr, target);
        assert!(
            (400..500).contains(&status),
            "{target} was answered {status}: {body}"
        );
        assert!(
            !body.contains("TOP SECRET") && !body.contains("root:"),
            "{target} leaked: {body}"
        );
    }
    let (status, body) = get(server.addr, "/etcd-lock/20261126T101500Z/leak.txt");
    assert_eq!(
        status, 403,
        "a symlink out of the results directory was followed: {body}"
    );
    assert!(!body.contains("TOP SECRET"));
}
