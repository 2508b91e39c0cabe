//! Property tests: histories correct by construction pass; each single
//! mutation fails with exactly the anomaly type it introduces; and the
//! token sweep agrees with the real-time/token-order graph built with petgraph.

use std::collections::BTreeSet;

use petgraph::algo::has_path_connecting;
use petgraph::graph::DiGraph;
use proptest::prelude::*;
use serde_json::json;
use splitbrain_checkers::history::{read_history_from, History, Op, OpType, Process, F};
use splitbrain_checkers::verdict::{AnomalyType, Validity};
use splitbrain_checkers::{check, Report};

/// Base times are multiples of `STEP`; mutations use odd offsets so that no
/// two records ever share a nanosecond.
const STEP: i64 = 1000;

/// One client operation of the simulated run.
#[derive(Clone, Debug)]
struct SimOp {
    process: u64,
    f: F,
    key: &'static str,
    invoke: i64,
    complete: i64,
    invoke_token: Option<u64>,
    ok_token: Option<u64>,
    valid_until: Option<i64>,
    invoke_value: Option<serde_json::Value>,
    ok_value: Option<serde_json::Value>,
}

impl SimOp {
    fn new(process: u64, f: F, key: &'static str, invoke: i64, complete: i64) -> SimOp {
        SimOp {
            process,
            f,
            key,
            invoke,
            complete,
            invoke_token: None,
            ok_token: None,
            valid_until: None,
            invoke_value: None,
            ok_value: None,
        }
    }
}

/// A lock tenure or an election term: positions in `Sim::ops`.
#[derive(Clone, Debug)]
struct Tenure {
    grant: usize,
    writes: Vec<usize>,
}

#[derive(Clone, Debug)]
struct Sim {
    ops: Vec<SimOp>,
    tenures: Vec<Tenure>,
    terms: Vec<Tenure>,
    final_read: usize,
}

#[derive(Clone, Debug)]
struct Shape {
    /// Per tenure: process choice, wait, writes, lease margin, renew.
    tenures: Vec<(usize, i64, usize, Option<i64>, bool)>,
    /// Per term: process choice, wait.
    terms: Vec<(usize, i64)>,
    token_gaps: Vec<u64>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(
            (
                0usize..8,
                0i64..4,
                0usize..4,
                prop::option::of(0i64..3),
                any::<bool>(),
            ),
            2..10,
        ),
        prop::collection::vec((0usize..8, 0i64..4), 2..8),
        prop::collection::vec(1u64..3, 20),
    )
        .prop_map(|(tenures, terms, token_gaps)| Shape {
            tenures,
            terms,
            token_gaps,
        })
}

/// Picks a process different from the holders of the two previous tenures,
/// so a mutation can move a grant into its predecessor's hold.
fn pick(choice: usize, base: u64, recent: &[u64]) -> u64 {
    let free: Vec<u64> = (base..base + 5).filter(|p| !recent.contains(p)).collect();
    free[choice % free.len()]
}

