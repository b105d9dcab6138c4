//! The UI's own routes, beyond Locust's: the form's defaults, the run's history on one time axis
//! (the client's seconds and the server's, with the marks of every change), the live findings
//! and thresholds, New test, and Stop and quit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::session::Session;
use crate::monitor::Server;
use crate::threshold::failure_band;

type Ui = State<Arc<Session>>;

/// How often the findings are judged again while a run goes (each is a copy of the histograms).
const FINDINGS_EVERY: Duration = Duration::from_secs(5);

pub async fn ui(State(session): Ui) -> Json<Value> {
    let setup = &session.setup;
    let scenarios: Vec<Value> = crate::scenario::built_ins()
        .into_iter()
        .map(|(name, description)| json!({"name": name, "description": description}))
        .collect();
    let monitors: Vec<&str> = [
        ("postgres", setup.monitors.db_url.is_some()),
        ("redis", setup.monitors.redis_url.is_some()),
        ("metrics", setup.monitors.metrics_url.is_some()),
        ("process", !setup.monitors.pids.is_empty()),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "host": setup.host.trim_end_matches('/'),
        "scenario": setup.scenario,
        "scenarios": scenarios,
        "user_count": setup.users,
        "spawn_rate": setup.spawn_rate,
        "run_time": setup.run_time.map(|t| humantime::format_duration(t).to_string()).unwrap_or_default(),
        "phase": setup.phase,
        "phase_stages": setup.phase_stages.iter().map(|s| json!({
            "name": s.name, "users": s.users, "spawn_rate": s.spawn_rate,
            "duration_s": s.duration.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "monitors": monitors,
        "thresholds": setup.thresholds.iter().map(|t| t.source.clone()).collect::<Vec<_>>(),
        "quit_allowed": true,
    }))
}

/// The server's side of second `t`, in the contract's shape.
fn server_points(server: &Server, since: Option<u64>) -> Vec<Value> {
    let after = |t: u64| since.is_none_or(|s| t > s);
    let mut seconds: BTreeMap<u64, serde_json::Map<String, Value>> = BTreeMap::new();
    fn at(
        seconds: &mut BTreeMap<u64, serde_json::Map<String, Value>>,
        t: u64,
    ) -> &mut serde_json::Map<String, Value> {
        seconds.entry(t).or_insert_with(|| {
            let mut m = serde_json::Map::new();
            m.insert("t".into(), json!(t));
            m.insert("processes".into(), json!([]));
            m
        })
    }
    if let Some(pg) = &server.postgres {
        for p in pg.points.iter().filter(|p| after(p.t)) {
            at(&mut seconds, p.t).insert(
                "db".into(),
                json!({
                    "active": p.active, "idle": p.idle,
                    "idle_in_transaction": p.idle_in_transaction,
                    "lock_waiting": p.lock_waiting, "total": p.total,
                    "in_database": p.in_database,
                }),
            );
        }
    }
    if let Some(r) = &server.redis {
        for p in r.points.iter().filter(|p| after(p.t)) {
            at(&mut seconds, p.t).insert(
                "redis".into(),
                json!({
                    "used_memory": p.used_memory, "hit_ratio": p.hit_ratio,
                    "ops_per_s": p.ops_per_s, "stream_length": p.stream_length,
                }),
            );
        }
    }
    if let Some(m) = &server.metrics {
        for p in m.points.iter().filter(|p| after(p.t)) {
            let entry = at(&mut seconds, p.t);
            entry.insert(
                "pool".into(),
                json!({
                    "in_use": p.pool_in_use, "idle": p.pool_idle,
                    "max": p.pool_max, "waiting": p.pool_waiting,
                }),
            );
            entry.insert("jobs_backlog".into(), json!(p.jobs_backlog));
        }
    }
    for (t, backlog) in server.job_backlog() {
        if after(t) {
            at(&mut seconds, t)
                .entry("jobs_backlog")
                .or_insert(json!(backlog));
        }
    }
    for process in &server.processes {
        for p in process.points.iter().filter(|p| after(p.t)) {
            if let Some(Value::Array(list)) = at(&mut seconds, p.t).get_mut("processes") {
                list.push(json!({
                    "name": process.name,
                    "cpu_percent": p.cpu_percent,
                    "rss_bytes": p.rss_bytes,
                }));
            }
        }
    }
    seconds.into_values().map(Value::Object).collect()
}

pub async fn history(State(session): Ui, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let Some(run) = session.run() else {
        return Json(
            json!({"run": 0, "full": true, "state": "ready", "points": [],
                           "server": [], "marks": []}),
        );
    };
    let asked_run = q.get("run").and_then(|r| r.parse::<u32>().ok());
    let since = q
        .get("since")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|_| asked_run == Some(run.number));
    let snapshot = run.controller.snapshot();
    let after = |t: u64| since.is_none_or(|s| t > s);
    let points: Vec<Value> = snapshot
        .series
        .iter()
        .filter(|p| after(p.t))
        .map(|p| {
            json!({
                "t": p.t, "unix": p.unix, "users": p.users, "stage": p.stage,
                "rps": p.requests as f64, "fail_per_s": p.failures as f64,
                "p50": p.p50, "p95": p.p95, "p99": p.p99,
            })
        })
        .collect();
    let server = match run.finished() {
        Some(done) => done.server.clone(),
        None => run.controller.server_so_far(),
    };
    let marks: Vec<_> = run
        .state()
        .marks
        .iter()
        // A mark in the last second the page holds is sent again: the page keeps each once.
        .filter(|m| since.is_none_or(|s| m.t >= s))
        .cloned()
        .collect();
    Json(json!({
        "run": run.number,
        "full": since.is_none(),
        "state": if run.is_over() { "stopped" } else { "running" },
        "points": points,
        "server": server.as_ref().map(|s| server_points(s, since)).unwrap_or_default(),
        "marks": marks,
    }))
}

