//! The built-in targets, in one list, and the options each takes
//! (`--target-opt KEY=VALUE`).
//!
//! ```
//! use splitbrain_targets::registry::{self, TargetOptions};
//! use splitbrain_vocab::WriteMode;
//!
//! let opts: TargetOptions = "persistence=aof-always".parse().unwrap();
//! let redis = registry::builtin("redis", WriteMode::Fenced, &opts).unwrap();
//! assert_eq!(redis.default_nodes(), 1);
//! let err = registry::builtin("etcd", WriteMode::Fenced, &opts).err().unwrap();
//! assert!(err.to_string().contains("etcd takes no option persistence"));
//! ```

use std::sync::Arc;

pub use splitbrain_vocab::TargetOptions;
use splitbrain_vocab::WriteMode;

use crate::etcd::EtcdTarget;
use crate::redis::{RedisPersistence, RedisTarget, RedlockTarget, SentinelTarget};
use crate::target::Target;

/// Builds a target from its name, the write mode and its options.
type Make = fn(&str, WriteMode, &TargetOptions) -> Result<Arc<dyn Target>, RegistryError>;

/// One built-in target: its name and the options it takes.
pub struct Builtin {
    pub name: &'static str,
    /// Option names and what each means, for errors and `--help`.
    pub options: &'static [(&'static str, &'static str)],
    make: Make,
}

const PERSISTENCE: (&str, &str) = (
    "persistence",
    "none (default), aof-everysec or aof-always: how redis-server keeps its data",
);

/// Every built-in target.
pub static BUILTINS: [Builtin; 4] = [
    Builtin {
        name: "etcd",
        options: &[],
        make: |_, mode, _| Ok(Arc::new(EtcdTarget::new(mode))),
    },
    Builtin {
        name: "redis",
        options: &[PERSISTENCE],
        make: |name, mode, opts| Ok(Arc::new(RedisTarget::new(mode, persistence(name, opts)?))),
    },
    Builtin {
        name: "redlock",
        options: &[PERSISTENCE],
        make: |name, mode, opts| Ok(Arc::new(RedlockTarget::new(mode, persistence(name, opts)?))),
    },
    Builtin {
        name: "redis-sentinel",
        options: &[PERSISTENCE],
        make: |name, mode, opts| {
            Ok(Arc::new(SentinelTarget::new(
                mode,
                persistence(name, opts)?,
            )))
        },
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "unknown target {name:?}; known targets: {} (or describe your own with --target-file)",
        names().join(", ")
    )]
    UnknownTarget { name: String },
    #[error("failed to configure {target}: {target} takes no option {option}{}", known_options(.target))]
    UnknownOption { target: String, option: String },
    #[error("failed to configure {target}: option {option}={value}: {reason}")]
    BadValue {
        target: String,
        option: String,
        value: String,
        reason: String,
    },
}

fn known_options(target: &str) -> String {
    let Some(b) = BUILTINS.iter().find(|b| b.name == target) else {
        return String::new();
    };
    if b.options.is_empty() {
        return " (it takes none)".to_string();
    }
    let names: Vec<&str> = b.options.iter().map(|(n, _)| *n).collect();
    format!(" (it takes {})", names.join(", "))
}

/// The built-in targets' names, in the registry's order.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}

/// The built-in target `name`, set up with `options` for `write_mode`.
pub fn builtin(
    name: &str,
    write_mode: WriteMode,
    options: &TargetOptions,
) -> Result<Arc<dyn Target>, RegistryError> {
    let b =
        BUILTINS
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| RegistryError::UnknownTarget {
                name: name.to_string(),
            })?;
    for key in options.keys() {
        if !b.options.iter().any(|(n, _)| n == key) {
            return Err(RegistryError::UnknownOption {
                target: name.to_string(),
                option: key.clone(),
            });
        }
    }
    (b.make)(b.name, write_mode, options)
}

/// Every built-in target's node packages: the image that serves them all.
pub fn all_packages() -> Vec<String> {
    let mut packages: Vec<String> = BUILTINS
        .iter()
        .filter_map(|b| (b.make)(b.name, WriteMode::Fenced, &TargetOptions::default()).ok())
        .flat_map(|t| t.packages())
        .collect();
    packages.sort();
    packages.dedup();
    packages
}

fn persistence(target: &str, opts: &TargetOptions) -> Result<RedisPersistence, RegistryError> {
    let Some(value) = opts.get("persistence") else {
        return Ok(RedisPersistence::None);
    };
    value.parse().map_err(|reason| RegistryError::BadValue {
        target: target.to_string(),
        option: "persistence".to_string(),
        value: value.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_says_its_name_and_node_count() {
        let opts = TargetOptions::default();
        let sizes: Vec<(String, usize)> = names()
            .into_iter()
            .map(|n| {
                let t = builtin(n, WriteMode::Fenced, &opts).unwrap();
                (t.name().to_string(), t.default_nodes())
            })
            .collect();
        let expected = [
            ("etcd", 3),
            ("redis", 1),
            ("redlock", 5),
            ("redis-sentinel", 3),
        ];
        let expected: Vec<(String, usize)> =
            expected.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        assert_eq!(sizes, expected);
    }

    #[test]
    fn bad_names_options_and_values_are_explained() {
        let none = TargetOptions::default();
        let err = builtin("zookeper", WriteMode::Fenced, &none).err().unwrap();
        assert!(
            err.to_string().contains("known targets: etcd, redis"),
            "{err}"
        );
        let opts: TargetOptions = "persistence=aof-never".parse().unwrap();
        let err = builtin("redis", WriteMode::Fenced, &opts).err().unwrap();
        assert!(err.to_string().contains("aof-always"), "{err}");
        let opts: TargetOptions = "speed=fast".parse().unwrap();
        let err = builtin("redlock", WriteMode::Fenced, &opts).err().unwrap();
        assert!(err.to_string().contains("takes persistence"), "{err}");
        assert!("persistence".parse::<TargetOptions>().is_err());
        assert!("a=1,=2".parse::<TargetOptions>().is_err());
    }

    #[test]
    fn all_packages_covers_every_builtin() {
        let all = all_packages();
        for p in ["etcd-server", "redis-server", "redis-sentinel"] {
            assert!(all.iter().any(|x| x == p), "{p} missing from {all:?}");
        }
    }
}
