//! `cargo xtask repro all`, as a user runs it: every error of the plan shows its symptom with its
//! bug on and not after the fix (the command's exit code says both held for each).

use std::process::Command;
use std::sync::Arc;

use crate::world::World;

/// Each repro and the finding the diagnosis must name with its bug on (and not after the fix).
const REPROS: [(&str, Option<&str>); 11] = [
    ("405", Some("method-not-allowed")),
    ("401-users", Some("unauthorized")),
    ("401-expiry", Some("token-expiry")),
    ("401-scheme", Some("unauthorized")),
    ("stock", None),
    ("serializer", Some("reservation-serializer")),
    ("pool", Some("pool-saturated")),
    ("n-plus-one", Some("n-plus-one")),
    ("no-cache", Some("no-cache")),
    ("inline-jobs", Some("inline-jobs")),
    ("oversell", Some("oversell")),
];

fn finding_ids(summary: &std::path::Path) -> Vec<String> {
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The `xtask` binary that `cargo test --workspace` has just built beside this test (xtask's own
/// tests need it), else `cargo xtask`. `cargo run -p xtask` resolves features for xtask alone, so
/// on a fresh checkout it would compile most dependencies a second time (about a quarter of an
/// hour on two cores) for the same program.
fn xtask() -> Command {
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
        let section = stdout
            .split("\n== repro ")
            .find(|s| s.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no section for {name}:\n{stdout}"));
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
                with_bug.iter().any(|f| f == id),
                "{name}: {id} in {with_bug:?}"
            );
            assert!(!fixed.iter().any(|f| f == id), "{name}: {id} in {fixed:?}");
            assert!(section.contains("  finding: "), "{name}:\n{section}");
        }
    }
    assert!(
        stdout.contains("405 Method Not Allowed · Allow: GET, HEAD, OPTIONS"),
        "{stdout}"
    );
}
