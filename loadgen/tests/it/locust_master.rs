//! `loadgen worker` under a real Locust master (from the project's venv, pinned in
//! `.ci/requirements.txt`): the master's own CSV files count exactly what the workers sent and
//! what they measured themselves; a worker killed mid-run is marked missing and the run still
//! ends; the master quitting ends its workers with 0; no master is a clear exit 2.

use std::path::Path;
use std::time::Duration;

use launcher::{Launch, Output, Service, free_port};

use crate::celery::venv_bin;
use crate::stub::{self, text};

/// The master's locustfile: it only names the user class; the workers run their own scenario.
const MASTER: &str = "from locust import HttpUser, task\n\n\
class ShopUser(HttpUser):\n    @task\n    def nothing(self):\n        pass\n";

/// Three of four tasks answer 200, one 500: failures and errors travel too.
const SCENARIO: &str = "wait_time = \"constant 50ms\"\n\
    [[task]]\nname = \"home\"\nweight = 3\n[[task.request]]\npath = \"/\"\n\
    [[task]]\nname = \"broken\"\nweight = 1\n[[task.request]]\npath = \"/status/500\"\n";

/// In the test's group, as the processes it replaces were: a Ctrl-C of the run ends them too.
async fn master(dir: &Path, port: u16, host: &str, run_time: &str, users: u32) -> Service {
    std::fs::write(dir.join("master.py"), MASTER).unwrap();
    Launch::new(venv_bin("locust"), dir.join("master.log"))
        .name("the Locust master")
        .current_dir(dir)
        .args([
            "-f",
            "master.py",
            "--master",
            "--headless",
            "--expect-workers",
            "2",
        ])
        .args(["--master-bind-host", "127.0.0.1", "--master-bind-port"])
        .arg(port.to_string())
        .args([
            "-u",
            &users.to_string(),
            "-r",
            &users.to_string(),
            "-t",
            run_time,
        ])
        .args(["-H", host, "--csv", "master", "--only-summary"])
        .stdout(Output::Null)
        .share_group()
        .start()
        .await
        .unwrap()
}

async fn worker(dir: &Path, port: u16, name: &str) -> Service {
    Launch::new(
        env!("CARGO_BIN_EXE_loadgen"),
        dir.join(format!("{name}.log")),
    )
    .name(name)
    .current_dir(dir)
    .args([
        "worker",
        "--master-port",
        &port.to_string(),
        "-f",
        "scenario.toml",
    ])
    .args(["--json", &format!("{name}.json"), "--master-wait", "30s"])
    .env_remove("RUST_LOG")
    .env_remove("LOCUST_MASTER_NODE_HOST")
    .env_remove("LOCUST_MASTER_NODE_PORT")
    .stdout(Output::Null)
    .share_group()
    .start()
    .await
    .unwrap()
}

