//! Users: log in once, one re-login on a 401 (counted), handled business errors, captures,
//! the spawn rate, and a target that dies mid-run.

use crate::stub::{ROOT, Server, loadgen, scenario, summary, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_makes_one_re_login_and_is_counted() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        r#"
wait_time = "constant 100ms"
[auth]
header = "Bearer {access}"
[auth.login]
method = "POST"
path = "/login"
capture = { access = "/access" }
[[task]]
[[task.request]]
path = "/private"
expect = [200]
"#,
    );
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "2s",
            "--json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let s = summary(dir.path(), "s.json");
    assert_eq!(
        s["relogins"], 1,
        "only the user given the refused token logs in again"
    );
    let entries = s["entries"].as_array().unwrap();
    let login = entries.iter().find(|e| e["name"] == "/login").unwrap();
    assert_eq!(
        login["requests"], 4,
        "three logins on start, one after the 401: never a login per task"
    );
    let private = entries.iter().find(|e| e["name"] == "/private").unwrap();
    assert_eq!(
        private["failures"], 1,
        "the refused request itself is a failure"
    );
    assert!(private["requests"].as_u64().unwrap() > 20);
    assert!(text(&out.stdout).contains("Re-logins after a 401: 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_business_errors_have_their_own_column_unless_the_body_is_not_json() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        r#"
wait_time = "constant 50ms"
[[on_start]]
path = "/json"
capture = { ids = "/results/*/id" }
[[task]]
[[task.request]]
path = "/status/400?product={pick ids}"
name = "json 400"
expect = [201]
handled = [400]
[[task.request]]
path = "/never-reached"
[[task]]
[[task.request]]
path = "/plain/400"
name = "html 400"
handled = [400]
"#,
    );
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "2",
            "-t",
            "2s",
            "--json",
            "s.json",
            "--seed",
            "3",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let s = summary(dir.path(), "s.json");
    let entries = s["entries"].as_array().unwrap();
    let find = |n: &str| {
        entries
            .iter()
            .find(|e| e["name"] == n)
            .unwrap_or_else(|| panic!("{n}: {entries:?}"))
    };
    let handled = find("json 400");
    assert_eq!(handled["failures"], 0);
    assert_eq!(handled["handled"], handled["requests"]);
    let html = find("html 400");
    assert_eq!(
        html["failures"], html["requests"],
        "a 400 that is not JSON is a failure"
    );
    assert!(
        entries.iter().all(|e| e["name"] != "/never-reached"),
        "a task stops at its first non-success"
    );
    assert!(
        s["exceptions"].as_array().unwrap().is_empty(),
        "{:?}",
        s["exceptions"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_ramp_at_the_spawn_rate() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        &format!("wait_time = \"constant 200ms\"\n{ROOT}"),
    );
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-u",
            "8",
            "-r",
            "2",
            "-t",
            "6s",
            "--json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = summary(dir.path(), "s.json");
    let users: Vec<u64> = s["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["users"].as_u64().unwrap())
        .collect();
    // 2 users a second: about 2, 4, 6, 8 at the end of seconds 1..4 (one user either way for timing).
    for (second, expected) in [(0usize, 2u64), (1, 4), (2, 6)] {
        let got = users[second];
        assert!(
            got.abs_diff(expected + 1) <= 1,
            "second {}: {got} users, expected about {expected}: {users:?}",
            second + 1
        );
    }
    assert_eq!(*users.iter().max().unwrap(), 8, "{users:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_mid_run_is_counted_and_the_run_reports() {
    let mut server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        &format!("wait_time = \"constant 50ms\"\n{ROOT}"),
    );
    let url = server.url();
    let run = tokio::spawn({
        let dir = dir.path().to_owned();
        async move {
            loadgen(
                &dir,
                &[
                    "run",
                    "--headless",
                    "-H",
                    &url,
                    "-f",
                    "s.toml",
                    "-u",
                    "3",
                    "-t",
                    "3s",
                    "--json",
                    "s.json",
                    "--csv",
                    "x",
                ],
            )
            .await
        }
    });
    // Some requests answered before the target dies.
    server.wait_served(20).await;
    server.kill().await;
    let out = run.await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "no threshold was set and requests failed: Locust's --exit-code-on-error: {}",
        text(&out.stderr)
    );
    let s = summary(dir.path(), "s.json");
    let agg = &s["aggregate"];
    assert!(agg["requests"].as_u64().unwrap() > agg["failures"].as_u64().unwrap());
    assert!(agg["failures"].as_u64().unwrap() > 5, "{agg}");
    let failures = std::fs::read_to_string(dir.path().join("x_failures.csv")).unwrap();
    assert!(
        failures.contains("ConnectionRefusedError") || failures.contains("RemoteDisconnected"),
        "{failures}"
    );
}
