//! How the workspace is built, read from the sources: the suite compiles the tree once (no test
//! runs cargo but to read `cargo metadata`, no runnable docs block runs it), and every release
//! build selects the same packages, so cargo resolves one feature set and compiles the tree once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::rules::{is_test_file, test_module_start};

/// The file and function holding the one cargo a test may run: `cargo metadata`, which builds
/// nothing.
const METADATA_RUNNER: (&str, &str) = ("xtask/tests/tidy/main.rs", "fn cargo_metadata(");

/// The places that run `cargo build --release`: the launcher behind `cargo xtask`, and xtask's
/// own builds for the commands that need release binaries.
const RELEASE_BUILDERS: [&str; 2] = ["xtask-launch/src/main.rs", "xtask/src/binaries.rs"];

/// The test code of a source: all of a test file, the test module of any other.
fn test_code(root: &Path, file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let start = if is_test_file(file) {
        0
    } else {
        test_module_start(&text)
    };
    let first = text[..start].lines().count();
    text[start..]
        .lines()
        .enumerate()
        .map(|(i, l)| (first + i + 1, l.to_owned()))
        .collect()
}

#[test]
fn no_test_runs_cargo_but_cargo_metadata() {
    let root = super::root();
    // Spelt in pieces, so this file does not name what it looks for.
    let needles = [
        concat!("Command::new(\"", "cargo\")"),
        concat!("var(\"", "CARGO\")"),
        concat!("var_os(\"", "CARGO\")"),
        concat!("env!(\"", "CARGO\")"),
    ];
    let mut hits = Vec::new();
    for file in super::sources(&root) {
        let lines = test_code(&root, &file);
        let path = file.to_string_lossy();
        for (i, (n, line)) in lines.iter().enumerate() {
            if !needles.iter().any(|needle| line.contains(needle)) {
                continue;
            }
            let in_runner = path == METADATA_RUNNER.0
                && lines[..=i]
                    .iter()
                    .rev()
                    .find(|(_, l)| l.contains("fn "))
                    .is_some_and(|(_, l)| l.contains(METADATA_RUNNER.1));
            if !in_runner {
                hits.push(format!("{path}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "a test runs the binaries `cargo test --workspace` built (CARGO_BIN_EXE_*, or xtask with \
         --bin-dir / SHOPLOAD_BIN_DIR), never cargo itself; `cargo metadata` goes through \
         tidy's cargo_metadata(): {hits:#?}"
    );
    let pages: Vec<PathBuf> = super::files(&root, &["md"])
        .into_iter()
        .filter(|p| p == Path::new("README.md") || p.starts_with("docs"))
        .map(|p| root.join(p))
        .collect();
    let mut blocks = Vec::new();
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let mut runnable = false;
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                runnable = !runnable && line.trim_start() == "```sh runnable";
            } else if runnable && line.split_whitespace().any(|w| w == "cargo") {
                let name = page.strip_prefix(&root).unwrap().display().to_string();
                blocks.push(format!("{name}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(
        blocks.is_empty(),
        "xtask's docs test runs the `sh runnable` blocks: they must not run cargo: {blocks:#?}"
    );
}

/// The names of the one `const ..._PACKAGES: [&str; N]` list in `text`.
fn package_list(text: &str) -> Option<Vec<String>> {
    let start = text.find("PACKAGES: [&str;")?;
    let list = &text[start..];
    let list = &list[list.find("= [")? + 3..];
    let list = &list[..list.find("];")?];
    Some(
        list.split(',')
            .map(|p| p.trim().trim_matches('"').to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

#[test]
fn every_release_build_selects_the_same_packages() {
    let root = super::root();
    let mut lists: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    for file in super::sources(&root) {
        if is_test_file(&file) {
            continue;
        }
        let text = std::fs::read_to_string(root.join(&file)).unwrap();
        let code = &text[..test_module_start(&text)];
        if code.contains("\"--release\"") {
            lists.insert(file.display().to_string(), package_list(code));
        }
    }
    for builder in RELEASE_BUILDERS {
        assert!(
            lists.contains_key(builder),
            "{builder} no longer runs `cargo build --release`: update RELEASE_BUILDERS and \
             ARCHITECTURE.md's invariant"
        );
    }
    let unlisted: Vec<&String> = lists
        .iter()
        .filter(|(_, l)| l.is_none())
        .map(|(f, _)| f)
        .collect();
    assert!(
        unlisted.is_empty(),
        "a release build selects its packages from one `const ..._PACKAGES: [&str; N]` list \
         (the same as xtask-launch's): {unlisted:?}"
    );
    let first = lists.values().next().cloned().flatten().unwrap_or_default();
    let differ: Vec<String> = lists
        .iter()
        .filter(|(_, l)| l.as_ref() != Some(&first))
        .map(|(f, l)| format!("{f}: {l:?}"))
        .collect();
    assert!(
        differ.is_empty(),
        "every release build selects the same packages (another set resolves other features \
         and compiles the tree again): {first:?} in {}, but {differ:#?}",
        lists.keys().next().unwrap()
    );
}

#[test]
fn the_package_list_reader_reads_a_wrapped_list() {
    let text = "const RELEASE_PACKAGES: [&str; 2] = [\n    \"xtask\",\n    \"loadgen\",\n];\n";
    assert_eq!(
        package_list(text),
        Some(vec!["xtask".to_owned(), "loadgen".to_owned()])
    );
    assert_eq!(package_list("fn main() {}"), None);
}
