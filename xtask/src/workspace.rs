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

/// A program of the project's Python venv (`target/venv`, from `.ci/requirements.txt`: Celery,
/// Locust, schemathesis, pinned), made first when missing (pip reaches PyPI; once, about a minute).
pub fn venv_bin(program: &str) -> anyhow::Result<PathBuf> {
    let venv = root().join("target").join("venv");
    let requirements = root().join(".ci").join("requirements.txt");
    if !fixtures::venv::Venv::is_ready(&venv, &requirements) {
        eprintln!(
            "making the Python venv {} from {} (once; about a minute) ...",
            venv.display(),
            requirements.display()
        );
    }
    fixtures::venv::program(&root(), None, program).map_err(anyhow::Error::msg)
}
