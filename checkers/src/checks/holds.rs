//! Hold intervals: when a process believed it held a lock or led an election.
//!
//! A hold starts at the grant's `ok` and ends at the earliest of the holder's
//! release invoke, its lease bound (`valid_until`, extended by `renew` oks),
//! and the end of the history. A renew that succeeds only after the bound
//! passed opens a new interval from its `ok`: between the two the holder knew
//! its lease had run out.
//!
//! ```text
//! p1  acquire ok(t=7, valid_until=5s) ... renew ok(valid_until=9s) ... release
//!     [==========================================================)
//! p2                                   acquire ok(t=8) [==============...
//!                                                      ^ overlap: anomaly
//! ```
//!
//! A grant that ended `info` (or never completed) may have taken effect any
//! time after its invoke and, since its process never acts again, would never
//! have been released: it yields an uncertain hold from its invoke to the end.

use std::collections::HashMap;

use crate::history::{FId, History, Instant, OpRecord, Outcome};
use crate::report::seconds;

/// Why a hold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndCause {
    /// The holder invoked its release (index of the invoke).
    Release(u64),
    /// The lease bound ran out (index of the op that set it).
    Lease(u64),
    /// A newer grant to the same process replaced it (index of that grant's ok).
    Regranted(u64),
    /// Still held when the history ends.
    HistoryEnd,
}

#[derive(Debug, Clone)]
pub struct Hold {
    pub process: u64,
    pub token: Option<u64>,
    /// Index of the grant's ok (or its invoke, if uncertain).
    pub grant_index: u64,
    pub start: Instant,
    pub end: Instant,
    pub cause: EndCause,
    /// False for a grant that ended `info` or never completed.
    pub certain: bool,
    /// For an uncertain hold: how its grant ended (`info` or pending).
    pub outcome: Outcome,
}

struct Open {
    hold: Hold,
    /// Lease bound and the index of the op that set it; `None` is unbounded.
    lease: Option<(i64, u64)>,
}

impl Open {
    fn close(mut self, at: Instant, cause: EndCause) -> Hold {
        let (end, cause) = match self.lease {
            Some((t, by)) if Instant::at_time(t) < at => (Instant::at_time(t), EndCause::Lease(by)),
            _ => (at, cause),
        };
        self.hold.end = end;
        self.hold.cause = cause;
        self.hold
    }
}

/// Holds on one key. `grant` is acquire or campaign; `release` is release or resign.
pub fn holds(h: &History, ops: &[u32], grant: FId, release: FId) -> Vec<Hold> {
    let mut open: HashMap<u64, Open> = HashMap::new();
    let mut out = Vec::new();
    let all = h.ops();
    for &pos in ops {
        let op: &OpRecord = &all[pos as usize];
        if op.f == grant {
            match op.outcome {
                Outcome::Ok => {
                    let start = op.completed_at();
                    if let Some(prev) = open.remove(&op.process) {
                        out.push(prev.close(start, EndCause::Regranted(start.index)));
                    }
                    open.insert(
                        op.process,
                        Open {
                            hold: Hold {
                                process: op.process,
                                token: op.token(),
                                grant_index: op.complete_index,
                                start,
                                end: Instant::END,
                                cause: EndCause::HistoryEnd,
                                certain: true,
                                outcome: Outcome::Ok,
                            },
                            lease: op.valid_until().map(|t| (t, op.complete_index)),
                        },
                    );
                }
                Outcome::Info | Outcome::Pending => out.push(Hold {
                    process: op.process,
                    token: op.token(),
                    grant_index: op.invoke_index,
                    start: op.invoked_at(),
                    end: Instant::END,
                    cause: EndCause::HistoryEnd,
                    certain: false,
                    outcome: op.outcome,
                }),
                Outcome::Fail => {}
            }
        } else if op.f == release {
            if let Some(o) = open.remove(&op.process) {
                out.push(o.close(op.invoked_at(), EndCause::Release(op.invoke_index)));
            }
        } else if op.f == FId::RENEW && op.outcome == Outcome::Ok {
            let (Some(o), Some(v)) = (open.get_mut(&op.process), op.valid_until()) else {
                continue;
            };
            let renewed = op.completed_at();
            match o.lease {
                Some((t, _)) if Instant::at_time(t) <= renewed => {
                    // The lease had lapsed before this renew came back.
                    let mut next = o.hold.clone();
                    next.start = renewed;
                    next.grant_index = op.complete_index;
                    let lapsed = std::mem::replace(
                        o,
                        Open {
                            hold: next,
                            lease: Some((v, op.complete_index)),
                        },
                    );
                    out.push(lapsed.close(Instant::END, EndCause::HistoryEnd));
                }
                Some((t, _)) if v > t => o.lease = Some((v, op.complete_index)),
                // Unbounded stays unbounded; a shorter bound does not shorten.
                _ => {}
            }
        }
    }
    out.extend(
        open.into_values()
            .map(|o| o.close(Instant::END, EndCause::HistoryEnd)),
    );
    out.retain(|hold| hold.start < hold.end);
    out
}

