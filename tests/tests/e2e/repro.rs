//! `cargo xtask repro`, as a user runs it: every error of the plan shows its symptom with its bug
//! on and not after the fix (the command's exit code says both held for each). The repros run as
//! three `cargo xtask repro NAME...` commands of about equal load time, each with a stack of its
//! own, in three lanes beside the other tests; together they are every repro `repro all` runs
//! (`--list` is checked against them), each with its whole section and the closing table.

use std::process::Command;
use std::sync::Arc;

use loadgen::diagnosis::FindingId;
use loadgen::summary::Summary;

use crate::world::World;

/// Each repro that runs its load both ways and the finding the diagnosis must name with its bug
/// on (and not after the fix).
const REPROS: [(&str, Option<FindingId>); 15] = [
    ("405", Some(FindingId::MethodNotAllowed)),
    ("401-users", Some(FindingId::Unauthorized)),
    ("401-expiry", Some(FindingId::TokenExpiry)),
    ("401-scheme", Some(FindingId::Unauthorized)),
    ("stock", None),
    ("serializer", Some(FindingId::ReservationSerializer)),
    ("pool", Some(FindingId::PoolSaturated)),
    ("n-plus-one", Some(FindingId::NPlusOne)),
    ("no-cache", Some(FindingId::NoCache)),
    ("inline-jobs", Some(FindingId::InlineJobs)),
    ("oversell", Some(FindingId::Oversell)),
    ("job-backlog", Some(FindingId::JobBacklog)),
    ("missing-index", Some(FindingId::MissingIndex)),
    ("memory", Some(FindingId::MemoryGrowth)),
    ("pgbouncer", Some(FindingId::DbConnections)),
];

/// The repros refused before any load with the bug on, and what their refusal must say.
const REFUSED: [(&str, &str); 3] = [
    (
        "misconfigured",
        "refused before any load: target-shop refused to start: ImproperlyConfigured: ",
    ),
    (
        "nothing-listening",
        "refused before any load: nothing answers at http://127.0.0.1:",
    ),
    ("shared-headers", "shared-header.toml:"),
];

/// The console section of one reproduction (`== repro NAME: ...` up to the next).
fn section<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .split("\n== repro ")
        .find(|s| s.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no section for {name}:\n{stdout}"))
}

/// The findings' wire names, so a failed assertion lists them as summary.json spells them.
fn finding_ids(summary: &std::path::Path) -> Vec<&'static str> {
    Summary::read(summary)
        .unwrap()
        .findings
        .iter()
        .map(|f| f.id.as_str())
        .collect()
}

/// The `xtask` binary that `cargo test --workspace` has just built beside this test, told to take
/// loadgen, the shop, the mock and the seeder from the same directory (`--bin-dir`, by its
/// variable): one compile of the tree serves the whole suite, and no test runs `cargo build`.
pub fn xtask() -> Command {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.to_owned()))
        .expect("the test binary's directory");
    let xtask = dir.join("xtask");
    assert!(
        xtask.is_file(),
        "{} is missing: `cargo test --workspace` builds it (or `cargo build --workspace` before \
         `cargo test -p tests`)",
        xtask.display()
    );
    let mut command = Command::new(xtask);
    command.env("SHOPLOAD_BIN_DIR", &dir);
    command
}

/// The repros in three groups of about equal load time (2 runs of 10-20 s each).
const GROUPS: [&[&str]; 3] = [
    &["405", "401-users", "job-backlog", "memory", "pgbouncer"],
    &[
        "401-expiry",
        "401-scheme",
        "pool",
        "inline-jobs",
        "oversell",
        "misconfigured",
        "nothing-listening",
    ],
    &[
        "stock",
        "serializer",
        "n-plus-one",
        "no-cache",
        "missing-index",
        "shared-headers",
    ],
];

pub async fn the_first_third_of_the_repros_show_their_symptom_with_the_bug_and_not_after_the_fix(
    _world: Arc<World>,
) {
    every_repro_of(GROUPS[0]).await;
}

pub async fn the_second_third_of_the_repros_show_their_symptom_with_the_bug_and_not_after_the_fix(
    _world: Arc<World>,
) {
    every_repro_of(GROUPS[1]).await;
}

pub async fn the_last_third_of_the_repros_show_their_symptom_with_the_bug_and_not_after_the_fix(
    _world: Arc<World>,
) {
    every_repro_of(GROUPS[2]).await;
}

