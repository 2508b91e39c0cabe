//! `splitbrain report <RUN_DIR>` and `splitbrain serve`.
//!
//! `report` rebuilds a run's `report.html` from its stored files (see
//! [`crate::report`]). `serve` is a small results browser: an index of the
//! runs under the results directory, newest first and coloured by verdict,
//! linking each report and its raw files.
//!
//! `serve` binds to loopback unless told otherwise and serves nothing outside
//! the results directory: a request path is percent-decoded, refused if any
//! segment is `..`, if it is absolute or holds a backslash or NUL, and then
//! resolved with symlinks followed and refused unless it still lies inside the
//! canonical results directory (so a `latest` link works, a link to `/etc`
//! does not). Only `report.html` is served as HTML; every other file is
//! `text/plain` or JSON with `nosniff`, so a log line holding markup is never
//! rendered.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use splitbrain_checkers::verdict::Validity;
use splitbrain_records::{ResultsHeadline, RunHeadline};

use crate::exit::CommandError;
use crate::report::{self, REPORT_FILE};
use crate::store;

/// Largest file `serve` sends; a bigger history is better read from disk.
const MAX_SERVED_BYTES: u64 = 512 * 1024 * 1024;
/// Bound on handling one request (listing a directory, reading a file).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Runs listed on the index page.
const MAX_INDEXED_RUNS: usize = 2000;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Run directory holding run.json, history.jsonl and results.json.
    pub run_dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; keep it on loopback unless the results are public.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub bind: SocketAddr,
    /// Results directory to serve.
    #[arg(long = "results", default_value = "results", value_name = "DIR")]
    pub results_dir: PathBuf,
}

pub async fn execute(args: ReportArgs) -> Result<ExitCode, CommandError> {
    if !args.run_dir.is_dir() {
        return Err(CommandError::BadInput(anyhow!(
            "failed to find run directory {}",
            args.run_dir.display()
        )));
    }
    let dir = args.run_dir.clone();
    // Reading a large history is CPU-bound: keep it off the async workers.
    let path = tokio::task::spawn_blocking(move || report::write_report(&dir))
        .await
        .map_err(|e| CommandError::Internal(anyhow!("failed to build the report: {e}")))??;
    println!("report: {}", path.display());
    Ok(ExitCode::SUCCESS)
}

struct Served {
    /// Canonical results directory: every served path must lie under it.
    root: PathBuf,
}

pub async fn serve(args: ServeArgs) -> Result<ExitCode, CommandError> {
    let root = std::fs::canonicalize(&args.results_dir)
        .with_context(|| {
            format!(
                "failed to open results directory {}",
                args.results_dir.display()
            )
        })
        .map_err(CommandError::BadInput)?;
    if !root.is_dir() {
        return Err(CommandError::BadInput(anyhow!(
            "{} is not a directory",
            root.display()
        )));
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("failed to listen on {}", args.bind))
        .map_err(CommandError::BadInput)?;
    let addr = listener
        .local_addr()
        .context("failed to read the bound address")?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: serving {} on {addr}, which is not loopback",
            root.display()
        );
    }
    println!("serving {} on http://{addr}/", root.display());
    let state = Arc::new(Served { root });
    let app = Router::new()
        .route("/", get(index))
        .route("/{*path}", get(file))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("failed to serve")?;
    Ok(ExitCode::SUCCESS)
}

/// Why a request path is not served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `..`, an absolute path, a backslash or NUL: 400.
    Unsafe,
    /// Resolves (through a symlink) outside the results directory: 403.
    Outside,
    NotFound,
}

/// Resolves a percent-decoded request path against the canonical `root`.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, Refusal> {
    if rel.starts_with('/') || rel.contains('\\') || rel.contains('\0') {
        return Err(Refusal::Unsafe);
    }
    let mut path = root.to_path_buf();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(Refusal::Unsafe),
            s => path.push(s),
        }
    }
    let real = std::fs::canonicalize(&path).map_err(|_| Refusal::NotFound)?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(Refusal::Outside)
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{INDEX_CSS}</style></head><body><h1>{}</h1>{body}</body></html>",
        report::escape(title),
        report::escape(title)
    )
}

