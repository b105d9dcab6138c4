//! `cargo xtask repro all`, as a user runs it: every error of the plan shows its symptom with its
//! bug on and not after the fix (the command's exit code says both held for each).

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

/// The `xtask` binary that `cargo test --workspace` has just built beside this test (xtask's own
/// tests need it), else `cargo xtask`. `cargo run -p xtask` resolves features for xtask alone, so
/// on a fresh checkout it would compile most dependencies a second time (about a quarter of an
/// hour on two cores) for the same program.
pub fn xtask() -> Command {
    let built = std::env::current_exe()
        .ok()
        .and_then(|test| Some(test.parent()?.parent()?.join("xtask")))
        .filter(|path| path.is_file());
    match built {
        Some(path) => Command::new(path),
        None => {
            let mut cargo =
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
            cargo.arg("xtask");
            cargo
        }
    }
}

pub async fn every_repro_shows_its_symptom_with_the_bug_and_not_after_the_fix(_world: Arc<World>) {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let reports = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        xtask()
            .current_dir(root)
            .args(["repro", "all", "--report-dir"])
            .arg(&reports)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo xtask repro all: {}\n{stdout}\n{stderr}",
        out.status
    );
    for (name, finding) in REPROS {
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
    for (name, says) in REFUSED {
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
    assert!(
        section(&stdout, "pgbouncer").contains("of its limit 12"),
        "{}",
        section(&stdout, "pgbouncer")
    );
    let log = std::fs::read_to_string(dir.path().join("pgbouncer/fixed/pgbouncer.log")).unwrap();
    assert!(
        log.contains("pool_mode=transaction default_pool_size=6"),
        "{log}"
    );
    // The closing table: one row per reproduction, each reproduced.
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
    println!("cargo xtask repro all:\ncase {table}");
    assert_eq!(rows.len(), REPROS.len() + REFUSED.len(), "{table}");
    assert!(
        rows.iter()
            .all(|r| r.trim_end().ends_with("reproduced") && !r.contains("NOT ")),
        "{table}"
    );
    // Each reproduction's two runs through the comparison: the list's p95 and the statements
    // per request, before and after, on its page.
    let page = std::fs::read_to_string(dir.path().join("n-plus-one/compare.html")).unwrap();
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
    assert!(
        stdout.contains("405 Method Not Allowed · Allow: GET, HEAD, OPTIONS"),
        "{stdout}"
    );
}