/// The groups are exactly the repros `cargo xtask repro --list` names (but `401` and `all`) and
/// the ones this file checks: a repro added to the catalogue and left out here fails this.
pub async fn the_groups_hold_every_repro_once(_world: Arc<World>) {
    let out = tokio::task::spawn_blocking(|| xtask().args(["repro", "--list"]).output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success());
    let mut listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|n| n != "401" && n != "all")
        .collect();
    let mut grouped: Vec<String> = GROUPS
        .iter()
        .flat_map(|g| g.iter())
        .map(|n| (*n).to_owned())
        .collect();
    let mut checked: Vec<String> = REPROS
        .iter()
        .map(|(n, _)| *n)
        .chain(REFUSED.iter().map(|(n, _)| *n))
        .map(str::to_owned)
        .collect();
    listed.sort();
    grouped.sort();
    checked.sort();
    assert_eq!(grouped, listed, "the groups against `repro --list`");
    assert_eq!(checked, listed, "the checks against `repro --list`");
}

/// `cargo xtask repro NAMES...` and every check of each named repro's section, files and row.
async fn every_repro_of(names: &'static [&'static str]) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let reports = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        xtask()
            .current_dir(root)
            .arg("repro")
            .args(names)
            .arg("--report-dir")
            .arg(&reports)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let ours = |name: &str| names.contains(&name);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo xtask repro {}: {}\n{stdout}\n{stderr}",
        names.join(" "),
        out.status
    );
    for (name, finding) in REPROS.into_iter().filter(|(n, _)| ours(n)) {
        let section = section(&stdout, name);
        assert!(
            section.contains("  symptom: ")
                && section.contains("reproduced: the symptom appears with the bug"),
            "{name}:\n{section}"
        );
        assert!(
            section.contains("cause: ") && section.contains("fix: "),
            "{name}"
        );
        if let Some(id) = finding {
            let with_bug = finding_ids(&dir.path().join(name).join("with-bug/summary.json"));
            let fixed = finding_ids(&dir.path().join(name).join("fixed/summary.json"));
            assert!(
                with_bug.contains(&id.as_str()),
                "{name}: {id} in {with_bug:?}"
            );
            assert!(!fixed.contains(&id.as_str()), "{name}: {id} in {fixed:?}");
            assert!(section.contains("  finding: "), "{name}:\n{section}");
        }
    }
    for (name, says) in REFUSED.into_iter().filter(|(n, _)| ours(n)) {
        let section = section(&stdout, name);
        assert!(
            section.contains(says)
                && section.contains("diagnosis: the refusal names it with the bug, absent after")
                && section.contains("reproduced: the symptom appears with the bug"),
            "{name}:\n{section}"
        );
        // With the fix, the load ran and left its summary.
        assert!(dir.path().join(name).join("fixed/summary.json").is_file());
        assert!(!dir.path().join(name).join("with-bug/summary.json").exists());
    }
    // The database's own limit named, and PgBouncer really between the shop and PostgreSQL in
    // the fixed run (its start-up line from the container's log).
    if ours("pgbouncer") {
        pgbouncer_in_between(&stdout, dir.path());
    }
    closing_table(&stdout, names.len());
    if ours("n-plus-one") {
        n_plus_one_compared(&stdout, dir.path());
    }
    if ours("405") {
        assert!(
            stdout.contains("405 Method Not Allowed · Allow: GET, HEAD, OPTIONS"),
            "{stdout}"
        );
    }
}

fn pgbouncer_in_between(stdout: &str, dir: &std::path::Path) {
    assert!(
        section(stdout, "pgbouncer").contains("of its limit 12"),
        "{}",
        section(stdout, "pgbouncer")
    );
    let log = std::fs::read_to_string(dir.join("pgbouncer/fixed/pgbouncer.log")).unwrap();
    assert!(
        log.contains("pool_mode=transaction default_pool_size=6"),
        "{log}"
    );
}

/// The closing table: one row per reproduction, each reproduced.
fn closing_table(stdout: &str, rows_wanted: usize) {
    let table = stdout
        .split("\ncase ")
        .nth(1)
        .unwrap_or_else(|| panic!("no closing table:\n{stdout}"));
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    // The table in the test's output: CI's log shows what every case did.
    println!("cargo xtask repro:\ncase {table}");
    assert_eq!(rows.len(), rows_wanted, "{table}");
    assert!(
        rows.iter()
            .all(|r| r.trim_end().ends_with("reproduced") && !r.contains("NOT ")),
        "{table}"
    );
}

/// Each reproduction's two runs through the comparison: the list's p95 and the statements per
/// request, before and after, on its page.
fn n_plus_one_compared(stdout: &str, dir: &std::path::Path) {
    let page = std::fs::read_to_string(dir.join("n-plus-one/compare.html")).unwrap();
    assert!(
        page.contains("<td>GET /api/products/</td><td>p95</td>")
            && page.contains("statements_per_request"),
        "{page}"
    );
    let n_plus_one = stdout
        .split("\n== repro n-plus-one:")
        .nth(1)
        .unwrap_or_default();
    assert!(
        n_plus_one.contains("  compared: postgres statements_per_request: "),
        "{n_plus_one}"
    );
}
