//! Sharded runs merged: four `loadgen run --shard I/4` processes begun together by `--start-at`
//! against one stub, then `loadgen merge`: the whole's counts, every percentile of one histogram
//! of all four shards' samples, the plan whole again, thresholds judged on the whole with their
//! exit codes; and a shard missing, corrupt, without histograms or of another set is refused.

use std::path::Path;

use loadgen::shard::Shard;
use loadgen::stats::histogram;
use loadgen::summary::{EntrySummary, Percentiles, Summary};

use crate::stub::{Server, loadgen, scenario, text};

/// Two endpoints, one of them of varied speed, so that the percentiles differ from each other.
const MIXED: &str = r#"
wait_time = "constant 5ms"
[[task]]
[[task.request]]
path = "/"
[[task]]
[[task.request]]
path = "/sleep/{rand 100 4000}"
name = "/sleep/[us]"
"#;

/// Runs shards `1..=count` of `-u users` (at `-r users`) for `seconds`, side by side, each
/// writing `shards/sI/summary.json`; each must exit 0. Returns their stderr, in shard order.
async fn run_shards(
    dir: &Path,
    host: &str,
    count: usize,
    users: &str,
    seconds: &str,
    start_at: &str,
) -> Vec<String> {
    let handles: Vec<_> = (1..=count)
        .map(|i| {
            let (dir, host) = (dir.to_owned(), host.to_owned());
            let (users, seconds, start_at) =
                (users.to_owned(), seconds.to_owned(), start_at.to_owned());
            tokio::spawn(async move {
                let shard = format!("{i}/{count}");
                let json = format!("shards/s{i}/summary.json");
                let out = loadgen(
                    &dir,
                    &[
                        "run",
                        "--headless",
                        "-H",
                        &host,
                        "-f",
                        "s.toml",
                        "-u",
                        &users,
                        "-r",
                        &users,
                        "-t",
                        &seconds,
                        "--shard",
                        &shard,
                        "--start-at",
                        &start_at,
                        "--json",
                        &json,
                    ],
                )
                .await;
                let stderr = text(&out.stderr);
                assert_eq!(out.status.code(), Some(0), "shard {shard}: {stderr}");
                stderr
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

fn unix_in(seconds: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{:.3}", (now.as_secs_f64() + seconds as f64))
}

/// The percentiles of every shard's histogram of one row, added into one histogram.
fn percentiles_of_all(rows: &[&EntrySummary]) -> Percentiles {
    let mut all = histogram(3);
    for row in rows {
        all.add(row.decode_histogram().unwrap().unwrap()).unwrap();
    }
    Percentiles::of(&all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_merge_into_the_whole_run_exactly() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "s.toml", MIXED);
    for stderr in run_shards(dir.path(), &server.url(), 4, "10", "3s", &unix_in(4)).await {
        assert!(
            stderr.contains("waiting"),
            "each shard waits for --start-at: {stderr}"
        );
        assert!(stderr.contains("shard "), "{stderr}");
    }
    let shard_summaries: Vec<Summary> = (1..=4)
        .map(|i| Summary::read(dir.path().join(format!("shards/s{i}/summary.json"))).unwrap())
        .collect();
    for (i, s) in shard_summaries.iter().enumerate() {
        assert_eq!(
            s.meta.shard,
            Some(Shard {
                index: i + 1,
                count: 4
            })
        );
        // 10 users over 4 shards: 3, 3, 2, 2.
        assert_eq!(s.stages[0].users, Some([3, 3, 2, 2][i]));
        assert!(s.aggregate.requests > 0, "shard {} sent load", i + 1);
    }
    let starts: Vec<i64> = shard_summaries
        .iter()
        .map(|s| s.meta.started_at.timestamp_millis())
        .collect();
    let spread = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    assert!(
        spread < 1000,
        "--start-at began the shards together: {starts:?}"
    );

    let out = loadgen(
        dir.path(),
        &[
            "merge",
            "shards",
            "--json",
            "merged.json",
            "--csv",
            "out/merged",
            "--html",
            "merged.html",
            "--junit",
            "merged.xml",
            "--threshold",
            "requests >= 1",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let merged = Summary::read(dir.path().join("merged.json")).unwrap();
    assert_eq!(merged.meta.shard, None);
    let sum = |f: fn(&Summary) -> u64| shard_summaries.iter().map(f).sum::<u64>();
    assert_eq!(merged.aggregate.requests, sum(|s| s.aggregate.requests));
    assert_eq!(merged.aggregate.failures, sum(|s| s.aggregate.failures));
    // Requests after a shard's last tick are in its totals, not in a second: compare like with like.
    let seconds = |s: &Summary| s.series.iter().map(|p| p.requests).sum::<u64>();
    assert_eq!(
        seconds(&merged),
        sum(seconds),
        "the merged seconds add up too"
    );
    assert_eq!(
        (merged.stages[0].users, merged.stages[0].spawn_rate),
        (Some(10), Some(10.0)),
        "the plan is whole again"
    );
    let aggregates: Vec<&EntrySummary> = shard_summaries.iter().map(|s| &s.aggregate).collect();
    assert_eq!(
        merged.aggregate.percentiles_ms,
        percentiles_of_all(&aggregates)
    );
    for entry in &merged.entries {
        let rows: Vec<&EntrySummary> = shard_summaries
            .iter()
            .filter_map(|s| s.entry(&entry.method, &entry.name))
            .collect();
        assert_eq!(entry.requests, rows.iter().map(|r| r.requests).sum::<u64>());
        assert_eq!(
            entry.percentiles_ms,
            percentiles_of_all(&rows),
            "{}",
            entry.name
        );
    }
    let slow = merged.entry("GET", "/sleep/[us]").unwrap().percentiles_ms;
    assert!(slow.p50 < slow.p99, "varied latencies: {slow:?}");
    let stats = std::fs::read_to_string(dir.path().join("out/merged_stats.csv")).unwrap();
    let aggregated = stats.lines().last().unwrap();
    assert!(
        aggregated.starts_with(&format!(",Aggregated,{},", merged.aggregate.requests)),
        "{aggregated}"
    );
    assert!(
        std::fs::read_to_string(dir.path().join("merged.html"))
            .unwrap()
            .contains("<svg")
    );
    let junit = std::fs::read_to_string(dir.path().join("merged.xml")).unwrap();
    assert!(junit.contains("tests=\"1\" failures=\"0\""), "{junit}");

    // A threshold the whole breaks: exit 1, and the verdict in summary.json says so.
    let out = loadgen(
        dir.path(),
        &[
            "merge",
            "shards",
            "--json",
            "failed.json",
            "--threshold",
            "p50 < 0.001ms",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let failed = Summary::read(dir.path().join("failed.json")).unwrap();
    assert!(!failed.passed && !failed.thresholds[0].passed);
    // Judged on the whole: the rate of all four shards, which no shard reached alone.
    let whole_rps = merged.aggregate.rps;
    let rule = format!("rps >= {:.0}", whole_rps * 0.9);
    assert!(
        shard_summaries
            .iter()
            .all(|s| s.aggregate.rps < whole_rps * 0.9)
    );
    let out = loadgen(dir.path(), &["merge", "shards", "--threshold", &rule]).await;
    assert_eq!(out.status.code(), Some(0), "{rule}: {}", text(&out.stderr));
}

/// Asserts a merge of `inputs` exits 2 with one line on stderr that contains `says`.
async fn refused(dir: &Path, inputs: &[&str], says: &str) {
    let args: Vec<&str> = ["merge"].iter().chain(inputs).copied().collect();
    let out = loadgen(dir, &args).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{inputs:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(says),
        "{inputs:?}: {err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_corrupt_or_foreign_shard_is_refused_never_merged_in_part() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "s.toml", MIXED);
    // A start already past: the shards warn and begin at once.
    for stderr in run_shards(dir.path(), &server.url(), 2, "2", "1s", "1000").await {
        assert!(stderr.contains("starting now"), "{stderr}");
    }
    let d = dir.path();
    let one = "shards/s1/summary.json";
    let two = "shards/s2/summary.json";
    let out = loadgen(d, &["merge", one, two]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    refused(d, &[one], "shard 2/2 missing: 1 of the 2 given").await;
    refused(
        d,
        &[one, "shards/s3/summary.json"],
        "shards/s3/summary.json",
    )
    .await;
    refused(d, &[one, one], "are both shard 1/2").await;
    std::fs::create_dir_all(d.join("empty")).unwrap();
    refused(d, &["empty"], "empty: no summary.json in it").await;

    let original = std::fs::read_to_string(d.join(two)).unwrap();
    std::fs::write(d.join("corrupt.json"), &original[..original.len() / 2]).unwrap();
    refused(
        d,
        &[one, "corrupt.json"],
        "reading the summary corrupt.json",
    )
    .await;

    let mut value: serde_json::Value = serde_json::from_str(&original).unwrap();
    value["entries"][0]["histogram"] = serde_json::Value::Null;
    std::fs::write(d.join("bare.json"), value.to_string()).unwrap();
    refused(d, &[one, "bare.json"], "bare.json: GET / has no histogram").await;

    let mut value: serde_json::Value = serde_json::from_str(&original).unwrap();
    value["meta"]["shard"] = serde_json::json!({"index": 3, "count": 4});
    std::fs::write(d.join("other.json"), value.to_string()).unwrap();
    refused(
        d,
        &[one, "other.json"],
        "is shard 1/2 but other.json is shard 3/4",
    )
    .await;

    let mut value: serde_json::Value = serde_json::from_str(&original).unwrap();
    value["meta"]["scenario"] = serde_json::json!("shop");
    std::fs::write(d.join("shop.json"), value.to_string()).unwrap();
    refused(
        d,
        &[one, "shop.json"],
        "ran scenario s but shop.json ran shop",
    )
    .await;

    let mut value: serde_json::Value = serde_json::from_str(&original).unwrap();
    value["meta"].as_object_mut().unwrap().remove("shard");
    std::fs::write(d.join("whole.json"), value.to_string()).unwrap();
    refused(d, &["whole.json"], "whole.json: not a shard's summary").await;

    refused(d, &[one, two, "--threshold", "p95 <"], "--threshold").await;
    refused(
        d,
        &[one, two, "--threshold", "p95{GET /nope} < 1s"],
        "no endpoint",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_shard_or_start_time_exits_2_before_any_load() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let host = server.url();
    for (flags, says) in [
        (["--shard", "0/4"], "--shard \"0/4\": shards count from 1"),
        (["--shard", "5/4"], "I must be at most N"),
        (
            ["--start-at", "soon"],
            "--start-at \"soon\": not an RFC 3339 time",
        ),
        (
            ["--start-at", "2999-01-01T00:00:00Z"],
            "more than 24h ahead",
        ),
    ] {
        let args: Vec<&str> = [
            "run",
            "--headless",
            "-H",
            &host,
            "-t",
            "1s",
            "--json",
            "x.json",
        ]
        .iter()
        .chain(&flags)
        .copied()
        .collect();
        let out = loadgen(dir.path(), &args).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(says),
            "{flags:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(!dir.path().join("x.json").exists(), "no run happened");
    }
}

/// Replicas started alike (compose's `--scale`): `--shard auto/2 --shard-dir` gives two of three
/// processes shards 1 and 2 and refuses the third before any load; the directory is then merged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_claim_their_shards_in_a_shared_directory() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    scenario(dir.path(), "s.toml", MIXED);
    let start_at = unix_in(3);
    let replicas: Vec<_> = (0..3)
        .map(|_| {
            let (dir, host, start_at) = (dir.path().to_owned(), server.url(), start_at.clone());
            tokio::spawn(async move {
                let args = [
                    "run",
                    "--headless",
                    "-H",
                    &host,
                    "-f",
                    "s.toml",
                    "-u",
                    "5",
                    "-t",
                    "2s",
                    "--shard",
                    "auto/2",
                    "--shard-dir",
                    "shared",
                    "--start-at",
                    &start_at,
                ];
                loadgen(&dir, &args).await
            })
        })
        .collect();
    let mut ran = 0;
    let mut refused = Vec::new();
    for r in replicas {
        let out = r.await.unwrap();
        let stderr = text(&out.stderr);
        match out.status.code() {
            Some(0) => ran += 1,
            Some(2) => refused.push(stderr),
            other => panic!("exit {other:?}: {stderr}"),
        }
    }
    assert_eq!(ran, 2);
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains("all 2 shards are already claimed"),
        "{}",
        refused[0]
    );
    let shared = dir.path().join("shared");
    let shards: Vec<Summary> = (1..=2)
        .map(|i| Summary::read(shared.join(format!("shard-{i}-of-2/summary.json"))).unwrap())
        .collect();
    assert_eq!(
        shards.iter().map(|s| s.meta.shard).collect::<Vec<_>>(),
        [1, 2].map(|index| Some(Shard { index, count: 2 }))
    );
    let out = loadgen(dir.path(), &["merge", "shared", "--json", "merged.json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let merged = Summary::read(dir.path().join("merged.json")).unwrap();
    let sum: u64 = shards.iter().map(|s| s.aggregate.requests).sum();
    assert!(sum > 0);
    assert_eq!(merged.aggregate.requests, sum);
    // The same directory again is another run's: refused at once, naming the fix.
    let out = loadgen(
        dir.path(),
        &[
            "run",
            "--headless",
            "-H",
            &server.url(),
            "-f",
            "s.toml",
            "-t",
            "1s",
        ]
        .into_iter()
        .chain(["--shard", "1/2", "--shard-dir", "shared"])
        .collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("already claimed"),
        "{}",
        text(&out.stderr)
    );
}
