//! Celery for real: tasks sent by Celery's own client into a real Redis and consumed by a real
//! `celery worker` (both from the project's Python venv, pinned in `.ci/requirements.txt`),
//! producing faster than the one-at-a-time worker finishes. loadgen's Redis monitor follows the
//! queue (`--celery-queue`), the series shows the backlog growing while the worker drains it, and
//! the job-backlog finding names the queue.

use std::path::PathBuf;
use std::time::Duration;

use launcher::{Launch, Output};

use crate::monitors::stack;
use crate::stub::{self, loadgen, summary, text};

/// A program of the project's venv (`target/venv`, made on first use from `.ci/requirements.txt`;
/// `SHOPLOAD_VENV` names another, already made), or a failure that says what is missing.
pub fn venv_bin(program: &str) -> PathBuf {
    let given = std::env::var_os("SHOPLOAD_VENV").map(PathBuf::from);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    fixtures::venv::program(&root, given.as_deref(), program).unwrap_or_else(|e| {
        panic!("this test runs the real {program} from the project's venv: {e}")
    })
}

const TASKS: &str = r#"
import os, time
from celery import Celery

app = Celery("shop", broker=os.environ["BROKER_URL"])
app.conf.task_default_queue = os.environ["QUEUE"]
app.conf.broker_connection_retry_on_startup = True

@app.task
def send_receipt(order):
    time.sleep(0.25)
"#;

/// Sends 45 tasks a second for `seconds`, as a shop's views call `.delay()`.
const PRODUCE: &str = r#"
import sys, time
from tasks import send_receipt

seconds = float(sys.argv[1])
started = time.monotonic()
n = 0
while time.monotonic() - started < seconds:
    send_receipt.delay(n)
    n += 1
    time.sleep(1 / 45)
print(n)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_celery_worker_falling_behind_is_followed_and_named() {
    let python = venv_bin("python");
    let celery = venv_bin("celery");
    let stack = stack().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("tasks.py"), TASKS).unwrap();
    std::fs::write(d.join("produce.py"), PRODUCE).unwrap();
    // Its own queue name: the tests share one Redis.
    let queue = format!("celery-{}", uuid_like());
    // Their stderr is the test's; in the test's group, so a Ctrl-C of the run ends them too.
    let launch = |program: &PathBuf| {
        Launch::attached(program)
            .current_dir(d)
            .env("BROKER_URL", stack.redis_url())
            .env("QUEUE", &queue)
            .env("PYTHONPATH", d)
            .share_group()
    };
    // One task at a time, 4 a second: far behind the 45 a second sent.
    let worker = launch(&celery)
        .args([
            "-A",
            "tasks",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ])
        .stdout(Output::Null)
        .start()
        .await
        .expect("celery worker");
    let mut producer = launch(&python)
        .args(["produce.py", "9"])
        .stdout(Output::File(d.join("sent.txt")))
        .start()
        .await
        .expect("python producer");

    let target = stub::Server::start().await;
    let scenario = stub::scenario(d, "s.toml", stub::ROOT);
    let out = loadgen(
        d,
        &[
            "run",
            "-H",
            &target.url(),
            "-f",
            &scenario.to_string_lossy(),
            "-u",
            "1",
            "-t",
            "8s",
            "--headless",
            "--only-summary",
            "--json",
            "s.json",
            "--redis-url",
            stack.redis_url(),
            "--celery-queue",
            &queue,
        ],
    )
    .await;
    let produced = producer
        .wait(Duration::from_secs(60))
        .await
        .expect("the producer ends after its 9 s");
    assert!(produced.success(), "the producer: {produced}");
    let sent = std::fs::read_to_string(d.join("sent.txt")).unwrap();
    let sent: u64 = sent.trim().parse().expect("tasks sent");
    // The worker took some: the queue is drained by a real consumer, not only filled.
    let mut redis = redis::Client::open(stack.redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let waiting: u64 = redis::cmd("LLEN")
        .arg(&queue)
        .query_async(&mut redis)
        .await
        .unwrap();
    // SIGKILL, reaped.
    drop(worker);
    assert!(sent >= 200, "{sent} tasks sent");
    assert!(
        waiting < sent && waiting > 100,
        "{waiting} of {sent} still queued"
    );

    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let s = summary(d, "s.json");
    let redis_data = &s["server"]["redis"];
    assert_eq!(
        redis_data["queues"],
        serde_json::json!([queue]),
        "{redis_data}"
    );
    let backlog: Vec<u64> = redis_data["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["queues"][0].as_u64())
        .collect();
    assert!(backlog.len() >= 5, "{backlog:?}");
    assert!(
        backlog.last().unwrap() > &(backlog[0] + 100),
        "the backlog grows: {backlog:?}"
    );
    let finding = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "job-backlog")
        .unwrap_or_else(|| panic!("no job-backlog finding: {}", s["findings"]))
        .clone();
    assert!(
        finding["title"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Celery queue {queue} backlog grows")),
        "{finding}"
    );
    stack.stop().await.unwrap();
}

/// A name no other test run picks.
fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
