//! The records a splitbrain run leaves in its run directory, as stable
//! serialized types, and the exit codes its commands end with: what a
//! report, a results browser or a CI script reads, without the harness.
//!
//! - [`RunRecord`] is `run.json`: the [`RunConfig`], the seed, the harness,
//!   the image, the deployed target, clock faults, timings, the schedule.
//! - [`ResultsRecord`] is `results.json`: the checkers' report and, after a
//!   run, its [`Liveness`].
//! - [`RunHeadline`] and [`ResultsHeadline`] read only what a listing of
//!   runs shows, from any record however old or partial.
//! - [`Exit`] is the exit codes.
//!
//! Every field is documented in docs/run-records.md.
//!
//! # Compatibility
//!
//! Like the history format, records only grow: a field is never renamed,
//! retyped or removed, and a field added later is `#[serde(default)]` so
//! that an older record still reads. Unknown fields are ignored, so a
//! record written by a newer harness reads too (its new fields are lost
//! when written back). JSON object keys carry no order.
//!
//! ```
//! let text = r#"{"seed": 7, "target": {"name": "etcd"}, "from_the_future": 1}"#;
//! let head: splitbrain_records::RunHeadline = serde_json::from_str(text).unwrap();
//! assert_eq!(head.seed, Some(7));
//! assert_eq!(head.target.unwrap().name, "etcd");
//! ```

pub mod config;
pub mod exit;
pub mod read;
pub mod results;
pub mod run;

pub use config::{NemesisList, RunConfig};
pub use exit::Exit;
pub use read::{read, RecordError};
pub use results::{Liveness, ResultsHeadline, ResultsRecord};
pub use run::{
    ClockApplied, ClockFaults, ClockMechanism, HarnessInfo, NodeRecord, RunHeadline, RunRecord,
    TargetHeadline, TargetRecord, Timings,
};
