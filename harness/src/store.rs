//! The results store: one directory per run, and `latest` links.
//!
//! ```text
//! <root>/latest -> etcd-lock/20261126T101500Z
//! <root>/etcd-lock/latest -> 20261126T101500Z
//! <root>/etcd-lock/20261126T101500Z/{run.json, history.jsonl, results.json, harness.log, nodes/<node>/}
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;

pub const RUN_FILE: &str = "run.json";
pub const HISTORY_FILE: &str = "history.jsonl";
pub const RESULTS_FILE: &str = "results.json";
pub const HARNESS_LOG: &str = "harness.log";
pub const NODES_DIR: &str = "nodes";

/// A run's directory inside the store.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `<root>/<target>-<workload>/<UTC timestamp>/` (with a numeric
    /// suffix if two runs start in the same second) and points the `latest`
    /// links at it.
    pub fn create(root: &Path, target: &str, workload: &str) -> anyhow::Result<RunDir> {
        let family = format!("{target}-{workload}");
        let family_dir = root.join(&family);
        std::fs::create_dir_all(&family_dir).with_context(|| {
            format!(
                "failed to create results directory {}",
                family_dir.display()
            )
        })?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut name = stamp.clone();
        let mut n = 1;
        let path = loop {
            let candidate = family_dir.join(&name);
            match std::fs::create_dir(&candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    name = format!("{stamp}-{n}");
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("failed to create run directory {}", candidate.display())
                    })
                }
            }
        };
        std::fs::create_dir_all(path.join(NODES_DIR))
            .with_context(|| format!("failed to create {}", path.join(NODES_DIR).display()))?;
        relink(&family_dir.join("latest"), Path::new(&name))?;
        relink(&root.join("latest"), &Path::new(&family).join(&name))?;
        Ok(RunDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn nodes_dir(&self) -> PathBuf {
        self.path.join(NODES_DIR)
    }

    /// Writes `value` as pretty JSON through a temporary file and a rename, so
    /// a reader never sees half a file.
    pub fn write_json(&self, name: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
        let target = self.file(name);
        let tmp = self.file(&format!(".{name}.tmp"));
        let bytes = serde_json::to_vec_pretty(value).context("failed to serialize")?;
        std::fs::write(&tmp, bytes)
            .with_context(|| format!("failed to write {}", tmp.display()))?;
        std::fs::rename(&tmp, &target)
            .with_context(|| format!("failed to write {}", target.display()))
    }
}

/// Points the symlink `link` at `target` (relative), replacing an old link atomically.
fn relink(link: &Path, target: &Path) -> anyhow::Result<()> {
    let tmp = link.with_extension("tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("failed to create link {}", tmp.display()))?;
    std::fs::rename(&tmp, link).with_context(|| format!("failed to update link {}", link.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_their_own_directories_and_latest_links_follow_the_newest() {
        let root = tempfile::tempdir().unwrap();
        let a = RunDir::create(root.path(), "etcd", "lock").unwrap();
        let b = RunDir::create(root.path(), "etcd", "lock").unwrap();
        assert_ne!(a.path, b.path);
        assert!(b.nodes_dir().is_dir());
        let latest = std::fs::canonicalize(root.path().join("latest")).unwrap();
        assert_eq!(latest, std::fs::canonicalize(&b.path).unwrap());
        let family_latest = std::fs::canonicalize(root.path().join("etcd-lock/latest")).unwrap();
        assert_eq!(family_latest, latest);
        b.write_json(RUN_FILE, &serde_json::json!({"seed": 1}))
            .unwrap();
        let back: serde_json::Value =
            serde_json::from_slice(&std::fs::read(b.file(RUN_FILE)).unwrap()).unwrap();
        assert_eq!(back["seed"], 1);
    }
}
