//! The report's model of a history: client operations as intervals placed in
//! lanes, lock holds and leaderships as bars, nemesis faults as windows.
//!
//! ```text
//! lane 0  p0 |acquire|  [======= hold, token 7 =======)|release|   p4 |acquire ...
//! lane 1  p1      |acquire.....................ok|[== token 8 ==)
//! faults       ░░░░░░░░░ partition ░░░░░░░░░░░
//! ```
//!
//! A process never has two operations in flight, and a process whose
//! operation ended `info` never invokes again (the worker slot continues as a
//! fresh process). So processes that never overlap in time can share a lane:
//! each lane is a sequence of processes, which keeps a long run with many
//! retired processes to about `--concurrency` lanes.
//!
//! The hold model mirrors the checkers' (`docs/history-format.md`, "Holds"):
//! a hold starts at the grant's `ok` and ends at the earliest of the release
//! invoke, the lease bound (extended by `renew` oks) and the end of the
//! history. A grant that ended `info` is an uncertain hold from its invoke to
//! the end. The bars are a picture of that model, not the verdict; the
//! verdict comes from `results.json`.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use splitbrain_checkers::history::{Op, OpType, Process};

use crate::fault::{self, record::FaultRecord};

/// Longest value summary kept per op, in characters.
const VALUE_CHARS: usize = 80;

/// How a client operation ended, as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok = 0,
    Fail = 1,
    Info = 2,
    /// No completion before the history ends: drawn like `info`.
    Pending = 3,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Pending => "pending",
        }
    }
}

/// One client operation: its invocation and completion joined.
#[derive(Debug, Clone)]
pub struct TimedOp {
    pub process: u64,
    pub lane: u32,
    /// Into [`Timeline::fs`].
    pub f: u32,
    /// Into [`Timeline::keys`].
    pub key: u32,
    pub start_ns: i64,
    /// `None` while pending.
    pub end_ns: Option<i64>,
    pub outcome: Outcome,
    pub token: Option<u64>,
    pub invoke_index: u64,
    pub complete_index: Option<u64>,
    pub node: Option<String>,
    pub error: Option<String>,
    /// The completion's value (or the invocation's), shortened.
    pub value: Option<String>,
}

/// A lock hold or a leadership.
#[derive(Debug, Clone)]
pub struct HoldBar {
    /// Position in [`Timeline::ops`] of the grant that opened it.
    pub grant: usize,
    pub lane: u32,
    pub process: u64,
    pub key: u32,
    pub token: Option<u64>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub leadership: bool,
    /// False for a grant that ended `info` or never completed.
    pub certain: bool,
}

/// A fault from its start record to its stop (or heal, or the end).
#[derive(Debug, Clone)]
pub struct NemesisWindow {
    /// `partition`, `kill`, ... (`start-` removed); a lone record keeps its `f`.
    pub label: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Who it hit, from the start record's value.
    pub detail: String,
    /// The start record's error: the fault was refused or failed to apply.
    pub error: Option<String>,
    /// A single record with no window (neither `start-` nor `stop-`).
    pub instant: bool,
    /// Its band row: faults in force together (a `clock+client-pause`
    /// window) get rows of their own so that neither label hides the other.
    /// Instants stay on the first row, as lines across it.
    pub row: usize,
}

impl NemesisWindow {
    /// Appends what the fault's undoing did (a clock heal's restores).
    fn add_detail(&mut self, more: &str) {
        self.detail = shorten(&format!("{}; {more}", self.detail), 2 * VALUE_CHARS);
    }
}

/// A lane: the processes drawn in it, in order.
#[derive(Debug, Clone, Default)]
pub struct Lane {
    pub processes: Vec<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub lanes: Vec<Lane>,
    pub fs: Vec<String>,
    pub keys: Vec<String>,
    /// Client operations ordered by invocation.
    pub ops: Vec<TimedOp>,
    pub holds: Vec<HoldBar>,
    pub windows: Vec<NemesisWindow>,
    /// Time of the last record.
    pub end_ns: i64,
    pub records: u64,
    /// Lines that were not history records, with the first one's problem.
    pub unreadable_lines: u64,
    pub first_unreadable: Option<String>,
}

impl Timeline {
    /// How many band rows the fault windows need (at least one).
    pub fn fault_rows(&self) -> usize {
        self.windows.iter().map(|w| w.row + 1).max().unwrap_or(1)
    }

