//! Where things live in the workspace: xtask always works relative to the repository, wherever it
//! is called from.

use std::path::{Path, PathBuf};

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `target/shopload`: data directories of local stacks and the record of a detached one.
pub fn default_state_dir() -> PathBuf {
    root().join("target").join("shopload")
}

/// The record of a detached stack.
pub fn stack_file(state_dir: &Path) -> PathBuf {
    state_dir.join("stack.json")
}

/// A program of the project's Python venv (`target/venv`, from `.ci/requirements.txt`: Locust,
/// Celery, pinned), made first when missing (pip reaches PyPI; `.ci/run` makes it too).
pub fn venv_bin(program: &str) -> anyhow::Result<PathBuf> {
    let venv = root().join("target").join("venv");
    let bin = venv.join("bin").join(program);
    if bin.exists() {
        return Ok(bin);
    }
    let requirements = root().join(".ci").join("requirements.txt");
    eprintln!(
        "making the Python venv {} from {} (once; about a minute) ...",
        venv.display(),
        requirements.display()
    );
    let made = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new(venv.join("bin").join("pip"))
            .args(["install", "-q", "-r"])
            .arg(&requirements)
            .status()
            .is_ok_and(|s| s.success());
    if !made || !bin.exists() {
        anyhow::bail!(
            "could not make {} with {program} in it (python3 -m venv, then pip install -r {})",
            venv.display(),
            requirements.display()
        );
    }
    Ok(bin)
}
