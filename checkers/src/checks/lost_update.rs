//! `lost-update`: an acknowledged write missing from the final read.
//!
//! The protected resource is a set: each `write` adds its `value`, a `read`
//! returns every element as a list. A final read is an `ok` read invoked after
//! every write on its key completed (a write with no completion record never
//! completes and does not count). Each `ok` write must appear in every final
//! read; `info` writes may or may not.

use std::collections::HashSet;

use super::findings::{ByKey, CheckError, Findings};
use crate::history::{Element, FId, History, Outcome};
use crate::report::seconds;
use crate::verdict::AnomalyType;

pub(crate) fn lost_update(
    h: &History,
    by_key: &ByKey,
    out: &mut Findings,
) -> Result<(), CheckError> {
    let all = h.ops();
    for (key, ops) in by_key.keys() {
        let name = h.key_name(key);
        let writes: Vec<(u32, &Element)> = ops
            .iter()
            .filter_map(|&p| {
                let op = &all[p as usize];
                if op.f == FId::WRITE && op.outcome == Outcome::Ok {
                    h.element(op).map(|e| (p, e))
                } else {
                    None
                }
            })
            .collect();
        if writes.is_empty() {
            continue;
        }
        out.begin_key(name);
        let finals: Vec<_> = h
            .final_reads()
            .iter()
            .filter(|r| all[r.op as usize].key == key)
            .collect();
        if finals.is_empty() {
            out.unknown(
                name,
                format!("no read of `{name}` was invoked after every write on it completed"),
            );
            continue;
        }
        let mut missing: Vec<bool> = vec![false; writes.len()];
        for r in finals {
            let read = &all[r.op as usize];
            let seen: HashSet<&Element> = r.elements.iter().collect();
            for (i, (p, e)) in writes.iter().enumerate() {
                if missing[i] || seen.contains(e) {
                    continue;
                }
                missing[i] = true;
                let w = &all[*p as usize];
                out.anomaly(
                    AnomalyType::LostUpdate,
                    name,
                    vec![w.complete_index, read.invoke_index, read.complete_index],
                    format!(
                        "p{}'s write of {e} to `{name}` was acknowledged at {:.3} s; \
                         the final read by p{} (invoked at {:.3} s) does not contain it",
                        w.process,
                        seconds(w.complete_time),
                        read.process,
                        seconds(read.invoke_time)
                    ),
                );
            }
        }
    }
    if out.keys.is_empty() {
        out.nothing_to_check("no write with a value was acknowledged");
    }
    Ok(())
}
