//! The shop's Prometheus `/metrics` (`--metrics-url`), scraped once a second over one keep-alive
//! connection: per-route server-side time (the request-duration histogram's sums, counts and
//! buckets, differenced each second into requests/s, mean and p95), the database pool (in use,
//! idle, max, waiting when the shop exports it) and the job queue (backlog, in progress, jobs
//! done per second). Names are matched by suffix (`*_http_request_duration_seconds`,
//! `*_db_pool_connections`, ...), so another exporter's prefix works too.
//!
//! The text format is parsed here (samples only; comments and `# EOF` skipped): the part of it a
//! scrape needs is a few dozen lines, and no well-kept crate parses it without a server stack.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http::{HeaderMap, Method, Uri};
use serde::Serialize;

use super::{CONNECT_TIMEOUT, Monitor, Note};
use crate::client::Connections;

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses Prometheus' (or OpenMetrics') text format into samples; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if rest.starts_with('{') {
        let mut chars = rest[1..].char_indices();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i + 2);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    // The value: a quoted string with \\, \" and \n escapes.
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                c => key.push(c),
            }
        }
        rest = &rest[end?..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

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
            && base.ends_with("http_request_duration_seconds")
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
        } else if n.ends_with("http_request_duration_seconds_sum") {
            s.routes.entry(route_key()).or_default().sum += x.value;
        } else if n.ends_with("http_request_duration_seconds_count") {
            let h = s.routes.entry(route_key()).or_default();
            h.count += x.value;
            if x.label("status").is_some_and(|st| st.starts_with('5')) {
                h.errors += x.value;
            }
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
            *s.jobs_processed.get_or_insert(0.0) += x.value;
        }
    }
    // Our own scrapes are not the shop's traffic.
    s.routes
        .retain(|(_, route), _| !route.ends_with("/metrics"));
    s
}

/// The `q` quantile (0..1) of the observations between two cumulative bucket readings, by linear
/// interpolation inside the bucket (as Prometheus' `histogram_quantile` does). Seconds.
pub fn bucket_quantile(before: &[(f64, f64)], now: &[(f64, f64)], q: f64) -> Option<f64> {
    let delta: Vec<(f64, f64)> = now
        .iter()
        .map(|(le, c)| {
            let b = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, c)| *c);
            (*le, (c - b).max(0.0))
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = 0.0;
    let mut below = 0.0;
    for (le, count) in &delta {
        if *count >= rank {
            if le.is_infinite() {
                // Above the last finite bound: that bound is all that is known.
                return Some(lower);
            }
            let inside = count - below;
            let share = if inside > 0.0 {
                (rank - below) / inside
            } else {
                1.0
            };
            return Some(lower + (le - lower) * share);
        }
        lower = if le.is_finite() { *le } else { lower };
        below = *count;
    }
    None
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

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
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
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Data {
    pub url: String,
    pub routes: Vec<Route>,
    pub points: Vec<Point>,
    /// Jobs the shop's workers finished during the run.
    pub jobs_processed: Option<u64>,
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
            connections: Connections::new(tls),
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
        let processed_rate = match (&previous, scrape.jobs_processed, seconds) {
            (Some((p, _)), Some(now_done), Some(s)) => p
                .jobs_processed
                .map(|before| ((now_done - before) / s).max(0.0)),
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
            jobs_processed_per_s: processed_rate,
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
        let jobs_processed = match (
            last.and_then(|l| l.jobs_processed),
            self.baseline.jobs_processed,
        ) {
            (Some(now), before) => Some((now - before.unwrap_or(0.0)).max(0.0) as u64),
            _ => None,
        };
        Data {
            url: self.url.to_string(),
            routes,
            points: self.points.clone(),
            jobs_processed,
            scrapes_failed: self.failed,
        }
    }
}

impl Monitor for Metrics {
    type Data = Data;

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
    fn the_text_format_parses() {
        let samples = parse(SHOP);
        assert_eq!(samples.len(), 18);
        let s = &samples[0];
        assert_eq!(s.name, "shop_http_requests_total");
        assert_eq!(s.label("route"), Some("/api/products/"));
        assert_eq!(s.value, 10.0);
        let odd = parse(r#"x{a="q\"uote\\d,}",b="2"} 1.5e3 1700000000"#);
        assert_eq!(odd[0].labels[0].1, "q\"uote\\d,}");
        assert_eq!(odd[0].label("b"), Some("2"));
        assert_eq!(odd[0].value, 1500.0);
        assert!(parse("broken{a=1} 2\nplain 3").len() == 1);
    }

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

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let before = [(0.01, 0.0), (0.1, 0.0), (f64::INFINITY, 0.0)];
        let now = [(0.01, 50.0), (0.1, 100.0), (f64::INFINITY, 100.0)];
        let p50 = bucket_quantile(&before, &now, 0.5).unwrap();
        assert!((p50 - 0.01).abs() < 1e-9);
        let p95 = bucket_quantile(&before, &now, 0.95).unwrap();
        assert!((p95 - 0.091).abs() < 1e-9, "{p95}");
        assert_eq!(bucket_quantile(&now, &now, 0.95), None, "nothing new");
        let over = [(0.01, 0.0), (0.1, 0.0), (f64::INFINITY, 4.0)];
        assert_eq!(bucket_quantile(&before, &over, 0.95), Some(0.1));
    }
}
