//! Base images built without a registry.
//!
//! The engine this project runs on (and many CI machines) can pull nothing,
//! so the base root filesystem is built from Debian's packages with
//! mmdebstrap and handed to the engine with `create_image` and
//! `fromSrc=-`, which is `docker import` (a root filesystem tarball), not
//! `import_image`, which is `docker load` (an image archive). The tag is a
//! hash of what went in (suite, sources, package list), so an unchanged list
//! reuses the image and a changed one builds a new tag beside it.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::engine::Engine;
use crate::error::{DockerError, Result};

/// The label holding an image's sorted, comma-separated package list.
const PACKAGES_LABEL: &str = "splitbrain.base.packages";
/// The label holding the hash of the suite and sources it was built from.
const SOURCES_LABEL: &str = "splitbrain.base.sources";

/// The repository every base image is tagged in.
pub const BASE_REPOSITORY: &str = "splitbrain-base";

/// What every node needs whatever the service: the tools the faults and
/// tests use inside a node (iptables and NFQUEUE for partitions and packet
/// faults, python3-minimal for the packet delayer, procps for finding the
/// service process, ping and nc for probing reachability). A target adds
/// its own service's packages ([`BaseImageSpec::with_packages`]), so a new
/// target never changes the image the others use.
pub const BASE_PACKAGES: &[&str] = &[
    "iptables",
    "iproute2",
    "procps",
    "iputils-ping",
    "netcat-openbsd",
    "python3-minimal",
];

/// How many of mmdebstrap's last lines a failed build reports.
const BUILD_TAIL_LINES: usize = 20;

/// What a base image is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImageSpec {
    pub suite: String,
    /// One-line apt sources, given to mmdebstrap explicitly so that the
    /// image never inherits whatever extra repositories the host has.
    pub sources: Vec<String>,
    pub packages: Vec<String>,
    pub build_timeout_ms: u64,
}

impl Default for BaseImageSpec {
    fn default() -> Self {
        BaseImageSpec {
            suite: "bookworm".to_string(),
            sources: vec![
                "deb http://deb.debian.org/debian bookworm main".to_string(),
                "deb http://deb.debian.org/debian bookworm-updates main".to_string(),
                "deb http://deb.debian.org/debian-security bookworm-security main".to_string(),
            ],
            packages: BASE_PACKAGES.iter().map(|p| p.to_string()).collect(),
            build_timeout_ms: 900_000,
        }
    }
}

impl BaseImageSpec {
    /// The default spec with `packages` added to the substrate's own.
    pub fn with_packages<S: AsRef<str>>(packages: &[S]) -> BaseImageSpec {
        let mut spec = BaseImageSpec::default();
        let extra = packages.iter().map(|p| p.as_ref().to_string());
        spec.packages.extend(extra);
        spec.packages.sort();
        spec.packages.dedup();
        spec
    }

    /// A hash of the suite and sources alone: images with the same one
    /// differ only in their package lists.
    fn sources_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.suite.as_bytes());
        for s in &self.sources {
            h.update(b"\n");
            h.update(s.as_bytes());
        }
        let digest = h.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    fn sorted_packages(&self) -> Vec<String> {
        let mut packages = self.packages.clone();
        packages.sort();
        packages.dedup();
        packages
    }
    /// A hash of everything that decides the image's content, in a stable
    /// order: the package list sorted, the sources as given.
    pub fn tag(&self) -> String {
        let mut packages = self.packages.clone();
        packages.sort();
        packages.dedup();
        let mut h = Sha256::new();
        h.update(self.suite.as_bytes());
        for s in &self.sources {
            h.update(b"\n");
            h.update(s.as_bytes());
        }
        h.update(b"\n--\n");
        h.update(packages.join(",").as_bytes());
        let digest = h.finalize();
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    pub fn reference(&self) -> String {
        format!("{BASE_REPOSITORY}:{}", self.tag())
    }
}

/// An image the engine has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `repository:tag`, what containers are created from.
    pub reference: String,
    pub id: String,
}

/// A base image as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub references: Vec<String>,
    pub id: String,
    pub size_bytes: i64,
    /// Seconds since the epoch.
    pub created: i64,
}

/// An image with the substrate and `packages`: the engine's own for
/// exactly that list, else any base image built from the same sources
/// whose packages include them all, else a new build.
pub async fn ensure_with<S: AsRef<str>>(
    engine: &Engine,
    packages: &[S],
    progress: impl Fn(&str),
) -> Result<ImageRef> {
    let spec = BaseImageSpec::with_packages(packages);
    if let Some(found) = superset(engine, &spec).await? {
        progress(&format!(
            "reusing {} (its packages include {})",
            found.reference,
            spec.sorted_packages().join(", ")
        ));
        return Ok(found);
    }
    ensure(engine, &spec, progress).await
}

