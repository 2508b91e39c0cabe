//! The live progress line of a run: ops/s, the faults in force, time left.
//!
//! indicatif hides itself when stderr is not a terminal (CI logs), so there a
//! line is logged every ten seconds instead.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::recorder::Recorder;

pub struct Progress {
    bar: ProgressBar,
    faults: Arc<Mutex<String>>,
    ticker: JoinHandle<()>,
}

impl Progress {
    pub fn start(total: Duration, recorder: Arc<Recorder>) -> Progress {
        let bar = ProgressBar::new(total.as_secs().max(1));
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} s  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let faults = Arc::new(Mutex::new(String::from("no faults")));
        let ticker = {
            let bar = bar.clone();
            let faults = faults.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let mut last_count = 0u64;
                let mut last_log = Instant::now();
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let counts = recorder.counts();
                    let done = counts.completed.load(Ordering::Relaxed);
                    let rate = done - last_count;
                    last_count = done;
                    let faults = faults.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let elapsed = started.elapsed().as_secs();
                    let left = total.as_secs().saturating_sub(elapsed);
                    let msg = format!(
                        "{rate} ops/s  {done} ops ({} ok, {} info)  {faults}  {left} s left",
                        counts.ok.load(Ordering::Relaxed),
                        counts.info.load(Ordering::Relaxed)
                    );
                    bar.set_position(elapsed.min(total.as_secs()));
                    bar.set_message(msg.clone());
                    if bar.is_hidden() && last_log.elapsed() >= Duration::from_secs(10) {
                        eprintln!("progress: {elapsed} s  {msg}");
                        last_log = Instant::now();
                    }
                }
            })
        };
        Progress {
            bar,
            faults,
            ticker,
        }
    }

    pub fn set_faults(&self, description: String) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = description;
    }

    pub fn finish(&self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}
