//! The open model: starts on a schedule, latency from the intended start (coordinated omission
//! corrected), dropped starts counted.

use std::time::Duration;

use crate::stub::{Server, loadgen, scenario, summary, text};

/// A server that stalls 200 ms every 2 s (from 1 s in), driven at 500 req/s for 10 s by two users: a start that
/// falls in a stall at offset s waits 200 - s ms, so a tenth of all starts wait uniformly 0..200 ms
/// and the true p99 is 180 ms. Requests sent late after a stall look fast from the wire (the raw,
/// service-time view); only the corrected view shows what a user arriving on schedule saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrected_percentiles_see_the_stalls_and_raw_ones_do_not() {
    // Stalls 1 s into each period: the run's last moments, where a user held by a stall would
    // leave starts queued at the end, fall between two.
    let server = Server::with_stall_from(
        Duration::from_secs(2),
        Duration::from_millis(200),
        Duration::from_secs(1),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        "[[task]]\n[[task.request]]\npath = \"/stall\"\n",
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
            "--arrival-rate",
            "500/s",
            "-u",
            "2",
            "-t",
            "10s",
            "--json",
            "s.json",
            "--html",
            "r.html",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = summary(dir.path(), "s.json");
    let agg = &s["aggregate"];
    let requests = agg["requests"].as_u64().unwrap();
    assert!(requests >= 4800, "about 5000 starts: {requests}");
    let corrected = agg["corrected_percentiles_ms"]["p99"].as_f64().unwrap();
    let raw = agg["percentiles_ms"]["p99"].as_f64().unwrap();
    let analytic = 180.0;
    assert!(
        (corrected - analytic).abs() <= analytic * 0.15,
        "corrected p99 {corrected} ms, analytic {analytic} ms"
    );
    assert!(
        raw < analytic / 3.0,
        "the raw view hides the stalls: p99 {raw} ms"
    );
    assert_eq!(s["meta"]["model"], "open");
    // Only starts still queued at the very end may go unrun (and are counted).
    assert!(
        s["dropped_iterations"].as_u64().unwrap() <= 3,
        "{}",
        s["dropped_iterations"]
    );
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(
        html.contains("coordinated omission corrected"),
        "the report says which view is which"
    );
    assert!(html.contains("<td>corrected</td>") && html.contains("<td>service</td>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_that_find_no_free_user_in_time_are_dropped_and_counted() {
    let server = Server::with_stall(Duration::from_secs(1), Duration::from_millis(600)).await;
    let dir = tempfile::tempdir().unwrap();
    scenario(
        dir.path(),
        "s.toml",
        "[[task]]\n[[task.request]]\npath = \"/stall\"\n",
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
            "--arrival-rate",
            "100/s",
            "-u",
            "1",
            "--max-lag",
            "100ms",
            "-t",
            "3s",
            "--json",
            "s.json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = summary(dir.path(), "s.json");
    let dropped = s["dropped_iterations"].as_u64().unwrap();
    let requests = s["aggregate"]["requests"].as_u64().unwrap();
    assert!(dropped > 50, "{dropped} dropped");
    assert!(
        requests + dropped >= 280 && requests + dropped <= 301,
        "every start is run or counted: {requests} + {dropped}"
    );
    assert!(text(&out.stdout).contains("Iterations dropped"));
}
