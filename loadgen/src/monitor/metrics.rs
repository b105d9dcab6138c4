//! The shop's Prometheus `/metrics` (`--metrics-url`), scraped once a second over one keep-alive
//! connection: per-route server-side time (the request-duration histogram's sums, counts and
//! buckets, differenced each second into requests/s, mean and p95), the database pool (in use,
//! idle, max, waiting when the shop exports it) and the job queue (backlog, in progress, jobs
//! done per second). Names are matched by suffix (`*_http_request_duration_seconds`,
//! `*_db_pool_connections`, ...), so another exporter's prefix works too.
//!
//! A Django shop with django-prometheus is read into the same series: its per-view latency
//! histogram (`django_http_requests_latency_seconds_by_view_method`, by `view` and `method`) as
//! the routes, 5xx from `django_http_responses_total_by_status_view_method_total`, and its
//! database wrapper's counters (`django_db_execute_total`, `django_db_query_duration_seconds`,
//! `django_db_new_connections_total`, `django_db_errors_total`) as statements, query time, new
//! connections and errors per second.
//!
//! The text format is parsed by [`super::exposition`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http::{HeaderMap, Method, Uri};
use serde::Serialize;

use super::exposition::{Sample, bucket_quantile, parse};
use super::{CONNECT_TIMEOUT, Monitor, Note};
use crate::client::Connections;

/// A route's request-duration histogram, summed over its statuses.
#[derive(Debug, Clone, Default, PartialEq)]
struct Histogram {
    count: f64,
    sum: f64,
    /// Cumulative counts by upper bound (seconds), ascending.
    buckets: Vec<(f64, f64)>,
    errors: f64,
}

/// What one scrape says.
#[derive(Debug, Clone, Default)]
struct Scrape {
    routes: BTreeMap<(String, String), Histogram>,
    pool: BTreeMap<String, f64>,
    pool_max: Option<f64>,
    jobs_backlog: Option<f64>,
    jobs_in_progress: Option<f64>,
    jobs_processed: Option<f64>,
    /// Statements executed (django-prometheus' `execute_total`), summed over databases.
    db_statements: Option<f64>,
    /// The statements' time: (sum in seconds, count).
    db_time: Option<(f64, f64)>,
    db_new_connections: Option<f64>,
    db_errors: Option<f64>,
}

/// The request-duration histograms read as routes: ours (and most exporters'), and
/// django-prometheus' per-view one.
fn is_latency(base: &str) -> bool {
    base.ends_with("http_request_duration_seconds")
        || base.ends_with("http_requests_latency_seconds_by_view_method")
}

fn add(total: &mut Option<f64>, value: f64) {
    *total.get_or_insert(0.0) += value;
}

