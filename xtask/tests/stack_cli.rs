//! `cargo xtask up/status/down` as a user runs them: the real binary, real servers, and a check
//! that nothing is left running afterwards. Each test has its own state dir, so a stack a developer
//! keeps running in `target/shopload` is never touched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fixtures::stack::{StackRecord, check_postgres, check_redis};
use launcher::{Launch, Service};

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

fn state_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("xtask-cli")
        .join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str], state: &Path) -> Output {
    xtask()
        .args(args)
        .arg("--state-dir")
        .arg(state)
        // The developer's own shell may hold URLs of a running stack: auto must not pick them.
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .unwrap()
}

/// The two `export` lines, as a shell would eval them.
fn exports(stdout: &str) -> (String, String) {
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}='")))
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or_else(|| panic!("no export {name} in: {stdout}"))
            .to_string()
    };
    (value("DATABASE_URL"), value("REDIS_URL"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn detached_round_trip(provider: &str) {
    let state = state_dir(provider);
    let up = run(&["up", "--provider", provider, "--detach"], &state);
    assert!(up.status.success(), "up failed: {}", text(&up.stderr));
    let (database_url, redis_url) = exports(&text(&up.stdout));
    check_postgres(&database_url).await.unwrap();
    check_redis(&redis_url).await.unwrap();
    let record = StackRecord::load(&state.join("stack.json"))
        .unwrap()
        .unwrap();
    assert_eq!(record.provider.to_string(), provider);

    let status = run(&["status"], &state);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stdout));
    assert!(text(&status.stdout).contains(&database_url));

    // A second `up --detach` would orphan the first: it is refused.
    let again = run(&["up", "--provider", provider, "--detach"], &state);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("already recorded"),
        "{}",
        text(&again.stderr)
    );

    let down = run(&["down"], &state);
    assert!(down.status.success(), "down failed: {}", text(&down.stderr));
    assert!(!state.join("stack.json").exists());
    assert!(
        check_postgres(&database_url).await.is_err(),
        "PostgreSQL still answers"
    );
    assert!(
        check_redis(&redis_url).await.is_err(),
        "Redis still answers"
    );
    for process in &record.processes {
        assert!(
            !fixtures_process_alive(process.pid),
            "{} still runs",
            process.name
        );
    }
    if let Some(dir) = &record.data_dir {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    for id in &record.containers {
        let inspect = Command::new("docker")
            .args(["inspect", id])
            .output()
            .unwrap();
        assert!(!inspect.status.success(), "container {id} left behind");
    }

    let status = run(&["status"], &state);
    assert_eq!(status.status.code(), Some(1));
    assert!(text(&status.stdout).contains("no stack recorded"));
}

/// `xtask up` in the foreground. Should an assertion fail before the test's own Ctrl-C, it gets
/// that Ctrl-C as it is dropped, so its PostgreSQL and Redis go with it (a SIGKILL alone, the
/// launcher's drop, would leave them behind); only then is it killed.
struct Foreground(Service);

impl Drop for Foreground {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.interrupt();
            let _ = self.0.wait_blocking(Duration::from_secs(30));
        }
    }
}

fn fixtures_process_alive(pid: u32) -> bool {
    launcher::procfs::stat(pid).is_some_and(|stat| stat.state != 'Z')
}

#[tokio::test(flavor = "multi_thread")]
async fn up_detach_status_down_with_local_servers() {
    detached_round_trip("local").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn up_detach_status_down_with_docker() {
    detached_round_trip("docker").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn foreground_up_cleans_up_on_ctrl_c() {
    let state = state_dir("foreground");
    // In the test's group, as a shell runs it.
    let mut child = Launch::attached(env!("CARGO_BIN_EXE_xtask"))
        .args(["up", "--provider", "local", "--state-dir"])
        .arg(&state)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(launcher::Output::Piped)
        .stderr(launcher::Output::Piped)
        .share_group()
        .start()
        .await
        .map(Foreground)
        .unwrap();
    let child = &mut child.0;
    let mut lines = BufReader::new(child.take_stdout().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let (database_url, redis_url) = exports(&format!("{first}\n{second}\n"));
    check_postgres(&database_url).await.unwrap();
    check_redis(&redis_url).await.unwrap();
    // The data dir as xtask names it: in the state dir, or (as root, when an ancestor of the state
    // dir is closed to the postgres user, as in a CI clone under a 0700 directory) in the system
    // temp dir. Counting the state dir's entries raced with that choice.
    let mut stderr_lines = BufReader::new(child.take_stderr().unwrap()).lines();
    let up_line = stderr_lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("stack up"))
        .expect("xtask up's 'stack up' line");
    let data_dir = PathBuf::from(
        up_line
            .split_once(", data in ")
            .and_then(|(_, rest)| rest.split_once(';'))
            .map(|(dir, _)| dir)
            .unwrap_or_else(|| panic!("no data dir in: {up_line}")),
    );
    assert!(
        data_dir.is_dir(),
        "{} while the stack runs",
        data_dir.display()
    );
    assert!(
        data_dir.join("pg").is_dir(),
        "PostgreSQL's data in {}",
        data_dir.display()
    );

    // What a terminal's Ctrl-C delivers.
    child.interrupt().unwrap();
    let status = child
        .wait(Duration::from_secs(30))
        .await
        .expect("xtask up stops on SIGINT");
    let stderr: Vec<String> = stderr_lines.map(Result::unwrap).collect();
    let stderr = stderr.join("\n");
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("stack stopped"), "{stderr}");
    assert!(!data_dir.exists(), "{} is removed", data_dir.display());
    assert!(check_postgres(&database_url).await.is_err());
    assert!(check_redis(&redis_url).await.is_err());
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let state = state_dir("bad-input");
    let out = run(&["up", "--provider", "podman"], &state);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown provider 'podman'"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&["up", "--provider", "external"], &state);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("DATABASE_URL and REDIS_URL"), "{stderr}");

    std::fs::write(state.join("stack.json"), "{ not json").unwrap();
    let out = run(&["down"], &state);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a stack record"),
        "{}",
        text(&out.stderr)
    );
}
