//! `lost-mutual-exclusion` (locks) and `split-brain` (elections): two
//! different processes holding the same thing at overlapping instants.

use std::collections::HashMap;

use super::findings::{ByKey, CheckError, Findings};
use super::holds::{self, describe_span, end_index, with_token, Hold};
use crate::history::{FId, History, Outcome};
use crate::report::seconds;
use crate::verdict::AnomalyType;

/// Words for one primitive, so both checkers explain themselves in its terms.
struct Words {
    thing: &'static str,
    held: &'static str,
    granted: &'static str,
    token: &'static str,
}

const LOCK: Words = Words {
    thing: "lock",
    held: "held",
    granted: "was granted",
    token: "token",
};

const ELECTION: Words = Words {
    thing: "election",
    held: "led",
    granted: "won",
    token: "term",
};

fn exclusive(
    h: &History,
    by_key: &ByKey,
    out: &mut Findings,
    grant: FId,
    release: FId,
    kind: AnomalyType,
    w: &Words,
) {
    for (key, ops) in by_key.keys() {
        let all = h.ops();
        let exercised = ops.iter().any(|&p| {
            let op = &all[p as usize];
            op.f == grant && op.outcome != Outcome::Fail
        });
        if !exercised {
            continue;
        }
        let name = h.key_name(key);
        out.begin_key(name);
        let hs = holds::holds(h, ops, grant, release);
        for (a, b) in holds::overlaps(&hs) {
            let (a, b) = (&hs[a], &hs[b]);
            let mut proof = vec![a.grant_index, b.grant_index];
            proof.extend(end_index(a));
            proof.sort_unstable();
            out.anomaly(
                kind,
                name,
                proof,
                format!(
                    "p{} {} {} `{name}` {} {}; p{} {} it {} at {:.3} s",
                    a.process,
                    w.held,
                    w.thing,
                    with_token(w.token, a.token),
                    describe_span(a),
                    b.process,
                    w.granted,
                    with_token(w.token, b.token),
                    seconds(b.start.time)
                ),
            );
        }
        for (u, c) in holds::possible_overlaps(&hs) {
            let (u, c): (&Hold, &Hold) = (&hs[u], &hs[c]);
            out.possible(
                name,
                vec![u.grant_index, c.grant_index],
                format!(
                    "p{}'s {} of {} `{name}` invoked at {:.3} s {}: if it took effect, \
                     it overlaps p{}'s hold {} {}",
                    u.process,
                    h.f_name(grant),
                    w.thing,
                    seconds(u.start.time),
                    if u.outcome == Outcome::Pending {
                        "never completed"
                    } else {
                        "ended `info`"
                    },
                    c.process,
                    with_token(w.token, c.token),
                    describe_span(c)
                ),
            );
        }
    }
}

pub(crate) fn lost_mutual_exclusion(
    h: &History,
    by_key: &ByKey,
    out: &mut Findings,
) -> Result<(), CheckError> {
    exclusive(
        h,
        by_key,
        out,
        FId::ACQUIRE,
        FId::RELEASE,
        AnomalyType::LostMutualExclusion,
        &LOCK,
    );
    if out.keys.is_empty() {
        out.nothing_to_check("no lock was granted");
    }
    Ok(())
}

pub(crate) fn split_brain(
    h: &History,
    by_key: &ByKey,
    out: &mut Findings,
) -> Result<(), CheckError> {
    exclusive(
        h,
        by_key,
        out,
        FId::CAMPAIGN,
        FId::RESIGN,
        AnomalyType::SplitBrain,
        &ELECTION,
    );
    // Two winners of one term are two leaders, whenever they won.
    for (key, ops) in by_key.keys() {
        let name = h.key_name(key);
        let mut winners: HashMap<u64, usize> = HashMap::new();
        for &p in ops {
            let op = &h.ops()[p as usize];
            let (FId::CAMPAIGN, Outcome::Ok, Some(term)) = (op.f, op.outcome, op.token()) else {
                continue;
            };
            match winners.get(&term) {
                None => {
                    winners.insert(term, p as usize);
                }
                Some(&first) => {
                    let a = &h.ops()[first];
                    if a.process != op.process {
                        out.anomaly(
                            AnomalyType::SplitBrain,
                            name,
                            vec![a.complete_index, op.complete_index],
                            format!(
                                "p{} won election `{name}` with term {term} at {:.3} s; \
                                 p{} won it with the same term at {:.3} s",
                                a.process,
                                seconds(a.complete_time),
                                op.process,
                                seconds(op.complete_time)
                            ),
                        );
                    }
                }
            }
        }
    }
    if out.keys.is_empty() {
        out.nothing_to_check("no election was won");
    }
    Ok(())
}
