//! What every target's client keeps for its logical process, whatever the
//! service: its options, what it holds, and the lists its writes build on.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;
use splitbrain_vocab::WriteMode;

use crate::client::ClientConfig;

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

impl<H: fmt::Debug> ProcessState<H> {
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
