//! Options a target takes beyond the generic run flags
//! (`--target-opt persistence=aof-always`): each target says which it knows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A target's options, `KEY=VALUE` each, as the user gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetOptions(BTreeMap<String, String>);

impl TargetOptions {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Sets `key` unless the user already set it.
    pub fn set_default(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .or_insert_with(|| value.to_string());
    }

    pub fn insert(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}

/// `KEY=VALUE[,KEY=VALUE...]`.
impl std::str::FromStr for TargetOptions {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut opts = TargetOptions::default();
        for pair in s.split(',') {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("target option {pair:?} is not KEY=VALUE"));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || value.is_empty() {
                return Err(format!("target option {pair:?} has an empty key or value"));
            }
            opts.insert(key, value);
        }
        Ok(opts)
    }
}