async fn exit_code(child: &mut Service, within: Duration, what: &str) -> i32 {
    child
        .wait(within)
        .await
        .unwrap_or_else(|e| panic!("{what} did not end within {within:?}: {e}"))
        .code()
        .unwrap_or(-1)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// The master's `_stats.csv` row for `name`: (requests, failures).
fn master_counts(dir: &Path, name: &str) -> (u64, u64) {
    let csv = read(dir, "master_stats.csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    for row in reader.records() {
        let row = row.unwrap();
        if &row[1] == name {
            return (row[2].parse().unwrap(), row[3].parse().unwrap());
        }
    }
    panic!("no {name} row in the master's _stats.csv:\n{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_loadgen_workers_report_exactly_to_a_real_locust_master() {
    let server = stub::Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("scenario.toml"), SCENARIO).unwrap();
    let port = free_port().unwrap();
    let mut m = master(d, port, &server.url(), "10s", 6).await;
    let mut w1 = worker(d, port, "w1").await;
    let mut w2 = worker(d, port, "w2").await;
    let master_code = exit_code(&mut m, Duration::from_secs(60), "the master").await;
    let log = read(d, "master.log");
    // The master quitting ends each worker, with 0, after it wrote its own summary.
    for (w, name) in [(&mut w1, "w1"), (&mut w2, "w2")] {
        let code = exit_code(w, Duration::from_secs(15), name).await;
        assert_eq!(
            code,
            0,
            "{name}:\n{}\nmaster:\n{log}",
            read(d, &format!("{name}.log"))
        );
    }
    assert!(log.contains("2 workers connected"), "{log}");
    let own: Vec<serde_json::Value> = ["w1.json", "w2.json"]
        .iter()
        .map(|f| stub::summary(d, f))
        .collect();
    let sum = |key: &str| -> u64 {
        own.iter()
            .map(|s| s["aggregate"][key].as_u64().unwrap())
            .sum()
    };
    let (requests, failures) = master_counts(d, "Aggregated");
    assert!(requests > 100, "the workers sent load: {requests}");
    assert_eq!(
        requests,
        sum("requests"),
        "the master counts what the workers measured"
    );
    assert_eq!(failures, sum("failures"), "and the same failures");
    assert!(failures > 0, "the /status/500 task fails");
    assert_eq!(master_counts(d, "/status/500").0, failures);
    // Locust's exit code: 1 when any request failed.
    assert_eq!(master_code, 1, "{log}");
    let failures_csv = read(d, "master_failures.csv");
    assert!(
        failures_csv.contains("/status/500") && failures_csv.contains("500"),
        "the errors reached the master:\n{failures_csv}"
    );
    // Each worker's summary is a shard of the master's run: they merge, exactly.
    let mut shards: Vec<(u64, u64)> = own
        .iter()
        .map(|s| {
            let shard = &s["meta"]["shard"];
            (
                shard["index"].as_u64().unwrap(),
                shard["count"].as_u64().unwrap(),
            )
        })
        .collect();
    shards.sort_unstable();
    assert_eq!(shards, [(1, 2), (2, 2)]);
    assert_eq!(own[0]["meta"]["host"], server.url().as_str());
    let merged = stub::loadgen(d, &["merge", "w1.json", "w2.json", "--json", "all.json"]).await;
    assert_eq!(merged.status.code(), Some(1), "{}", text(&merged.stderr));
    let all = stub::summary(d, "all.json");
    assert_eq!(all["aggregate"]["requests"].as_u64(), Some(requests));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_marked_missing_and_the_run_still_ends() {
    let server = stub::Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("scenario.toml"), SCENARIO).unwrap();
    let port = free_port().unwrap();
    let mut m = master(d, port, &server.url(), "14s", 4).await;
    let mut w1 = worker(d, port, "w1").await;
    let w2 = worker(d, port, "w2").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !read(d, "master.log").contains("All users spawned") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the master did not spawn all users within 30 s:\n{}",
            read(d, "master.log")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // After at least one report of each worker (every 3 s); the master's run is 14 s either way.
    tokio::time::sleep(Duration::from_secs(4)).await;
    // SIGKILL, reaped.
    drop(w2);
    let code = exit_code(&mut m, Duration::from_secs(60), "the master").await;
    let log = read(d, "master.log");
    assert!(
        log.contains("failed to send heartbeat, setting state to missing"),
        "the master marks the killed worker missing:\n{log}"
    );
    assert!(
        code == 0 || code == 1,
        "the run ends by itself: exit {code}\n{log}"
    );
    assert_eq!(exit_code(&mut w1, Duration::from_secs(15), "w1").await, 0);
    let (requests, _) = master_counts(d, "Aggregated");
    let w1_requests = stub::summary(d, "w1.json")["aggregate"]["requests"]
        .as_u64()
        .unwrap();
    assert!(
        requests > w1_requests,
        "the killed worker's reports before it died count too: {requests} on the master, \
         {w1_requests} from the worker left\n{log}"
    );
}

#[tokio::test]
async fn no_master_at_the_port_is_a_clear_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().unwrap().to_string();
    let out = stub::loadgen(
        dir.path(),
        &[
            "worker",
            "--master-port",
            &port,
            "--master-wait",
            "2s",
            "-H",
            "http://127.0.0.1:1",
        ],
    )
    .await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("no Locust master answered at 127.0.0.1:{port}"))
            && err.contains("connection refused"),
        "{err}"
    );
}
