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
        // Images named by the environment (CI names the stand-ins) are xtask's to check.
        .env_remove("SHOPLOAD_POSTGRES_IMAGE")
        .env_remove("SHOPLOAD_REDIS_IMAGE")
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

/// A Docker engine that answers but has no image and no registry (a fresh machine here), and no
/// debootstrap to build the stand-ins: `docker` is a script that answers `info` and fails the rest,
/// as such an engine does.
#[test]
fn docker_without_images_or_debootstrap_fails_before_building_naming_debootstrap() {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = tempfile::tempdir().unwrap();
    let docker = bin.path().join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\n[ \"$1\" = info ] && exit 0\necho \"no such image or registry: $*\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    for args in [
        &["phase", "smoke"][..],
        &["phase", "smoke", "--provider", "docker"],
    ] {
        let out = launch(args, bin.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("apt-get install debootstrap"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("building shopload"), "{stderr}");
    }
    // With debootstrap on the PATH the stand-ins can be built: on to the build (no cargo here).
    let debootstrap = bin.path().join("debootstrap");
    std::fs::write(&debootstrap, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&debootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = launch(&["phase", "smoke"], bin.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("running cargo"), "{stderr}");
}