    /// How many stretches of time had faults in force: faults that shared a
    /// window count once.
    pub fn fault_stretches(&self) -> usize {
        let mut stretches = 0;
        let mut open_until = i64::MIN;
        for w in self.windows.iter().filter(|w| !w.instant) {
            if w.start_ns >= open_until {
                stretches += 1;
            }
            open_until = open_until.max(w.end_ns);
        }
        stretches
    }

    /// Reads a history. Lines that do not parse are counted and skipped:
    /// a report of a damaged history is more useful than none.
    pub fn read(reader: impl BufRead) -> std::io::Result<Timeline> {
        let mut b = Builder::default();
        for (n, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Op>(&line) {
                Ok(op) => b.push(op),
                Err(e) => {
                    b.t.unreadable_lines += 1;
                    if b.t.first_unreadable.is_none() {
                        b.t.first_unreadable = Some(format!("line {}: {e}", n + 1));
                    }
                }
            }
        }
        Ok(b.finish())
    }

    /// The op whose invocation or completion has history index `index`.
    pub fn index_map(&self) -> HashMap<u64, usize> {
        let mut m = HashMap::with_capacity(self.ops.len() * 2);
        for (i, op) in self.ops.iter().enumerate() {
            m.insert(op.invoke_index, i);
            if let Some(c) = op.complete_index {
                m.insert(c, i);
            }
        }
        m
    }
}

#[derive(Default)]
struct Builder {
    t: Timeline,
    f_ids: HashMap<String, u32>,
    key_ids: HashMap<String, u32>,
    /// Process -> position in `t.ops` of its operation in flight.
    in_flight: HashMap<u64, usize>,
    /// Nemesis faults started and not yet stopped: kind -> window position.
    open_faults: BTreeMap<String, usize>,
    /// Position in `t.ops` -> the lease bound its `ok` reported.
    valid_until: HashMap<usize, i64>,
}

impl Builder {
    fn intern(ids: &mut HashMap<String, u32>, names: &mut Vec<String>, s: &str) -> u32 {
        if let Some(&id) = ids.get(s) {
            return id;
        }
        let id = names.len() as u32;
        names.push(s.to_string());
        ids.insert(s.to_string(), id);
        id
    }

    fn push(&mut self, op: Op) {
        self.t.records += 1;
        self.t.end_ns = self.t.end_ns.max(op.time);
        match op.process {
            Process::Nemesis => self.push_nemesis(op),
            Process::Client(p) => self.push_client(p, op),
        }
    }

    fn push_client(&mut self, process: u64, op: Op) {
        let outcome = match op.kind {
            OpType::Invoke => {
                // An invoke while one is in flight breaks the contract; the
                // checker reports it, the picture just leaves the first pending.
                let f = Self::intern(&mut self.f_ids, &mut self.t.fs, op.f.as_str());
                let key = Self::intern(&mut self.key_ids, &mut self.t.keys, op.key());
                self.in_flight.insert(process, self.t.ops.len());
                self.t.ops.push(TimedOp {
                    process,
                    lane: 0,
                    f,
                    key,
                    start_ns: op.time,
                    end_ns: None,
                    outcome: Outcome::Pending,
                    token: op.token,
                    invoke_index: op.index,
                    complete_index: None,
                    node: op.node,
                    error: None,
                    value: op.value.as_ref().map(summarize),
                });
                return;
            }
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            OpType::Info => Outcome::Info,
        };
        let Some(pos) = self.in_flight.remove(&process) else {
            return;
        };
        let t = &mut self.t.ops[pos];
        t.end_ns = Some(op.time);
        t.outcome = outcome;
        t.complete_index = Some(op.index);
        if op.token.is_some() {
            t.token = op.token;
        }
        if op.node.is_some() {
            t.node = op.node;
        }
        t.error = op.error;
        if let Some(v) = &op.value {
            t.value = Some(summarize(v));
        }
        if let (Some(vu), Outcome::Ok) = (op.valid_until, outcome) {
            // Kept on the side for the hold pass.
            self.valid_until.insert(pos, vu);
        }
    }

