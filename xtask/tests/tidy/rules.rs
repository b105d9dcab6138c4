//! ARCHITECTURE.md's invariants that a reading of the sources can hold, and the README's size:
//! library code reads no environment, binds no fixed port and installs no signal handler, `/proc`
//! is read only in `launcher::procfs`, a pid is signalled only when it is known to be ours, no
//! test is ignored, nothing points at the shared folder beside the project (the contracts are the
//! project's own, in docs/contracts/), and the README stays a page. The source readers here serve
//! the other tidy files too.

use std::path::{Path, PathBuf};

/// README.md is a page: what it is, the quick start, a section per job, links to docs/.
const README_MAX_LINES: usize = 170;

/// Crates that are programs only: their whole code is the app's side, where the environment,
/// arguments and signals are read.
const PROGRAM_CRATES: [&str; 3] = ["xtask/", "xtask-launch/", "tests/"];

/// Library sources: `src/` of every crate but the programs, without `main.rs` files and test
/// modules (`tests.rs`, `*_tests.rs`, `tests/` folders).
pub(crate) fn library_sources(root: &Path) -> Vec<PathBuf> {
    super::sources(root)
        .into_iter()
        .filter(|f| {
            let text = f.to_string_lossy();
            let name = f.file_name().unwrap().to_string_lossy();
            text.contains("/src/")
                && !PROGRAM_CRATES.iter().any(|c| text.starts_with(c))
                && name != "main.rs"
                && !is_test_file(f)
        })
        .collect()
}

/// A file that holds only tests: under a `tests/` folder, or a source file's test module
/// (`tests.rs`, `*_tests.rs`, `*_props.rs`).
pub(crate) fn is_test_file(file: &Path) -> bool {
    let name = file.file_name().unwrap().to_string_lossy();
    file.components().any(|c| c.as_os_str() == "tests")
        || name.ends_with("tests.rs")
        || name.ends_with("_props.rs")
}

/// Where a source file's test module starts: the first top-level `#[cfg(test)]` whose item,
/// past any other attributes, is a `mod` (a `#[cfg(test)] use` above it is still code).
pub(crate) fn test_module_start(text: &str) -> usize {
    let mut at = 0;
    while let Some(found) = text[at..].find("\n#[cfg(test)]") {
        let start = at + found + 1;
        let item = text[start..]
            .lines()
            .skip(1)
            .find(|l| !l.starts_with("#["))
            .unwrap_or("");
        if item.starts_with("mod ") || item.starts_with("pub mod ") {
            return start;
        }
        at = start;
    }
    text.len()
}

/// The lines of `file` that are code, not a comment and not its test module: `(line number,
/// line)`, numbered from 1.
pub(crate) fn code_lines(root: &Path, file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    text[..test_module_start(&text)]
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(i, line)| (i + 1, line.to_owned()))
        .collect()
}

