//! `cargo xtask ARGS`: what runs first. xtask depends on every crate of the workspace, so on a new
//! machine building it is the whole first build (minutes). This program compiles in a second and
//! does what must not wait for that build:
//! 1. for the commands that start PostgreSQL and Redis, a coarse check that some provider can:
//!    both URLs given, a Docker engine that answers with its images present, pullable or
//!    buildable (xtask builds the Debian stand-ins when nothing can be pulled; that needs
//!    debootstrap), or local `initdb`, `postgres` and `redis-server`; none of these fails now,
//!    with what to install;
//! 2. one release build of xtask and the four binaries together (cargo resolves the features of
//!    all five at once, so the tree is compiled once), cargo's progress shown, with a line saying
//!    how long a first build takes;
//! 3. runs `target/release/xtask ARGS`, in this process's place.
//!
//! xtask makes the real decision (`xtask/src/provider.rs`); this one only refuses early what
//! cannot work.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

const PACKAGES: [&str; 5] = ["xtask", "loadgen", "target-shop", "toss-mock", "fixtures"];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if let Err(why) = provider_possible(&args) {
        eprintln!("error: PostgreSQL and Redis: {why}");
        return ExitCode::from(2);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let xtask = target.join("release").join("xtask");
    if !xtask.exists() {
        eprintln!(
            "building shopload in release (xtask, loadgen, target-shop, toss-mock, fixtures): a \
             first build compiles about 400 crates, 5-15 minutes on 2 cores; later ones take \
             seconds"
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    // Not --quiet: on a first build cargo's progress is the only sign of life for minutes.
    build.current_dir(&root).args(["build", "--release"]);
    for p in PACKAGES {
        build.args(["-p", p]);
    }
    without_cargo_run_env(&mut build);
    match build.status() {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!(
                "error: cargo build --release -p {} failed ({s})",
                PACKAGES.join(" -p ")
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: running cargo: {e}");
            return ExitCode::from(2);
        }
    }
    let mut run = Command::new(&xtask);
    run.args(&args);
    without_cargo_run_env(&mut run);
    let e = run.exec();
    eprintln!("error: running {}: {e}", xtask.display());
    ExitCode::from(2)
}

/// `cargo run` hands the program it runs its own package's variables; build scripts that watch
/// them (ring's watches CARGO_MANIFEST_DIR) would rebuild half the tree for the build started
/// here, and xtask would take them for its own.
fn without_cargo_run_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name_str = name.to_string_lossy();
        if name_str.starts_with("CARGO_PKG_")
            || name_str.starts_with("CARGO_MANIFEST_")
            || matches!(
                name_str.as_ref(),
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(&name);
        }
    }
}

/// For the commands that start the stack: Err with what to do when no provider can work.
fn provider_possible(args: &[OsString]) -> Result<(), String> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let starts_stack = matches!(
        args.first().map(String::as_str),
        Some("phase" | "repro" | "up" | "ui")
    );
    let help = args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "--list"));
    // A phase against a host the user runs needs no stack of ours.
    let own_host = args
        .iter()
        .any(|a| a == "--host" || a.starts_with("--host="));
    if !starts_stack || help || own_host {
        return Ok(());
    }
    let flag = args
        .iter()
        .position(|a| a == "--provider")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--provider=").map(str::to_owned))
        });
    let provider = flag
        .or_else(|| std::env::var("SHOPLOAD_PROVIDER").ok())
        .unwrap_or_else(|| "auto".into());
    let urls =
        std::env::var_os("DATABASE_URL").is_some() && std::env::var_os("REDIS_URL").is_some();
    let docker = || {
        Command::new("docker")
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing_local = || -> Vec<&'static str> {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        // Debian keeps initdb and postgres in /usr/lib/postgresql/<version>/bin.
        if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
            dirs.extend(
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin")),
            );
        }
        ["initdb", "postgres", "redis-server"]
            .into_iter()
            .filter(|program| !dirs.iter().any(|d| d.join(program).is_file()))
            .collect()
    };
    let install = "`apt-get install postgresql redis-server` for local servers, or a Docker \
                   engine, or DATABASE_URL and REDIS_URL of servers you run";
    match provider.as_str() {
        "external" if !urls => Err("--provider external needs DATABASE_URL and REDIS_URL".into()),
        "docker" if !docker() => Err(
            "--provider docker: no Docker engine answers (`docker info` \
             failed); start it, or use --provider local"
                .into(),
        ),
        "docker" => images_possible(),
        // Auto takes Docker when it answers and has (or can get) its images, else local servers.
        "auto" if !urls && docker() => images_possible().or_else(|why| {
            if missing_local().is_empty() {
                Ok(())
            } else {
                Err(why)
            }
        }),
        "local" => match missing_local() {
            missing if missing.is_empty() => Ok(()),
            missing => Err(format!(
                "--provider local: {} not found; {install}",
                missing.join(", ")
            )),
        },
        "auto" if !urls && !docker() => match missing_local() {
            missing if missing.is_empty() => Ok(()),
            missing => Err(format!(
                "none can be had here: no Docker engine answers, and {} not found locally; \
                 {install}",
                missing.join(", ")
            )),
        },
        _ => Ok(()),
    }
}

/// Docker answers: its images are there, can be pulled, or can be built (the Debian stand-ins need
/// debootstrap); Err with what to install otherwise. Images named by the environment are xtask's
/// to check.
fn images_possible() -> Result<(), String> {
    let given = std::env::var_os("SHOPLOAD_POSTGRES_IMAGE").is_some()
        || std::env::var_os("SHOPLOAD_REDIS_IMAGE").is_some();
    let docker_ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let present = |pair: [&str; 2]| docker_ok(&["image", "inspect", pair[0], pair[1]]);
    let ok = given
        || present(["postgres:16-alpine", "redis:7-alpine"])
        || present(["shopload/postgres:15-bookworm", "shopload/redis:7-bookworm"])
        || on_path("debootstrap")
        // A registry's "no" comes at once (no such host); only reached without debootstrap.
        || docker_ok(&["pull", "-q", "postgres:16-alpine"]);
    if ok {
        Ok(())
    } else {
        Err(
            "Docker answers but has no postgres:16-alpine or redis:7-alpine image and cannot \
             pull them (no registry); their Debian stand-ins are built here with debootstrap: \
             `apt-get install debootstrap`, or `apt-get install postgresql redis-server` for \
             local servers"
                .into(),
        )
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