    fn push_nemesis(&mut self, op: Op) {
        if op.kind == OpType::Invoke {
            // Pairs are drawn from their completion, which says whether it applied.
            return;
        }
        let f = op.f.as_str();
        let kind = f.strip_prefix("start-").unwrap_or(f);
        let detail = op
            .value
            .as_ref()
            .map(|v| describe_fault(kind, v))
            .unwrap_or_default();
        if let Some(kind) = f.strip_prefix("start-") {
            if let Some(pos) = self.open_faults.remove(kind) {
                self.t.windows[pos].end_ns = op.time;
            }
            self.open_faults
                .insert(kind.to_string(), self.t.windows.len());
            self.t.windows.push(NemesisWindow {
                label: kind.to_string(),
                start_ns: op.time,
                end_ns: i64::MAX,
                detail,
                error: op.error,
                instant: false,
                row: 0,
            });
        } else if let Some(kind) = f.strip_prefix("stop-") {
            if let Some(pos) = self.open_faults.remove(kind) {
                self.t.windows[pos].end_ns = op.time;
                if let Some(undone) = op.value.as_ref().and_then(|v| describe_undo(kind, v)) {
                    self.t.windows[pos].add_detail(&undone);
                }
            }
        } else if f == "heal" || f == "heal-all" {
            for (kind, pos) in std::mem::take(&mut self.open_faults) {
                let w = &mut self.t.windows[pos];
                w.end_ns = op.time;
                if let Some(undone) = op.value.as_ref().and_then(|v| describe_undo(&kind, v)) {
                    w.add_detail(&undone);
                }
            }
        } else {
            self.t.windows.push(NemesisWindow {
                label: f.to_string(),
                start_ns: op.time,
                end_ns: op.time,
                detail,
                error: op.error,
                instant: true,
                row: 0,
            });
        }
    }

    fn finish(mut self) -> Timeline {
        let end = self.t.end_ns;
        for w in &mut self.t.windows {
            w.end_ns = w.end_ns.min(end).max(w.start_ns);
        }
        self.assign_fault_rows();
        self.assign_lanes();
        self.t.holds = holds(&self.t, &self.valid_until);
        self.t
    }

    /// Greedy interval packing of fault windows (in start order) into band
    /// rows: a window takes the lowest row whose last window has ended.
    fn assign_fault_rows(&mut self) {
        let mut row_ends: Vec<i64> = Vec::new();
        for w in self.t.windows.iter_mut().filter(|w| !w.instant) {
            w.row = match row_ends.iter().position(|&end| end <= w.start_ns) {
                Some(row) => {
                    row_ends[row] = w.end_ns;
                    row
                }
                None => {
                    row_ends.push(w.end_ns);
                    row_ends.len() - 1
                }
            };
        }
    }

    /// Greedy interval packing of processes into lanes, in order of first
    /// invocation: a process joins the lowest lane whose last process is done.
    fn assign_lanes(&mut self) {
        let end = self.t.end_ns;
        let mut span: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
        for op in &self.t.ops {
            let e = span.entry(op.process).or_insert((op.start_ns, op.start_ns));
            e.0 = e.0.min(op.start_ns);
            e.1 = e.1.max(op.end_ns.unwrap_or(end));
        }
        let mut order: Vec<(u64, i64, i64)> =
            span.into_iter().map(|(p, (s, e))| (p, s, e)).collect();
        order.sort_by_key(|&(p, s, _)| (s, p));
        let mut lane_free_at: Vec<i64> = Vec::new();
        let mut lane_of: HashMap<u64, u32> = HashMap::new();
        for (p, s, e) in order {
            let lane = match lane_free_at.iter().position(|&free| free < s) {
                Some(l) => l,
                None => {
                    lane_free_at.push(i64::MIN);
                    self.t.lanes.push(Lane::default());
                    lane_free_at.len() - 1
                }
            };
            lane_free_at[lane] = e;
            self.t.lanes[lane].processes.push(p);
            lane_of.insert(p, lane as u32);
        }
        for op in &mut self.t.ops {
            op.lane = lane_of.get(&op.process).copied().unwrap_or(0);
        }
    }
}

/// A hold being drawn: where it started and its lease bound so far.
struct OpenHold {
    bar: HoldBar,
    lease_ns: Option<i64>,
}

impl OpenHold {
    fn close(mut self, at_ns: i64) -> HoldBar {
        self.bar.end_ns = match self.lease_ns {
            Some(l) if l < at_ns => l.max(self.bar.start_ns),
            _ => at_ns,
        };
        self.bar
    }
}

