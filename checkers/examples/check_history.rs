//! `splitbrain check` without the CLI around it: read a history, run every
//! checker, write results.json, print the summary. It needs only this crate,
//! so its release build is quick; `/usr/bin/time -v` on it gives the end-to-end
//! wall time, CPU time and peak RSS per event.
//!
//! ```text
//! cargo run --release -p splitbrain-checkers --example check_history -- HISTORY [RESULTS_JSON]
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(history) = args.next() else {
        eprintln!("usage: check_history HISTORY [RESULTS_JSON]");
        return ExitCode::from(254);
    };
    let (h, warnings) = match splitbrain_checkers::read_history(&history) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(254);
        }
    };
    let mut report = splitbrain_checkers::check(&h);
    report.warnings = warnings.iter().map(ToString::to_string).collect();
    if let Some(out) = args.next() {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(&out, json).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("error: failed to write results: {e}");
            return ExitCode::from(255);
        }
    }
    print!("{}", report.human_summary());
    ExitCode::from(match report.valid {
        splitbrain_checkers::verdict::Validity::Valid => 0,
        splitbrain_checkers::verdict::Validity::Invalid => 1,
        splitbrain_checkers::verdict::Validity::Unknown => 2,
    })
}
