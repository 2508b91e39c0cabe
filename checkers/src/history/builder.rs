//! Turns records into a [`History`], enforcing the v1 contract as they arrive.

use std::collections::{HashMap, HashSet};

use super::model::{
    FId, FinalRead, History, Instant, KeyId, NemesisRecord, Op, OpRecord, OpType, Outcome, Process,
    DEFAULT_KEY, HAS_TOKEN, HAS_VALID_UNTIL, NO_ELEMENT,
};
use super::problems::{HistoryError, Warning};
use super::value::CompactValue;

/// One record, borrowed from wherever it was parsed.
pub(crate) struct Record<'a> {
    pub index: u64,
    pub time: i64,
    pub process: Process,
    pub kind: OpType,
    pub f: &'a str,
    pub key: Option<&'a str>,
    pub token: Option<u64>,
    pub valid_until: Option<i64>,
    pub value: Option<CompactValue>,
}

#[derive(Default)]
struct KeyState {
    /// Index of the last write completion on this key.
    last_write_completion: Option<u64>,
    final_reads: Vec<FinalRead>,
}

/// Where a retired process's `info` came from, for the error message.
struct Retired {
    index: u64,
    f: FId,
}

#[derive(Default)]
pub(crate) struct Builder {
    h: History,
    key_ids: HashMap<Box<str>, KeyId>,
    other_f_ids: HashMap<Box<str>, FId>,
    key_state: Vec<KeyState>,
    in_flight: HashMap<u64, u32>,
    retired: HashMap<u64, Retired>,
    last: Option<Instant>,
    unknown_client_fs: HashSet<FId>,
    reads_without_list: u64,
}

impl Builder {
    pub fn new() -> Builder {
        let mut b = Builder::default();
        b.h.f_names = FId::KNOWN.iter().map(|s| Box::from(*s)).collect();
        b
    }

    fn intern_key(&mut self, key: &str) -> Result<KeyId, String> {
        if let Some(&id) = self.key_ids.get(key) {
            return Ok(id);
        }
        let id = KeyId::try_from(self.h.keys.len())
            .map_err(|_| "more than 2^32 distinct keys".to_string())?;
        self.h.keys.push(key.into());
        self.key_ids.insert(key.into(), id);
        self.key_state.push(KeyState::default());
        Ok(id)
    }

    fn intern_f(&mut self, f: &str) -> Result<FId, String> {
        if let Some(i) = FId::KNOWN.iter().position(|k| *k == f) {
            // KNOWN has eight entries.
            return Ok(FId(i as u16));
        }
        if let Some(&id) = self.other_f_ids.get(f) {
            return Ok(id);
        }
        let id = u16::try_from(self.h.f_names.len())
            .map(FId)
            .map_err(|_| "more than 65535 distinct `f` names".to_string())?;
        self.h.f_names.push(f.into());
        self.other_f_ids.insert(f.into(), id);
        Ok(id)
    }

    /// Accepts the next record, or says which rule it breaks.
    pub fn push(&mut self, r: Record<'_>) -> Result<(), String> {
        let at = Instant {
            time: r.time,
            index: r.index,
        };
        if let Some(last) = self.last {
            if r.index <= last.index {
                return Err(format!(
                    "index {} does not exceed the previous record's index {}",
                    r.index, last.index
                ));
            }
            if r.time < last.time {
                return Err(format!(
                    "time {} ns is earlier than the previous record's {} ns; \
                     time must not decrease along the history",
                    r.time, last.time
                ));
            }
        }
        self.last = Some(at);
        self.h.events += 1;
        self.h.end = at;
        let f = self.intern_f(r.f)?;
        let process = match r.process {
            Process::Nemesis => {
                self.h.nemesis.push(NemesisRecord {
                    index: r.index,
                    time: r.time,
                    kind: r.kind,
                    f,
                });
                return Ok(());
            }
            Process::Client(p) => p,
        };
        if !f.is_client() {
            self.unknown_client_fs.insert(f);
        }
        match r.kind {
            OpType::Invoke => self.invoke(process, f, r),
            OpType::Ok | OpType::Fail | OpType::Info => self.complete(process, f, r),
        }
    }

