//! Three-valued verdicts and the anomalies that make a history invalid.

use serde::{Deserialize, Serialize};

/// Valid, invalid or unknown. Merging takes the worst: invalid > unknown > valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    Valid,
    Invalid,
    Unknown,
}

impl Validity {
    pub fn merge(self, other: Validity) -> Validity {
        use Validity::*;
        match (self, other) {
            (Invalid, _) | (_, Invalid) => Invalid,
            (Unknown, _) | (_, Unknown) => Unknown,
            _ => Valid,
        }
    }
}

/// Serialized as `true`, `false` or `"unknown"`.
impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => s.serialize_bool(true),
            Validity::Invalid => s.serialize_bool(false),
            Validity::Unknown => s.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Ok(Validity::Valid),
            serde_json::Value::Bool(false) => Ok(Validity::Invalid),
            serde_json::Value::String(s) if s == "unknown" => Ok(Validity::Unknown),
            other => Err(serde::de::Error::custom(format!(
                "valid must be true, false or \"unknown\", got {other}"
            ))),
        }
    }
}

/// The fixed anomaly type names of history format v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyType {
    LostMutualExclusion,
    TokenRegression,
    StaleTokenAccepted,
    LostUpdate,
    SplitBrain,
}

impl AnomalyType {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyType::LostMutualExclusion => "lost-mutual-exclusion",
            AnomalyType::TokenRegression => "token-regression",
            AnomalyType::StaleTokenAccepted => "stale-token-accepted",
            AnomalyType::LostUpdate => "lost-update",
            AnomalyType::SplitBrain => "split-brain",
        }
    }
}

impl std::fmt::Display for AnomalyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One proven violation, with the operations that prove it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    #[serde(rename = "type")]
    pub kind: AnomalyType,
    pub key: String,
    /// History indices of the operations that prove it.
    pub ops: Vec<u64>,
    /// One line a person can follow.
    pub explanation: String,
}
