//! Locust's web routes, with Locust's paths, form names and JSON fields (`locust/web.py`), so a
//! script written against Locust's UI works against this one: `POST /swarm`, `GET /stop`,
//! `GET /stats/reset`, `GET /stats/requests`, `/exceptions`, `/tasks`, `/logs` and the downloads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::form;
use super::session::{Run, Session};
use crate::engine::{EntrySnapshot, Snapshot};
use crate::report::{self, csv::CsvFile};
use crate::runner::{Stage, State as RunState};
use crate::threshold::failure_band;

type Ui = State<Arc<Session>>;

pub async fn swarm(State(session): Ui, Form(fields): Form<HashMap<String, String>>) -> Response {
    let refuse = |errors: form::Errors| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "success": false,
                "message": form::message(&errors),
                "errors": errors,
                "host": session.setup.host,
            })),
        )
            .into_response()
    };
    let _one_at_a_time = session.swarming.lock().await;
    if let Some(run) = session.running() {
        let edit = match form::edit(&fields) {
            Ok(e) => e,
            Err(errors) => return refuse(errors),
        };
        if let Err(e) = run.controller.set_users(edit.users, edit.spawn_rate) {
            return (
                StatusCode::CONFLICT,
                Json(json!({"success": false, "message": e.to_string()})),
            )
                .into_response();
        }
        let from = run.controller.snapshot().target_users;
        {
            let mut state = run.state();
            state.spawn_rate = edit.spawn_rate;
            state.stages.push(Stage {
                name: format!("edit: {}", Stage::default_name(edit.users, None)),
                users: edit.users,
                spawn_rate: edit.spawn_rate,
                duration: Duration::ZERO,
                arrival_rate: None,
            });
        }
        run.mark(format!(
            "users {from} -> {} at {}/s",
            edit.users, edit.spawn_rate
        ));
        session.log(format!(
            "run {}: users {from} -> {} at {}/s",
            run.number, edit.users, edit.spawn_rate
        ));
        return Json(json!({
            "success": true,
            "message": "Swarming edited",
            "host": run.facts.host.trim_end_matches('/'),
        }))
        .into_response();
    }
    let start = match form::start(&fields, &session.setup) {
        Ok(s) => s,
        Err(errors) => return refuse(errors),
    };
    let run_time = start.run_time;
    let run = session.start(start).await;
    let mut answer = json!({
        "success": true,
        "message": "Swarming started",
        "host": run.facts.host.trim_end_matches('/'),
    });
    if let Some(t) = run_time {
        answer["run_time"] = json!(t.as_secs_f64());
    }
    Json(answer).into_response()
}

pub async fn stop(State(session): Ui) -> Json<Value> {
    if let Some(run) = session.running() {
        run.mark("stop".into());
        session.log(format!("run {}: Stop", run.number));
        run.controller.stop();
    }
    Json(json!({"success": true, "message": "Test stopped"}))
}

pub async fn reset(State(session): Ui) -> &'static str {
    if let Some(run) = session.running()
        && run.controller.reset_stats().is_ok()
    {
        run.mark("stats reset".into());
        session.log(format!("run {}: stats reset", run.number));
    }
    "ok"
}

/// Locust's state names. "stopped" once the run is judged and its reports written (until then
/// the load's end is still "stopping").
fn state(snapshot: &Snapshot, run: Option<&Run>) -> &'static str {
    let Some(run) = run else {
        return "ready";
    };
    match snapshot.state {
        _ if run.is_over() => "stopped",
        RunState::Spawning => "spawning",
        RunState::Running | RunState::Paused => "running",
        RunState::Stopping | RunState::Stopped => "stopping",
    }
}

/// A text HTML-escaped, as Locust sends names, errors and messages (`escape()` in its web.py):
/// scripts written against its JSON unescape them.
fn html_text(text: &str) -> String {
    maud::html! { (text) }.into_string()
}

fn row(e: &EntrySnapshot) -> Value {
    // PERCENTILES: 50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100.
    let p = |i: usize| e.percentiles_ms[i];
    json!({
        "method": e.method,
        "name": e.name,
        "safe_name": html_text(&e.name),
        "num_requests": e.requests,
        "num_failures": e.failures,
        "avg_response_time": e.avg_ms.unwrap_or(0.0),
        "min_response_time": e.min_ms.unwrap_or(0.0),
        "max_response_time": e.max_ms.unwrap_or(0.0),
        "current_rps": e.current_rps,
        "current_fail_per_sec": e.current_fail_per_s,
        "median_response_time": p(0),
        "ninetieth_response_time": p(4),
        "ninety_ninth_response_time": p(7),
        "avg_content_length": e.avg_content_size,
        "response_time_percentile_0.5": p(0),
        "response_time_percentile_0.95": p(5),
        "response_time_percentile_0.99": p(7),
    })
}