    fn invoke(&mut self, process: u64, f: FId, r: Record<'_>) -> Result<(), String> {
        if let Some(ret) = self.retired.get(&process) {
            return Err(format!(
                "p{process} invokes `{}` after its `{}` ended `info` at index {}; a process \
                 whose operation ends `info` must never invoke again (use a new process number)",
                r.f,
                self.h.f_name(ret.f),
                ret.index
            ));
        }
        if let Some(&pos) = self.in_flight.get(&process) {
            let prev = &self.h.ops[pos as usize];
            return Err(format!(
                "p{process} invokes `{}` while its `{}` invoked at index {} is still in flight",
                r.f,
                self.h.f_name(prev.f),
                prev.invoke_index
            ));
        }
        let key = self.intern_key(r.key.unwrap_or(DEFAULT_KEY))?;
        let pos = u32::try_from(self.h.ops.len())
            .map_err(|_| "more than 2^32 client operations".to_string())?;
        let mut op = OpRecord {
            invoke_index: r.index,
            complete_index: u64::MAX,
            invoke_time: r.time,
            complete_time: i64::MAX,
            process,
            token: 0,
            valid_until: 0,
            element: NO_ELEMENT,
            key,
            f,
            outcome: Outcome::Pending,
            flags: 0,
        };
        if let Some(t) = r.token {
            op.token = t;
            op.flags |= HAS_TOKEN;
        }
        if f == FId::WRITE {
            if let Some(CompactValue::One(e)) = r.value {
                op.element = self.push_element(e)?;
            }
        }
        self.h.ops.push(op);
        self.in_flight.insert(process, pos);
        Ok(())
    }

    fn push_element(&mut self, e: super::Element) -> Result<u32, String> {
        let id = u32::try_from(self.h.elements.len())
            .ok()
            .filter(|&i| i != NO_ELEMENT)
            .ok_or_else(|| "more than 2^32 - 1 write values".to_string())?;
        self.h.elements.push(e);
        Ok(id)
    }

    fn complete(&mut self, process: u64, f: FId, r: Record<'_>) -> Result<(), String> {
        let Some(pos) = self.in_flight.remove(&process) else {
            return Err(format!(
                "p{process} completes `{}` ({}) but has no operation in flight",
                r.f,
                kind_name(r.kind)
            ));
        };
        let op = &self.h.ops[pos as usize];
        if op.f != f {
            return Err(format!(
                "p{process} completes `{}` but the operation it invoked at index {} is `{}`",
                r.f,
                op.invoke_index,
                self.h.f_name(op.f)
            ));
        }
        if let Some(k) = r.key {
            if self.h.keys[op.key as usize].as_ref() != k {
                return Err(format!(
                    "p{process} completes `{}` on key {k:?} but invoked it at index {} on key {:?}",
                    r.f,
                    op.invoke_index,
                    self.h.key_name(op.key)
                ));
            }
        }
        let key = op.key;
        let invoke_index = op.invoke_index;
        let outcome = match r.kind {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            // Invoke was routed elsewhere.
            OpType::Info | OpType::Invoke => Outcome::Info,
        };
        let element = match (f, r.value) {
            // A completion usually repeats the invoke's value: store it once.
            (FId::WRITE, Some(CompactValue::One(e))) => match op.element {
                NO_ELEMENT => Some(self.push_element(e)?),
                existing => {
                    self.h.elements[existing as usize] = e;
                    None
                }
            },
            (FId::READ, Some(CompactValue::List(list))) if outcome == Outcome::Ok => {
                let st = &mut self.key_state[key as usize];
                if st.last_write_completion.is_none_or(|w| w < invoke_index) {
                    st.final_reads.push(FinalRead {
                        op: pos,
                        elements: list,
                    });
                }
                None
            }
            (FId::READ, _) if outcome == Outcome::Ok => {
                self.reads_without_list += 1;
                None
            }
            _ => None,
        };
        let op = &mut self.h.ops[pos as usize];
        op.complete_index = r.index;
        op.complete_time = r.time;
        op.outcome = outcome;
        if let Some(t) = r.token {
            op.token = t;
            op.flags |= HAS_TOKEN;
        }
        if let Some(v) = r.valid_until {
            op.valid_until = v;
            op.flags |= HAS_VALID_UNTIL;
        }
        if let Some(e) = element {
            op.element = e;
        }
        if f == FId::WRITE {
            let st = &mut self.key_state[key as usize];
            st.last_write_completion = Some(r.index);
            // Every read recorded so far was invoked before this completion.
            st.final_reads.clear();
        }
        if outcome == Outcome::Info {
            self.retired.insert(process, Retired { index: r.index, f });
        }
        Ok(())
    }

