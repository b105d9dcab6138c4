//! The wire format held three ways: a snapshot of a small hand-made run (a renamed field fails
//! it), a round trip through JSON, and the checked-in JSON Schema regenerated and compared.

use std::collections::BTreeMap;

use chrono::TimeZone as _;

use super::*;
use crate::diagnosis::FindingId;
use crate::monitor::{Note, metrics, postgres, process, redis};
use crate::report::Model;
use crate::stats::{Event, Outcome, Recorder, Sample};

/// A fixed moment, so the snapshot does not move.
const START_UNIX: i64 = 1_767_225_600;

fn sample(endpoint: u32, us: u64, outcome: Outcome) -> Sample {
    Sample {
        endpoint,
        raw_us: us,
        lag_us: Some(us / 2),
        bytes: 100,
        outcome,
        status: Some(200),
        example: None,
    }
}

/// Two stages of an open-model run: successes, a handled error, failures with the server's
/// answer, an exception and a re-login, two seconds of series; then what the server saw.
pub(super) fn small_run() -> Results {
    let endpoints = vec![
        ("GET".to_owned(), "/api/products/".to_owned()),
        ("POST".to_owned(), "/api/cart/items/".to_owned()),
    ];
    let mut rec = Recorder::new(&endpoints, true);
    rec.handle(Event::Stage(0));
    for us in [1_200, 2_500, 4_000, 9_000] {
        rec.handle(Event::Sample(sample(0, us, Outcome::Success)));
    }
    rec.tick(2);
    rec.handle(Event::Stage(1));
    rec.handle(Event::Sample(Sample {
        status: Some(409),
        ..sample(0, 3_000, Outcome::Handled)
    }));
    for _ in 0..3 {
        rec.handle(Event::Sample(Sample {
            status: Some(405),
            example: Some("405 Method Not Allowed · Allow: GET".into()),
            ..sample(
                1,
                800,
                Outcome::Failure("HTTPError('405 Client Error')".into()),
            )
        }));
    }
    rec.handle(Event::Exception("unset variable {token}".into()));
    rec.handle(Event::Relogin);
    rec.handle(Event::Dropped(2));
    rec.tick(4);
    rec.finish();
    // The wall-clock parts of the recorder, fixed by hand so rates and times are stable.
    rec.start_unix = START_UNIX;
    for (i, s) in rec.stages.iter_mut().enumerate() {
        (s.start_s, s.end_s) = (i as f64, i as f64 + 1.0);
    }
    let verdict = Verdict {
        threshold: "p95 < 5ms".into(),
        scope: "run, all requests".into(),
        actual: Some(8.9),
        actual_text: "8.9ms".into(),
        limit_text: "5ms".into(),
        passed: false,
    };
    let window = |from_s, p95| crate::trend::Window {
        from_s,
        to_s: from_s + 1,
        requests: 4,
        failures: 0,
        fail_ratio: 0.0,
        p95_ms: Some(p95),
        p50_ms: Some(2.5),
        users: 2,
    };
    let statement = postgres::Statement {
        query: "SELECT 1".into(),
        calls: 7,
        total_ms: 0.7,
        mean_ms: 0.1,
        rows: 7,
    };
    let server = Server {
        postgres: Some(postgres::Data {
            database: "shopload".into(),
            server_version: "17".into(),
            max_connections: Some(100),
            database_connection_limit: None,
            points: vec![postgres::Point {
                t: 1,
                active: 1,
                idle: 2,
                idle_in_transaction: 0,
                total: 3,
                lock_waiting: 0,
                locks_not_granted: 0,
                transactions_per_s: Some(12.0),
                in_database: Some(3),
            }],
            statements: Some(postgres::Statements {
                by_total_time: vec![statement.clone()],
                by_mean_time: vec![statement.clone()],
                by_calls: vec![statement],
                calls: 7,
                total_ms: 0.7,
                distinct: 1,
            }),
            plans: Vec::new(),
        }),
        redis: Some(redis::Data {
            version: Some("7.4".into()),
            maxmemory: None,
            stream: "jobs".into(),
            group: "workers".into(),
            queues: Vec::new(),
            points: vec![redis::Point {
                t: 1,
                used_memory: Some(1_000_000),
                connected_clients: Some(3),
                ops_per_s: Some(10.0),
                hits_per_s: Some(4.0),
                misses_per_s: Some(1.0),
                hit_ratio: Some(0.8),
                stream_length: Some(0),
                pending: Some(0),
                lag: None,
                queues: Vec::new(),
            }],
            hits: 4,
            misses: 1,
            commands: BTreeMap::from([("get".into(), 5)]),
        }),
        metrics: Some(metrics::Data {
            url: "http://127.0.0.1:8000/metrics".into(),
            routes: vec![metrics::Route {
                method: "GET".into(),
                route: "/api/products/".into(),
                requests: 5,
                server_errors: 0,
                mean_ms: Some(2.0),
                points: vec![metrics::RoutePoint {
                    t: 1,
                    rps: 5.0,
                    mean_ms: Some(2.0),
                    p95_ms: Some(4.0),
                }],
            }],
            points: vec![metrics::Point {
                t: 1,
                pool_in_use: Some(1.0),
                pool_idle: Some(9.0),
                pool_max: Some(10.0),
                pool_waiting: None,
                jobs_backlog: Some(0.0),
                jobs_in_progress: Some(0.0),
                jobs_processed_per_s: Some(0.0),
                ..Default::default()
            }],
            jobs_processed: Some(0),
            ..Default::default()
        }),
        processes: vec![process::Data {
            name: "target-shop".into(),
            pid: 4242,
            cores: 2,
            points: vec![process::Point {
                t: 1,
                cpu_percent: Some(35.0),
                rss_bytes: 20_000_000,
                processes: 1,
            }],
            gone: false,
        }],
        notes: vec![Note {
            monitor: "redis",
            message: "INFO commandstats at the end of the run: timed out".into(),
        }],
    };
    let started_at = chrono::Utc.timestamp_opt(START_UNIX, 0).unwrap();
    Results {
        meta: Meta {
            phase: Some("smoke".into()),
            scenario: "shop".into(),
            host: "http://127.0.0.1:8000".into(),
            started_at,
            ended_at: started_at + chrono::Duration::seconds(2),
            duration_s: 2.0,
            model: Model::Open,
            seed: 7,
            command: "loadgen run --phase smoke".into(),
            tls_insecure: false,
            protocol: None,
            shard: None,
            stages: Vec::new(),
        },
        recorder: rec,
        verdicts: vec![verdict.clone()],
        saturation: Saturation {
            cores: 2,
            ..Saturation::default()
        },
        stage_slos: vec![
            StageSlo {
                stage: 1,
                broken: Vec::new(),
            },
            StageSlo {
                stage: 2,
                broken: vec![verdict],
            },
        ],
        drift: Some(Drift {
            window_s: 1,
            first: window(0, 4.0),
            last: window(1, 9.0),
            flags: vec!["p95 4.0ms → 9.0ms".into()],
        }),
        server: Some(server),
        findings: vec![Finding {
            id: FindingId::MethodNotAllowed,
            title: "POST /api/cart/items/ 405 Allow: GET".into(),
            evidence: "405 on 3 of 3 requests".into(),
            fix: "route POST to a view that accepts it".into(),
        }],
        reconciliation: Some(crate::report::reconciliation::Reconciliation::new(vec![
            crate::report::reconciliation::ReconciliationCheck {
                check: "no stock below zero".into(),
                ok: true,
                detail: "0 products below zero".into(),
            },
        ])),
        baseline: None,
        faults: None,
    }
}

