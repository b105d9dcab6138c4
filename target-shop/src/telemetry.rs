//! Request ids, request logs and `/metrics`: per-route request counts and latency histograms, the
//! database pool's connections, the job queue's backlog and jobs done, in Prometheus' text format. Each shop has its own registry, so
//! several shops in one process (tests) never mix their numbers.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::Instrument;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    outcome: &'static str,
}

pub struct Telemetry {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    jobs_processed: Family<JobLabels, Counter>,
    jobs_backlog: Gauge,
    jobs_in_progress: Gauge,
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("shop");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 1 ms to 10 s: the plan's SLOs sit at 200 ms, 500 ms, 1 s and 2 s.
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
            ])
        });
        let pool = Family::<PoolLabels, Gauge>::default();
        let pool_max = Gauge::default();
        registry.register(
            "http_requests",
            "Requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by method, route and status",
            latency.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections by state (in_use, idle)",
            pool.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The pool's size",
            pool_max.clone(),
        );
        let jobs_processed = Family::<JobLabels, Counter>::default();
        let jobs_backlog = Gauge::default();
        let jobs_in_progress = Gauge::default();
        registry.register(
            "jobs_processed",
            "Jobs this process's worker ran, by kind and outcome (ok, error)",
            jobs_processed.clone(),
        );
        registry.register(
            "jobs_backlog",
            "Jobs enqueued and not yet done (waiting or in progress), across all workers",
            jobs_backlog.clone(),
        );
        registry.register(
            "jobs_in_progress",
            "Jobs delivered to a worker and not yet acknowledged",
            jobs_in_progress.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            latency,
            pool,
            pool_max,
            jobs_processed,
            jobs_backlog,
            jobs_in_progress,
        })
    }

    /// Counts a job the worker ran.
    pub fn job_processed(&self, kind: &'static str, outcome: &'static str) {
        self.jobs_processed
            .get_or_create(&JobLabels { kind, outcome })
            .inc();
    }
}

/// Around every routed request: a request id (echoed as `X-Request-Id`, on every log line of the
/// request), and its count and latency under its route pattern.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_string);
    let span = tracing::info_span!("request", %request_id, %method, %route);
    if let Some(kib) = state.faults.leak_kib {
        crate::faults::leak(kib);
    }
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::debug!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "answered"
        );
    });
    let labels = RouteLabels {
        method,
        route,
        status,
    };
    state.telemetry.requests.get_or_create(&labels).inc();
    state
        .telemetry
        .latency
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    security(()),
    responses(
        (status = 200, description = "Prometheus' text exposition format", content_type = "text/plain", body = String),
    ),
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let telemetry = &state.telemetry;
    let size = i64::from(state.db.size());
    let idle = state.db.num_idle() as i64;
    telemetry
        .pool
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(size - idle);
    telemetry
        .pool
        .get_or_create(&PoolLabels { state: "idle" })
        .set(idle);
    telemetry
        .pool_max
        .set(i64::from(state.db.options().get_max_connections()));
    match crate::jobs::backlog(&state).await {
        Ok((backlog, in_progress)) => {
            telemetry.jobs_backlog.set(backlog as i64);
            telemetry.jobs_in_progress.set(in_progress as i64);
        }
        // The request numbers are still worth a scrape. During an outage the guard has said so
        // once; a warning per scrape would drown it.
        Err(e) if state.redis_guard.is_down() => {
            tracing::debug!(error = %e, "reading the job backlog")
        }
        Err(e) => tracing::warn!(error = %e, "reading the job backlog"),
    }
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &telemetry.registry) {
        tracing::error!(error = %e, "encoding metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
