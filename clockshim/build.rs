//! Builds the C side: the preload shim as a shared object and clockctl as a
//! static executable. The `cc` crate only makes static archives, so the
//! compiler is invoked directly (honouring `CC`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const WARNINGS: &[&str] = &["-Wall", "-Wextra", "-Werror", "-std=gnu11"];

fn compile(cc: &str, args: &[&str], out: &Path) {
    let status = Command::new(cc)
        .args(WARNINGS)
        .args(args)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap_or_else(|e| panic!("failed to run the C compiler `{cc}`: {e}"));
    assert!(
        status.success(),
        "failed to build {} with `{cc}` ({status})",
        out.display()
    );
}

fn main() {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    for f in ["csrc/shim.c", "csrc/clockctl.c", "csrc/clockfile.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=CC");

    // -z now: every libc symbol the shim uses is bound at load time, so no
    // lazy-binding trampoline runs inside a clock call.
    compile(
        &cc,
        &[
            "-shared",
            "-fPIC",
            "-O2",
            "-fvisibility=hidden",
            "-Wl,-z,now",
            "-Wl,-z,relro",
            "csrc/shim.c",
        ],
        &out_dir.join("libclockshim.so"),
    );
    // Static, so it runs in whatever image a node uses.
    compile(
        &cc,
        &["-static", "-O2", "-s", "csrc/clockctl.c"],
        &out_dir.join("clockctl"),
    );
}