/// `file:line: line` for every line of code (not a comment, not a test) in `files` containing
/// a needle.
pub(crate) fn code_lines_with(root: &Path, files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for file in files {
        for (n, line) in code_lines(root, file) {
            if needles.iter().any(|needle| line.contains(needle)) {
                hits.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    hits
}

#[test]
fn library_code_reads_no_environment_and_installs_no_signal_handler() {
    let root = super::root();
    // The servers' shutdown future lives in their shared edge crate, and only a binary's main
    // calls it (`only_a_binarys_main_installs_the_shutdown_signal`).
    let sources: Vec<PathBuf> = library_sources(&root)
        .into_iter()
        .filter(|f| f != Path::new("http-edge/src/shutdown.rs"))
        .collect();
    let hits = code_lines_with(
        &root,
        &sources,
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
    let text_files = ["rs", "md", "toml", "sh", "yml", "yaml", "html", "js"];
    let hits: Vec<String> = super::files(&root, &text_files)
        .into_iter()
        .filter(|f| {
            std::fs::read_to_string(root.join(f))
                .is_ok_and(|text| text.contains(&["..", "/shared"].concat()))
        })
        .map(|f| f.display().to_string())
        .collect();
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

/// Files that signal only children they spawned and have not reaped (a `Child` they hold, or
/// launcher's `Service`): an unreaped child's pid cannot have been given to another process.
const HELD_CHILD_SIGNALLERS: [&str; 2] = ["launcher/src/service.rs", "fixtures/src/stack/local.rs"];

/// Whether `line` sends a signal by pid: `kill(`/`killpg(` as a free function (nix's or libc's;
/// not `child.kill()`, which acts on a held child), or the `kill` program.
fn sends_signal(line: &str) -> bool {
    let by_pid = ["kill(", "killpg("].iter().any(|call| {
        line.match_indices(call).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            !before.is_some_and(|c| c == '.' || c == '_' || c.is_alphanumeric())
        })
    });
    by_pid || line.contains("Command::new(\"kill\")")
}

/// The line index of the `fn` that holds line `at` (the nearest function head above it).
fn enclosing_fn(lines: &[(usize, String)], at: usize) -> usize {
    (0..=at)
        .rev()
        .find(|&i| {
            let words: Vec<&str> = lines[i].1.split_whitespace().collect();
            words.iter().position(|w| *w == "fn").is_some_and(|p| {
                words[..p]
                    .iter()
                    .all(|w| w.starts_with("pub") || ["async", "const", "unsafe"].contains(w))
            })
        })
        .unwrap_or(0)
}

#[test]
fn processes_are_signalled_only_as_held_children_or_after_their_cmdline_is_checked() {
    let root = super::root();
    let mut hits = Vec::new();
    for file in super::sources(&root) {
        let path = file.to_string_lossy().into_owned();
        if !path.contains("/src/") || is_test_file(&file) {
            continue;
        }
        let lines = code_lines(&root, &file);
        for (i, (n, line)) in lines.iter().enumerate() {
            if !sends_signal(line) || HELD_CHILD_SIGNALLERS.contains(&path.as_str()) {
                continue;
            }
            let checked = lines[enclosing_fn(&lines, i)..i]
                .iter()
                .any(|(_, l)| l.contains("is_running(") || l.contains("procfs::cmdline("));
            if !checked {
                hits.push(format!("{path}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "these signal a pid not known to be theirs: signal a child you hold (launcher::Service, \
         a std Child), or check first in the same function that /proc/PID/cmdline is still the \
         recorded program (launcher::procfs::cmdline, as fixtures' record::is_running does): \
         {hits:#?}"
    );
}

#[test]
fn library_code_binds_no_fixed_port() {
    let root = super::root();
    let mut hits = Vec::new();
    for file in library_sources(&root) {
        for (n, line) in code_lines(&root, &file) {
            let fixed = line.match_indices("bind(").any(|(at, _)| {
                let args = &line[at + "bind(".len()..];
                let port = if let Some(text) = args.strip_prefix('"') {
                    text.split('"').next().and_then(|a| a.rsplit(':').next())
                } else if let Some(tuple) = args.strip_prefix('(') {
                    tuple.split(')').next().and_then(|t| t.rsplit(',').next())
                } else {
                    None
                };
                port.is_some_and(|p| {
                    let p = p.trim();
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && p != "0"
                })
            });
            if fixed {
                hits.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "library code binds port 0 or the address its caller passes in (main reads the flag): \
         {hits:#?}"
    );
}

#[test]
fn no_test_is_ignored() {
    let root = super::root();
    let needle = concat!("#[", "ignore");
    let hits: Vec<String> = super::sources(&root)
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            text.lines()
                .enumerate()
                .filter(|(_, l)| l.contains(needle))
                .map(|(i, l)| format!("{}:{}: {}", file.display(), i + 1, l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        hits.is_empty(),
        "a test that cannot get what it needs fails saying what is missing; none is skipped: \
         {hits:#?}"
    );
}

#[test]
fn no_code_escapes_markup_by_hand() {
    // maud and quick-xml escape what they are given; a hand escaper is where one missed call puts
    // a server's text into a page unescaped.
    let root = super::root();
    let files: Vec<PathBuf> = super::sources(&root)
        .into_iter()
        .filter(|f| !f.starts_with("xtask/tests/tidy"))
        .collect();
    let hits = code_lines_with(
        &root,
        &files,
        // Spelled in parts, so that this file does not name what it looks for.
        &[
            concat!("fn ", "esc("),
            concat!("fn escape", "_html("),
            concat!("fn html", "_escape("),
            concat!("\"&", "amp;\""),
        ],
    );
    assert!(
        hits.is_empty(),
        "build HTML with maud and XML with quick-xml, which escape by default: {hits:#?}"
    );
}
