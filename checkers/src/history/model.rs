//! The history's types: the record as written ([`Op`]), and the joined,
//! interned form the checkers read ([`History`], [`OpRecord`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
pub use splitbrain_vocab::op::{OpType, F};

use super::value::Element;

/// Who performed an operation: a client process, or the fault injector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Process;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process must be non-negative, got {v}")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Process, E> {
                if v == "nemesis" {
                    Ok(Process::Nemesis)
                } else {
                    Err(E::custom(format!(
                        "process must be an integer or \"nemesis\", got {v:?}"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Process::Client(p) => write!(f, "p{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// The key used when an op names none.
pub const DEFAULT_KEY: &str = "default";

/// One line of a history file. Field names are the v1 contract: add, never rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, strictly ascending.
    pub index: u64,
    /// Nanoseconds since the test started, on one monotonic clock.
    pub time: i64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub f: F,
    /// Lock or election name; absent means [`DEFAULT_KEY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Fencing token or election term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
    /// The client's conservative bound on its lease, ns on the history clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    pub fn key(&self) -> &str {
        self.key.as_deref().unwrap_or(DEFAULT_KEY)
    }
}

/// Interned key (lock or election name); see [`History::key_name`].
pub type KeyId = u32;

/// Interned operation function; the first eight are the client functions of v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FId(pub u16);

impl FId {
    pub const ACQUIRE: FId = FId(0);
    pub const RELEASE: FId = FId(1);
    pub const RENEW: FId = FId(2);
    pub const WRITE: FId = FId(3);
    pub const READ: FId = FId(4);
    pub const CAMPAIGN: FId = FId(5);
    pub const RESIGN: FId = FId(6);
    pub const OBSERVE: FId = FId(7);
    pub(super) const KNOWN: [&'static str; 8] = [
        "acquire", "release", "renew", "write", "read", "campaign", "resign", "observe",
    ];

    /// Whether this is one of the eight client functions of v1.
    pub fn is_client(self) -> bool {
        usize::from(self.0) < Self::KNOWN.len()
    }
}

/// How a client operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
    /// No completion record: the history ends first. Means the same as `info`.
    Pending,
}

impl Outcome {
    /// `info` and pending: may or may not have taken effect.
    pub fn is_uncertain(self) -> bool {
        matches!(self, Outcome::Info | Outcome::Pending)
    }
}

pub(super) const HAS_TOKEN: u8 = 1;
pub(super) const HAS_VALID_UNTIL: u8 = 2;
pub(super) const NO_ELEMENT: u32 = u32::MAX;

/// One client operation: its invocation and completion joined.
///
/// Positions in history order are `(time, index)` pairs; see [`Instant`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    pub invoke_index: u64,
    /// `u64::MAX` while pending.
    pub complete_index: u64,
    pub invoke_time: i64,
    /// `i64::MAX` while pending.
    pub complete_time: i64,
    pub process: u64,
    pub(super) token: u64,
    pub(super) valid_until: i64,
    pub(super) element: u32,
    pub key: KeyId,
    pub f: FId,
    pub outcome: Outcome,
    pub(super) flags: u8,
}

impl OpRecord {
    /// The fencing token or term: the completion's if it names one, else the invocation's.
    pub fn token(&self) -> Option<u64> {
        (self.flags & HAS_TOKEN != 0).then_some(self.token)
    }

    /// The lease bound reported by an `ok` completion.
    pub fn valid_until(&self) -> Option<i64> {
        (self.flags & HAS_VALID_UNTIL != 0).then_some(self.valid_until)
    }

    pub fn invoked_at(&self) -> Instant {
        Instant {
            time: self.invoke_time,
            index: self.invoke_index,
        }
    }

    /// When the completion was recorded; [`Instant::END`] while pending.
    pub fn completed_at(&self) -> Instant {
        Instant {
            time: self.complete_time,
            index: self.complete_index,
        }
    }
}

/// A point on the history's clock. Records at the same nanosecond are ordered
/// by index, which is the order the recorder saw them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instant {
    pub time: i64,
    pub index: u64,
}

impl Instant {
    pub const END: Instant = Instant {
        time: i64::MAX,
        index: u64::MAX,
    };

    /// A clock reading that is no record (a lease bound): it comes before
    /// every record made at the same nanosecond, so a grant recorded exactly
    /// when a lease runs out does not overlap it.
    pub fn at_time(time: i64) -> Instant {
        Instant { time, index: 0 }
    }
}

/// A nemesis record: kept for statistics and context, never checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NemesisRecord {
    pub index: u64,
    pub time: i64,
    pub kind: OpType,
    pub f: FId,
}

/// An `ok` read that may be final for its key: no write on the key completed
/// after it was invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalRead {
    /// Position of the read in [`History::ops`].
    pub op: u32,
    pub elements: Vec<Element>,
}

/// A validated history in compact form, ready for [`crate::check`].
#[derive(Debug, Clone, Default)]
pub struct History {
    pub(super) ops: Vec<OpRecord>,
    pub(super) nemesis: Vec<NemesisRecord>,
    pub(super) keys: Vec<Box<str>>,
    pub(super) f_names: Vec<Box<str>>,
    pub(super) elements: Vec<Element>,
    pub(super) final_reads: Vec<FinalRead>,
    pub(super) events: u64,
    pub(super) end: Instant,
}

impl History {
    /// Client operations, in order of invocation.
    pub fn ops(&self) -> &[OpRecord] {
        &self.ops
    }

    pub fn nemesis(&self) -> &[NemesisRecord] {
        &self.nemesis
    }

    /// Number of records (lines) the history holds.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// The last record's instant; holds still open there end there.
    pub fn end(&self) -> Instant {
        self.end
    }

    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub fn key_name(&self, key: KeyId) -> &str {
        &self.keys[key as usize]
    }

    pub fn f_name(&self, f: FId) -> &str {
        &self.f_names[usize::from(f.0)]
    }

    /// A write's element, if it named one.
    pub fn element(&self, op: &OpRecord) -> Option<&Element> {
        (op.element != NO_ELEMENT).then(|| &self.elements[op.element as usize])
    }

    /// The `ok` reads that may be final, per [`FinalRead`]. Reads that a later
    /// write completion made non-final are dropped while reading, which keeps
    /// memory proportional to the final reads rather than to every read.
    pub fn final_reads(&self) -> &[FinalRead] {
        &self.final_reads
    }

    /// Approximate heap bytes held, for the memory-per-event figure.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let elem = |e: &Element| match e {
            Element::Int(_) => 0,
            Element::Str(s) | Element::Json(s) => s.len(),
        };
        self.ops.capacity() * size_of::<OpRecord>()
            + self.nemesis.capacity() * size_of::<NemesisRecord>()
            + self
                .keys
                .iter()
                .map(|k| k.len() + size_of::<Box<str>>())
                .sum::<usize>()
            + self.elements.capacity() * size_of::<Element>()
            + self.elements.iter().map(elem).sum::<usize>()
            + self
                .final_reads
                .iter()
                .map(|r| r.elements.capacity() * size_of::<Element>())
                .sum::<usize>()
    }
}
