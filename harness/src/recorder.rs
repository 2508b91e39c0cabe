//! The recorder: assigns indices and times and streams each op to
//! `history.jsonl` as it happens.
//!
//! Index assignment, time stamping and the write happen under one lock, so
//! indices and times ascend together and the file is always a prefix of the
//! history: a crash of the controller loses at most the op being written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::Context;
use splitbrain_checkers::history::{Op, OpType, Process, F};
use splitbrain_targets::client::{Completion, HistoryClock, Invocation};

pub struct Recorder {
    clock: HistoryClock,
    state: Mutex<State>,
    counts: Counts,
}

struct State {
    next_index: u64,
    out: BufWriter<File>,
    /// The first write error; later ops are dropped rather than recorded out of order.
    failed: Option<String>,
}

/// Live counters for the progress display.
#[derive(Default)]
pub struct Counts {
    pub completed: AtomicU64,
    pub ok: AtomicU64,
    pub info: AtomicU64,
    pub grants_ok: AtomicU64,
}

impl Recorder {
    pub fn create(path: &Path, clock: HistoryClock) -> anyhow::Result<Recorder> {
        let file = File::create(path)
            .with_context(|| format!("failed to create history file {}", path.display()))?;
        Ok(Recorder {
            clock,
            state: Mutex::new(State {
                next_index: 0,
                out: BufWriter::new(file),
                failed: None,
            }),
            counts: Counts::default(),
        })
    }

    pub fn clock(&self) -> &HistoryClock {
        &self.clock
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Records `op` with the next index and the current time; returns the time.
    fn record(&self, mut op: Op) -> i64 {
        // A poisoned lock means a writer panicked mid-line; keep recording so
        // the run can still tear down, the checker will report the cut line.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        op.index = state.next_index;
        op.time = self.clock.now_ns();
        state.next_index += 1;
        if state.failed.is_none() {
            let written = serde_json::to_writer(&mut state.out, &op)
                .map_err(|e| e.to_string())
                .and_then(|()| state.out.write_all(b"\n").map_err(|e| e.to_string()))
                .and_then(|()| state.out.flush().map_err(|e| e.to_string()));
            if let Err(e) = written {
                tracing::error!("failed to write the history: {e}");
                state.failed = Some(e);
            }
        }
        op.time
    }

    pub fn invoke(&self, process: u64, inv: &Invocation) -> i64 {
        self.record(Op {
            index: 0,
            time: 0,
            process: Process::Client(process),
            kind: OpType::Invoke,
            f: inv.f.clone(),
            key: Some(inv.key.clone()),
            token: inv.token,
            valid_until: None,
            value: inv.value.clone(),
            node: None,
            error: None,
        })
    }

    pub fn complete(&self, process: u64, inv: &Invocation, c: &Completion) -> i64 {
        debug_assert_ne!(c.kind, OpType::Invoke);
        let counts = &self.counts;
        counts.completed.fetch_add(1, Ordering::Relaxed);
        match c.kind {
            OpType::Ok => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                if matches!(inv.f, F::Acquire | F::Campaign) {
                    counts.grants_ok.fetch_add(1, Ordering::Relaxed);
                }
            }
            OpType::Info => {
                counts.info.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.record(Op {
            index: 0,
            time: 0,
            process: Process::Client(process),
            kind: c.kind,
            f: inv.f.clone(),
            key: Some(inv.key.clone()),
            // A write's token is the one it carried; grants report their own.
            token: c.token.or(inv.token),
            valid_until: c.valid_until,
            // A write is identified by the element it carried.
            value: match inv.f {
                F::Write => inv.value.clone(),
                _ => c.value.clone(),
            },
            node: c.node.clone(),
            error: c.error.clone(),
        })
    }

    /// A fault event: always `info`, process `nemesis`.
    pub fn nemesis(&self, f: &str, value: serde_json::Value, error: Option<String>) -> i64 {
        self.record(Op {
            index: 0,
            time: 0,
            process: Process::Nemesis,
            kind: OpType::Info,
            f: F::Other(f.to_string()),
            key: None,
            token: None,
            valid_until: None,
            value: Some(value),
            node: None,
            error,
        })
    }

    /// The first error writing the history, if any: a run whose history is
    /// incomplete must not claim a verdict on it.
    pub fn write_error(&self) -> Option<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed
            .clone()
    }
}
