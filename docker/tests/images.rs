//! The base image is built from Debian packages without a registry, and
//! reused when its tag is present.
mod common;

use std::time::Instant;

use splitbrain_docker::images::{self, BaseImageSpec};

use common::or_skip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_image_is_reused_when_its_tag_is_present() {
    let engine =
        or_skip!(common::engine_or_skip("base_image_is_reused_when_its_tag_is_present").await);
    let started = Instant::now();
    let spec = BaseImageSpec::with_packages(&common::SERVICE_PACKAGES);
    let first = images::ensure(&engine, &spec, |l| eprintln!("image: {l}"))
        .await
        .unwrap();
    eprintln!(
        "ensure_base (build if missing): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(first.reference, spec.reference());

    let started = Instant::now();
    let again = images::ensure(&engine, &spec, |_| {}).await.unwrap();
    let reuse_s = started.elapsed().as_secs_f64();
    eprintln!("ensure_base (present): {reuse_s:.3} s");
    assert_eq!(again, first);
    assert!(
        reuse_s < 5.0,
        "a present image must be reused, not rebuilt ({reuse_s} s)"
    );

    let listed = images::list(&engine).await.unwrap();
    assert!(listed
        .iter()
        .any(|i| i.references.contains(&first.reference)));
}