fn holds(t: &Timeline, valid_until: &HashMap<usize, i64>) -> Vec<HoldBar> {
    let f_of = |name: &str| t.fs.iter().position(|f| f == name).map(|i| i as u32);
    let (acquire, release, renew) = (f_of("acquire"), f_of("release"), f_of("renew"));
    let (campaign, resign) = (f_of("campaign"), f_of("resign"));
    let mut open: HashMap<(u64, u32), OpenHold> = HashMap::new();
    let mut out = Vec::new();
    for (pos, op) in t.ops.iter().enumerate() {
        let f = Some(op.f);
        let slot = (op.process, op.key);
        if f == acquire || f == campaign {
            match (op.outcome, op.end_ns) {
                (Outcome::Ok, Some(granted)) => {
                    if let Some(prev) = open.remove(&slot) {
                        out.push(prev.close(granted));
                    }
                    open.insert(
                        slot,
                        OpenHold {
                            bar: HoldBar {
                                grant: pos,
                                lane: op.lane,
                                process: op.process,
                                key: op.key,
                                token: op.token,
                                start_ns: granted,
                                end_ns: t.end_ns,
                                leadership: f == campaign,
                                certain: true,
                            },
                            lease_ns: valid_until.get(&pos).copied(),
                        },
                    );
                }
                (Outcome::Info | Outcome::Pending, _) => out.push(HoldBar {
                    grant: pos,
                    lane: op.lane,
                    process: op.process,
                    key: op.key,
                    token: op.token,
                    start_ns: op.start_ns,
                    end_ns: t.end_ns,
                    leadership: f == campaign,
                    certain: false,
                }),
                _ => {}
            }
        } else if f == release || f == resign {
            if let Some(o) = open.remove(&slot) {
                out.push(o.close(op.start_ns));
            }
        } else if f == renew && op.outcome == Outcome::Ok {
            let (Some(renewed), Some(&bound)) = (op.end_ns, valid_until.get(&pos)) else {
                continue;
            };
            let Some(o) = open.get_mut(&slot) else {
                continue;
            };
            match o.lease_ns {
                // The holder's own bound had passed: it knew it held nothing
                // until this renew came back.
                Some(l) if l <= renewed => {
                    let mut bar = o.bar.clone();
                    bar.start_ns = renewed;
                    let old = std::mem::replace(
                        o,
                        OpenHold {
                            bar,
                            lease_ns: Some(bound),
                        },
                    );
                    out.push(old.close(l));
                }
                Some(l) => o.lease_ns = Some(l.max(bound)),
                None => {}
            }
        }
    }
    for (_, o) in open {
        out.push(o.close(t.end_ns));
    }
    out.sort_by_key(|h| (h.lane, h.start_ns));
    out
}

/// A value in one short line for tooltips and op tables.
fn summarize(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) if items.len() > 8 => {
            let head: Vec<String> = items.iter().take(3).map(|i| i.to_string()).collect();
            let last = items.last().map(|i| i.to_string()).unwrap_or_default();
            format!(
                "[{}, ... {} more ..., {last}] ({} elements)",
                head.join(", "),
                items.len() - 4,
                items.len()
            )
        }
        other => other.to_string(),
    };
    shorten(&s, VALUE_CHARS)
}

pub fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Who a fault hit, from its start record's value, as the fault's package
/// describes it; a value no package can read is shown as it is.
fn describe_fault(kind: &str, v: &serde_json::Value) -> String {
    let record = FaultRecord::read(v);
    let text = match fault::entry_named(kind) {
        Some(entry) => entry.package.describe(&record),
        None => fault::describe_targets(&record),
    };
    let text = if !text.is_empty() || v.is_null() {
        text
    } else if v.is_array() {
        names_flat(v)
    } else {
        v.to_string()
    };
    shorten(&text, VALUE_CHARS)
}

/// What undoing a `kind` fault did, from a stop or heal record, when its
/// package has a word for it.
fn describe_undo(kind: &str, v: &serde_json::Value) -> Option<String> {
    let entry = fault::entry_named(kind)?;
    entry.package.describe_undo(&FaultRecord::read(v))
}

