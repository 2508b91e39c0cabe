//! Per-process operation generators for the `lock`, `fenced`, `append` and
//! `election` workloads.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use splitbrain_vocab::{Completion, Invocation, OpType, F};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Acquire, hold with renewals, release.
    Lock,
    /// Append under the lock with writes guarded by the fencing token.
    Fenced,
    /// Append under the lock, unguarded: Jepsen's lock-set, finds lost updates.
    Append,
    /// Campaign, lead with proclaims, resign; observers watch the leader.
    Election,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Lock => "lock",
            WorkloadKind::Fenced => "fenced",
            WorkloadKind::Append => "append",
            WorkloadKind::Election => "election",
        }
    }

    /// Whether the run must end with a final read of each resource.
    pub fn has_resource(self) -> bool {
        matches!(self, WorkloadKind::Fenced | WorkloadKind::Append)
    }
}

impl std::str::FromStr for WorkloadKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lock" => Ok(WorkloadKind::Lock),
            "fenced" => Ok(WorkloadKind::Fenced),
            "append" => Ok(WorkloadKind::Append),
            "election" => Ok(WorkloadKind::Election),
            other => Err(format!(
                "unknown workload {other:?}; expected lock, fenced, append or election"
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadConfig {
    pub kind: WorkloadKind,
    /// Lock or election names the processes contend on.
    pub keys: Vec<String>,
    pub lease_ms: u64,
    /// How long a holder keeps a lock or leadership.
    pub hold_min_ms: u64,
    pub hold_max_ms: u64,
    /// Pause between a release (or a refused grant) and the next attempt.
    pub idle_min_ms: u64,
    pub idle_max_ms: u64,
    /// In `append`/`fenced`: the pause between reading the resource and writing it back.
    pub think_max_ms: u64,
    /// In `election`: one process in this many only observes.
    pub observer_every: u64,
}

impl WorkloadConfig {
    /// Defaults that make contention and lease expiry likely in a one-minute run.
    pub fn new(kind: WorkloadKind, lease_ms: u64) -> Self {
        WorkloadConfig {
            kind,
            keys: vec!["default".to_string()],
            lease_ms,
            hold_min_ms: 50,
            hold_max_ms: lease_ms.max(200) * 2,
            idle_min_ms: 0,
            idle_max_ms: 100,
            think_max_ms: 50,
            observer_every: 4,
        }
    }

    /// Renew well inside the lease so one lost keep-alive does not lose it.
    pub fn renew_interval(&self) -> Duration {
        Duration::from_millis((self.lease_ms / 3).max(1))
    }
}

/// What a process does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Invoke(Invocation),
    Sleep(Duration),
}

#[derive(Debug, Clone)]
enum State {
    /// Nothing held: next is a grant attempt, after an idle pause unless `slept`.
    Idle {
        slept: bool,
    },
    /// A grant attempt on `key` is in flight.
    Requesting {
        key: String,
    },
    Holding(Hold),
    /// A release or resign is in flight.
    Releasing,
    /// An election observer: observe, sleep, observe …
    Observing {
        slept: bool,
    },
}

#[derive(Debug, Clone)]
struct Hold {
    key: String,
    token: Option<u64>,
    /// Planned hold time left.
    remaining_ms: u64,
    phase: HoldPhase,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum HoldPhase {
    /// `append`/`fenced`: read the resource next.
    Read,
    /// Awaiting the read; then think.
    Reading,
    /// Read done: think, then write.
    Think,
    Write,
    Writing,
    /// Sleep until the next renewal or the end of the hold.
    Wait,
    Renew,
    Renewing,
}

/// One logical process's generator. Deterministic for a seed and a sequence of completions.
#[derive(Debug)]
pub struct ProcessGenerator {
    cfg: WorkloadConfig,
    process: u64,
    rng: ChaCha8Rng,
    state: State,
    writes: u64,
}

impl ProcessGenerator {
    /// `seed` is the run seed; each process derives its own stream from it.
    pub fn new(cfg: WorkloadConfig, seed: u64, process: u64) -> Self {
        assert!(!cfg.keys.is_empty(), "a workload needs at least one key");
        let rng = ChaCha8Rng::seed_from_u64(seed ^ process.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let state = if cfg.kind == WorkloadKind::Election
            && cfg.observer_every > 0
            && process % cfg.observer_every == cfg.observer_every - 1
        {
            State::Observing { slept: true }
        } else {
            State::Idle { slept: true }
        };
        ProcessGenerator {
            cfg,
            process,
            rng,
            state,
            writes: 0,
        }
    }

    /// The key and token this process believes it holds, if any.
    pub fn holding(&self) -> Option<(&str, Option<u64>)> {
        match &self.state {
            State::Holding(h) => Some((&h.key, h.token)),
            _ => None,
        }
    }

    /// A value unique across the run: the process id in the high bits.
    fn next_element(&mut self) -> u64 {
        self.writes += 1;
        (self.process << 24) | self.writes
    }

    fn sleep_between(&mut self, min_ms: u64, max_ms: u64) -> Step {
        let ms = if max_ms > min_ms {
            self.rng.random_range(min_ms..=max_ms)
        } else {
            min_ms
        };
        Step::Sleep(Duration::from_millis(ms))
    }

    fn pick_key(&mut self) -> String {
        let i = self.rng.random_range(0..self.cfg.keys.len());
        self.cfg.keys[i].clone()
    }

    fn invocation(f: F, key: &str, token: Option<u64>, value: Option<serde_json::Value>) -> Step {
        Step::Invoke(Invocation {
            f,
            key: key.to_string(),
            token,
            value,
        })
    }

    /// The next step, given how the previous invocation completed (`None`
    /// after a sleep or at the start). A process whose op ended `info` must
    /// be retired by the caller: feeding `info` here is a logic error.
    pub fn next(&mut self, last: Option<&Completion>) -> Step {
        if let Some(c) = last {
            assert_ne!(
                c.kind,
                OpType::Info,
                "a process whose op ended info must not invoke again"
            );
        }
        let succeeded = last.is_some_and(|c| c.kind == OpType::Ok);
        let state = std::mem::replace(&mut self.state, State::Idle { slept: true });
        match state {
            State::Idle { slept: false } => {
                self.state = State::Idle { slept: true };
                self.sleep_between(self.cfg.idle_min_ms, self.cfg.idle_max_ms)
            }
            State::Idle { slept: true } => {
                let key = self.pick_key();
                let f = if self.cfg.kind == WorkloadKind::Election {
                    F::Campaign
                } else {
                    F::Acquire
                };
                let step = Self::invocation(f, &key, None, Some(serde_json::json!(self.process)));
                self.state = State::Requesting { key };
                step
            }
            State::Requesting { key } => {
                if succeeded {
                    let remaining_ms = self.rng.random_range(
                        self.cfg.hold_min_ms..=self.cfg.hold_max_ms.max(self.cfg.hold_min_ms),
                    );
                    let phase = if self.cfg.kind.has_resource() {
                        HoldPhase::Read
                    } else {
                        HoldPhase::Wait
                    };
                    self.state = State::Holding(Hold {
                        key,
                        token: last.and_then(|c| c.token),
                        remaining_ms,
                        phase,
                    });
                } else {
                    self.state = State::Idle { slept: false };
                }
                self.next(None)
            }
            State::Holding(hold) => self.next_while_holding(hold, succeeded),
            State::Releasing => {
                self.state = State::Idle { slept: false };
                self.next(None)
            }
            State::Observing { slept: false } => {
                self.state = State::Observing { slept: true };
                self.sleep_between(50, 250)
            }
            State::Observing { slept: true } => {
                let key = self.pick_key();
                self.state = State::Observing { slept: false };
                Self::invocation(F::Observe, &key, None, None)
            }
        }
    }

    fn next_while_holding(&mut self, mut hold: Hold, succeeded: bool) -> Step {
        let release = if self.cfg.kind == WorkloadKind::Election {
            F::Resign
        } else {
            F::Release
        };
        let step = match hold.phase {
            HoldPhase::Read => {
                hold.phase = HoldPhase::Reading;
                Self::invocation(F::Read, &hold.key, hold.token, None)
            }
            HoldPhase::Reading if !succeeded => return self.give_up(hold, release),
            HoldPhase::Reading => {
                hold.phase = HoldPhase::Think;
                self.state = State::Holding(hold);
                return self.next(None);
            }
            HoldPhase::Think => {
                hold.phase = HoldPhase::Write;
                self.sleep_between(0, self.cfg.think_max_ms)
            }
            HoldPhase::Write => {
                hold.phase = HoldPhase::Writing;
                let element = self.next_element();
                Self::invocation(
                    F::Write,
                    &hold.key,
                    hold.token,
                    Some(serde_json::json!(element)),
                )
            }
            // A refused write means the token is stale: the lock is gone.
            HoldPhase::Writing if !succeeded => return self.give_up(hold, release),
            HoldPhase::Writing => {
                hold.phase = HoldPhase::Wait;
                self.state = State::Holding(hold);
                return self.next(None);
            }
            HoldPhase::Wait => {
                if hold.remaining_ms == 0 {
                    self.state = State::Releasing;
                    return Self::invocation(release, &hold.key, hold.token, None);
                }
                let renew_ms = self.cfg.renew_interval().as_millis() as u64;
                let ms = hold.remaining_ms.min(renew_ms);
                hold.remaining_ms -= ms;
                hold.phase = if hold.remaining_ms == 0 {
                    HoldPhase::Wait
                } else {
                    HoldPhase::Renew
                };
                Step::Sleep(Duration::from_millis(ms))
            }
            HoldPhase::Renew => {
                hold.phase = HoldPhase::Renewing;
                Self::invocation(F::Renew, &hold.key, hold.token, None)
            }
            // A refused renewal: the lease is gone. Release anyway, so the
            // client drops what it knows of the grant before trying again.
            HoldPhase::Renewing if !succeeded => return self.give_up(hold, release),
            HoldPhase::Renewing => {
                // Append workloads write again on each renewal so that a
                // stale holder keeps writing after its lease is gone.
                hold.phase = if self.cfg.kind.has_resource() {
                    HoldPhase::Read
                } else {
                    HoldPhase::Wait
                };
                self.state = State::Holding(hold);
                return self.next(None);
            }
        };
        self.state = State::Holding(hold);
        step
    }

    /// After a refused read, write or renewal: release what may be left and start over.
    fn give_up(&mut self, hold: Hold, release: F) -> Step {
        self.state = State::Releasing;
        Self::invocation(release, &hold.key, hold.token, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_with_token(token: u64) -> Completion {
        Completion {
            token: Some(token),
            ..Completion::ok()
        }
    }

    fn fs_of(gen: &mut ProcessGenerator, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut last: Option<Completion> = None;
        for _ in 0..n {
            match gen.next(last.as_ref()) {
                Step::Invoke(inv) => {
                    out.push(inv.f.to_string());
                    last = Some(ok_with_token(7));
                }
                Step::Sleep(_) => {
                    out.push("sleep".into());
                    last = None;
                }
            }
        }
        out
    }

    #[test]
    fn same_seed_and_completions_give_the_same_steps() {
        let cfg = WorkloadConfig::new(WorkloadKind::Append, 1000);
        let a = fs_of(&mut ProcessGenerator::new(cfg.clone(), 42, 3), 200);
        let b = fs_of(&mut ProcessGenerator::new(cfg, 42, 3), 200);
        assert_eq!(a, b);
    }

    #[test]
    fn append_reads_then_writes_under_the_lock_and_releases() {
        let cfg = WorkloadConfig::new(WorkloadKind::Append, 1000);
        let steps: Vec<String> = fs_of(&mut ProcessGenerator::new(cfg, 1, 0), 60)
            .into_iter()
            .filter(|s| s != "sleep")
            .collect();
        assert_eq!(&steps[..3], &["acquire", "read", "write"]);
        let release = steps
            .iter()
            .position(|s| s == "release")
            .expect("a release");
        assert_eq!(
            steps[..release].iter().filter(|s| *s == "acquire").count(),
            1
        );
        assert_eq!(steps[release + 1], "acquire");
    }

    #[test]
    fn writes_carry_the_granted_token_and_unique_elements() {
        let cfg = WorkloadConfig::new(WorkloadKind::Fenced, 1000);
        let mut gen = ProcessGenerator::new(cfg, 9, 5);
        let mut last: Option<Completion> = None;
        let mut elements = std::collections::BTreeSet::new();
        for _ in 0..300 {
            match gen.next(last.as_ref()) {
                Step::Invoke(inv) => {
                    if inv.f == F::Write {
                        assert_eq!(inv.token, Some(7));
                        let e = inv.value.and_then(|v| v.as_u64()).expect("element");
                        assert!(elements.insert(e), "element {e} repeated");
                        assert_eq!(e >> 24, 5);
                    }
                    last = Some(ok_with_token(7));
                }
                Step::Sleep(_) => last = None,
            }
        }
        assert!(elements.len() > 3);
    }

    #[test]
    fn a_refused_grant_is_retried_after_an_idle_pause() {
        let cfg = WorkloadConfig::new(WorkloadKind::Lock, 1000);
        let mut gen = ProcessGenerator::new(cfg, 1, 0);
        assert!(matches!(gen.next(None), Step::Invoke(ref i) if i.f == F::Acquire));
        assert!(matches!(
            gen.next(Some(&Completion::fail("held"))),
            Step::Sleep(_)
        ));
        assert!(matches!(gen.next(None), Step::Invoke(ref i) if i.f == F::Acquire));
    }

    #[test]
    fn a_refused_renewal_is_followed_by_a_release() {
        let cfg = WorkloadConfig::new(WorkloadKind::Lock, 300);
        let mut gen = ProcessGenerator::new(cfg, 1, 0);
        let mut last = None;
        let mut renewed = false;
        for _ in 0..100 {
            match gen.next(last.as_ref()) {
                Step::Invoke(inv) if inv.f == F::Renew => {
                    renewed = true;
                    last = Some(Completion::fail("lease not found"));
                }
                Step::Invoke(inv) if renewed => {
                    assert_eq!(inv.f, F::Release, "after a refused renewal");
                    return;
                }
                Step::Invoke(_) => last = Some(ok_with_token(3)),
                Step::Sleep(_) => last = None,
            }
        }
        panic!("never renewed");
    }

    #[test]
    fn election_observers_only_observe() {
        let cfg = WorkloadConfig::new(WorkloadKind::Election, 1000);
        let steps = fs_of(&mut ProcessGenerator::new(cfg, 1, 3), 50);
        assert!(steps.iter().all(|s| s == "observe" || s == "sleep"));
        assert!(steps.iter().any(|s| s == "observe"));
    }

    #[test]
    fn leaders_renew_and_resign() {
        let cfg = WorkloadConfig::new(WorkloadKind::Election, 300);
        let steps = fs_of(&mut ProcessGenerator::new(cfg, 2, 0), 400);
        assert!(steps.contains(&"campaign".to_string()));
        assert!(steps.contains(&"renew".to_string()));
        assert!(steps.contains(&"resign".to_string()));
        assert!(!steps.contains(&"observe".to_string()));
    }

    #[test]
    #[should_panic(expected = "must not invoke again")]
    fn feeding_an_info_completion_is_a_logic_error() {
        let cfg = WorkloadConfig::new(WorkloadKind::Lock, 1000);
        let mut gen = ProcessGenerator::new(cfg, 1, 0);
        let _ = gen.next(None);
        let _ = gen.next(Some(&Completion::info("timeout")));
    }
}
