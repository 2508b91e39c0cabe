//! The report in a real browser: headless Chromium (Debian's `chromium`
//! package) opens `report.html` from a run directory and we read the DOM
//! after the page's script ran, plus a screenshot for people.
//!
//! These tests need `chromium` on PATH (or `SPLITBRAIN_CHROMIUM`); without
//! it they fail, naming the package to install.

mod report_fixture;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use report_fixture::{write_run, Options};

/// Bound on one Chromium invocation.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> String {
    let bin = std::env::var("SPLITBRAIN_CHROMIUM").unwrap_or_else(|_| "chromium".to_string());
    let found = std::process::Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "these tests need headless Chromium: apt-get install chromium (or set SPLITBRAIN_CHROMIUM)"
    );
    bin
}

fn write_report(dir: &Path) -> PathBuf {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("report")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "splitbrain report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("report.html");
    assert!(path.is_file());
    path
}

/// Runs headless Chromium on `url` with `extra` flags; returns stdout and wall time.
async fn run_chromium(extra: &[&str], url: &str) -> (String, Duration) {
    let bin = chromium();
    let profile = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let child = tokio::process::Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(CHROMIUM_TIMEOUT, child.wait_with_output())
        .await
        .expect("chromium did not finish in time")
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), elapsed)
}

fn file_url(path: &Path, fragment: &str) -> String {
    format!(
        "file://{}{fragment}",
        std::fs::canonicalize(path).unwrap().display()
    )
}

/// The value of `data-NAME="..."` on <body> in a dumped DOM.
fn body_attr(dom: &str, name: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let tag = &body[..body.find('>')?];
    let needle = format!("data-{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    Some(tag[start..start + tag[start..].find('"')?].to_string())
}

#[tokio::test]
async fn report_of_a_run_with_an_anomaly_shows_banner_anomaly_and_its_ops_highlighted_on_the_timeline(
) {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &Options::small());
    let report = write_report(dir.path());
    // Kept for people to open.
    std::fs::copy(
        &report,
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-small.html"),
    )
    .unwrap();
    let (dom, _) = run_chromium(&["--dump-dom"], &file_url(&report, "")).await;

    assert!(
        dom.contains(r#"id="banner" class="banner invalid""#),
        "no invalid banner"
    );
    assert!(
        dom.contains("lost-mutual-exclusion"),
        "the anomaly is not named"
    );
    assert!(
        dom.contains(r#"class="anomaly selected""#),
        "the first anomaly is not selected"
    );
    let markers = dom.matches(r#"class="hl-marker""#).count();
    assert!(
        markers >= 2,
        "expected the anomaly's ops highlighted on the timeline, found {markers} markers"
    );
    assert_eq!(
        body_attr(&dom, "highlighted").as_deref(),
        Some(markers.to_string().as_str())
    );
    assert!(
        dom.contains(r#"class="op-row hl""#),
        "the anomaly's op rows are not highlighted"
    );
    assert!(dom.contains("partition"), "the partition is not shown");

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &[&format!("--screenshot={}", shot.display())],
        &file_url(&report, ""),
    )
    .await;
    let png = std::fs::read(&shot).expect("no screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    // A blank 1400x1000 page compresses to a few KB; the report is far busier.
    assert!(
        png.len() > 60_000,
        "screenshot is nearly empty: {} bytes",
        png.len()
    );
    println!("screenshot: {}", shot.display());
}

#[tokio::test]
async fn markup_in_keys_logs_and_config_renders_as_text_and_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_run(
        dir.path(),
        &Options {
            hostile: true,
            ..Options::small()
        },
    );
    let report = write_report(dir.path());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror="));
    assert!(
        !html.contains("<script>document.body"),
        "raw markup from the history reached the page"
    );
    assert!(
        !html.contains("<b>bold</b>"),
        "raw markup from run.json reached the page"
    );

    let (dom, _) = run_chromium(&["--dump-dom"], &file_url(&report, "")).await;
    assert!(
        body_attr(&dom, "pwned").is_none(),
        "markup from the run executed"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "an <img> from a log became an element"
    );
    assert!(
        body_attr(&dom, "ready-ms").is_some(),
        "the page's script did not finish"
    );
    assert!(
        dom.contains("&lt;script&gt;document.body.dataset.pwned=1&lt;/script&gt;"),
        "the key is not shown as text"
    );
}

#[tokio::test]
async fn a_100k_op_report_opens_in_under_3_seconds_and_redraws_quickly() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), &Options::large(100_000));
    let built = Instant::now();
    let report = write_report(dir.path());
    let build_time = built.elapsed();
    // Kept for people to open and profile.
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-100k.html");
    std::fs::copy(&report, &kept).unwrap();
    let size = std::fs::metadata(&report).unwrap().len();
    let (dom, wall) = run_chromium(&["--dump-dom"], &file_url(&report, "#bench")).await;
    let ready_ms: u64 = body_attr(&dom, "ready-ms")
        .expect("the script did not finish")
        .parse()
        .unwrap();
    let parse_ms: u64 = body_attr(&dom, "parse-ms").unwrap().parse().unwrap();
    let mut redraws: Vec<f64> = body_attr(&dom, "redraw-ms")
        .expect("no redraw timing")
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    redraws.sort_by(f64::total_cmp);
    let redraw_median = redraws[redraws.len() / 2];
    let redraw_max = redraws[redraws.len() - 1];
    println!(
        "100k ops: report {:.1} MB built in {:.2} s; page ready {ready_ms} ms after navigation (JSON parse {parse_ms} ms); redraws over a zoom sweep: median {redraw_median} ms, max {redraw_max} ms; chromium wall time incl. startup {:.2} s",
        size as f64 / 1e6,
        build_time.as_secs_f64(),
        wall.as_secs_f64()
    );
    let ops: usize = serde_json::from_slice::<serde_json::Value>(
        &std::fs::read(dir.path().join("results.json")).unwrap(),
    )
    .unwrap()["stats"]["client_ops"]
        .as_u64()
        .unwrap() as usize;
    assert!(ops >= 100_000, "the fixture has only {ops} client ops");
    assert!(ready_ms < 3000, "the report took {ready_ms} ms to open");
    // Zooming and panning redraw on each event. The median is the steady
    // cost; single frames on a loaded machine are left out of the bound.
    assert!(
        redraw_median < 100.0,
        "redraws take {redraw_median} ms (median)"
    );
}