    pub fn finish(mut self) -> (History, Vec<Warning>) {
        let mut warnings = Vec::new();
        let pending = self.in_flight.len();
        if pending > 0 {
            warnings.push(Warning {
                line: None,
                message: format!(
                    "{pending} operation(s) never completed before the history ended; \
                     treated as `info` (may or may not have taken effect)"
                ),
            });
        }
        let mut unknown: Vec<&str> = self
            .unknown_client_fs
            .iter()
            .map(|f| self.h.f_name(*f))
            .collect();
        unknown.sort_unstable();
        if !unknown.is_empty() {
            warnings.push(Warning {
                line: None,
                message: format!(
                    "client operations with unknown `f` ({}) are counted but not checked",
                    unknown.join(", ")
                ),
            });
        }
        if self.reads_without_list > 0 {
            warnings.push(Warning {
                line: None,
                message: format!(
                    "{} `ok` read(s) have no list `value` and cannot serve as a final read",
                    self.reads_without_list
                ),
            });
        }
        for st in self.key_state {
            self.h.final_reads.extend(st.final_reads);
        }
        self.h.final_reads.sort_unstable_by_key(|r| r.op);
        self.h.ops.shrink_to_fit();
        (self.h, warnings)
    }
}

pub(crate) fn kind_name(k: OpType) -> &'static str {
    match k {
        OpType::Invoke => "invoke",
        OpType::Ok => "ok",
        OpType::Fail => "fail",
        OpType::Info => "info",
    }
}

pub(crate) fn from_ops<I: IntoIterator<Item = Op>>(
    ops: I,
) -> Result<(History, Vec<Warning>), HistoryError> {
    let mut b = Builder::new();
    for (i, op) in ops.into_iter().enumerate() {
        let value = match &op.value {
            None => None,
            Some(v) => {
                Some(
                    serde::Deserialize::deserialize(v).map_err(|e| HistoryError::Invalid {
                        origin: "<memory>".into(),
                        line: i as u64 + 1,
                        reason: format!("failed to read `value`: {e}"),
                    })?,
                )
            }
        };
        b.push(Record {
            index: op.index,
            time: op.time,
            process: op.process,
            kind: op.kind,
            f: op.f.as_str(),
            key: op.key.as_deref(),
            token: op.token,
            valid_until: op.valid_until,
            value,
        })
        .map_err(|reason| HistoryError::Invalid {
            origin: "<memory>".into(),
            line: i as u64 + 1,
            reason,
        })?;
    }
    Ok(b.finish())
}

impl History {
    /// Builds a history from records in memory (what a run loop recorded),
    /// enforcing the same contract as [`read_history`]. Errors name the
    /// record's 1-based position as its `line`.
    pub fn from_ops<I: IntoIterator<Item = Op>>(
        ops: I,
    ) -> Result<(History, Vec<Warning>), HistoryError> {
        from_ops(ops)
    }
}

impl TryFrom<Vec<Op>> for History {
    type Error = HistoryError;
    /// Drops warnings; use [`History::from_ops`] to see them.
    fn try_from(ops: Vec<Op>) -> Result<History, HistoryError> {
        History::from_ops(ops).map(|(h, _)| h)
    }
}
