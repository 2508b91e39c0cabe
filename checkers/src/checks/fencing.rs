//! `token-regression` and `stale-token-accepted`: real-time order against
//! token order.
//!
//! Both ask whether an operation B, invoked after an operation A completed,
//! carries a token that does not exceed A's. Real-time precedence (A ok before
//! B invoke) and token order can be drawn as one graph, a violation being a
//! cycle through a real-time edge. On one clock, real-time precedence is an
//! interval order and token order is total, so every such cycle contains a
//! single real-time edge A -> B with token(B) <= token(A): the minimal witness
//! is always a pair. It is found without building the graph: sort the
//! completions, keep a running maximum, and binary-search each invocation,
//! O(n log n). `tests/properties.rs` checks this against the graph built with
//! petgraph.

use super::findings::{ByKey, CheckError, Findings};
use crate::history::{FId, History, OpRecord, Outcome};
use crate::report::seconds;
use crate::verdict::AnomalyType;

/// For each op of `ops` (all `ok` with a token), the op with the greatest
/// token among those completed before it was invoked, if that token is at
/// least `token + strictness`: `(earlier, later)` position pairs.
fn regressions<'h>(ops: &[&'h OpRecord], allow_equal: bool) -> Vec<(&'h OpRecord, &'h OpRecord)> {
    let mut by_completion: Vec<&OpRecord> = ops.to_vec();
    by_completion.sort_unstable_by_key(|op| op.complete_index);
    // best[i]: the op with the greatest token among by_completion[..=i]; the
    // earliest such on ties, as it makes the plainest witness.
    let mut best: Vec<&OpRecord> = Vec::with_capacity(by_completion.len());
    for &op in &by_completion {
        let keep = match best.last() {
            Some(&b) if b.token() >= op.token() => b,
            _ => op,
        };
        best.push(keep);
    }
    let mut found = Vec::new();
    for &b in ops {
        let n = by_completion.partition_point(|op| op.complete_index < b.invoke_index);
        if n == 0 {
            continue;
        }
        let a = best[n - 1];
        let (Some(ta), Some(tb)) = (a.token(), b.token()) else {
            continue;
        };
        if tb < ta || (tb == ta && !allow_equal) {
            found.push((a, b));
        }
    }
    found
}

pub(crate) fn token_regression(
    h: &History,
    by_key: &ByKey,
    out: &mut Findings,
) -> Result<(), CheckError> {
    for (key, ops) in by_key.keys() {
        let name = h.key_name(key);
        for (grant, thing, token_word, granted, asked, got_word) in [
            (
                FId::ACQUIRE,
                "lock",
                "token",
                "was granted",
                "asked for it",
                "was granted",
            ),
            (
                FId::CAMPAIGN,
                "election",
                "term",
                "won",
                "campaigned",
                "won",
            ),
        ] {
            let grants: Vec<&OpRecord> = ops
                .iter()
                .map(|&p| &h.ops()[p as usize])
                .filter(|op| op.f == grant && op.outcome == Outcome::Ok && op.token().is_some())
                .collect();
            if grants.is_empty() {
                continue;
            }
            if !out.keys.contains_key(name) {
                out.begin_key(name);
            }
            for (a, b) in regressions(&grants, false) {
                let (ta, tb) = (a.token().unwrap_or(0), b.token().unwrap_or(0));
                let got = if ta == tb {
                    format!("the same {token_word} {tb}")
                } else {
                    format!("{token_word} {tb}")
                };
                out.anomaly(
                    AnomalyType::TokenRegression,
                    name,
                    vec![a.complete_index, b.invoke_index, b.complete_index],
                    format!(
                        "p{} {granted} {thing} `{name}` with {token_word} {ta} at {:.3} s; \
                         p{} {asked} later, at {:.3} s, and {got_word} {got} at {:.3} s",
                        a.process,
                        seconds(a.complete_time),
                        b.process,
                        seconds(b.invoke_time),
                        seconds(b.complete_time)
                    ),
                );
            }
        }
    }
    if out.keys.is_empty() {
        out.nothing_to_check("no grant carried a token");
    }
    Ok(())
}

pub(crate) fn stale_token_accepted(
    h: &History,
    by_key: &ByKey,
    out: &mut Findings,
) -> Result<(), CheckError> {
    for (key, ops) in by_key.keys() {
        let name = h.key_name(key);
        let writes: Vec<&OpRecord> = ops
            .iter()
            .map(|&p| &h.ops()[p as usize])
            .filter(|op| op.f == FId::WRITE && op.outcome == Outcome::Ok && op.token().is_some())
            .collect();
        if writes.is_empty() {
            continue;
        }
        out.begin_key(name);
        for (a, b) in regressions(&writes, true) {
            out.anomaly(
                AnomalyType::StaleTokenAccepted,
                name,
                vec![a.complete_index, b.invoke_index, b.complete_index],
                format!(
                    "`{name}` acknowledged p{}'s write with token {} at {:.3} s; \
                     then it accepted p{}'s write with stale token {} (invoked at {:.3} s, ok at {:.3} s)",
                    a.process,
                    a.token().unwrap_or(0),
                    seconds(a.complete_time),
                    b.process,
                    b.token().unwrap_or(0),
                    seconds(b.invoke_time),
                    seconds(b.complete_time)
                ),
            );
        }
    }
    if out.keys.is_empty() {
        out.nothing_to_check("no write carrying a token was acknowledged");
    }
    Ok(())
}
