//! `cargo xtask seed` as the README has a new user run it: after `cargo xtask up --detach`, with no
//! URL given, the recorded stack is migrated and seeded; `--clean` removes it all again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn xtask(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn seed_the_recorded_stack_then_clean_it() {
    let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("xtask-seed")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&state).unwrap();

    let out = xtask(&["seed"], &state);
    assert_eq!(out.status.code(), Some(2), "no stack yet");
    assert!(
        text(&out.stderr).contains("cargo xtask up --detach"),
        "{}",
        text(&out.stderr)
    );

    let up = xtask(&["up", "--provider", "local", "--detach"], &state);
    assert!(up.status.success(), "{}", text(&up.stderr));

    let seed = xtask(&["seed"], &state);
    let stdout = text(&seed.stdout);
    assert!(seed.status.success(), "{}", text(&seed.stderr));
    assert!(stdout.starts_with("seeded 1000 users (1000 new), 1000 profiles, 5 categories, 100 products (100 new), 100 stock rows in "), "{stdout}");

    let again = xtask(&["seed"], &state);
    assert!(
        text(&again.stdout).contains("1000 users (0 new)"),
        "{}",
        text(&again.stdout)
    );

    let bad = xtask(&["seed", "--users", "0"], &state);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        text(&bad.stderr).trim(),
        "error: --users must be at least 1"
    );
    let bad = xtask(&["seed", "--users", "lots"], &state);
    assert_eq!(bad.status.code(), Some(2), "clap refuses a non-number");

    let clean = xtask(&["seed", "--clean"], &state);
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    assert!(
        text(&clean.stdout).starts_with("removed 1000 users, 100 products, 5 categories"),
        "{}",
        text(&clean.stdout)
    );

    let down = xtask(&["down"], &state);
    assert!(down.status.success(), "{}", text(&down.stderr));
}
