//! History format v1: one [`Op`] per line of JSON (see `docs/history-format.md`).
//!
//! An operation is recorded twice: once when a process invokes it and once when
//! it completes (`ok`, `fail` or `info`). Nemesis faults are single `info` records.
//!
//! ```text
//! p1  |--acquire--|ok(token 7)............|--release--|ok
//! p2        |--acquire-------------------------------------|ok(token 8)
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// Whether a record is an invocation or a completion, and how it completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    Invoke,
    /// Took effect.
    Ok,
    /// Did not take effect.
    Fail,
    /// May or may not have taken effect (timeouts, lost connections).
    Info,
}

/// The operation's function. Client functions are fixed; nemesis functions are free-form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum F {
    Acquire,
    Release,
    Renew,
    Write,
    Read,
    Campaign,
    Resign,
    Observe,
    /// Anything else, such as a nemesis's `start-partition`.
    Other(String),
}

impl F {
    pub fn as_str(&self) -> &str {
        match self {
            F::Acquire => "acquire",
            F::Release => "release",
            F::Renew => "renew",
            F::Write => "write",
            F::Read => "read",
            F::Campaign => "campaign",
            F::Resign => "resign",
            F::Observe => "observe",
            F::Other(s) => s,
        }
    }

    pub fn parse(s: &str) -> F {
        match s {
            "acquire" => F::Acquire,
            "release" => F::Release,
            "renew" => F::Renew,
            "write" => F::Write,
            "read" => F::Read,
            "campaign" => F::Campaign,
            "resign" => F::Resign,
            "observe" => F::Observe,
            other => F::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for F {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for F {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for F {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(F::parse(&s))
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
