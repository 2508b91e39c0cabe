//! How a Redis server keeps its data across a kill: a word the command
//! line, the run records and the Redis targets all speak.

use serde::{Deserialize, Serialize};

/// How redis-server persists its data. Serialized as in `--redis-persistence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedisPersistence {
    /// Nothing on disk (`--save "" --appendonly no`): a killed server
    /// restarts empty, locks and counters gone.
    #[default]
    None,
    /// Append-only file fsync'd once a second: a kill loses up to a second.
    AofEverysec,
    /// Append-only file fsync'd before each reply.
    AofAlways,
}

impl RedisPersistence {
    pub fn as_str(self) -> &'static str {
        match self {
            RedisPersistence::None => "none",
            RedisPersistence::AofEverysec => "aof-everysec",
            RedisPersistence::AofAlways => "aof-always",
        }
    }
}

impl std::str::FromStr for RedisPersistence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(RedisPersistence::None),
            "aof-everysec" => Ok(RedisPersistence::AofEverysec),
            "aof-always" => Ok(RedisPersistence::AofAlways),
            other => Err(format!(
                "unknown Redis persistence {other:?}; expected none, aof-everysec or aof-always"
            )),
        }
    }
}

impl std::fmt::Display for RedisPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_names_are_the_command_line_names() {
        // run.json's config has always held the command-line name.
        let all = [
            RedisPersistence::None,
            RedisPersistence::AofEverysec,
            RedisPersistence::AofAlways,
        ];
        let names: Vec<String> = all.iter().map(|p| p.to_string()).collect();
        assert_eq!(serde_json::to_value(all).unwrap(), serde_json::json!(names));
    }
}
