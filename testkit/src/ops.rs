//! Invoking operations in tests: an invocation in one call, and its
//! completion with the history times around it.

use splitbrain_checkers::history::{OpType, F};
use splitbrain_targets::client::{Client, Completion, HistoryClock, Invocation};

pub fn inv(f: F, key: &str, token: Option<u64>, value: Option<serde_json::Value>) -> Invocation {
    Invocation {
        f,
        key: key.to_string(),
        token,
        value,
    }
}

/// A write of `value` to "k", fenced with `token` where there is one: the
/// write the suites append to the resource.
pub fn write_k(token: Option<u64>, value: u64) -> Invocation {
    inv(F::Write, "k", token, Some(serde_json::json!(value)))
}

/// A completion and the history times it was invoked and arrived at.
#[derive(Debug)]
pub struct Done {
    pub completion: Completion,
    pub invoked_ns: i64,
    pub at_ns: i64,
}

pub async fn run(client: &mut dyn Client, clock: &HistoryClock, inv: Invocation) -> Done {
    let invoked_ns = clock.now_ns();
    let completion = client.invoke(&inv, clock).await;
    Done {
        completion,
        invoked_ns,
        at_ns: clock.now_ns(),
    }
}

/// Runs `inv` and asserts it ended `ok`.
pub async fn ok(client: &mut dyn Client, clock: &HistoryClock, inv: Invocation) -> Completion {
    let f = inv.f.clone();
    let done = run(client, clock, inv).await;
    assert_eq!(
        done.completion.kind,
        OpType::Ok,
        "{f}: {:?}",
        done.completion
    );
    done.completion
}

/// Runs `inv` and returns only its completion.
pub async fn completion(
    client: &mut dyn Client,
    clock: &HistoryClock,
    inv: Invocation,
) -> Completion {
    run(client, clock, inv).await.completion
}
