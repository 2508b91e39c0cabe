//! `report.html`: one self-contained page per run that shows what broke,
//! when, under which fault, and the operations that prove it.
//!
//! The page is built from the run directory's stored files only (`run.json`,
//! `history.jsonl`, `results.json`, `harness.log`, `nodes/<node>/*`), so
//! `splitbrain report <RUN_DIR>` can rebuild it at any time. Nothing is
//! fetched: styles, script and charts are inline, so the file works offline
//! and as a CI artifact.
//!
//! Scale: the timeline's operations travel as compact column arrays in a JSON
//! block and a small script draws only the visible time window on a canvas,
//! merging operations that fall on the same pixel; the latency and
//! throughput charts are aggregated into a few SVG paths when written. A
//! 100,000-operation history opens in well under the 3 s budget (measured
//! by `tests/report_browser.rs`).
//!
//! Every string from a history, a log or the config is escaped
//! ([`html::escape`]) or passed to the script as JSON that cannot close its
//! `<script>` element ([`html::json_for_script`]); the script only ever
//! inserts text with `textContent`.

mod charts;
mod html;
mod inputs;
mod page;
mod timeline;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use html::escape;

/// The report's file name inside a run directory.
pub const REPORT_FILE: &str = "report.html";

/// Writes `<run_dir>/report.html` from the run's stored files and returns its
/// path. Missing or damaged inputs are shown as notes on the page rather than
/// failing: a partial report of a crashed run is still worth reading. Fails
/// only if the run directory does not exist or the page cannot be written.
pub fn write_report(run_dir: &Path) -> anyhow::Result<PathBuf> {
    if !run_dir.is_dir() {
        anyhow::bail!("failed to find run directory {}", run_dir.display());
    }
    let inputs = inputs::load(run_dir);
    let page = page::render(&inputs);
    let target = run_dir.join(REPORT_FILE);
    let tmp = run_dir.join(format!(".{REPORT_FILE}.tmp"));
    std::fs::write(&tmp, page).with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("failed to write {}", target.display()))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    const OVERLAP: &str = concat!(
        r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"acquire","key":"k"}"#,
        "\n",
        r#"{"index":1,"time":1000000,"process":1,"type":"ok","f":"acquire","key":"k","token":7}"#,
        "\n",
        r#"{"index":2,"time":2000000,"process":2,"type":"invoke","f":"acquire","key":"k"}"#,
        "\n",
        r#"{"index":3,"time":3000000,"process":2,"type":"ok","f":"acquire","key":"k","token":8}"#,
        "\n",
    );

    #[test]
    fn without_results_json_the_verdict_is_computed_from_the_history_and_the_page_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(store::HISTORY_FILE), OVERLAP).unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(page.contains(r#"class="banner invalid""#));
        assert!(page.contains("computed from the history"));
        assert!(page.contains("failed to read run.json"));
    }

    #[test]
    fn a_damaged_history_is_drawn_as_far_as_it_reads_and_its_verdict_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let history = format!("{OVERLAP}not a record\n");
        std::fs::write(dir.path().join(store::HISTORY_FILE), history).unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(page.contains(r#"class="banner unknown""#));
        assert!(page.contains("1 lines of history.jsonl are not history records"));
        assert!(page.contains("failed to check history.jsonl"));
        assert!(
            page.contains("2 ops over"),
            "the readable ops are still drawn"
        );
    }

    #[test]
    fn an_empty_run_directory_still_gets_a_page_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(page.contains(r#"class="banner unknown""#));
        assert!(page.contains("no verdict"));
        assert!(write_report(&dir.path().join("missing")).is_err());
    }

    /// A run.json and results.json as today's run writes them (the records
    /// crate's round-trip fixtures).
    const RUN_JSON: &str = include_str!("../../../records/tests/fixtures/run.json");
    const RESULTS_JSON: &str = include_str!("../../../records/tests/fixtures/results.json");

    #[test]
    fn the_page_reads_the_run_and_results_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(store::HISTORY_FILE), OVERLAP).unwrap();
        std::fs::write(dir.path().join(store::RUN_FILE), RUN_JSON).unwrap();
        std::fs::write(dir.path().join(store::RESULTS_FILE), RESULTS_JSON).unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(!page.contains("failed to"), "a record did not read");
        for fact in [
            "run <code>etcd-20261126t101500z-a1b2c3</code>",
            "target etcd 3.5.17",
            "workload fenced",
            "seed <code>11</code>",
            "n2 (172.28.0.12)",
            "vdso-patch",
            "liveness: the final read failed for k1",
            "final read missing for [&quot;k1&quot;]",
        ] {
            assert!(page.contains(fact), "{fact}");
        }
    }

    #[test]
    fn a_run_json_this_harness_cannot_understand_is_still_shown() {
        let dir = tempfile::tempdir().unwrap();
        let odd = r#"{"seed": "eleven", "image": "from-elsewhere:1"}"#;
        std::fs::write(dir.path().join(store::RUN_FILE), odd).unwrap();
        let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
        assert!(page.contains("failed to understand run.json"));
        assert!(
            page.contains("from-elsewhere:1"),
            "the stored copy is shown"
        );
    }
}
