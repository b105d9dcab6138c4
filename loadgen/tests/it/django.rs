//! A Django shop's django-prometheus metrics (`--metrics-url`): a target whose `/metrics` speaks
//! prometheus_client's exposition of django-prometheus' names (HELP, TYPE, `_created` samples
//! and all) and whose counters grow with the requests it really served: 25 statements and a new
//! database connection per request, as a list view with an N+1 under Django's default
//! `CONN_MAX_AGE = 0`. The per-view latency becomes the server's routes, the database counters
//! become series, and the findings name both problems without a database login.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;

use crate::stub::{loadgen, scenario, summary, text};

const VIEW: &str = "shop.views.ProductListView";

/// Served requests so far; every one "ran" 25 statements of 0.4 ms on a new connection.
async fn exposition(State(served): State<Arc<AtomicU64>>) -> String {
    let n = served.load(Ordering::Relaxed) as f64;
    let mut t = String::new();
    let h = "django_http_requests_latency_seconds_by_view_method";
    let labels = format!("method=\"GET\",view=\"{VIEW}\"");
    let _ = writeln!(
        t,
        "# HELP {h} Histogram of request processing time labelled by view.\n# TYPE {h} histogram"
    );
    // Every request took 12 ms: below the 25 ms bucket's bound.
    for (le, count) in [("0.01", 0.0), ("0.025", n), ("0.05", n), ("+Inf", n)] {
        let _ = writeln!(t, "{h}_bucket{{le=\"{le}\",{labels}}} {count:.1}");
    }
    let _ = writeln!(
        t,
        "{h}_count{{{labels}}} {n:.1}\n{h}_sum{{{labels}}} {:.3}",
        n * 0.012
    );
    let _ = writeln!(t, "{h}_created{{{labels}}} 1.7e+09");
    let r = "django_http_responses_total_by_status_view_method";
    let _ = writeln!(
        t,
        "# TYPE {r} counter\n{r}_total{{method=\"GET\",status=\"200\",view=\"{VIEW}\"}} {n:.1}\n\
         {r}_created{{method=\"GET\",status=\"200\",view=\"{VIEW}\"}} 1.7e+09"
    );
    let db = "alias=\"default\",vendor=\"postgresql\"";
    for (name, value) in [
        ("django_db_new_connections", n),
        ("django_db_execute", n * 25.0),
        ("django_db_execute_many", 0.0),
    ] {
        let _ = writeln!(
            t,
            "# TYPE {name} counter\n{name}_total{{{db}}} {value:.1}\n{name}_created{{{db}}} 1.7e+09"
        );
    }
    let q = "django_db_query_duration_seconds";
    let _ = writeln!(
        t,
        "# TYPE {q} histogram\n{q}_bucket{{{db},le=\"+Inf\"}} {c:.1}\n{q}_count{{{db}}} {c:.1}\n\
         {q}_sum{{{db}}} {:.4}",
        n * 25.0 * 0.0004,
        c = n * 25.0
    );
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_prometheus_metrics_become_routes_series_and_findings() {
    let served = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/api/products/",
            get(|State(n): State<Arc<AtomicU64>>| async move {
                n.fetch_add(1, Ordering::Relaxed);
                "[]"
            }),
        )
        .route("/metrics", get(exposition))
        .with_state(Arc::clone(&served));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scenario(
        d,
        "list.toml",
        "wait_time = \"constant 10ms\"\n[[task]]\n[[task.request]]\npath = \"/api/products/\"\n",
    );
    let metrics = format!("{host}/metrics");
    let out = loadgen(
        d,
        &[
            "run",
            "-H",
            &host,
            "-f",
            "list.toml",
            "-u",
            "4",
            "-r",
            "100",
            "-t",
            "4s",
            "--headless",
            "--only-summary",
            "--json",
            "s.json",
            "--metrics-url",
            &metrics,
        ],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let s = summary(d, "s.json");
    let m = &s["server"]["metrics"];
    assert_eq!(m["scrapes_failed"], 0, "{m}");
    let route = &m["routes"][0];
    assert_eq!(
        (&route["method"], &route["route"]),
        (&"GET".into(), &VIEW.into())
    );
    assert!(
        (route["mean_ms"].as_f64().unwrap() - 12.0).abs() < 0.5,
        "{route}"
    );
    let requests = route["requests"].as_u64().unwrap();
    assert!(requests > 50, "{route}");
    assert_eq!(m["db_statements"].as_u64().unwrap(), requests * 25, "{m}");
    assert_eq!(m["db_new_connections"].as_u64().unwrap(), requests);
    let busy = m["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["db_statements_per_s"].as_f64().is_some_and(|r| r > 0.0))
        .unwrap_or_else(|| panic!("no second with statements: {m}"));
    assert!(
        (busy["db_statement_mean_ms"].as_f64().unwrap() - 0.4).abs() < 0.01,
        "{busy}"
    );

    let findings = s["findings"].as_array().unwrap();
    let find = |id: &str| {
        findings
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {findings:?}"))
            .clone()
    };
    let n_plus_one = find("n-plus-one");
    assert!(
        n_plus_one["title"]
            .as_str()
            .unwrap()
            .starts_with("25 database statements per request"),
        "{n_plus_one}"
    );
    assert!(
        n_plus_one["evidence"].as_str().unwrap().contains(VIEW),
        "{n_plus_one}"
    );
    let churn = find("db-connection-churn");
    assert!(
        churn["fix"].as_str().unwrap().contains("CONN_MAX_AGE"),
        "{churn}"
    );
}
