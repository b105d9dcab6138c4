//! A real Locust master (from the project's venv, pinned in `.ci/requirements.txt`) with two
//! `loadgen worker`s running the shop scenario against the real shop: the master's CSV counts
//! exactly what the workers measured, endpoint by endpoint.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use launcher::{Launch, Output, free_port};
use loadgen::summary::Summary;

use crate::world::{Shop, World, loadgen_worker};

const MASTER: &str = "from locust import HttpUser, task\n\n\
class ShopUser(HttpUser):\n    @task\n    def nothing(self):\n        pass\n";

/// Locust from the project's venv (made on first use; `SHOPLOAD_VENV` names another).
fn locust() -> PathBuf {
    let given = std::env::var_os("SHOPLOAD_VENV").map(PathBuf::from);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    fixtures::venv::program(&root, given.as_deref(), "locust").unwrap_or_else(|e| {
        panic!("this test runs the real Locust master from the project's venv: {e}")
    })
}

/// (requests, failures) of each row of the master's `_stats.csv`, by "METHOD name".
fn master_rows(csv: &str) -> Vec<(String, u64, u64)> {
    csv.lines()
        .skip(1)
        .filter_map(|line| {
            // Names have no commas here; Locust quotes none of them.
            let cells: Vec<&str> = line.split(',').collect();
            let name = format!("{} {}", cells.first()?, cells.get(1)?);
            Some((
                name.trim().to_owned(),
                cells.get(2)?.parse().ok()?,
                cells.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

pub async fn two_loadgen_workers_drive_the_shop_under_a_real_locust_master(world: Arc<World>) {
    let shop = Shop::start(&world, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("master.py"), MASTER).unwrap();
    let port = free_port().unwrap().to_string();
    // In the test's group, as a Ctrl-C of the run should end it too.
    let mut master = Launch::new(locust(), d.join("master.log"))
        .name("the Locust master")
        .stdout(Output::File(d.join("master.out")))
        .share_group()
        .current_dir(d)
        .args([
            "-f",
            "master.py",
            "--master",
            "--headless",
            "--expect-workers",
            "2",
        ])
        .args([
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            &port,
        ])
        .args(["-u", "10", "-r", "10", "-t", "20s", "-H", &shop.url])
        .args(["--csv", "master", "--only-summary"])
        .start()
        .await
        .unwrap();
    let workers: Vec<_> = ["w1", "w2"]
        .iter()
        .map(|name| {
            let args: Vec<String> = [
                "--master-port",
                &port,
                "--scenario",
                "shop",
                "--var",
                &format!("toss_url={}", shop.mock_url),
                "--json",
                d.join(format!("{name}.json")).to_str().unwrap(),
                "--master-wait",
                "30s",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            tokio::spawn(loadgen_worker(args))
        })
        .collect();
    let status = master
        .wait(Duration::from_secs(90))
        .await
        .expect("the master ends by itself (-t 20s)");
    let log = std::fs::read_to_string(d.join("master.log")).unwrap();
    for w in workers {
        let code = tokio::time::timeout(Duration::from_secs(20), w)
            .await
            .expect("a worker ends when its master quits")
            .unwrap();
        assert_eq!(code, 0, "{log}");
    }
    assert_eq!(status.code(), Some(0), "no request failed:\n{log}");
    let own: Vec<Summary> = ["w1.json", "w2.json"]
        .iter()
        .map(|f| Summary::read(d.join(f)).unwrap())
        .collect();
    let rows = master_rows(&std::fs::read_to_string(d.join("master_stats.csv")).unwrap());
    let total = rows.iter().find(|r| r.0 == "Aggregated").unwrap();
    let requests: u64 = own.iter().map(|s| s.aggregate.requests).sum();
    assert!(requests > 50, "the workers drove the shop: {requests}");
    assert_eq!(
        total.1, requests,
        "the master counts what the workers measured"
    );
    assert_eq!(total.2, 0);
    for endpoint in [
        "POST /api/auth/login/",
        "POST /api/orders/",
        "POST /api/payments/confirm/",
    ] {
        let on_master = rows.iter().find(|r| r.0 == endpoint);
        let measured: u64 = own
            .iter()
            .flat_map(|s| &s.entries)
            .filter(|e| format!("{} {}", e.method, e.name) == endpoint)
            .map(|e| e.requests)
            .sum();
        assert_eq!(on_master.map(|r| r.1), Some(measured), "{endpoint}");
    }
    eprintln!(
        "locust master + 2 loadgen workers: {requests} requests ({} + {}), 0 failed\n\
         the master's console:\n{log}{}\nthe master's master_stats.csv:\n{}",
        own[0].aggregate.requests,
        own[1].aggregate.requests,
        std::fs::read_to_string(d.join("master.out")).unwrap_or_default(),
        std::fs::read_to_string(d.join("master_stats.csv")).unwrap_or_default()
    );
}
