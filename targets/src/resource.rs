//! The protected resource every target keeps: a JSON list that a write
//! replaces with the list its process last read plus one element. Each
//! client keeps, per resource key, the list it last read or wrote: its bases.

use std::collections::HashMap;

use serde_json::Value;

use crate::client::Invocation;

/// The list a write of `inv` puts back: the last read plus the write's element.
pub(crate) fn appended(
    bases: &HashMap<String, Vec<Value>>,
    inv: &Invocation,
) -> Result<Vec<Value>, String> {
    let key = inv.key.as_str();
    let Some(element) = inv.value.clone() else {
        return Err(format!("failed to write {key}: the write carries no value"));
    };
    let Some(basis) = bases.get(key) else {
        return Err(format!(
            "failed to write {key}: no read of the resource precedes this write"
        ));
    };
    let mut list = basis.clone();
    list.push(element);
    Ok(list)
}

/// [`appended`], and its encoding.
pub(crate) fn next_list(
    bases: &HashMap<String, Vec<Value>>,
    inv: &Invocation,
) -> Result<(Vec<Value>, String), String> {
    let list = appended(bases, inv)?;
    let body = serde_json::to_string(&list)
        .map_err(|e| format!("failed to encode the resource {}: {e}", inv.key))?;
    Ok((list, body))
}
