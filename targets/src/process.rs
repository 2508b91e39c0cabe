//! What every target's client keeps for its logical process, whatever the
//! service: its options, what it holds, and the lists its writes build on.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;
use splitbrain_vocab::WriteMode;

use crate::client::{ClientConfig, Completion};
use crate::failure::Failure;

/// One process's state in a client; `H` is what the service's client
/// remembers of a grant.
pub(crate) struct ProcessState<H> {
    pub(crate) process: u64,
    pub(crate) cfg: ClientConfig,
    pub(crate) write_mode: WriteMode,
    /// Per lock or election key, what the process holds there.
    pub(crate) holds: HashMap<String, H>,
    /// Per resource key, the list this process last read or wrote.
    pub(crate) bases: HashMap<String, Vec<Value>>,
}

impl<H> ProcessState<H> {
    /// A process that holds nothing and has read nothing yet.
    pub(crate) fn new(process: u64, cfg: &ClientConfig, write_mode: WriteMode) -> Self {
        ProcessState {
            process,
            cfg: cfg.clone(),
            write_mode,
            holds: HashMap::new(),
            bases: HashMap::new(),
        }
    }

    /// Completes a read of `key` that found `list`: the basis of the
    /// process's next write.
    pub(crate) fn read(&mut self, key: &str, list: Vec<Value>) -> Completion {
        self.bases.insert(key.to_string(), list.clone());
        Completion {
            value: Some(Value::Array(list)),
            ..Completion::ok()
        }
    }

    /// Completes a write of `list` to `key`. A write that took effect is
    /// the basis of the next one; after one that may have, the resource may
    /// or may not hold the element, so there is no basis until a read.
    pub(crate) fn wrote(
        &mut self,
        key: &str,
        list: Vec<Value>,
        result: Result<(), Failure>,
    ) -> Completion {
        match result {
            Ok(()) => {
                self.bases.insert(key.to_string(), list);
                Completion::ok()
            }
            Err(failure) => {
                if !failure.is_refused() {
                    self.bases.remove(key);
                }
                failure.completion()
            }
        }
    }
}

impl<H: fmt::Debug> ProcessState<H> {
    /// A client's `Debug`: its type `name`, where it talks (`at`), and what
    /// its process holds; connections, options and bases are left out.
    pub(crate) fn fmt_client(
        &self,
        f: &mut fmt::Formatter<'_>,
        name: &str,
        at: &dyn fmt::Debug,
    ) -> fmt::Result {
        f.debug_struct(name)
            .field("at", at)
            .field("process", &self.process)
            .field("write_mode", &self.write_mode)
            .field("holds", &self.holds)
            .finish_non_exhaustive()
    }
}

/// Process ids travel as text (grant holders, campaign values); the history
/// gets them back as numbers.
pub(crate) fn process_value(text: &str) -> Value {
    match text.parse::<u64>() {
        Ok(process) => Value::from(process),
        Err(_) => Value::String(text.to_string()),
    }
}

/// The completion of a grant (or renewal) of `token`, valid until `valid_until` ns.
pub(crate) fn granted(token: u64, valid_until: i64) -> Completion {
    Completion {
        token: Some(token),
        valid_until: Some(valid_until),
        ..Completion::ok()
    }
}
