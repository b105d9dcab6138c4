//! A machine where PostgreSQL and Redis cannot be had hears so from `cargo xtask phase` at once,
//! before any build: the launcher runs with a PATH that holds no docker and no redis-server (and
//! no cargo: reaching the build would fail differently).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn launch(args: &[&str], path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask-launch"))
        .args(args)
        .env("PATH", path)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("SHOPLOAD_PROVIDER")
        .env_remove("CARGO")
        .output()
        .unwrap()
}

#[test]
fn no_provider_fails_before_building_and_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    for args in [&["phase", "smoke"][..], &["repro", "n-plus-one"], &["up"]] {
        let out = launch(args, empty.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("redis-server"), "{stderr}");
        assert!(
            stderr.contains("apt-get install postgresql redis-server"),
            "{stderr}"
        );
        assert!(!stderr.contains("building shopload"), "{stderr}");
    }
    let out = launch(&["phase", "smoke", "--provider", "docker"], empty.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no Docker engine answers"), "{stderr}");
}

#[test]
fn commands_that_start_no_stack_go_on_to_the_build() {
    let empty = tempfile::tempdir().unwrap();
    // No cargo on this PATH: the build is where it stops, which shows the check let it through.
    for args in [
        &["phase", "smoke", "--host", "http://127.0.0.1:8000"][..],
        &["down"],
        &["phase", "--help"],
    ] {
        let out = launch(args, empty.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("running cargo"), "{args:?}: {stderr}");
    }
}
