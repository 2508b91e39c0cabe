//! Operations as clients produce them: what a workload asks for
//! ([`Invocation`]), how it ended ([`Completion`], three-valued through
//! [`OpType`]), and the one clock every record of a run is timed on.

use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// The history's one monotonic clock. Every client of a run shares one, so
/// real-time order between client operations is exact.
#[derive(Debug, Clone, Copy)]
pub struct HistoryClock {
    start: Instant,
}

impl HistoryClock {
    pub fn start() -> Self {
        HistoryClock {
            start: Instant::now(),
        }
    }

    /// Nanoseconds since the test started.
    pub fn now_ns(&self) -> i64 {
        self.ns_at(Instant::now())
    }

    pub fn ns_at(&self, at: Instant) -> i64 {
        i64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(i64::MAX)
    }

    pub fn started_at(&self) -> Instant {
        self.start
    }
}

/// What a workload asks a client to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub f: F,
    /// Lock or election name.
    pub key: String,
    /// The token the process believes it holds (on `renew`, `write`, `release`).
    pub token: Option<u64>,
    pub value: Option<serde_json::Value>,
}

/// How an invocation ended. `kind` is never [`OpType::Invoke`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub kind: OpType,
    pub token: Option<u64>,
    /// Conservative lease bound in history-clock ns (invoke time of the last
    /// successful grant or keep-alive plus the TTL).
    pub valid_until: Option<i64>,
    pub value: Option<serde_json::Value>,
    /// The node that answered, where known.
    pub node: Option<String>,
    pub error: Option<String>,
}

impl Completion {
    pub fn ok() -> Self {
        Self::with_kind(OpType::Ok)
    }

    pub fn fail(error: impl Into<String>) -> Self {
        Completion {
            error: Some(error.into()),
            ..Self::with_kind(OpType::Fail)
        }
    }

    /// May or may not have taken effect: timeouts and lost connections.
    pub fn info(error: impl Into<String>) -> Self {
        Completion {
            error: Some(error.into()),
            ..Self::with_kind(OpType::Info)
        }
    }

    fn with_kind(kind: OpType) -> Self {
        Completion {
            kind,
            token: None,
            valid_until: None,
            value: None,
            node: None,
            error: None,
        }
    }
}
