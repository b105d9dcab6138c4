//! The web UI's HTTP API, through the binary as a user starts it (`loadgen run` without
//! `--headless`), against a stub target: Locust's routes and fields (start, edit, stop, reset,
//! the stats JSON, the CSV downloads equal to the files a run writes), bad forms answered field
//! by field with nothing started, a cross-origin POST refused, basic auth, and Stop and quit.

use std::path::Path;
use std::time::Duration;

use launcher::{Launch, Output, Service};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::stub::{Server, loadgen, scenario, text};

/// A user that asks `/` every 20 ms and, one time in five, a page that fails.
pub const PACED: &str = "wait_time = \"constant 20ms\"\n\
    [[task]]\nname = \"home\"\nweight = 4\n[[task.request]]\npath = \"/\"\n\
    [[task]]\nname = \"broken\"\nweight = 1\n[[task.request]]\npath = \"/status/500\"\n";

/// Locust's `_stats.csv` header.
pub const STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// `loadgen run` serving its UI on a free port; killed when dropped.
pub struct Ui {
    child: Service,
    pub url: String,
    http: reqwest::Client,
}

impl Ui {
    pub async fn start(dir: &Path, args: &[&str]) -> Self {
        // In the test's group, as a Ctrl-C of the run should end it too.
        let mut child = Launch::attached(env!("CARGO_BIN_EXE_loadgen"))
            .current_dir(dir)
            .args(["run", "--web-port", "0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Output::Null)
            .stderr(Output::Piped)
            .share_group()
            .start()
            .await
            .unwrap();
        let stderr = tokio::process::ChildStderr::from_std(child.take_stderr().unwrap()).unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let url = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.strip_prefix("loadgen: web UI on ") {
                    return rest.split_whitespace().next().unwrap().to_owned();
                }
            }
            panic!("loadgen ended without serving its UI");
        })
        .await
        .expect("the UI's address within 20 s");
        // The rest of stderr is drained so a chatty run never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            url,
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    async fn swarm(&self, form: &str, origin: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/swarm", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        let r = request.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// Polls `/stats/requests` until `ok` holds (at most `within`).
    async fn until(&self, within: Duration, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let s = self.json("/stats/requests").await;
            if ok(&s) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} within {within:?}: state {}, user_count {}",
                s["state"],
                s["user_count"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locusts_routes_start_edit_reset_stop_and_download() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "paced.toml", PACED);
    // The process monitor on this test's own process: the server side's live plumbing without a
    // database (the monitors' own tests cover PostgreSQL and Redis).
    let me = format!("stub={}", std::process::id());
    let ui = Ui::start(
        dir.path(),
        &[
            "-H",
            &server.url(),
            "-f",
            "paced.toml",
            "--csv",
            "out/x",
            "--pid",
            &me,
        ],
    )
    .await;

    let page = ui.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/assets/app.js"));
    let defaults = ui.json("/api/ui").await;
    assert_eq!(defaults["scenario"], "paced.toml");
    assert_eq!(ui.json("/stats/requests").await["state"], "ready");
    assert_eq!(ui.get("/stats/requests/csv").await.status(), 404);

    // A bad form: every field at fault named, nothing started.
    let (status, bad) = ui
        .swarm(
            "user_count=0&spawn_rate=-2&host=not%20a%20url&scenario=nope.toml",
            None,
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["success"], false);
    for field in ["user_count", "spawn_rate", "host", "scenario"] {
        assert!(bad["errors"][field].is_string(), "{field}: {bad}");
    }
    assert_eq!(ui.json("/stats/requests").await["state"], "ready");

    // Another site's form in the same browser.
    let (status, refused) = ui
        .swarm("user_count=5&spawn_rate=5", Some("https://evil.example"))
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(ui.json("/stats/requests").await["state"], "ready");

    let (status, started) = ui
        .swarm("user_count=5&spawn_rate=5&run_time=2m", None)
        .await;
    assert_eq!(
        (status, &started["message"]),
        (200, &Value::from("Swarming started")),
        "{started}"
    );
    let s = ui
        .until(Duration::from_secs(15), "5 users running", |s| {
            s["user_count"] == 5
                && s["state"] == "running"
                && s["stats"][0]["num_requests"].as_u64() > Some(0)
        })
        .await;
    let total = s["stats"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(total["name"], "Aggregated");
    for key in [
        "num_requests",
        "num_failures",
        "avg_response_time",
        "current_rps",
        "median_response_time",
        "ninety_ninth_response_time",
        "response_time_percentile_0.95",
    ] {
        assert!(total.get(key).is_some(), "{key} in {total}");
    }
    assert!(
        s["current_response_time_percentiles"]["response_time_percentile_0.95"].is_number(),
        "{s}"
    );
    assert!(
        s["fail_ratio"].as_f64().unwrap() > 0.0,
        "the /status/500 task fails: {s}"
    );

    // Edit: ramp to 20 at 20/s.
    let (status, edited) = ui.swarm("user_count=20&spawn_rate=20", None).await;
    assert_eq!(
        (status, &edited["message"]),
        (200, &Value::from("Swarming edited")),
        "{edited}"
    );
    ui.until(Duration::from_secs(15), "20 users", |s| {
        s["user_count"] == 20
    })
    .await;

    let reset = ui.get("/stats/reset").await;
    assert_eq!(reset.text().await.unwrap(), "ok");
    ui.until(Duration::from_secs(5), "the reset", |s| s["resets"] == 1)
        .await;

    // The live download: Locust's header, this run's rows.
    let live_csv = ui.get("/stats/requests/csv").await;
    assert_eq!(live_csv.status(), 200);
    let live_csv = live_csv.text().await.unwrap();
    assert_eq!(live_csv.lines().next(), Some(STATS_HEADER));

    let history = ui.json("/api/history").await;
    assert_eq!(history["full"], true);
    assert!(
        !history["points"].as_array().unwrap().is_empty(),
        "{history}"
    );
    let marks: Vec<&str> = history["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["label"].as_str())
        .collect();
    assert!(marks.contains(&"users 5 -> 20 at 20/s"), "{marks:?}");
    assert!(marks.contains(&"stats reset"), "{marks:?}");
    // The server's side on the same seconds: the followed processes, each second.
    let server_seconds = history["server"].as_array().unwrap();
    assert!(!server_seconds.is_empty(), "{history}");
    let names: Vec<&str> = server_seconds.last().unwrap()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"stub") && names.contains(&"loadgen"),
        "{names:?}"
    );
    assert!(server_seconds.last().unwrap()["processes"][0]["rss_bytes"].as_u64() > Some(0));
    let run = history["run"].as_u64().unwrap();
    let last_t = history["points"].as_array().unwrap().last().unwrap()["t"]
        .as_u64()
        .unwrap();
    let since = ui
        .json(&format!("/api/history?run={run}&since={last_t}"))
        .await;
    assert_eq!(since["full"], false);
    assert!(
        since["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["t"].as_u64() > Some(last_t))
    );

    // POST, as Locust 2.47's scripts send it (the reset above was a GET, as older ones).
    let stopped = ui
        .http
        .post(format!("{}/stop", ui.url))
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 200);
    let stopped: Value = stopped.json().await.unwrap();
    assert_eq!(stopped["message"], "Test stopped");
    ui.until(Duration::from_secs(15), "the stop", |s| {
        s["state"] == "stopped"
    })
    .await;

    // After the run: the downloads are the bytes the run wrote to --csv.
    for (route, file) in [
        ("/stats/requests/csv", "out/x_stats.csv"),
        ("/stats/failures/csv", "out/x_failures.csv"),
        ("/exceptions/csv", "out/x_exceptions.csv"),
    ] {
        let r = ui.get(route).await;
        assert_eq!(r.status(), 200, "{route}");
        assert!(
            r.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment")
        );
        let written = std::fs::read(dir.path().join(file)).unwrap();
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            written.as_slice(),
            "{route} = {file}"
        );
    }
    let report = ui.get("/stats/report").await.text().await.unwrap();
    assert!(report.contains("<html"), "the HTML report");
    let summary: Value = ui.get("/api/summary.json").await.json().await.unwrap();
    assert_eq!(summary["meta"]["scenario"], "paced");
    let findings = ui.json("/api/findings").await;
    assert!(findings["fail_band"].is_string(), "{findings}");
    // The Edit made a step of its own: the step table has the 5 users and the 20.
    let users: Vec<u64> = findings["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["users"].as_u64())
        .collect();
    assert_eq!(users, [5, 20], "{findings}");
    let tasks = ui.json("/tasks").await;
    let ratio = tasks["total"]["paced"]["tasks"]["home"]["ratio"]
        .as_f64()
        .unwrap();
    assert!((ratio - 0.8).abs() < 1e-9, "{tasks}");
    let logs = ui.json("/logs").await;
    assert!(
        logs["master"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("users 5 -> 20")),
        "{logs}"
    );

    // New test, then Stop and quit: the process ends by itself, with the run's exit code (1: a
    // request failed, no thresholds).
    assert_eq!(
        ui.http
            .post(format!("{}/api/new", ui.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(ui.json("/stats/requests").await["state"], "ready");
    let mut ui = ui;
    let quit = ui
        .http
        .post(format!("{}/quit", ui.url))
        .send()
        .await
        .unwrap();
    assert_eq!(quit.status(), 200);
    let status = ui
        .child
        .wait(Duration::from_secs(15))
        .await
        .expect("loadgen quits");
    assert_eq!(status.code(), Some(0), "no run kept after New test: exit 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_autostart_and_autoquit() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "paced.toml", PACED);
    let mut ui = Ui::start(
        dir.path(),
        &[
            "-H",
            &server.url(),
            "-f",
            "paced.toml",
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "3s",
            "--web-auth",
            "ann:s3cret",
            "--autostart",
            "--autoquit",
            "1",
        ],
    )
    .await;
    let anonymous = ui.get("/stats/requests").await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let wrong = ui
        .http
        .get(format!("{}/stop", ui.url))
        .basic_auth("ann", Some("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let s: Value = ui
        .http
        .get(format!("{}/stats/requests", ui.url))
        .basic_auth("ann", Some("s3cret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(s["state"], "ready", "--autostart started the run: {s}");
    // 3 s of load, then --autoquit 1: the process ends by itself, exit 1 (a request failed).
    let status = ui
        .child
        .wait(Duration::from_secs(30))
        .await
        .expect("--autoquit ends loadgen");
    assert_eq!(status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_without_credentials_exits_2() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "-H",
            &server.url(),
            "--web-host",
            "0.0.0.0",
            "--web-port",
            "0",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--web-auth"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phases_stages_run_from_the_form_with_their_marks_and_step_table() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "paced.toml", PACED);
    std::fs::write(
        dir.path().join("steps.toml"),
        "name = \"steps\"\nscenario = \"paced.toml\"\nthresholds = [\"p95 < 1000ms\", \"fail_ratio < 1%\"]\n\
         [[stage]]\nusers = 2\nspawn_rate = 10\nduration = \"2s\"\n\
         [[stage]]\nname = \"more\"\nusers = 6\nspawn_rate = 10\nduration = \"2s\"\n",
    )
    .unwrap();
    let ui = Ui::start(
        dir.path(),
        &["-H", &server.url(), "--phase", "steps.toml", "-u", "1"],
    )
    .await;
    let defaults = ui.json("/api/ui").await;
    assert_eq!(
        defaults["phase_stages"].as_array().map(Vec::len),
        Some(2),
        "{defaults}"
    );
    assert_eq!(defaults["user_count"], 1, "-u sets the form's first value");

    let (status, started) = ui.swarm("stages=phase", None).await;
    assert_eq!(status, 200, "{started}");
    ui.until(Duration::from_secs(20), "the end of both stages", |s| {
        s["state"] == "stopped"
    })
    .await;
    let history = ui.json("/api/history").await;
    let marks: Vec<&str> = history["marks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["label"].as_str())
        .collect();
    assert_eq!(marks, ["stage 1: 2 users", "stage 2: more"], "{history}");
    let findings = ui.json("/api/findings").await;
    let steps = findings["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{findings}");
    assert_eq!(
        (steps[1]["stage"].as_u64(), steps[1]["users"].as_u64()),
        (Some(2), Some(6))
    );
    // The /status/500 task breaks the phase's 1 % in every step, each judged on its own.
    assert!(
        steps
            .iter()
            .all(|s| s["broken"].as_array().is_some_and(|b| b
                .iter()
                .any(|x| x.as_str().unwrap().starts_with("fail_ratio")))),
        "{findings}"
    );

    // Without a phase file the choice is refused, field by field.
    let plain = Ui::start(dir.path(), &["-H", &server.url(), "-f", "paced.toml"]).await;
    let (status, refused) = plain.swarm("stages=phase", None).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["errors"]["stages"]
            .as_str()
            .unwrap()
            .contains("--phase"),
        "{refused}"
    );
}