fn read(samples: &[Sample]) -> Scrape {
    let mut s = Scrape::default();
    for x in samples {
        let route_key = || {
            let method = x.label("method").unwrap_or("").to_owned();
            let route = x
                .label("route")
                .or_else(|| x.label("handler"))
                .or_else(|| x.label("path"))
                .or_else(|| x.label("view"))
                .unwrap_or("")
                .to_owned();
            (method, route)
        };
        let n = x.name.as_str();
        if let Some(base) = n.strip_suffix("_bucket")
            && is_latency(base)
        {
            let le = match x.label("le") {
                Some("+Inf") => f64::INFINITY,
                Some(v) => match v.parse() {
                    Ok(v) => v,
                    Err(_) => continue,
                },
                None => continue,
            };
            let h = s.routes.entry(route_key()).or_default();
            match h.buckets.iter_mut().find(|(b, _)| *b == le) {
                Some(b) => b.1 += x.value,
                None => {
                    h.buckets.push((le, x.value));
                    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
            }
        } else if n.strip_suffix("_sum").is_some_and(is_latency) {
            s.routes.entry(route_key()).or_default().sum += x.value;
        } else if n.strip_suffix("_count").is_some_and(is_latency) {
            let h = s.routes.entry(route_key()).or_default();
            h.count += x.value;
            if x.label("status").is_some_and(|st| st.starts_with('5')) {
                h.errors += x.value;
            }
        } else if n.ends_with("http_responses_total_by_status_view_method_total") {
            // django-prometheus counts answers by status apart from its latency histogram.
            if x.label("status").is_some_and(|st| st.starts_with('5')) {
                s.routes.entry(route_key()).or_default().errors += x.value;
            }
        } else if n.ends_with("db_execute_total") {
            add(&mut s.db_statements, x.value);
        } else if n.ends_with("db_query_duration_seconds_sum") {
            s.db_time.get_or_insert((0.0, 0.0)).0 += x.value;
        } else if n.ends_with("db_query_duration_seconds_count") {
            s.db_time.get_or_insert((0.0, 0.0)).1 += x.value;
        } else if n.ends_with("db_new_connections_total") {
            add(&mut s.db_new_connections, x.value);
        } else if n.ends_with("db_errors_total") {
            add(&mut s.db_errors, x.value);
        } else if n.ends_with("db_pool_connections") {
            let state = x.label("state").unwrap_or("").to_owned();
            *s.pool.entry(state).or_default() += x.value;
        } else if n.ends_with("db_pool_max_connections") {
            s.pool_max = Some(x.value);
        } else if n.ends_with("db_pool_waiting") || n.ends_with("db_pool_pending_acquires") {
            *s.pool.entry("waiting".to_owned()).or_default() += x.value;
        } else if n.ends_with("jobs_backlog") {
            s.jobs_backlog = Some(x.value);
        } else if n.ends_with("jobs_in_progress") {
            s.jobs_in_progress = Some(x.value);
        } else if n.ends_with("jobs_processed_total") || n.ends_with("jobs_processed") {
            add(&mut s.jobs_processed, x.value);
        }
    }
    // Our own scrapes are not the shop's traffic.
    s.routes
        .retain(|(_, route), _| !route.ends_with("/metrics"));
    s
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RoutePoint {
    pub t: u64,
    pub rps: f64,
    /// Mean server time of this second's requests (ms); None without requests.
    pub mean_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Route {
    pub method: String,
    pub route: String,
    /// Over the run.
    pub requests: u64,
    pub server_errors: u64,
    pub mean_ms: Option<f64>,
    pub points: Vec<RoutePoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Point {
    pub t: u64,
    pub pool_in_use: Option<f64>,
    pub pool_idle: Option<f64>,
    pub pool_max: Option<f64>,
    /// Requests waiting for a connection, when the shop exports it.
    pub pool_waiting: Option<f64>,
    pub jobs_backlog: Option<f64>,
    pub jobs_in_progress: Option<f64>,
    pub jobs_processed_per_s: Option<f64>,
    /// Statements the application ran per second (django-prometheus' database wrapper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_statements_per_s: Option<f64>,
    /// Their mean time (ms); None in a second without statements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_statement_mean_ms: Option<f64>,
    /// Database connections the application opened per second (Django's CONN_MAX_AGE = 0 opens
    /// one per request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_new_connections_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_errors_per_s: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Data {
    pub url: String,
    pub routes: Vec<Route>,
    pub points: Vec<Point>,
    /// Jobs the shop's workers finished during the run.
    pub jobs_processed: Option<u64>,
    /// Statements and new database connections during the run, where the application exports
    /// them (django-prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_statements: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_new_connections: Option<u64>,
    pub scrapes_failed: u64,
}

pub struct Metrics {
    url: Uri,
    connections: Connections,
    baseline: Scrape,
    last: Option<(Scrape, Instant)>,
    routes: BTreeMap<(String, String), Vec<RoutePoint>>,
    points: Vec<Point>,
    failed: u64,
    last_error: Option<String>,
}

impl Metrics {
    /// Scrapes once: the URL must answer Prometheus text now, and this is the run's baseline.
    pub async fn connect(url: &str, tls: Option<crate::client::tls::Tls>) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("--metrics-url {url:?} is not a URL"))?;
        let mut m = Self {
            url: uri,
            // A metrics endpoint is scraped over HTTP/1.1 unless its TLS server picks h2.
            connections: Connections::new(tls, false),
            baseline: Scrape::default(),
            last: None,
            routes: BTreeMap::new(),
            points: Vec::new(),
            failed: 0,
            last_error: None,
        };
        let scrape = m
            .scrape(CONNECT_TIMEOUT)
            .await
            .with_context(|| format!("scraping {url}"))?;
        m.baseline = scrape.clone();
        m.last = Some((scrape, Instant::now()));
        Ok(m)
    }

    async fn scrape(&mut self, timeout: Duration) -> anyhow::Result<Scrape> {
        let response = self
            .connections
            .send_to(&Method::GET, &self.url, HeaderMap::new(), None, timeout)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if response.status != 200 {
            bail!("answered {}", response.status);
        }
        let text = std::str::from_utf8(&response.body).context("the answer is not UTF-8")?;
        let samples = parse(text);
        if samples.is_empty() {
            bail!("the answer holds no Prometheus samples");
        }
        Ok(read(&samples))
    }

    /// One sample (second `t`).
    pub async fn sample_now(&mut self, t: u64) {
        let scrape = match self.scrape(Duration::from_millis(800)).await {
            Ok(s) => s,
            Err(e) => {
                self.failed += 1;
                self.last_error = Some(format!("{e:#}"));
                return;
            }
        };
        let now = Instant::now();
        let previous = self.last.take();
        let seconds = previous
            .as_ref()
            .map(|(_, at)| now.duration_since(*at).as_secs_f64())
            .filter(|s| *s > 0.0);
        let zero = Histogram::default();
        for (key, h) in &scrape.routes {
            // A route first seen now had nothing before.
            let before = previous
                .as_ref()
                .and_then(|(p, _)| p.routes.get(key))
                .unwrap_or(&zero);
            let Some(seconds) = seconds else {
                continue;
            };
            let count = (h.count - before.count).max(0.0);
            let sum = (h.sum - before.sum).max(0.0);
            let point = RoutePoint {
                t,
                rps: count / seconds,
                mean_ms: (count > 0.0).then(|| sum / count * 1000.0),
                p95_ms: bucket_quantile(&before.buckets, &h.buckets, 0.95).map(|s| s * 1000.0),
            };
            self.routes.entry(key.clone()).or_default().push(point);
        }
        let pool = |state: &str| scrape.pool.get(state).copied();
        // A counter's rate since the previous scrape.
        let rate = |of: fn(&Scrape) -> Option<f64>| match (&previous, of(&scrape), seconds) {
            (Some((p, _)), Some(now), Some(s)) => of(p).map(|before| ((now - before) / s).max(0.0)),
            _ => None,
        };
        let statement_mean_ms = match (&previous, scrape.db_time) {
            (Some((p, _)), Some((sum, count))) => {
                let (sum0, count0) = p.db_time.unwrap_or_default();
                (count > count0).then(|| (sum - sum0) / (count - count0) * 1000.0)
            }
            _ => None,
        };
        self.points.push(Point {
            t,
            pool_in_use: pool("in_use").or_else(|| pool("active")),
            pool_idle: pool("idle"),
            pool_max: scrape.pool_max,
            pool_waiting: pool("waiting"),
            jobs_backlog: scrape.jobs_backlog,
            jobs_in_progress: scrape.jobs_in_progress,
            jobs_processed_per_s: rate(|s| s.jobs_processed),
            db_statements_per_s: rate(|s| s.db_statements),
            db_statement_mean_ms: statement_mean_ms,
            db_new_connections_per_s: rate(|s| s.db_new_connections),
            db_errors_per_s: rate(|s| s.db_errors),
        });
        self.last = Some((scrape, now));
    }

    pub fn data(&self) -> Data {
        let last = self.last.as_ref().map(|(s, _)| s);
        let routes = self
            .routes
            .iter()
            .map(|((method, route), points)| {
                let now = last.and_then(|l| l.routes.get(&(method.clone(), route.clone())));
                let before = self.baseline.routes.get(&(method.clone(), route.clone()));
                let zero = Histogram::default();
                let (now, before) = (now.unwrap_or(&zero), before.unwrap_or(&zero));
                let requests = (now.count - before.count).max(0.0);
                Route {
                    method: method.clone(),
                    route: route.clone(),
                    requests: requests as u64,
                    server_errors: (now.errors - before.errors).max(0.0) as u64,
                    mean_ms: (requests > 0.0)
                        .then(|| (now.sum - before.sum).max(0.0) / requests * 1000.0),
                    points: points.clone(),
                }
            })
            .filter(|r| r.requests > 0)
            .collect();
        // A counter's growth over the run.
        let growth = |of: fn(&Scrape) -> Option<f64>| {
            let now = last.and_then(of)?;
            Some((now - of(&self.baseline).unwrap_or(0.0)).max(0.0) as u64)
        };
        Data {
            url: self.url.to_string(),
            routes,
            points: self.points.clone(),
            jobs_processed: growth(|s| s.jobs_processed),
            db_statements: growth(|s| s.db_statements),
            db_new_connections: growth(|s| s.db_new_connections),
            scrapes_failed: self.failed,
        }
    }
}

impl Monitor for Metrics {
    type Data = Data;

    fn so_far(&self) -> Data {
        self.data()
    }

    fn publish(data: Data, server: &mut super::Server) {
        server.metrics = Some(data);
    }

    async fn sample(&mut self, t: u64) {
        self.sample_now(t).await;
    }

    async fn finish(self) -> (Data, Vec<Note>) {
        let mut notes = Vec::new();
        if self.failed > 0 {
            notes.push(Note {
                monitor: "metrics",
                message: format!(
                    "{} of the scrapes of {} failed (last: {})",
                    self.failed,
                    self.url,
                    self.last_error.as_deref().unwrap_or("?")
                ),
            });
        }
        (self.data(), notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: &str = r#"# HELP shop_http_requests Requests answered.
# TYPE shop_http_requests counter
shop_http_requests_total{method="GET",route="/api/products/",status="200"} 10
# TYPE shop_http_request_duration_seconds histogram
shop_http_request_duration_seconds_sum{method="GET",route="/api/products/",status="200"} 0.5
shop_http_request_duration_seconds_count{method="GET",route="/api/products/",status="200"} 10
shop_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/api/products/",status="200"} 2
shop_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/products/",status="200"} 10
shop_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/products/",status="200"} 10
shop_http_request_duration_seconds_sum{method="GET",route="/api/products/",status="500"} 5.0
shop_http_request_duration_seconds_count{method="GET",route="/api/products/",status="500"} 1
shop_http_request_duration_seconds_bucket{le="0.01",method="GET",route="/api/products/",status="500"} 0
shop_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/products/",status="500"} 0
shop_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/products/",status="500"} 1
shop_http_request_duration_seconds_count{method="GET",route="/metrics",status="200"} 99
shop_db_pool_connections{state="in_use"} 3
shop_db_pool_connections{state="idle"} 2
shop_db_pool_max_connections 5
shop_jobs_backlog 7
shop_jobs_processed_total{kind="email",outcome="ok"} 4
shop_jobs_processed_total{kind="points",outcome="ok"} 4
# EOF
"#;

    #[test]
    fn scrapes_sum_statuses_and_skip_metrics() {
        let s = read(&parse(SHOP));
        assert_eq!(s.routes.len(), 1, "/metrics itself is left out");
        let h = &s.routes[&("GET".to_owned(), "/api/products/".to_owned())];
        assert_eq!((h.count, h.sum, h.errors), (11.0, 5.5, 1.0));
        assert_eq!(
            h.buckets,
            vec![(0.01, 2.0), (0.1, 10.0), (f64::INFINITY, 11.0)]
        );
        assert_eq!(s.pool.get("in_use"), Some(&3.0));
        assert_eq!(s.pool_max, Some(5.0));
        assert_eq!(s.jobs_backlog, Some(7.0));
        assert_eq!(s.jobs_processed, Some(8.0));
    }
}
