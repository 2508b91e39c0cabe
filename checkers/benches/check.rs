#![allow(
    unsafe_code,
    reason = "a counting global allocator must implement GlobalAlloc"
)]
//! End-to-end cost of `splitbrain check`: parse a history file and run every
//! checker, on generated 1M- and 10M-event histories.
//!
//! Besides criterion's timing (reported per event through `Throughput`), each
//! size is measured once for memory and CPU: a counting global allocator
//! records the peak of live heap bytes while reading and checking, divided by
//! the events, and the process's CPU time shows the cost apart from the load
//! other processes put on the machine.
//!
//! Sizes default to 1M and 10M events; `SPLITBRAIN_BENCH_EVENTS=1000000`
//! (comma-separated) picks others. With `SPLITBRAIN_BENCH_DIR=DIR` the
//! histories are written there and kept (to time `splitbrain check` on them).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use splitbrain_checkers::verdict::Validity;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const KEYS: u64 = 16;
const PROCESSES_PER_KEY: u64 = 4;
const STEP_NS: i64 = 1_000;
const LEASE_NS: i64 = 5_000_000_000;

/// Writes a valid history of about `events` records: 16 locks used at once,
/// each cycling acquire (token, lease) / write (token, value) / release among
/// four processes, a nemesis record every 10,000 records, and one final read
/// per key listing every value written to it. Returns the record count.
fn generate(path: &Path, events: u64) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut index = 0u64;
    let mut time = 0i64;
    let mut step = [0u8; KEYS as usize];
    let mut token = [0u64; KEYS as usize];
    let mut written: Vec<Vec<u64>> = vec![Vec::new(); KEYS as usize];
    let mut next_value = 0u64;
    let reserve = KEYS * 2 + 8;
    'outer: loop {
        for k in 0..KEYS {
            // Only stop between rounds, so no operation is left in flight.
            if index + reserve >= events && step.iter().all(|s| *s == 0) {
                break 'outer;
            }
            if index + reserve >= events && step[k as usize] == 0 {
                continue;
            }
            time += STEP_NS;
            if index % 10_000 == 9_999 {
                let f = if index % 20_000 == 19_999 {
                    "stop-partition"
                } else {
                    "start-partition"
                };
                writeln!(
                    out,
                    r#"{{"index":{index},"time":{time},"process":"nemesis","type":"info","f":"{f}","value":"majority"}}"#
                )?;
                index += 1;
                time += STEP_NS;
            }
            let s = &mut step[k as usize];
            let p = k * PROCESSES_PER_KEY + (token[k as usize] % PROCESSES_PER_KEY);
            let t = token[k as usize];
            match *s {
                0 => writeln!(
                    out,
                    r#"{{"index":{index},"time":{time},"process":{p},"type":"invoke","f":"acquire","key":"lock-{k}"}}"#
                )?,
                1 => writeln!(
                    out,
                    r#"{{"index":{index},"time":{time},"process":{p},"type":"ok","f":"acquire","key":"lock-{k}","token":{},"valid_until":{},"node":"n1"}}"#,
                    t + 1,
                    time + LEASE_NS
                )?,
                2 => writeln!(
                    out,
                    r#"{{"index":{index},"time":{time},"process":{p},"type":"invoke","f":"write","key":"lock-{k}","token":{},"value":{next_value}}}"#,
                    t + 1
                )?,
                3 => {
                    writeln!(
                        out,
                        r#"{{"index":{index},"time":{time},"process":{p},"type":"ok","f":"write","key":"lock-{k}","token":{},"value":{next_value}}}"#,
                        t + 1
                    )?;
                    written[k as usize].push(next_value);
                    next_value += 1;
                }
                4 => writeln!(
                    out,
                    r#"{{"index":{index},"time":{time},"process":{p},"type":"invoke","f":"release","key":"lock-{k}","token":{}}}"#,
                    t + 1
                )?,
                _ => {
                    writeln!(
                        out,
                        r#"{{"index":{index},"time":{time},"process":{p},"type":"ok","f":"release","key":"lock-{k}"}}"#
                    )?;
                    token[k as usize] += 1;
                }
            }
            *s = (*s + 1) % 6;
            index += 1;
        }
    }
    for (k, values) in written.iter().enumerate() {
        let p = 1_000 + k as u64;
        time += STEP_NS;
        writeln!(
            out,
            r#"{{"index":{index},"time":{time},"process":{p},"type":"invoke","f":"read","key":"lock-{k}"}}"#
        )?;
        index += 1;
        time += STEP_NS;
        let list: Vec<String> = values.iter().map(u64::to_string).collect();
        writeln!(
            out,
            r#"{{"index":{index},"time":{time},"process":{p},"type":"ok","f":"read","key":"lock-{k}","value":[{}]}}"#,
            list.join(",")
        )?;
        index += 1;
    }
    out.flush()?;
    Ok(index)
}

/// CPU time of the whole process so far (Linux, in clock ticks of 10 ms):
/// unlike wall time it does not grow when other processes compete for the
/// cores, and it covers the parser threads.
fn process_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

fn read_and_check(path: &Path) -> Validity {
    let (h, _) = splitbrain_checkers::read_history(path).expect("generated history reads");
    splitbrain_checkers::check(&h).valid
}

fn sizes() -> Vec<u64> {
    std::env::var("SPLITBRAIN_BENCH_EVENTS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000_000, 10_000_000])
}

fn bench(c: &mut Criterion) {
    let temp = tempfile::tempdir().expect("temporary directory");
    let kept = std::env::var_os("SPLITBRAIN_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    for requested in sizes() {
        let path = dir.join(format!("history-{requested}.jsonl"));
        let events = generate(&path, requested).expect("history written");
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

        // One pass outside criterion for memory, and to make sure it is valid.
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let started = Instant::now();
        let cpu_started = process_cpu_ns();
        let (h, _) = splitbrain_checkers::read_history(&path).expect("generated history reads");
        let parsed = started.elapsed();
        let held = LIVE.load(Ordering::Relaxed) - before;
        let report = splitbrain_checkers::check(&h);
        let total = started.elapsed();
        let cpu = match (cpu_started, process_cpu_ns()) {
            (Some(a), Some(b)) => format!(
                "CPU {:.2} s = {:.2} M events per CPU-second",
                (b - a) as f64 / 1e9,
                events as f64 / ((b - a) as f64 / 1e9) / 1e6
            ),
            _ => "CPU time unavailable".to_string(),
        };
        let peak = PEAK.load(Ordering::Relaxed) - before;
        assert_eq!(report.valid, Validity::Valid, "{}", report.human_summary());
        drop(h);
        eprintln!(
            "{events} events ({:.0} MB, {:.0} bytes/line): parse {:.2} s, parse+check {:.2} s = {:.2} M events/s wall, \
             {cpu}; history held {:.1} bytes/event, peak heap {:.1} bytes/event",
            bytes as f64 / 1e6,
            bytes as f64 / events as f64,
            parsed.as_secs_f64(),
            total.as_secs_f64(),
            events as f64 / total.as_secs_f64() / 1e6,
            held as f64 / events as f64,
            peak as f64 / events as f64,
        );

        let mut group = c.benchmark_group("check");
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if events > 2_000_000 {
            60
        } else {
            15
        }));
        group.throughput(Throughput::Elements(events));
        group.bench_function(format!("parse+check {events} events"), |b| {
            b.iter(|| black_box(read_and_check(black_box(&path))))
        });
        group.finish();
        if kept.is_none() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