/// Pairs `(earlier, later)` of certain holds by different processes that
/// overlap: one witness per later hold, the earlier hold that reaches
/// furthest. Sort plus one sweep: O(n log n).
pub fn overlaps(holds: &[Hold]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..holds.len()).filter(|&i| holds[i].certain).collect();
    order.sort_unstable_by_key(|&i| holds[i].start);
    let mut top = TopTwo::default();
    let mut found = Vec::new();
    for i in order {
        let b = &holds[i];
        if let Some(a) = top.other_than(b.process, holds) {
            if b.start < holds[a].end {
                found.push((a, i));
            }
        }
        top.add(i, holds);
    }
    found
}

/// For each uncertain hold, a certain hold by another process that overlaps
/// it, if any: `(uncertain, certain)`.
pub fn possible_overlaps(holds: &[Hold]) -> Vec<(usize, usize)> {
    let mut top = TopTwo::default();
    for (i, hold) in holds.iter().enumerate() {
        if hold.certain {
            top.add(i, holds);
        }
    }
    let mut found = Vec::new();
    for (u, hold) in holds.iter().enumerate() {
        if hold.certain {
            continue;
        }
        // The uncertain hold runs to the end, so any certain hold ending after
        // its start overlaps it.
        if let Some(c) = top.other_than(hold.process, holds) {
            if hold.start < holds[c].end {
                found.push((u, c));
            }
        }
    }
    found
}

/// The hold with the latest end, and the one with the latest end among
/// the other processes: enough to find, for any process, the latest-ending
/// hold of someone else.
#[derive(Default)]
struct TopTwo {
    first: Option<usize>,
    second: Option<usize>,
}

impl TopTwo {
    fn add(&mut self, i: usize, holds: &[Hold]) {
        let later = |a: Option<usize>| a.is_none_or(|a| holds[i].end > holds[a].end);
        match self.first {
            Some(f) if holds[f].process == holds[i].process => {
                if later(self.first) {
                    self.first = Some(i);
                }
            }
            _ => {
                if later(self.first) {
                    self.second = self.first;
                    self.first = Some(i);
                } else if later(self.second) {
                    self.second = Some(i);
                }
            }
        }
    }

    fn other_than(&self, process: u64, holds: &[Hold]) -> Option<usize> {
        match self.first {
            Some(f) if holds[f].process != process => Some(f),
            _ => self.second,
        }
    }
}

/// "from 1.200 s until 4.210 s (its release)".
pub fn describe_span(h: &Hold) -> String {
    let until = match h.cause {
        EndCause::Release(_) => format!("until {:.3} s (its release)", seconds(h.end.time)),
        EndCause::Lease(_) => format!("until {:.3} s (its lease bound)", seconds(h.end.time)),
        EndCause::Regranted(_) => format!("until {:.3} s (granted again)", seconds(h.end.time)),
        EndCause::HistoryEnd => "until the end of the history".to_string(),
    };
    format!("from {:.3} s {until}", seconds(h.start.time))
}

/// Index of the op that ended the hold, if one did.
pub fn end_index(h: &Hold) -> Option<u64> {
    match h.cause {
        EndCause::Release(i) | EndCause::Lease(i) | EndCause::Regranted(i) => Some(i),
        EndCause::HistoryEnd => None,
    }
}

pub fn with_token(word: &str, token: Option<u64>) -> String {
    match token {
        Some(t) => format!("with {word} {t}"),
        None => format!("without a {word}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(process: u64, start: i64, end: i64) -> Hold {
        Hold {
            process,
            token: None,
            grant_index: start as u64,
            start: Instant {
                time: start,
                index: start as u64,
            },
            end: Instant {
                time: end,
                index: end as u64,
            },
            cause: EndCause::HistoryEnd,
            certain: true,
            outcome: Outcome::Ok,
        }
    }

    #[test]
    fn an_overlap_hidden_behind_a_longer_hold_of_the_same_process_is_found() {
        // p1's long hold is the latest-ending; p2's overlaps only p3's.
        let hs = vec![hold(3, 1, 5), hold(1, 2, 100), hold(1, 6, 7), hold(3, 4, 9)];
        let mut found = overlaps(&hs);
        found.sort_unstable();
        assert!(found.contains(&(1, 3)), "{found:?}");
    }

    #[test]
    fn back_to_back_holds_do_not_overlap() {
        let hs = vec![hold(1, 1, 5), hold(2, 5, 9)];
        assert!(overlaps(&hs).is_empty());
    }

    #[test]
    fn holds_of_one_process_never_overlap_each_other() {
        let hs = vec![hold(1, 1, 50), hold(1, 2, 9)];
        assert!(overlaps(&hs).is_empty());
    }
}
