//! The docs held to the code, as ordinary tests:
//! - every flag of every command's `--help` is on that command's page in docs/;
//! - every command line in a code block of README.md or docs/ uses only flags its command has;
//! - docs/diagnosis.md explains exactly the finding ids of `loadgen::diagnosis::FindingId`;
//! - the blocks marked `sh runnable` run against a real Toss mock and succeed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory as _;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The long flags a `--help` text lists (`  -u, --users <USERS>`, `      --headless`).
fn flags_of_help(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line = match line.strip_prefix('-') {
                Some(rest) if !rest.starts_with('-') => rest.split_once(", ")?.1,
                _ => line,
            };
            let name: String = line
                .strip_prefix("--")?
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            (!name.is_empty() && name != "help" && name != "version").then_some(name)
        })
        .collect()
}

/// A command as the docs write it, its page, and its flags.
struct Documented {
    command: String,
    page: &'static str,
    flags: BTreeSet<String>,
}

fn help_of_clap(mut command: clap::Command, path: &[&str]) -> String {
    for name in path {
        command = command.find_subcommand(name).unwrap().clone();
    }
    command.render_long_help().to_string()
}

fn help_of_xtask(sub: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo xtask {sub} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

fn documented() -> Vec<Documented> {
    let mut all = vec![
        (
            "loadgen run".to_owned(),
            "docs/loadgen.md",
            help_of_clap(loadgen::cli::Cli::command(), &["run"]),
        ),
        (
            "loadgen worker".to_owned(),
            "docs/loadgen.md",
            help_of_clap(loadgen::cli::Cli::command(), &["worker"]),
        ),
        (
            "loadgen compare".to_owned(),
            "docs/compare.md",
            help_of_clap(loadgen::cli::Cli::command(), &["compare"]),
        ),
        (
            "target-shop".to_owned(),
            "docs/target-shop.md",
            help_of_clap(target_shop::cli::Args::command(), &[]),
        ),
        (
            "toss-mock".to_owned(),
            "docs/toss-mock.md",
            help_of_clap(toss_mock::cli::Args::command(), &[]),
        ),
        (
            "fixtures seed".to_owned(),
            "docs/seed.md",
            help_of_clap(
                <fixtures::cli::SeedArgs as clap::Args>::augment_args(clap::Command::new("seed")),
                &[],
            ),
        ),
    ];
    for (sub, page) in [
        ("up", "docs/stack.md"),
        ("down", "docs/stack.md"),
        ("status", "docs/stack.md"),
        ("seed", "docs/seed.md"),
        ("phase", "docs/phase.md"),
        ("ui", "docs/web-ui.md"),
        ("repro", "docs/repro.md"),
        ("bench", "docs/bench.md"),
        ("fuzz-api", "docs/fuzz-api.md"),
    ] {
        all.push((format!("cargo xtask {sub}"), page, help_of_xtask(sub)));
    }
    all.into_iter()
        .map(|(command, page, help)| {
            let flags = flags_of_help(&help);
            assert!(!flags.is_empty(), "{command}: no flag read from its --help");
            Documented {
                command,
                page,
                flags,
            }
        })
        .collect()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// `--name` written as itself: not the start of a longer flag.
fn mentions(text: &str, flag: &str) -> bool {
    let needle = format!("--{flag}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn every_flag_of_every_command_is_on_its_page() {
    let mut missing = Vec::new();
    for d in documented() {
        let page = read(d.page);
        for flag in &d.flags {
            if !mentions(&page, flag) {
                missing.push(format!("{}: --{flag} is not in {}", d.command, d.page));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// README.md and every page of docs/ but the contracts (which quote other tools too).
fn pages() -> Vec<PathBuf> {
    let root = root();
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}

/// A fenced block: its info string, first line number, and its lines with backslash
/// continuations joined (each joined line keeps the number of its first line).
struct Block {
    info: String,
    line: usize,
    text: String,
    lines: Vec<(usize, String)>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let fence = raw.trim_start().starts_with("```");
        match open.as_mut() {
            None if fence => {
                open = Some(Block {
                    info: raw.trim_start().trim_start_matches('`').trim().to_owned(),
                    line: n,
                    text: String::new(),
                    lines: Vec::new(),
                })
            }
            None => {}
            Some(_) if fence => out.extend(open.take()),
            Some(block) => {
                block.text.push_str(raw);
                block.text.push('\n');
                let (first, mut joined) = pending.take().unwrap_or((n, String::new()));
                match raw.strip_suffix('\\') {
                    Some(head) => {
                        joined.push_str(head);
                        joined.push(' ');
                        pending = Some((first, joined));
                    }
                    None => {
                        joined.push_str(raw);
                        block.lines.push((first, joined));
                    }
                }
            }
        }
    }
    out
}

/// The command a shell line runs, as [`Documented::command`] names it, and the flags it passes.
fn command_line(line: &str) -> Option<(String, Vec<String>)> {
    let line = line.trim().trim_start_matches("$ ");
    // The first command of a list or pipeline; a comment ends the line.
    let line = line.split(" #").next()?;
    let line = line.split(['|', ';']).next()?.split("&&").next()?;
    let mut words = line
        .split_whitespace()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'))
        .peekable();
    let first = words.next()?;
    let program = first.rsplit('/').next()?;
    let command = match program {
        "cargo" => {
            if words.next()? != "xtask" {
                return None;
            }
            format!("cargo xtask {}", words.next()?)
        }
        "loadgen" | "fixtures" => format!("{program} {}", words.next()?),
        "target-shop" | "toss-mock" => program.to_owned(),
        _ => return None,
    };
    let flags = words
        .filter_map(|w| w.strip_prefix("--"))
        .map(|f| f.split('=').next().unwrap_or(f).to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    Some((command, flags))
}

#[test]
fn the_docs_examples_use_only_flags_that_exist() {
    let known: BTreeMap<String, BTreeSet<String>> = documented()
        .into_iter()
        .map(|d| (d.command, d.flags))
        .collect();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for block in blocks(&std::fs::read_to_string(&page).unwrap()) {
            for (n, line) in &block.lines {
                let Some((command, flags)) = command_line(line) else {
                    continue;
                };
                let Some(has) = known.get(&command) else {
                    continue;
                };
                checked += 1;
                for flag in flags {
                    if flag != "help" && flag != "version" && !has.contains(&flag) {
                        wrong.push(format!("{name}:{n}: {command} has no --{flag}"));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        checked >= 20,
        "only {checked} command lines found in the docs"
    );
}

#[test]
fn the_findings_page_explains_every_finding_id_and_no_other() {
    let page = read("docs/diagnosis.md");
    let documented: BTreeSet<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("### `")?.strip_suffix('`'))
        .collect();
    let ids: BTreeSet<&str> = loadgen::diagnosis::FindingId::ALL
        .iter()
        .map(|id| id.as_str())
        .collect();
    assert_eq!(
        documented, ids,
        "docs/diagnosis.md's `### `id`` headings must be FindingId's ids"
    );
}

#[test]
fn the_runnable_blocks_run_against_a_real_toss_mock() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(toss_mock::serve(
        toss_mock::Config::default(),
        listener,
        std::future::pending(),
    ));
    let mut ran = 0;
    for page in pages() {
        let name = page.strip_prefix(root()).unwrap().display().to_string();
        for block in blocks(&std::fs::read_to_string(&page).unwrap()) {
            if block.info != "sh runnable" {
                continue;
            }
            let out = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &block.text])
                .env("TOSS", &url)
                .output()
                .expect("bash and curl are needed to run the docs' examples");
            assert!(
                out.status.success(),
                "{name}:{}: the block failed ({})\nstdout:\n{}\nstderr:\n{}",
                block.line,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 1, "no `sh runnable` block in README.md or docs/");
}

#[test]
fn command_lines_are_read_as_a_shell_would() {
    assert_eq!(
        command_line("$ cargo xtask phase smoke --baseline reports/x -t 30s # note"),
        Some(("cargo xtask phase".into(), vec!["baseline".into()],))
    );
    assert_eq!(
        command_line("RUST_LOG=info target/release/loadgen run --host=http://x --headless | tee"),
        Some(("loadgen run".into(), vec!["host".into(), "headless".into()]))
    );
    assert_eq!(command_line("curl -sS http://x"), None);
    let b = blocks("text\n```sh runnable\na \\\n  --b\nc\n```\n");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].info, "sh runnable");
    assert_eq!(
        b[0].lines,
        vec![(3, "a    --b".to_owned()), (5, "c".to_owned())]
    );
    assert_eq!(
        flags_of_help("  -u, --users <USERS>\n      --headless\n  -h, --help\n"),
        BTreeSet::from(["users".to_owned(), "headless".to_owned()])
    );
}