const INDEX_CSS: &str = "body{font:14px/1.5 system-ui,sans-serif;margin:20px 28px;color:#0f172a}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #e2e8f0;text-align:left}th{background:#f1f5f9}.v{font-weight:700;padding:2px 8px;border-radius:4px;color:#fff}.v.valid{background:#15803d}.v.invalid{background:#b91c1c}.v.unknown{background:#a16207}.v.none{background:#64748b}tr.invalid td:first-child{border-left:4px solid #b91c1c}tr.valid td:first-child{border-left:4px solid #15803d}tr.unknown td:first-child{border-left:4px solid #a16207}a{color:#1d4ed8}code{font-size:13px}";

fn html_response(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Inline script and style only: a report can fetch nothing, so even a
    // hole in its escaping could not send data anywhere.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"),
    );
    r
}

fn refusal_response(r: Refusal) -> Response {
    let (status, msg) = match r {
        Refusal::Unsafe => (
            StatusCode::BAD_REQUEST,
            "refused: the path must be relative to the results directory, without `..`",
        ),
        Refusal::Outside => (
            StatusCode::FORBIDDEN,
            "refused: the path leads outside the results directory",
        ),
        Refusal::NotFound => (StatusCode::NOT_FOUND, "not found"),
    };
    let mut resp = (status, msg).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn index(State(s): State<Arc<Served>>) -> Response {
    let root = s.root.clone();
    let listed = tokio::time::timeout(
        REQUEST_TIMEOUT,
        tokio::task::spawn_blocking(move || index_page(&root)),
    )
    .await;
    match listed {
        Ok(Ok(body)) => html_response(StatusCode::OK, body),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "failed to list the runs").into_response(),
    }
}

async fn file(
    State(s): State<Arc<Served>>,
    axum::extract::Path(rel): axum::extract::Path<String>,
) -> Response {
    let root = s.root.clone();
    let work = tokio::task::spawn_blocking(move || serve_path(&root, &rel));
    match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
        Ok(Ok(resp)) => resp,
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to read the file in time",
        )
            .into_response(),
    }
}