fn names_flat(v: &serde_json::Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_fault_is_described_with_the_mechanism_that_reached_each_process() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"fault":"clock","victims":"primaries","clock":{"mode":"rate","rate":2.0},"seed":1,
                "nodes":["n2","n3"],
                "processes":{"n2":[{"pid":31,"mechanism":"vdso-patch","newly_patched":true}]}}"#,
        )
        .unwrap();
        assert_eq!(
            describe_fault("clock", &v),
            "rate 2x on n2 (pid 31 by vdso-patch), n3 (service down: applies on restart)"
        );
        let bump = serde_json::json!({"clock":{"mode":"bump","delta_ms":60000},"nodes":["n1"],
            "processes":{"n1":[{"pid":7,"mechanism":"ld-preload"}]}});
        assert_eq!(
            describe_fault("clock", &bump),
            "+60000 ms on n1 (pid 7 by ld-preload)"
        );
    }

    #[test]
    fn a_clock_windows_detail_says_whether_the_heal_restored_or_kept_the_patch() {
        let t = read(concat!(
            r#"{"index":0,"time":0,"process":"nemesis","type":"info","f":"start-clock","value":{"clock":{"mode":"rate","rate":4.0},"nodes":["n1","n2"],"processes":{"n1":[{"pid":35,"mechanism":"vdso-patch"}],"n2":[{"pid":36,"mechanism":"vdso-patch"}]}}}"#,
            "\n",
            r#"{"index":1,"time":10,"process":"nemesis","type":"info","f":"stop-clock","value":{"fault":"clock","vdso_restored":{"n2":[36]},"vdso_kept":{"n1":[{"pid":35,"monotonic_ahead_ms":14298}]}}}"#,
            "\n",
        ));
        assert_eq!(t.windows.len(), 1);
        assert_eq!(
            t.windows[0].detail,
            "rate 4x on n1 (pid 35 by vdso-patch), n2 (pid 36 by vdso-patch); healed: n2 vDSO \
             restored, n1 kept patched (monotonic 14.3 s ahead)"
        );
        // A heal that undid nothing special leaves the detail alone.
        let plain = read(concat!(
            r#"{"index":0,"time":0,"process":"nemesis","type":"info","f":"start-kill","value":{"nodes":["n1"]}}"#,
            "\n",
            r#"{"index":1,"time":10,"process":"nemesis","type":"info","f":"stop-kill","value":{"fault":"kill"}}"#,
            "\n",
        ));
        assert_eq!(plain.windows[0].detail, "n1");
    }

    fn read(jsonl: &str) -> Timeline {
        Timeline::read(jsonl.as_bytes()).unwrap()
    }

    #[test]
    fn a_hold_runs_from_the_grant_to_the_release_invoke_or_the_lease_bound() {
        let t = read(concat!(
            r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"acquire","key":"k"}"#,
            "\n",
            r#"{"index":1,"time":10,"process":1,"type":"ok","f":"acquire","key":"k","token":7,"valid_until":50}"#,
            "\n",
            r#"{"index":2,"time":20,"process":2,"type":"invoke","f":"acquire","key":"k"}"#,
            "\n",
            r#"{"index":3,"time":60,"process":2,"type":"ok","f":"acquire","key":"k","token":8}"#,
            "\n",
            r#"{"index":4,"time":70,"process":1,"type":"invoke","f":"release","key":"k","token":7}"#,
            "\n",
            r#"{"index":5,"time":80,"process":2,"type":"invoke","f":"release","key":"k","token":8}"#,
            "\n",
            r#"{"index":6,"time":90,"process":2,"type":"ok","f":"release","key":"k"}"#,
            "\n",
        ));
        let spans: Vec<(u64, i64, i64, Option<u64>)> = t
            .holds
            .iter()
            .map(|h| (h.process, h.start_ns, h.end_ns, h.token))
            .collect();
        assert!(spans.contains(&(1, 10, 50, Some(7))), "{spans:?}");
        assert!(spans.contains(&(2, 60, 80, Some(8))), "{spans:?}");
        assert_eq!(
            t.ops[2].outcome,
            Outcome::Pending,
            "p1's release never completed"
        );
    }

    #[test]
    fn processes_that_never_overlap_share_a_lane() {
        let t = read(concat!(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"acquire","key":"k"}"#,
            "\n",
            r#"{"index":1,"time":10,"process":1,"type":"invoke","f":"acquire","key":"k"}"#,
            "\n",
            r#"{"index":2,"time":20,"process":0,"type":"info","f":"acquire","key":"k","error":"timeout"}"#,
            "\n",
            r#"{"index":3,"time":30,"process":2,"type":"invoke","f":"acquire","key":"k"}"#,
            "\n",
            r#"{"index":4,"time":40,"process":2,"type":"fail","f":"acquire","key":"k"}"#,
            "\n",
            r#"{"index":5,"time":50,"process":1,"type":"ok","f":"acquire","key":"k","token":3}"#,
            "\n",
        ));
        assert_eq!(t.lanes.len(), 2);
        assert_eq!(t.lanes[0].processes, vec![0, 2]);
        assert_eq!(t.lanes[1].processes, vec![1]);
        let uncertain = t.holds.iter().find(|h| h.process == 0).unwrap();
        assert!(!uncertain.certain);
        assert_eq!((uncertain.start_ns, uncertain.end_ns), (0, 50));
    }

    #[test]
    fn nemesis_windows_close_at_their_stop_or_heal_and_name_who_they_hit() {
        let t = read(concat!(
            r#"{"index":0,"time":5,"process":"nemesis","type":"info","f":"start-partition","value":{"sides":[["n1"],["n2","n3"]]}}"#,
            "\n",
            r#"{"index":1,"time":9,"process":"nemesis","type":"info","f":"stop-partition","value":{"fault":"partition"}}"#,
            "\n",
            r#"{"index":2,"time":12,"process":"nemesis","type":"info","f":"start-kill","value":{"nodes":["n2"]}}"#,
            "\n",
            r#"{"index":3,"time":20,"process":"nemesis","type":"info","f":"heal"}"#,
            "\n",
            r#"{"index":4,"time":30,"process":"nemesis","type":"info","f":"start-pause","error":"refused"}"#,
            "\n",
            "this line is not json\n",
        ));
        let w: Vec<(&str, i64, i64, &str)> = t
            .windows
            .iter()
            .map(|w| (w.label.as_str(), w.start_ns, w.end_ns, w.detail.as_str()))
            .collect();
        assert_eq!(w[0], ("partition", 5, 9, "[n1] [n2 n3]"));
        assert_eq!(w[1], ("kill", 12, 20, "n2"));
        assert_eq!(w[2].0, "pause");
        assert_eq!(t.windows[2].error.as_deref(), Some("refused"));
        assert_eq!(t.unreadable_lines, 1);
    }

    #[test]
    fn faults_in_force_together_get_band_rows_of_their_own_and_count_as_one_stretch() {
        let t = read(concat!(
            r#"{"index":0,"time":0,"process":"nemesis","type":"info","f":"start-clock","value":{"nodes":["n1"]}}"#,
            "\n",
            r#"{"index":1,"time":2,"process":"nemesis","type":"info","f":"start-client-pause","value":{"process":3}}"#,
            "\n",
            r#"{"index":2,"time":8,"process":"nemesis","type":"info","f":"stop-client-pause","value":{"fault":"client-pause"}}"#,
            "\n",
            r#"{"index":3,"time":10,"process":"nemesis","type":"info","f":"stop-clock","value":{"fault":"clock"}}"#,
            "\n",
            r#"{"index":4,"time":20,"process":"nemesis","type":"info","f":"start-kill","value":{"nodes":["n2"]}}"#,
            "\n",
            r#"{"index":5,"time":30,"process":"nemesis","type":"info","f":"stop-kill","value":{"fault":"kill"}}"#,
            "\n",
            r#"{"index":6,"time":40,"process":"nemesis","type":"info","f":"heal"}"#,
            "\n",
        ));
        let rows: Vec<(&str, usize)> = t
            .windows
            .iter()
            .map(|w| (w.label.as_str(), w.row))
            .collect();
        assert_eq!(rows, [("clock", 0), ("client-pause", 1), ("kill", 0)]);
        assert_eq!(t.fault_rows(), 2);
        assert_eq!(t.fault_stretches(), 2);
        let one_at_a_time = read(concat!(
            r#"{"index":0,"time":0,"process":"nemesis","type":"info","f":"start-kill","value":{"nodes":["n2"]}}"#,
            "\n",
            r#"{"index":1,"time":10,"process":"nemesis","type":"info","f":"stop-kill","value":{"fault":"kill"}}"#,
            "\n",
            r#"{"index":2,"time":10,"process":"nemesis","type":"info","f":"start-pause","value":{"nodes":["n2"]}}"#,
            "\n",
        ));
        assert_eq!(one_at_a_time.fault_rows(), 1);
        assert_eq!(one_at_a_time.fault_stretches(), 2);
    }
}
