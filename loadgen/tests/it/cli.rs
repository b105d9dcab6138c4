//! The command line: bad input exits 2 with a one-line reason before any load.

use crate::stub::{ROOT, Server, loadgen, scenario, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_exits_2_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = launcher::free_port().unwrap();
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &format!("http://127.0.0.1:{port}"),
            "-t",
            "5s",
            "--csv",
            "x",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: nothing answers at http://127.0.0.1:")
            && err.contains("(connection refused): start the server first"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        !dir.path().join("x_stats.csv").exists(),
        "no report for a run that never happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_and_files_exit_2_naming_the_problem() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let host = server.url();

    let out = loadgen(dir.path(), &["run", "--headless", "--hots", &host]).await;
    assert_eq!(out.status.code(), Some(2), "an unknown flag");
    assert!(text(&out.stderr).contains("--hots"));

    std::fs::write(
        dir.path().join("p.toml"),
        "scenario = \"shop\"\n\n[[stage]]\nusers = 5\nduration = \"1 fortnight-ish\"\n",
    )
    .unwrap();
    let out = loadgen(
        dir.path(),
        &["run", "--headless", "--phase", "p.toml", "-H", &host],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: p.toml:5: stage[0].duration:"),
        "{err}"
    );

    scenario(
        dir.path(),
        "bad.toml",
        "[[task]]\n[[task.request]]\nmethod = \"GET\"\npath = \"/{rand 1}\"\n",
    );
    let out = loadgen(
        dir.path(),
        &["run", "--headless", "-f", "bad.toml", "-H", &host],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: bad.toml:4: task[0].request[0].path:"),
        "{err}"
    );

    for (args, says) in [
        (
            vec!["run", "--headless", "-H", "ftp://example.invalid"],
            "must start with http:// or https://",
        ),
        (
            vec!["run", "--headless", "-H", "https://example.invalid"],
            "https://example.invalid/ is unreachable",
        ),
        (
            vec!["run", "--headless", "-H", &host, "-f", "nope"],
            "neither a built-in",
        ),
        (
            vec![
                "run",
                "--headless",
                "-H",
                &host,
                "--threshold",
                "p95 < fast",
            ],
            "--threshold",
        ),
        (
            vec![
                "run",
                "--headless",
                "-H",
                &host,
                "--threshold",
                "p95{GET /nowhere/} < 1s",
            ],
            "no endpoint",
        ),
        (
            vec!["run", "--headless", "-H", &host, "-t", "soon"],
            "--run-time",
        ),
        (vec!["run", "--headless"], "no host"),
    ] {
        let out = loadgen(dir.path(), &args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_come_from_the_environment_too() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "s.toml", ROOT);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .current_dir(dir.path())
        .args(["run", "--headless", "-f", "s.toml"])
        .env("LOADGEN_HOST", server.url())
        .env("LOADGEN_USERS", "2")
        .env("LOADGEN_RUN_TIME", "1s")
        .env("LOADGEN_CSV", "env")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dir.path().join("env_stats.csv").exists());
}

/// Locust's exit codes: failed requests with no threshold give `--exit-code-on-error` (1 by
/// default); thresholds, when there are any, decide alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_exit_like_locust_unless_thresholds_decide() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "fails.toml",
        "[[task]]\n[[task.request]]\npath = \"/status/500\"\n",
    );
    let host = server.url();
    let base = [
        "run",
        "--headless",
        "-H",
        &host,
        "-f",
        "fails.toml",
        "-u",
        "1",
        "-t",
        "1s",
        "--only-summary",
    ];
    for (extra, code) in [
        (&[][..], 1),
        (&["--exit-code-on-error", "3"][..], 3),
        (&["--exit-code-on-error", "0"][..], 0),
        (&["--threshold", "fail_ratio <= 100%"][..], 0),
        (
            &[
                "--threshold",
                "fail_ratio < 1%",
                "--exit-code-on-error",
                "0",
            ][..],
            1,
        ),
    ] {
        let out = loadgen(dir.path(), &[&base[..], extra].concat()).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "{extra:?}: {}",
            text(&out.stderr)
        );
    }
}