/// The small run's summary.json, as untyped JSON to edit.
fn written() -> serde_json::Value {
    let text = Summary::from_results(&small_run()).to_json_pretty();
    serde_json::from_str(&text.unwrap()).unwrap()
}

#[test]
fn the_summary_of_a_small_run() {
    let summary = Summary::from_results(&small_run());
    assert_eq!(summary.first_broken_stage, Some(2));
    insta::assert_json_snapshot!("summary_of_a_small_run", summary, {
        ".generator" => "[generator]",
        ".series[].unix" => "[unix]",
        ".failures[].first_seen" => "[unix]",
        ".failures[].last_seen" => "[unix]",
        // The deflated bytes depend on the compressor's version; the round trip checks them.
        ".aggregate.histogram" => "[histogram]",
        ".aggregate.corrected_histogram" => "[histogram]",
        ".entries[].histogram" => "[histogram]",
        ".entries[].corrected_histogram" => "[histogram]",
        ".stages[].aggregate.histogram" => "[histogram]",
        ".stages[].aggregate.corrected_histogram" => "[histogram]",
        ".stages[].entries[].histogram" => "[histogram]",
        ".stages[].entries[].corrected_histogram" => "[histogram]",
    });
}

#[test]
fn render_writes_the_summary() {
    let r = small_run();
    assert_eq!(
        crate::report::json::render(&r).unwrap(),
        Summary::from_results(&r).to_json_pretty().unwrap()
    );
}