fn serve_path(root: &Path, rel: &str) -> Response {
    let path = match resolve(root, rel) {
        Ok(p) => p,
        Err(r) => return refusal_response(r),
    };
    if path.is_dir() {
        return html_response(StatusCode::OK, dir_page(root, &path));
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_SERVED_BYTES {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "file too large to serve; read it from disk",
        )
            .into_response();
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(_) => return refusal_response(Refusal::NotFound),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == REPORT_FILE {
        return html_response(StatusCode::OK, String::from_utf8_lossy(&bytes).into_owned());
    }
    let kind = if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".png") {
        "image/png"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Percent-encodes a relative path for an `href`, keeping `/`.
fn href(rel: &str) -> String {
    let mut out = String::new();
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn dir_page(root: &Path, dir: &Path) -> String {
    let rel = dir
        .strip_prefix(root)
        .unwrap_or(Path::new(""))
        .to_string_lossy()
        .into_owned();
    let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)
        .map(|es| {
            es.flatten()
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        e.path().is_dir(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut body = String::from("<p><a href=\"/\">all runs</a></p><ul>");
    for (name, is_dir) in names {
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let _ = write!(
            body,
            "<li><a href=\"/{}{}\">{}{}</a></li>",
            report::escape(&href(&path)),
            if is_dir { "/" } else { "" },
            report::escape(&name),
            if is_dir { "/" } else { "" }
        );
    }
    body.push_str("</ul>");
    page(&format!("results/{rel}"), &body)
}

/// One run found under the results directory.
struct RunEntry {
    rel: String,
    name: String,
    /// `None`: no results.json that says.
    verdict: Option<Validity>,
    anomalies: Option<u64>,
    target: String,
    seed: String,
    has_report: bool,
}

fn is_run(dir: &Path) -> bool {
    dir.join(store::RUN_FILE).is_file() || dir.join(store::HISTORY_FILE).is_file()
}

fn real_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|es| {
            es.flatten()
                // `latest` links would list a run twice.
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

fn find_runs(root: &Path) -> Vec<RunEntry> {
    let mut dirs = Vec::new();
    for d in real_dirs(root) {
        if is_run(&d) {
            dirs.push(d);
        } else {
            dirs.extend(real_dirs(&d).into_iter().filter(|r| is_run(r)));
        }
    }
    let mut runs: Vec<RunEntry> = dirs
        .into_iter()
        .map(|d| {
            // A listing shows any run, however old or partial its records.
            let results: Option<ResultsHeadline> =
                splitbrain_records::read(&d.join(store::RESULTS_FILE)).ok();
            let run: RunHeadline =
                splitbrain_records::read(&d.join(store::RUN_FILE)).unwrap_or_default();
            RunEntry {
                rel: d
                    .strip_prefix(root)
                    .unwrap_or(&d)
                    .to_string_lossy()
                    .into_owned(),
                name: d
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                verdict: results.map(|r| r.valid),
                anomalies: results.and_then(|r| r.anomaly_count),
                target: run.target.map(|t| t.name).unwrap_or_default(),
                seed: run.seed.map(|s| s.to_string()).unwrap_or_default(),
                has_report: d.join(REPORT_FILE).is_file(),
            }
        })
        .collect();
    // Run directories are named by their UTC start time: newest first.
    runs.sort_by(|a, b| b.name.cmp(&a.name).then_with(|| a.rel.cmp(&b.rel)));
    runs.truncate(MAX_INDEXED_RUNS);
    runs
}

fn index_page(root: &Path) -> String {
    let runs = find_runs(root);
    let mut body = String::new();
    if runs.is_empty() {
        body.push_str("<p>No runs yet.</p>");
    } else {
        body.push_str("<table><thead><tr><th>run</th><th>verdict</th><th>target</th><th>seed</th><th>report</th><th>raw files</th></tr></thead><tbody>");
    }
    for r in &runs {
        let base = href(&r.rel);
        let (class, verdict) = match r.verdict {
            Some(Validity::Valid) => ("valid", "valid".to_string()),
            Some(Validity::Invalid) => (
                "invalid",
                match r.anomalies {
                    Some(1) => "INVALID (1 anomaly)".to_string(),
                    Some(n) => format!("INVALID ({n} anomalies)"),
                    None => "INVALID".to_string(),
                },
            ),
            Some(Validity::Unknown) => ("unknown", "unknown".to_string()),
            None => ("none", "no results".to_string()),
        };
        let report_link = if r.has_report {
            format!(
                "<a href=\"/{}/{REPORT_FILE}\">report</a>",
                report::escape(&base)
            )
        } else {
            "no report (run <code>splitbrain report</code>)".to_string()
        };
        let raw: Vec<String> = [
            store::RUN_FILE,
            store::HISTORY_FILE,
            store::RESULTS_FILE,
            store::HARNESS_LOG,
            store::NODES_DIR,
        ]
        .iter()
        .filter(|f| root.join(&r.rel).join(f).exists())
        .map(|f| format!("<a href=\"/{}/{f}\">{f}</a>", report::escape(&base)))
        .collect();
        let _ = write!(
            body,
            "<tr class=\"run {}\"><td><code>{}</code></td><td><span class=\"v {}\">{}</span></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            class,
            report::escape(&r.rel),
            class,
            report::escape(&verdict),
            report::escape(&r.target),
            report::escape(&r.seed),
            report_link,
            raw.join(" · ")
        );
    }
    if !runs.is_empty() {
        body.push_str("</tbody></table>");
    }
    page("splitbrain runs", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_refuses_dot_dot_absolute_and_links_out_of_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("etcd-lock/r1")).unwrap();
        std::fs::write(root.join("etcd-lock/r1/run.json"), "{}").unwrap();
        std::os::unix::fs::symlink("r1", root.join("etcd-lock/latest")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("escape")).unwrap();
        assert_eq!(
            resolve(&root, "etcd-lock/latest/run.json"),
            Ok(root.join("etcd-lock/r1/run.json"))
        );
        assert_eq!(
            resolve(&root, "etcd-lock/../../etc/passwd"),
            Err(Refusal::Unsafe)
        );
        assert_eq!(resolve(&root, "/etc/passwd"), Err(Refusal::Unsafe));
        assert_eq!(resolve(&root, "escape/passwd"), Err(Refusal::Outside));
        assert_eq!(resolve(&root, "nope"), Err(Refusal::NotFound));
    }
}
