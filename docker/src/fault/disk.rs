//! The disk fault: the service's data directory runs out of space.
//!
//! The directory is a size-limited tmpfs of each node's own, mounted at
//! creation when [`ClusterSpec::data_dir`] names it, so the fault needs no
//! privilege and touches no host disk. `apply` fills its free space with one
//! file until a write fails with ENOSPC; from then on the service's writes
//! there fail as on a full disk (an append that fits in a page the file
//! already has may still succeed, as on a real filesystem's last block),
//! while the process itself runs on. `heal` deletes the file.
//!
//! [`ClusterSpec::data_dir`]: crate::ClusterSpec::data_dir

use crate::cluster::{sh_quote, Cluster};
use crate::error::{DockerError, Result};

/// The fill file's name in the data directory; hidden, so a service that
/// lists its directory is less likely to trip over it.
pub const FILL_FILE_NAME: &str = ".splitbrain-disk-fill";

/// What `dd` says when the filesystem is full: the sign the fill is done.
const ENOSPC_MESSAGE: &str = "No space left on device";

/// What filling a node's data directory did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFill {
    /// The fill file's path in the node.
    pub path: String,
    /// How much the fill file took: the directory's free space at the time.
    pub filled_bytes: u64,
}

/// Fill the free space of `node`'s data directory with one file, writing
/// until the filesystem answers ENOSPC. Applying again refills from
/// scratch. Refused when the cluster was created without a data directory.
pub async fn apply(cluster: &Cluster, node: &str) -> Result<DiskFill> {
    const OPERATION: &str = "fill the data directory on";
    cluster.node(node)?;
    let Some(path) = fill_path(cluster) else {
        return Err(DockerError::RefusedOn {
            subject: node.to_string(),
            operation: OPERATION,
            reason: "the cluster has no data directory".to_string(),
        });
    };
    let script = fill_script(&path);
    let out = cluster.sh(node, OPERATION, &script).await?;
    let filled_bytes = out
        .stdout
        .trim()
        .parse()
        .map_err(|_| DockerError::Command {
            subject: node.to_string(),
            operation: OPERATION,
            command: script,
            exit_code: out.exit_code,
            stderr: format!("unreadable fill size: {:?}", out.stdout.trim()),
        })?;
    Ok(DiskFill { path, filled_bytes })
}

/// Delete the fill file on `node`, giving the space back. A no-op when
/// there is none, or no data directory at all.
pub async fn heal(cluster: &Cluster, node: &str) -> Result<()> {
    cluster.node(node)?;
    let Some(path) = fill_path(cluster) else {
        return Ok(());
    };
    let script = format!("rm -f {}", sh_quote(&path));
    cluster
        .sh(node, "free the data directory on", &script)
        .await
        .map(|_| ())
}

fn fill_path(cluster: &Cluster) -> Option<String> {
    let dir = cluster.data_dir()?;
    Some(format!(
        "{}/{FILL_FILE_NAME}",
        dir.path.trim_end_matches('/')
    ))
}

/// The script that fills from scratch and prints the fill's size; it fails
/// unless `dd` stopped on ENOSPC (`dd` from /dev/zero stops on nothing
/// else but an error).
fn fill_script(path: &str) -> String {
    let f = sh_quote(path);
    format!(
        "out=$(dd if=/dev/zero of={f} bs=1048576 2>&1); \
         case \"$out\" in *'{ENOSPC_MESSAGE}'*) stat -c %s {f} ;; \
         *) echo \"$out\" >&2; exit 1 ;; esac"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_script_writes_until_enospc_and_reports_the_size() {
        let s = fill_script("/data/it's");
        assert!(s.contains(r"dd if=/dev/zero of='/data/it'\''s' bs=1048576"));
        assert!(s.contains("*'No space left on device'*) stat -c %s '/data/it'\\''s'"));
        assert!(s.contains("exit 1"));
    }
}