#[test]
fn a_summary_survives_json_and_back() {
    let r = small_run();
    let written = Summary::from_results(&r).to_json_pretty().unwrap();
    let read = Summary::from_json(&written).unwrap();
    // Locust's history rows travel in the CSVs, not here: the read summary is compared with
    // what it writes, and with itself read again.
    assert_eq!(read.to_json_pretty().unwrap(), written);
    assert_eq!(
        Summary::from_json(&read.to_json_pretty().unwrap()).unwrap(),
        read
    );
    assert_eq!(read.meta.model, Model::Open);
    assert_eq!(read.findings[0].id, FindingId::MethodNotAllowed);
    let products = read.entry("GET", "/api/products/").unwrap();
    assert_eq!(
        products.decode_histogram().unwrap().as_ref(),
        Some(&r.recorder.entries[0].raw)
    );
    assert_eq!(
        read.aggregate
            .decode_corrected_histogram()
            .unwrap()
            .as_ref(),
        r.recorder.aggregate.corrected.as_ref()
    );
}

#[test]
fn the_reconciliations_section_is_kept() {
    let mut value = written();
    value["reconciliation"] = serde_json::json!({"passed": true, "checks": []});
    value["findings"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": "oversell", "title": "t", "evidence": "e", "fix": "f"}));
    let read = Summary::from_json(&value.to_string()).unwrap();
    assert_eq!(read.findings[1].id, FindingId::Oversell);
    let again: serde_json::Value = serde_json::from_str(&read.to_json_pretty().unwrap()).unwrap();
    assert_eq!(again, value);
}

#[test]
fn reading_names_the_file_and_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    let mut value = written();
    value["schema_version"] = serde_json::json!(2);
    std::fs::write(&path, value.to_string()).unwrap();
    let error = format!("{:#}", Summary::read(&path).unwrap_err());
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(
        error.contains("schema_version 2, but this loadgen reads schema_version 1"),
        "{error}"
    );

    let missing = dir.path().join("none.json");
    let error = format!("{:#}", Summary::read(&missing).unwrap_err());
    assert!(error.contains("none.json"), "{error}");

    std::fs::write(&path, r#"{"schema_version": 1, "passed": true}"#).unwrap();
    let error = format!("{:#}", Summary::read(&path).unwrap_err());
    assert!(error.contains("missing field"), "{error}");

    std::fs::write(&path, written().to_string()).unwrap();
    assert_eq!(Summary::read(&path).unwrap().entries.len(), 2);
}

/// `loadgen/summary.schema.json` is generated: a change to the types must change it too, in the
/// same commit, so a reader in another language sees the new shape.
#[test]
fn the_checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/summary.schema.json");
    let generated = serde_json::to_string_pretty(&Summary::json_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{path} is not the schema of `summary::Summary`; regenerate it with \
         `UPDATE_SCHEMA=1 cargo test -p loadgen --lib summary` and commit it"
    );
}
