//! ARCHITECTURE.md's invariants that a reading of the sources can hold, and the README's size:
//! library code reads no environment and installs no signal handler, `/proc` is read only in
//! `launcher::procfs`, nothing points at the shared folder beside the project (the contracts are the project's own, in
//! docs/contracts/), and the README stays a page.

use std::path::{Path, PathBuf};

/// README.md is a page: what it is, the quick start, a section per job, links to docs/.
const README_MAX_LINES: usize = 170;

/// Crates that are programs only: their whole code is the app's side, where the environment,
/// arguments and signals are read.
const PROGRAM_CRATES: [&str; 3] = ["xtask/", "xtask-launch/", "tests/"];

/// Library sources: `src/` of every crate but the programs, without `main.rs` files and test
/// modules (`tests.rs`, `*_tests.rs`, `tests/` folders).
fn library_sources(root: &Path) -> Vec<PathBuf> {
    super::sources(root)
        .into_iter()
        .filter(|f| {
            let text = f.to_string_lossy();
            let name = f.file_name().unwrap().to_string_lossy();
            text.contains("/src/")
                && !PROGRAM_CRATES.iter().any(|c| text.starts_with(c))
                && name != "main.rs"
                && name != "tests.rs"
                && !name.ends_with("_tests.rs")
                && !text.contains("/tests/")
        })
        .collect()
}

/// `(file:line, line)` for every line of code (not a comment) in `files` containing a needle.
fn code_lines_with(root: &Path, files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        // What follows `#[cfg(test)]` at the top level is the file's test module.
        let code = text.split("\n#[cfg(test)]").next().unwrap_or(&text);
        for (i, line) in code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            if needles.iter().any(|n| line.contains(n)) {
                hits.push(format!("{}:{}: {}", file.display(), i + 1, trimmed));
            }
        }
    }
    hits
}

#[test]
fn library_code_reads_no_environment_and_installs_no_signal_handler() {
    let root = super::root();
    let hits = code_lines_with(
        &root,
        &library_sources(&root),
        &[
            "env::var(",
            "env::var_os(",
            "env::vars(",
            "env::args(",
            "env::args_os(",
            "signal::ctrl_c(",
            "signal::unix::signal(",
            "env::set_var(",
        ],
    );
    assert!(
        hits.is_empty(),
        "library code must take these from its caller (main reads them and passes them in): \
         {hits:#?}"
    );
}

#[test]
fn proc_is_read_only_in_launcher_procfs() {
    let root = super::root();
    let files: Vec<PathBuf> = super::sources(&root)
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("/src/") && !f.ends_with("launcher/src/procfs.rs"))
        .collect();
    let hits = code_lines_with(&root, &files, &["\"/proc"]);
    assert!(
        hits.is_empty(),
        "read /proc through launcher::procfs (one parser): {hits:#?}"
    );
}

#[test]
fn nothing_points_at_the_shared_folder() {
    let root = super::root();
    let mut hits = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "reports" {
                    stack.push(path);
                }
                continue;
            }
            let text_file = [
                ".rs", ".md", ".toml", ".sh", ".yml", ".yaml", ".html", ".js",
            ]
            .iter()
            .any(|e| name.ends_with(e));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if text_file && text.contains(&["..", "/shared"].concat()) {
                hits.push(path.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the contracts are in docs/contracts/; these point outside the project: {hits:#?}"
    );
}

#[test]
fn the_readme_is_a_page() {
    let text = std::fs::read_to_string(super::root().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines (at most {README_MAX_LINES}): move the detail to docs/"
    );
}
