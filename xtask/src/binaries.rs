//! Where the workspace's programs (loadgen, target-shop, toss-mock, fixtures) come from: one
//! release build of them all, or a directory a build has already filled (`--bin-dir`).
//!
//! `--bin-dir target/debug` is how the test suite and CI run phases, reproductions and the fuzzer
//! on the binaries `cargo test --workspace` has just made: one compile of the tree for the whole
//! suite, never a nested `cargo build` inside a test.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::workspace;

/// What every release build of the workspace selects (xtask-launch's list too).
const RELEASE_PACKAGES: [&str; 5] = ["xtask", "loadgen", "target-shop", "toss-mock", "fixtures"];

#[derive(clap::Args, Debug, Clone, Default)]
pub struct BinArgs {
    /// Take loadgen, target-shop, toss-mock and fixtures from this directory (e.g. target/debug
    /// after `cargo test --workspace`) instead of building them in release
    #[arg(long, env = "SHOPLOAD_BIN_DIR", value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
}

impl BinArgs {
    /// The programs of `packages`, in that order: from `--bin-dir` when given (each must be
    /// there), else from the release build.
    pub fn programs(&self, packages: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
        match &self.bin_dir {
            Some(dir) => packages.iter().map(|p| existing(dir, p)).collect(),
            None => build_release_all(packages),
        }
    }
}

fn existing(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "--bin-dir: no {} (build it with `cargo build -p {name}`, or leave --bin-dir out \
             for a release build)",
            path.display()
        );
    }
    Ok(path)
}

/// Builds `package` in release mode once (incremental) and returns its binary.
pub fn build_release(package: &str) -> anyhow::Result<PathBuf> {
    Ok(build_release_all(&[package])?.remove(0))
}

/// Builds several packages' release binaries: always the same release build as `cargo xtask`
/// makes first (`xtask-launch`: xtask and the four binaries together), so cargo resolves the
/// same features and every dependency compiled then is reused; a build for fewer packages would
/// resolve others and compile part of the tree again.
pub fn build_release_all(packages: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    eprintln!(
        "building the release binaries ({}): seconds after `cargo xtask`'s own build (a first \
         build on 2 cores: 5-15 minutes)",
        packages.join(", ")
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    // Cargo's own progress (a bar on a terminal, a line per crate otherwise): a first build takes
    // minutes and must not look like a hang.
    command.args(["build", "--release"]);
    for p in RELEASE_PACKAGES {
        command.args(["-p", p]);
    }
    // `cargo xtask` (cargo run) hands xtask its own package's variables; build scripts that
    // watch them (ring's watches CARGO_MANIFEST_DIR) would then rerun and rebuild half the tree
    // that a plain `cargo build --release` in a shell had just built.
    for (name, _) in std::env::vars_os() {
        let name_str = name.to_string_lossy();
        if name_str.starts_with("CARGO_PKG_")
            || name_str.starts_with("CARGO_MANIFEST_")
            || matches!(
                name_str.as_ref(),
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(&name);
        }
    }
    let status = command
        .current_dir(workspace::root())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!(
            "cargo build --release -p {} failed",
            RELEASE_PACKAGES.join(" -p ")
        );
    }
    Ok(packages
        .iter()
        .map(|p| workspace::root().join("target").join("release").join(p))
        .collect())
}