/// Builds a run where every grant waits for the previous holder's release,
/// tokens and terms increase, writes carry their holder's token and the final
/// read lists every write: correct by construction.
fn build(s: &Shape) -> Sim {
    let mut ops = Vec::new();
    let mut tenures = Vec::new();
    let mut value = 0;
    let mut token = 0;
    let mut t = 0;
    let mut recent: Vec<u64> = Vec::new();
    let mut busy: std::collections::HashMap<u64, i64> = Default::default();
    let mut prev: Option<(i64, i64)> = None; // (grant ok, release invoke)
    for (i, &(choice, wait, n_writes, lease, renew)) in s.tenures.iter().enumerate() {
        let p = pick(choice, 1, &recent[recent.len().saturating_sub(2)..]);
        let after_busy = busy.get(&p).map_or(0, |b| b + STEP);
        let invoke = match prev {
            // Waits while the previous holder still holds, but asks only after
            // that holder's grant completed.
            Some((ok, release)) => (release - wait * STEP).max(ok + STEP).max(after_busy),
            None => t.max(after_busy),
        };
        let ok = match prev {
            Some((_, release)) => (release + STEP).max(invoke + STEP),
            None => invoke + STEP,
        };
        token += s.token_gaps[i % s.token_gaps.len()];
        let grant = ops.len();
        let mut g = SimOp::new(p, F::Acquire, "k", invoke, ok);
        g.ok_token = Some(token);
        ops.push(g);
        let mut cursor = ok;
        let mut renew_pos = None;
        if renew {
            renew_pos = Some(ops.len());
            let mut r = SimOp::new(p, F::Renew, "k", cursor + STEP, cursor + 2 * STEP);
            r.invoke_token = Some(token);
            ops.push(r);
            cursor += 2 * STEP;
        }
        let mut writes = Vec::new();
        for _ in 0..n_writes {
            value += 1;
            writes.push(ops.len());
            let mut w = SimOp::new(p, F::Write, "k", cursor + STEP, cursor + 2 * STEP);
            w.invoke_token = Some(token);
            w.invoke_value = Some(json!(value));
            ops.push(w);
            cursor += 2 * STEP;
        }
        let mut r = SimOp::new(p, F::Release, "k", cursor + STEP, cursor + 2 * STEP);
        r.invoke_token = Some(token);
        ops.push(r);
        let release_invoke = cursor + STEP;
        if let Some(margin) = lease {
            let bound = release_invoke + margin * STEP;
            match renew_pos {
                // The grant's own lease ends right after the renew; the renew
                // extends it past the release.
                Some(rp) => {
                    ops[grant].valid_until = Some(ops[rp].complete + STEP);
                    ops[rp].valid_until = Some(bound);
                }
                None => ops[grant].valid_until = Some(bound),
            }
        }
        busy.insert(p, cursor + 2 * STEP);
        recent.push(p);
        prev = Some((ok, release_invoke));
        t = cursor + 2 * STEP;
        tenures.push(Tenure { grant, writes });
    }
    // Elections on their own key and processes.
    let mut terms = Vec::new();
    let mut recent: Vec<u64> = Vec::new();
    let mut busy: std::collections::HashMap<u64, i64> = Default::default();
    let mut prev: Option<(i64, i64)> = None;
    for (i, &(choice, wait)) in s.terms.iter().enumerate() {
        let p = pick(choice, 100, &recent[recent.len().saturating_sub(2)..]);
        let after_busy = busy.get(&p).map_or(0, |b| b + STEP);
        let invoke = match prev {
            Some((ok, resign)) => (resign - wait * STEP).max(ok + STEP).max(after_busy),
            None => after_busy,
        };
        let ok = match prev {
            Some((_, resign)) => (resign + STEP).max(invoke + STEP),
            None => invoke + STEP,
        };
        let grant = ops.len();
        let mut c = SimOp::new(p, F::Campaign, "e", invoke, ok);
        c.ok_token = Some(i as u64 + 1);
        ops.push(c);
        ops.push(SimOp::new(p, F::Resign, "e", ok + 2 * STEP, ok + 3 * STEP));
        busy.insert(p, ok + 3 * STEP);
        recent.push(p);
        prev = Some((ok, ok + 2 * STEP));
        terms.push(Tenure {
            grant,
            writes: Vec::new(),
        });
    }
    let end = ops.iter().map(|o| o.complete).max().unwrap_or(0);
    let final_read = ops.len();
    let mut read = SimOp::new(999, F::Read, "k", end + STEP, end + 2 * STEP);
    let mut all: Vec<i64> = (1..=value).collect();
    all.reverse();
    read.ok_value = Some(json!(all));
    ops.push(read);
    Sim {
        ops,
        tenures,
        terms,
        final_read,
    }
}

