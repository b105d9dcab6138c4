//! Tidy checks, as ordinary tests (rust-analyzer's way): ARCHITECTURE.md's code map names every
//! source file of the workspace (directly, or through a folder it names), every path it names
//! exists, and no source file grows past 600 lines (a file that big holds more than one job);
//! child processes are started only through `launcher` (killed on drop), which also holds the one
//! free-port helper and the one reader of a log's tail. `layers` holds the crates to
//! ARCHITECTURE.md's layer table; `rules`, `builds`, `loadgen` and `shop` the invariants a reading
//! of the sources (or `cargo metadata`) can check; `invariants` that each invariant names the
//! tests holding it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod builds;
mod invariants;
mod layers;
mod loadgen;
mod rules;
mod shop;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_LINES: usize = 600;

/// The one place outside `launcher` that spawns a child itself: `.ci/images/build.sh`, a one-shot
/// tool run to completion whose output is streamed line by line as it builds, in our own process
/// group so that a Ctrl-C at the terminal stops it with us.
const STREAMED_ONE_SHOT: &str = "xtask/src/provider.rs";

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `cargo metadata --format-version 1 --offline`, parsed: the one way a test runs cargo (it
/// reads the manifests and the lock file, and builds nothing). Without `deps`, the workspace's
/// packages only; with them, the resolved graph for this host (`cargo -vV`'s `host:`), since
/// the packages of other platforms are not downloaded and `--offline` cannot fetch them.
pub(crate) fn cargo_metadata(deps: bool) -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let run = |args: &[&str]| {
        let out = Command::new(&cargo)
            .args(args)
            .current_dir(root())
            .output()
            .expect("running cargo");
        assert!(
            out.status.success(),
            "cargo {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut args = vec!["metadata", "--format-version", "1", "--offline"];
    let host;
    if deps {
        let version = String::from_utf8(run(&["-vV"])).unwrap();
        host = version
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .expect("cargo -vV names the host")
            .to_owned();
        args.extend(["--filter-platform", &host]);
    } else {
        args.push("--no-deps");
    }
    serde_json::from_slice(&run(&args)).unwrap()
}

/// Every `.rs` file of the workspace, relative to its root.
pub(crate) fn sources(root: &Path) -> Vec<PathBuf> {
    files(root, &["rs"])
}

/// Every file of the workspace with one of `extensions`, relative to its root, leaving out
/// hidden folders, `target/` and `reports/`.
pub(crate) fn files(root: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "reports" {
                    stack.push(path);
                }
            } else if path
                .extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
            {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The paths the code map names: `crate/` headings, then entries indented two spaces, each
/// `src/a.rs b.rs` (a bare name after a path is in that path's folder) or `src/folder/`; deeper
/// indented lines continue an entry's description.
fn code_map(text: &str) -> BTreeSet<String> {
    let block = text
        .split("```")
        .nth(1)
        .expect("ARCHITECTURE.md has its code map in the first code block");
    let mut named = BTreeSet::new();
    let mut krate = String::new();
    for line in block.lines().skip(1) {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if !line.starts_with(' ') {
            // A top-level entry: a crate folder (`loadgen/`) or a file (`Cargo.toml`).
            krate = if first.ends_with('/') {
                first.to_owned()
            } else {
                String::new()
            };
            named.insert(first.trim_end_matches('/').to_owned());
            continue;
        }
        if line.starts_with("   ") {
            // A continuation of the entry above: prose, even where it names files.
            continue;
        }
        let mut folder: Option<String> = None;
        for word in line.split_whitespace() {
            let looks_like_path = word.ends_with(".rs") || word.ends_with('/');
            if !looks_like_path {
                // The description starts: the rest of the line is prose.
                break;
            }
            // `src/a.rs` and `folder/` are the crate's; a bare `b.rs` is in the line's last folder.
            let path = match (&folder, word.contains('/')) {
                (Some(f), false) => format!("{f}{word}"),
                _ => format!("{krate}{word}"),
            };
            folder = Some(match path.rfind('/') {
                Some(i) => path[..=i].to_owned(),
                None => krate.clone(),
            });
            named.insert(path.trim_end_matches('/').to_owned());
        }
    }
    named
}

fn covered(file: &Path, named: &BTreeSet<String>) -> bool {
    let text = file.to_string_lossy();
    if named.contains(text.as_ref()) {
        return true;
    }
    file.ancestors()
        .skip(1)
        .filter(|a| a.components().count() > 1)
        .any(|a| named.contains(a.to_string_lossy().as_ref()))
}

#[test]
fn every_source_file_is_in_the_code_map_and_every_named_path_exists() {
    let root = root();
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let named = code_map(&text);
    let missing: Vec<String> = sources(&root)
        .iter()
        .filter(|f| !covered(f, &named))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name these files (or a folder holding them): {missing:#?}"
    );
    let stale: Vec<&String> = named.iter().filter(|p| !root.join(p).exists()).collect();
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md's code map names paths that do not exist: {stale:#?}"
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = root();
    let long: Vec<String> = sources(&root)
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(root.join(f))
                .unwrap()
                .lines()
                .count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "split these by responsibility (at most {MAX_LINES} lines a file): {long:#?}"
    );
}

#[test]
fn the_code_map_reader_follows_the_maps_shorthand() {
    let named = code_map(
        "```\nloadgen/   lib\n  src/cli/            flags\n  src/threshold.rs verdict.rs  rules\n                      main.rs is prose here\n  tests/it/   one binary\nCargo.toml   manifest\n```\n",
    );
    let want: BTreeSet<String> = [
        "loadgen",
        "loadgen/src/cli",
        "loadgen/src/threshold.rs",
        "loadgen/src/verdict.rs",
        "loadgen/tests/it",
        "Cargo.toml",
    ]
    .map(String::from)
    .into();
    assert_eq!(named, want);
    assert!(covered(Path::new("loadgen/src/cli/plan.rs"), &named));
    assert!(!covered(Path::new("loadgen/src/engine/mod.rs"), &named));
}

#[test]
fn only_a_binarys_main_installs_the_shutdown_signal() {
    // `http_edge::shutdown_signal` installs SIGINT and SIGTERM handlers: a binary's decision,
    // never a library's (ARCHITECTURE.md's first invariant).
    let root = root();
    let callers: Vec<String> = sources(&root)
        .iter()
        .filter(|f| !f.starts_with("http-edge") && !f.ends_with("src/main.rs"))
        .filter(|f| !f.starts_with("xtask/tests/tidy"))
        .filter(|f| {
            std::fs::read_to_string(root.join(f))
                .unwrap()
                .lines()
                .any(|line| {
                    line.contains("http_edge::shutdown_signal")
                        || (line.trim_start().starts_with("use http_edge")
                            && line.contains("shutdown_signal"))
                })
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        callers.is_empty(),
        "only a binary's src/main.rs may call http_edge::shutdown_signal: {callers:#?}"
    );
}

/// `(file, line number)` of every code line outside `launcher/` holding one of `needles`.
fn outside_launcher(root: &Path, needles: &[&str]) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    for file in sources(root) {
        if file.starts_with("launcher") {
            continue;
        }
        let text = std::fs::read_to_string(root.join(&file)).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with("//") && needles.iter().any(|n| code.contains(n)) {
                found.push((file.display().to_string(), i + 1));
            }
        }
    }
    found
}

#[test]
fn child_processes_are_started_only_through_the_launcher() {
    // Spelled in two parts, so that this file does not name itself.
    let needles = [concat!(".spawn", "()"), concat!("Command::spawn", "(")];
    let (streamed, others): (Vec<_>, Vec<_>) = outside_launcher(&root(), &needles)
        .into_iter()
        .partition(|(file, _)| file == STREAMED_ONE_SHOT);
    let others: Vec<String> = others.iter().map(|(f, l)| format!("{f}:{l}")).collect();
    assert!(
        others.is_empty(),
        "start these children with launcher::Launch (own process group or shared, health gate or \
         wait with a deadline, killed on drop), or run a one-shot tool with .output()/.status(): \
         {others:#?}"
    );
    assert!(
        streamed.len() <= 1,
        "{STREAMED_ONE_SHOT} may spawn one streamed one-shot tool, not {}: {streamed:?}",
        streamed.len()
    );
}

#[test]
fn one_free_port_helper_and_one_log_tail_reader_in_the_launcher() {
    let needles = [concat!("fn free_", "port"), concat!("fn log_", "tail")];
    let copies: Vec<String> = outside_launcher(&root(), &needles)
        .iter()
        .map(|(f, l)| format!("{f}:{l}"))
        .collect();
    assert!(
        copies.is_empty(),
        "use launcher::free_port and launcher::log_tail instead of these copies: {copies:#?}"
    );
}
