//! History format v1: one [`Op`] per line of JSON (see `docs/history-format.md`).
//!
//! An operation is recorded twice: once when a process invokes it and once when
//! it completes (`ok`, `fail` or `info`). Nemesis faults are single `info` records.
//!
//! ```text
//! p1  |--acquire--|ok(token 7)............|--release--|ok
//! p2        |--acquire-------------------------------------|ok(token 8)
//! ```
//!
//! [`Op`] is the record as written. Checkers read a [`History`] instead: the
//! records of each client operation joined into one [`OpRecord`] (64 bytes for
//! two lines), keys interned, and values kept only where a checker needs them.
//! Building a `History` (from a file with [`read_history`] or from memory with
//! [`History::from_ops`]) also enforces the contract the checkers rely on:
//!
//! - `index` strictly ascends and `time` never decreases along it, so index
//!   order is real-time order;
//! - a process has at most one operation in flight, and a completion names the
//!   same `f` (and, if it names one, the same `key`) as the invocation it ends;
//! - a process whose operation ended `info` never invokes again (an error, not
//!   a warning: its `info` operation may still take effect at any later
//!   instant, so reusing the process would make its later operations look
//!   ordered after something that was not).
//!
//! A client operation with no completion record (a cut-off history) is treated
//! as `info` ([`Outcome::Pending`]), with a warning.

mod builder;
mod model;
mod problems;
mod reader;
mod value;

pub use model::*;
pub use problems::{HistoryError, Warning};
pub use reader::{read_history, read_history_from, MAX_LINE_BYTES};
pub use value::{CompactValue, Element};