fn records(sim: &Sim) -> Vec<Op> {
    let mut recs: Vec<Op> = Vec::new();
    for o in &sim.ops {
        let base = Op {
            index: 0,
            time: o.invoke,
            process: Process::Client(o.process),
            kind: OpType::Invoke,
            f: o.f.clone(),
            key: Some(o.key.to_string()),
            token: o.invoke_token,
            valid_until: None,
            value: o.invoke_value.clone(),
            node: None,
            error: None,
        };
        let done = Op {
            time: o.complete,
            kind: OpType::Ok,
            token: o.ok_token,
            valid_until: o.valid_until,
            value: o.ok_value.clone(),
            ..base.clone()
        };
        recs.push(base);
        recs.push(done);
    }
    recs.sort_by_key(|r| r.time);
    for (i, r) in recs.iter_mut().enumerate() {
        r.index = i as u64;
    }
    recs
}

fn report(sim: &Sim) -> Report {
    let (h, _) = History::from_ops(records(sim)).expect("a simulated history meets the contract");
    check(&h)
}

fn types(r: &Report) -> BTreeSet<AnomalyType> {
    r.anomalies.iter().map(|a| a.kind).collect()
}

/// The report on `sim`, which must find anomalies of `kind` and no other.
fn only_anomaly(sim: &Sim, kind: AnomalyType) -> Result<Report, TestCaseError> {
    let r = report(sim);
    prop_assert_eq!(types(&r), BTreeSet::from([kind]), "{}", r.human_summary());
    Ok(r)
}

/// Builds `s`, moves a picked grant (of an election term where `terms`, else
/// of a lock tenure) into the hold before it, and requires only `kind`.
fn only_anomaly_after_a_grant_moved_earlier(
    s: &Shape,
    pick: prop::sample::Index,
    terms: bool,
    kind: AnomalyType,
) -> Result<(), TestCaseError> {
    let mut sim = build(s);
    let holds = if terms { &sim.terms } else { &sim.tenures };
    let i = 1 + pick.index(holds.len() - 1);
    grant_earlier(&mut sim.ops, holds, i);
    only_anomaly(&sim, kind)?;
    Ok(())
}