/// A base image from the same sources whose package list includes all of
/// `spec`'s (its own tag preferred).
async fn superset(engine: &Engine, spec: &BaseImageSpec) -> Result<Option<ImageRef>> {
    let label = format!("{SOURCES_LABEL}={}", spec.sources_hash());
    let images = images_where(engine, "label", label).await?;
    let needed = spec.sorted_packages();
    let mut covering: Vec<ImageRef> = images
        .into_iter()
        .filter_map(|image| {
            let listed = image.labels.get(PACKAGES_LABEL)?;
            let has: Vec<&str> = listed.split(',').collect();
            let covers = needed.iter().all(|p| has.contains(&p.as_str()));
            let reference = image
                .repo_tags
                .into_iter()
                .find(|r| r.starts_with(BASE_REPOSITORY))?;
            covers.then_some(ImageRef {
                reference,
                id: image.id,
            })
        })
        .collect();
    // The image for exactly this list first, then the others in a stable order.
    let own = spec.reference();
    covering.sort_by_key(|i| (i.reference != own, i.reference.clone()));
    Ok(covering.into_iter().next())
}

/// The image for `spec`, built if the engine does not have it.
pub async fn ensure(
    engine: &Engine,
    spec: &BaseImageSpec,
    progress: impl Fn(&str),
) -> Result<ImageRef> {
    let reference = spec.reference();
    match engine
        .call(
            &reference,
            "inspect image",
            engine.docker().inspect_image(&reference),
        )
        .await
    {
        Ok(image) => {
            progress(&format!("reusing {reference}"));
            Ok(ImageRef {
                reference,
                id: image.id.unwrap_or_default(),
            })
        }
        Err(e) if e.is_not_found() => build(engine, spec, progress).await,
        Err(e) => Err(e),
    }
}

/// Build the root filesystem and import it, replacing any image with the
/// same tag.
pub async fn build(
    engine: &Engine,
    spec: &BaseImageSpec,
    progress: impl Fn(&str),
) -> Result<ImageRef> {
    let reference = spec.reference();
    let scratch = tempfile::Builder::new()
        .prefix("splitbrain-rootfs-")
        .tempdir()
        .map_err(|e| DockerError::io("create", "a scratch directory", e))?;
    let tarball = scratch.path().join("rootfs.tar");
    progress(&format!(
        "building {reference} with mmdebstrap ({} packages)",
        spec.packages.len()
    ));
    let timeout = Duration::from_millis(spec.build_timeout_ms);
    run_mmdebstrap(mmdebstrap_command(spec, &tarball), timeout, &progress).await?;
    import(engine, spec, &tarball, progress).await
}

/// mmdebstrap writing the root filesystem of `spec` to `tarball`.
fn mmdebstrap_command(spec: &BaseImageSpec, tarball: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("mmdebstrap");
    cmd.arg("--mode=auto")
        .arg("--variant=apt")
        .arg("--format=tar")
        .arg("--aptopt=APT::Install-Recommends \"false\"")
        // Docs, manuals and translations are a third of the size and no
        // node reads them.
        .arg("--dpkgopt=path-exclude=/usr/share/doc/*")
        .arg("--dpkgopt=path-exclude=/usr/share/man/*")
        .arg("--dpkgopt=path-exclude=/usr/share/locale/*")
        .arg(format!("--include={}", spec.packages.join(",")))
        .arg(&spec.suite)
        .arg(tarball)
        .args(&spec.sources)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Run `cmd` (mmdebstrap) to its end, at most `timeout`, passing each line
/// it prints to `progress`; a failure carries its last lines.
async fn run_mmdebstrap(
    mut cmd: tokio::process::Command,
    timeout: Duration,
    progress: &impl Fn(&str),
) -> Result<()> {
    let mut child = cmd.spawn().map_err(|e| DockerError::Build {
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "mmdebstrap is not installed (apt-get install mmdebstrap)".to_string()
        } else {
            format!("failed to run mmdebstrap: {e}")
        },
    })?;
    let stderr = child.stderr.take();
    let stdout = child.stdout.take();
    let run = async {
        let tail = relay_output(stderr, stdout, progress).await;
        let status = child.wait().await;
        (status, tail)
    };
    let (status, tail) =
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| DockerError::Build {
                message: format!(
                    "mmdebstrap did not finish within {} ms",
                    timeout.as_millis()
                ),
            })?;
    let status = status.map_err(|e| DockerError::Build {
        message: format!("failed to wait for mmdebstrap: {e}"),
    })?;
    if !status.success() {
        return Err(DockerError::Build {
            message: format!("mmdebstrap exited with {status}: {}", tail.join("\n")),
        });
    }
    Ok(())
}