pub async fn stats_requests(State(session): Ui) -> Json<Value> {
    let run = session.run();
    let snapshot = run.as_ref().map(|r| r.controller.snapshot());
    let empty = Snapshot::empty();
    let s = snapshot.as_deref().unwrap_or(&empty);
    let total = &s.aggregate;
    let mut stats: Vec<Value> = s.entries.iter().map(row).collect();
    stats.push(row(total));
    let fail_ratio = if total.requests == 0 {
        0.0
    } else {
        total.failures as f64 / total.requests as f64
    };
    let errors: Vec<Value> = s
        .failures
        .iter()
        .map(|f| {
            json!({
                "method": f.method,
                "name": html_text(&f.name),
                "error": html_text(&f.error),
                "occurrences": f.occurrences,
            })
        })
        .collect();
    Json(json!({
        "stats": stats,
        "errors": errors,
        "total_rps": total.current_rps,
        "total_fail_per_sec": total.current_fail_per_s,
        "fail_ratio": fail_ratio,
        "current_response_time_percentiles": {
            "response_time_percentile_0.5": total.current_percentiles_ms[0],
            "response_time_percentile_0.95": total.current_percentiles_ms[5],
        },
        "total_avg_response_time": total.avg_ms.unwrap_or(0.0),
        "state": state(s, run.as_deref()),
        "user_count": s.users,
        "target_user_count": s.target_users,
        "spawn_rate": run.as_ref().map_or(session.setup.spawn_rate, |r| r.state().spawn_rate),
        "elapsed_s": s.elapsed_s,
        "run": run.as_ref().map_or(0, |r| r.number),
        "resets": s.resets,
        "host": run.as_ref().map_or(session.setup.host.as_str(), |r| r.facts.host.as_str()).trim_end_matches('/'),
        "scenario": run.as_ref().map_or(session.setup.scenario.as_str(), |r| r.facts.scenario.as_str()),
        "run_time_s": run.as_ref().and_then(|r| r.run_time).map(|t| t.as_secs_f64()),
        "fail_band": failure_band(fail_ratio),
    }))
}

pub async fn exceptions(State(session): Ui) -> Json<Value> {
    let rows: Vec<Value> = session
        .run()
        .map(|r| r.controller.snapshot().exceptions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(msg, count)| {
            json!({"count": count, "msg": html_text(&msg), "traceback": "", "nodes": "local"})
        })
        .collect();
    Json(json!({ "exceptions": rows }))
}

pub async fn tasks(State(session): Ui) -> Json<Value> {
    let (scenario, tasks) = match session.run() {
        Some(r) => (r.facts.scenario.clone(), r.tasks.clone()),
        None => match crate::scenario::Scenario::load(&session.setup.scenario) {
            Ok(s) => (s.name.clone(), s.task_weights()),
            Err(_) => (session.setup.scenario.clone(), Vec::new()),
        },
    };
    let sum: f64 = tasks.iter().map(|(_, w)| w).sum();
    let ratios: serde_json::Map<String, Value> = tasks
        .iter()
        .map(|(name, w)| {
            let ratio = if sum > 0.0 { w / sum } else { 0.0 };
            (name.clone(), json!({"ratio": ratio, "tasks": {}}))
        })
        .collect();
    let class = json!({ scenario: {"ratio": 1.0, "tasks": ratios} });
    Json(json!({"per_class": class, "total": class}))
}

pub async fn logs(State(session): Ui) -> Json<Value> {
    Json(json!({"master": session.logs(), "workers": {}}))
}

/// The run's reports as they would be written now, or a 404 before the first run.
async fn results(session: &Session) -> Result<Arc<report::Results>, Response> {
    let none = || {
        (
            StatusCode::NOT_FOUND,
            "no run yet: start one, then download its data\n",
        )
            .into_response()
    };
    let run = session.run().ok_or_else(none)?;
    run.results().await.ok_or_else(none)
}

fn download(content_type: &'static str, name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment;filename={name}"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn csv(session: &Session, file: CsvFile, name: &str) -> Response {
    let results = match results(session).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    match report::csv::render(&results, file, file == CsvFile::History) {
        Ok(bytes) => download("text/csv", format!("{name}_{}.csv", stamp()), bytes),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
    }
}

fn stamp() -> i64 {
    chrono::Utc::now().timestamp()
}

pub async fn requests_csv(State(session): Ui) -> Response {
    csv(&session, CsvFile::Stats, "requests").await
}

pub async fn full_history_csv(State(session): Ui) -> Response {
    csv(&session, CsvFile::History, "requests_full_history").await
}

pub async fn failures_csv(State(session): Ui) -> Response {
    csv(&session, CsvFile::Failures, "failures").await
}

pub async fn exceptions_csv(State(session): Ui) -> Response {
    csv(&session, CsvFile::Exceptions, "exceptions").await
}

pub async fn report(State(session): Ui, Query(q): Query<HashMap<String, String>>) -> Response {
    let results = match results(&session).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    let html = report::html::render(&results);
    if q.contains_key("download") {
        download(
            "text/html; charset=utf-8",
            format!("report_{}.html", stamp()),
            html.into_bytes(),
        )
    } else {
        axum::response::Html(html).into_response()
    }
}

pub async fn summary_json(State(session): Ui) -> Response {
    let results = match results(&session).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    match report::json::render(&results) {
        Ok(text) => download("application/json", "summary.json".into(), text.into_bytes()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
    }
}

pub async fn junit_xml(State(session): Ui) -> Response {
    let results = match results(&session).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    match report::junit::render(&results) {
        Ok(xml) => download("application/xml", "junit.xml".into(), xml.into_bytes()),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
    }
}