/// Moves tenure `i`'s grant into tenure `i - 1`'s hold.
fn grant_earlier(ops: &mut [SimOp], tenures: &[Tenure], i: usize) {
    let prev_ok = ops[tenures[i - 1].grant].complete;
    let g = &mut ops[tenures[i].grant];
    g.invoke = g.invoke.min(prev_ok + 1);
    g.complete = prev_ok + 3;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn histories_correct_by_construction_pass(s in shape()) {
        let sim = build(&s);
        let r = report(&sim);
        prop_assert_eq!(r.valid, Validity::Valid, "{}", r.human_summary());
        // The file path gives the same verdict as the in-memory one.
        let text: String = records(&sim)
            .iter()
            .map(|o| serde_json::to_string(o).unwrap() + "\n")
            .collect();
        let (h, w) = read_history_from(text.as_bytes(), "generated").unwrap();
        prop_assert!(w.is_empty());
        prop_assert_eq!(check(&h), r);
    }

    #[test]
    fn a_grant_moved_into_the_previous_hold_loses_mutual_exclusion(s in shape(), pick in any::<prop::sample::Index>()) {
        only_anomaly_after_a_grant_moved_earlier(&s, pick, false, AnomalyType::LostMutualExclusion)?;
    }

    #[test]
    fn two_swapped_tokens_are_a_token_regression(s in shape(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let mut sim = build(&s);
        let n = sim.tenures.len();
        let (i, j) = (a.index(n), b.index(n));
        prop_assume!(i != j);
        let (gi, gj) = (sim.tenures[i].grant, sim.tenures[j].grant);
        let ti = sim.ops[gi].ok_token;
        sim.ops[gi].ok_token = sim.ops[gj].ok_token;
        sim.ops[gj].ok_token = ti;
        only_anomaly(&sim, AnomalyType::TokenRegression)?;
    }

    #[test]
    fn an_accepted_write_with_an_older_token_is_stale(s in shape(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let mut sim = build(&s);
        let later: Vec<usize> = (1..sim.tenures.len()).filter(|&j| !sim.tenures[j].writes.is_empty()).collect();
        prop_assume!(!later.is_empty());
        let j = later[a.index(later.len())];
        let i = b.index(j);
        let acked = sim.ops[sim.tenures[j].writes[0]].complete;
        let stale_token = sim.ops[sim.tenures[i].grant].ok_token;
        // A zombie holder's delayed write, which the resource should have refused.
        let mut w = SimOp::new(500, F::Write, "k", acked + 1, acked + 3);
        w.invoke_token = stale_token;
        w.invoke_value = Some(json!(-1));
        sim.ops.push(w);
        if let Some(serde_json::Value::Array(v)) = &mut sim.ops[sim.final_read].ok_value {
            v.push(json!(-1));
        }
        only_anomaly(&sim, AnomalyType::StaleTokenAccepted)?;
    }

    #[test]
    fn a_write_dropped_from_the_final_read_is_a_lost_update(s in shape(), a in any::<prop::sample::Index>()) {
        let mut sim = build(&s);
        let Some(serde_json::Value::Array(v)) = &mut sim.ops[sim.final_read].ok_value else {
            unreachable!("the final read lists its values");
        };
        prop_assume!(!v.is_empty());
        let k = a.index(v.len());
        v.remove(k);
        let r = only_anomaly(&sim, AnomalyType::LostUpdate)?;
        prop_assert_eq!(r.anomaly_count, 1);
    }

    #[test]
    fn a_second_leader_during_a_term_is_split_brain(s in shape(), pick in any::<prop::sample::Index>()) {
        only_anomaly_after_a_grant_moved_earlier(&s, pick, true, AnomalyType::SplitBrain)?;
    }

    /// Grants as nodes, an edge A -> B when A completed before B was invoked,
    /// and an edge B -> A when token(B) <= token(A): a regression is a cycle
    /// through a real-time edge. The sweep must find one exactly when it exists.
    #[test]
    fn the_token_sweep_agrees_with_the_precedence_graph(
        grants in prop::collection::vec((0i64..40, 1i64..10, 0u64..6), 1..12)
    ) {
        let mut recs = Vec::new();
        for (p, &(start, len, token)) in grants.iter().enumerate() {
            // Odd times for invokes, even for completions: no ties.
            let inv = Op {
                index: 0,
                time: start * 4 + 1,
                process: Process::Client(p as u64),
                kind: OpType::Invoke,
                f: F::Acquire,
                key: None,
                token: None,
                valid_until: None,
                value: None,
                node: None,
                error: None,
            };
            let ok = Op { time: (start + len) * 4 + 2, kind: OpType::Ok, token: Some(token), ..inv.clone() };
            recs.push(inv);
            recs.push(ok);
        }
        recs.sort_by_key(|r| r.time);
        for (i, r) in recs.iter_mut().enumerate() {
            r.index = i as u64;
        }
        let (h, _) = History::from_ops(recs).unwrap();
        let found = check(&h).checkers["token-regression"].valid == Validity::Invalid;

        let mut g = DiGraph::<(), ()>::new();
        let nodes: Vec<_> = grants.iter().map(|_| g.add_node(())).collect();
        let mut realtime = Vec::new();
        for (a, &(sa, la, ta)) in grants.iter().enumerate() {
            for (b, &(sb, _, tb)) in grants.iter().enumerate() {
                if a == b {
                    continue;
                }
                if (sa + la) * 4 + 2 < sb * 4 + 1 {
                    g.add_edge(nodes[a], nodes[b], ());
                    realtime.push((a, b));
                }
                if tb <= ta {
                    g.add_edge(nodes[b], nodes[a], ());
                }
            }
        }
        let cycle = realtime
            .iter()
            .any(|&(a, b)| has_path_connecting(&g, nodes[b], nodes[a], None));
        prop_assert_eq!(found, cycle);
    }
}