pub async fn findings(State(session): Ui) -> Json<Value> {
    let Some(run) = session.run() else {
        return Json(
            json!({"run": 0, "findings": [], "thresholds": [], "fail_ratio": 0.0,
                           "fail_band": "normal", "top_statements": []}),
        );
    };
    let results = match run.finished() {
        Some(done) => Some(done),
        None => {
            let cached = run
                .state()
                .findings
                .as_ref()
                .filter(|(at, _)| at.elapsed() < FINDINGS_EVERY)
                .map(|(_, r)| Arc::clone(r));
            match cached {
                Some(r) => Some(r),
                None => {
                    let fresh = run.results().await;
                    if let Some(r) = &fresh {
                        run.state().findings = Some((Instant::now(), Arc::clone(r)));
                    }
                    fresh
                }
            }
        }
    };
    let Some(r) = results else {
        return Json(json!({"run": run.number, "findings": [], "thresholds": [],
                           "fail_ratio": 0.0, "fail_band": "normal", "top_statements": []}));
    };
    let fail_ratio = r.recorder.aggregate.fail_ratio();
    let top: Vec<Value> = r
        .server
        .as_ref()
        .and_then(|s| s.postgres.as_ref())
        .and_then(|p| p.statements.as_ref())
        .map(|s| {
            s.by_total_time
                .iter()
                .take(10)
                .map(|st| {
                    json!({"query": st.query, "calls": st.calls, "total_ms": st.total_ms,
                           "mean_ms": st.mean_ms})
                })
                .collect()
        })
        .unwrap_or_default();
    Json(json!({
        "run": run.number,
        "findings": r.findings.iter().map(|f| json!({
            "id": f.id.as_str(), "title": f.title, "evidence": f.evidence, "fix": f.fix,
        })).collect::<Vec<_>>(),
        "thresholds": r.verdicts,
        "fail_ratio": fail_ratio,
        "fail_band": failure_band(fail_ratio),
        "top_statements": top,
        "steps": steps(&r),
    }))
}

/// The stress step table: each stage so far (a phase's, or one per Edit) with its users, p95, p99
/// and failures, and the SLOs it broke (judged on its own); the last is in progress while the run
/// goes.
fn steps(r: &crate::report::Results) -> Vec<Value> {
    if r.recorder.stages.len() < 2 {
        return Vec::new();
    }
    r.recorder
        .stages
        .iter()
        .map(|s| {
            let planned = r.meta.stages.get(s.index);
            let broken: Vec<String> = r
                .stage_slos
                .iter()
                .find(|slo| slo.stage == s.index + 1)
                .map(|slo| {
                    slo.broken
                        .iter()
                        .map(|v| format!("{} (measured {})", v.threshold, v.actual_text))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "stage": s.index + 1,
                "name": planned.map(|p| p.name.clone()),
                "users": planned.map(|p| p.users),
                "requests": s.aggregate.requests,
                "p95": s.aggregate.percentile_ms(0.95),
                "p99": s.aggregate.percentile_ms(0.99),
                "fail_ratio": s.aggregate.fail_ratio(),
                "broken": broken,
            })
        })
        .collect()
}

pub async fn new_test(State(session): Ui) -> Response {
    if session.forget() {
        session.log("new test");
        Json(json!({"success": true})).into_response()
    } else {
        (
            StatusCode::CONFLICT,
            Json(json!({"success": false, "message": "a run is going: Stop it first"})),
        )
            .into_response()
    }
}

pub async fn quit(State(session): Ui) -> Json<Value> {
    session.log("stop and quit");
    session.quit.notify_one();
    Json(json!({"success": true, "message": "quitting"}))
}