/// Pass every line of a child's stderr and stdout to `progress` until both
/// close; returns the last [`BUILD_TAIL_LINES`] lines.
async fn relay_output(
    stderr: Option<tokio::process::ChildStderr>,
    stdout: Option<tokio::process::ChildStdout>,
    progress: &impl Fn(&str),
) -> Vec<String> {
    let mut tail: Vec<String> = Vec::new();
    let mut err_lines = stderr.map(|s| BufReader::new(s).lines());
    let mut out_lines = stdout.map(|s| BufReader::new(s).lines());
    loop {
        let line = tokio::select! {
            l = async { match err_lines.as_mut() { Some(r) => r.next_line().await, None => Ok(None) } }, if err_lines.is_some() => {
                match l { Ok(Some(l)) => Some(l), _ => { err_lines = None; None } }
            }
            l = async { match out_lines.as_mut() { Some(r) => r.next_line().await, None => Ok(None) } }, if out_lines.is_some() => {
                match l { Ok(Some(l)) => Some(l), _ => { out_lines = None; None } }
            }
            else => break,
        };
        if let Some(line) = line {
            progress(&line);
            tail.push(line);
            if tail.len() > BUILD_TAIL_LINES {
                tail.remove(0);
            }
        }
    }
    tail
}

async fn import(
    engine: &Engine,
    spec: &BaseImageSpec,
    tarball: &std::path::Path,
    progress: impl Fn(&str),
) -> Result<ImageRef> {
    let reference = spec.reference();
    let tag = spec.tag();
    let file = tokio::fs::File::open(tarball)
        .await
        .map_err(|e| DockerError::io("open", tarball.display().to_string(), e))?;
    progress(&format!("importing {reference}"));
    let packages = spec.sorted_packages();
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(BASE_REPOSITORY)
        .tag(&tag)
        .changes(vec![
            // The node's idle main process; Cluster passes it too, this is
            // for a user poking at the image by hand.
            r#"CMD ["sleep", "infinity"]"#.to_string(),
            format!("LABEL {PACKAGES_LABEL}=\"{}\"", packages.join(",")),
            format!("LABEL {SOURCES_LABEL}=\"{}\"", spec.sources_hash()),
        ])
        .build();
    let docker = engine.docker();
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
    let run = async {
        let mut stream = docker.create_image(Some(options), Some(body), None);
        while let Some(info) = stream.next().await {
            let info = info?;
            if let Some(status) = info.status {
                progress(&status);
            }
        }
        Ok(())
    };
    engine
        .call_within(&reference, "import image", engine.transfer_timeout(), run)
        .await?;
    let image = engine
        .call(
            &reference,
            "inspect image",
            docker.inspect_image(&reference),
        )
        .await?;
    Ok(ImageRef {
        reference,
        id: image.id.unwrap_or_default(),
    })
}

/// The engine's images matching one filter (`label`, `reference`, ...).
async fn images_where(
    engine: &Engine,
    filter: &str,
    value: String,
) -> Result<Vec<bollard::models::ImageSummary>> {
    let filters = HashMap::from([(filter, vec![value])]);
    let options = ListImagesOptionsBuilder::new().filters(&filters).build();
    let listing = engine.docker().list_images(Some(options));
    engine
        .call(BASE_REPOSITORY, "list images of", listing)
        .await
}

/// Every base image the engine has.
pub async fn list(engine: &Engine) -> Result<Vec<ImageInfo>> {
    let images = images_where(engine, "reference", BASE_REPOSITORY.to_string()).await?;
    Ok(images
        .into_iter()
        .map(|i| ImageInfo {
            references: i.repo_tags,
            id: i.id,
            size_bytes: i.size,
            created: i.created,
        })
        .collect())
}

/// Remove one image by reference or id. Refused by the engine while a
/// container uses it.
pub async fn remove(engine: &Engine, reference: &str) -> Result<()> {
    engine
        .call(
            reference,
            "remove image",
            engine.docker().remove_image(
                reference,
                Some(RemoveImageOptionsBuilder::new().force(false).build()),
                None,
            ),
        )
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_ignores_package_order_and_changes_with_the_list() {
        let a = BaseImageSpec::default();
        let mut b = a.clone();
        b.packages.reverse();
        assert_eq!(a.tag(), b.tag());
        b.packages.push("strace".to_string());
        assert_ne!(a.tag(), b.tag());
        assert_eq!(a.tag().len(), 16);
        assert!(a.reference().starts_with("splitbrain-base:"));
    }
}
