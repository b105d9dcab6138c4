//! Measurement: users send one small `Event` per request down a channel and a single aggregator
//! task records it, so the hot path takes no lock and allocates nothing for a success. Every
//! (method, name) has an HdrHistogram (microseconds, 3 significant digits: exact percentiles, not
//! Locust's rounded buckets) for the whole run and for each stage, plus small per-second windows
//! for the time series. Histograms serialise (V2, base64) and merge exactly.

use std::collections::BTreeMap;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::mpsc;

pub mod deltas;

/// Locust's percentile columns.
pub const PERCENTILES: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// The largest latency a histogram holds (an hour); longer ones are clamped, not lost.
const MAX_US: u64 = 3_600_000_000;
/// Seconds in the "current" window (Locust's full history, the live view).
pub const WINDOW_SECONDS: usize = 10;

/// A histogram of microseconds with `digits` significant digits.
#[allow(clippy::expect_used)]
pub fn histogram(digits: u8) -> Histogram<u64> {
    // Constant, valid bounds: creation cannot fail.
    Histogram::new_with_bounds(1, MAX_US, digits).expect("valid histogram bounds")
}

/// How a request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success,
    /// An expected business error: a status the scenario marks as handled, with a JSON body.
    Handled,
    /// A failure with Locust's style of message (`HTTPError('405 Client Error: ...')`).
    Failure(Box<str>),
}

#[derive(Debug)]
pub struct Sample {
    pub endpoint: u32,
    pub raw_us: u64,
    /// Open model: how late the iteration started after its intended time.
    pub lag_us: Option<u64>,
    pub bytes: u64,
    pub outcome: Outcome,
    /// The answer's HTTP status; None when there was no answer (refused, reset, timed out).
    pub status: Option<u16>,
    /// A failed answer as the server gave it (status, explaining headers, body excerpt).
    pub example: Option<Box<str>>,
}

#[derive(Debug)]
pub enum Event {
    Sample(Sample),
    /// A 401 made the user log in again.
    Relogin,
    /// Open model: an iteration that could not start within the allowed lag.
    Dropped(u64),
    /// An error of the scenario itself (an unset variable, a failed capture): exceptions.csv.
    Exception(String),
    /// The runner moved to stage `index`.
    Stage(usize),
    /// A request of `endpoint` opened a TLS connection; the handshake took `us` (also inside that
    /// request's own time). An event of its own, so the per-request sample stays as small as over
    /// plain HTTP.
    TlsHandshake {
        endpoint: u32,
        us: u64,
    },
}

pub type Sender = mpsc::UnboundedSender<Event>;

/// One row of the statistics: an endpoint, or the aggregate.
#[derive(Debug, Clone)]
pub struct Entry {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub handled: u64,
    pub total_us: u128,
    pub min_us: u64,
    pub max_us: u64,
    pub content_bytes: u64,
    /// Service time: from sending to the end of the response.
    pub raw: Histogram<u64>,
    /// Open model: from the intended start (coordinated omission corrected, as wrk2 does).
    pub corrected: Option<Histogram<u64>>,
    /// Seconds since the start of the run of the first and last request.
    pub first_s: f64,
    pub last_s: f64,
    /// TLS handshakes made by this endpoint's requests (each opened its connection), and their
    /// summed time.
    pub tls_handshakes: u64,
    pub tls_handshake_us: u64,
}

impl Entry {
    pub fn new(method: &str, name: &str, open_model: bool) -> Self {
        Self {
            method: method.to_owned(),
            name: name.to_owned(),
            requests: 0,
            failures: 0,
            handled: 0,
            total_us: 0,
            min_us: u64::MAX,
            max_us: 0,
            content_bytes: 0,
            raw: histogram(3),
            corrected: open_model.then(|| histogram(3)),
            first_s: f64::NAN,
            last_s: 0.0,
            tls_handshakes: 0,
            tls_handshake_us: 0,
        }
    }

    fn handshake(&mut self, us: u64) {
        self.tls_handshakes += 1;
        self.tls_handshake_us += us;
    }

    /// The mean TLS handshake in milliseconds; None without one.
    pub fn tls_handshake_avg_ms(&self) -> Option<f64> {
        (self.tls_handshakes > 0)
            .then(|| self.tls_handshake_us as f64 / self.tls_handshakes as f64 / 1000.0)
    }

    fn record(&mut self, s: &Sample, at_s: f64) {
        self.requests += 1;
        match s.outcome {
            Outcome::Success => {}
            Outcome::Handled => self.handled += 1,
            Outcome::Failure(_) => self.failures += 1,
        }
        self.total_us += u128::from(s.raw_us);
        self.min_us = self.min_us.min(s.raw_us);
        self.max_us = self.max_us.max(s.raw_us);
        self.content_bytes += s.bytes;
        self.raw.saturating_record(s.raw_us.max(1));
        if let Some(c) = &mut self.corrected {
            c.saturating_record((s.raw_us + s.lag_us.unwrap_or(0)).max(1));
        }
        if self.first_s.is_nan() {
            self.first_s = at_s;
        }
        self.last_s = at_s;
    }

    /// Adds another entry's counts and histograms (another stage, or another generator).
    pub fn merge(&mut self, other: &Entry) {
        if other.requests == 0 {
            return;
        }
        self.requests += other.requests;
        self.failures += other.failures;
        self.handled += other.handled;
        self.tls_handshakes += other.tls_handshakes;
        self.tls_handshake_us += other.tls_handshake_us;
        self.total_us += other.total_us;
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
        self.content_bytes += other.content_bytes;
        let _ = self.raw.add(&other.raw);
        if let (Some(mine), Some(theirs)) = (&mut self.corrected, &other.corrected) {
            let _ = mine.add(theirs);
        }
        if self.first_s.is_nan() || other.first_s < self.first_s {
            self.first_s = other.first_s;
        }
        self.last_s = self.last_s.max(other.last_s);
    }

    pub fn avg_ms(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.total_us as f64 / self.requests as f64 / 1000.0)
    }

    pub fn min_ms(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.min_us as f64 / 1000.0)
    }

    pub fn max_ms(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.max_us as f64 / 1000.0)
    }

    pub fn avg_content_size(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.content_bytes as f64 / self.requests as f64
        }
    }

    /// A percentile (0..=1) of the service time in milliseconds; None without requests.
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        // 100% is the exact maximum, not the top of its histogram bucket.
        if q >= 1.0 {
            return self.max_ms();
        }
        percentile_ms(&self.raw, q)
    }

    /// The view thresholds and the headline numbers use: corrected in the open model.
    pub fn headline(&self) -> &Histogram<u64> {
        self.corrected.as_ref().unwrap_or(&self.raw)
    }

    pub fn fail_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failures as f64 / self.requests as f64
        }
    }
}

/// A percentile (0..=1) in milliseconds, None for an empty histogram. 1.0 is the exact maximum.
pub fn percentile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let us = if q >= 1.0 {
        h.max()
    } else {
        h.value_at_quantile(q)
    };
    Some(us as f64 / 1000.0)
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Second {
    /// Seconds since the start.
    pub t: u64,
    pub unix: i64,
    pub users: usize,
    pub stage: usize,
    pub requests: u64,
    pub failures: u64,
    /// Aggregate latency of this second (ms): p50, p95, p99.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// Per endpoint (index as in `Recorder::entries`): requests, failures, p50, p95, p99 of this second.
    pub endpoints: Vec<EndpointSecond>,
    /// Locust's history rows at this second.
    #[serde(skip)]
    pub history: crate::report::history::HistoryRow,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EndpointSecond {
    pub requests: u64,
    pub failures: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// A failure row: Locust's failures.csv.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FailureRow {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    /// The HTTP status of these failures; None when no answer came (refused, reset, timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The first answer of this kind as the server gave it: what a reader needs to see the cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// One stage's own statistics.
#[derive(Debug, Clone)]
pub struct StageStats {
    pub index: usize,
    pub start_s: f64,
    pub end_s: f64,
    pub entries: Vec<Entry>,
    pub aggregate: Entry,
}

/// Per-endpoint per-second window (2 significant digits: a chart point, not a verdict).
#[derive(Clone)]
pub(crate) struct Window {
    pub(crate) requests: u64,
    pub(crate) failures: u64,
    pub(crate) histogram: Histogram<u64>,
}

impl Window {
    fn new() -> Self {
        Self {
            requests: 0,
            failures: 0,
            histogram: histogram(2),
        }
    }
}

/// Everything measured; owned by the aggregator task, handed to the reports at the end (and
/// copied for a report of the run so far).
#[derive(Clone)]
pub struct Recorder {
    pub start: Instant,
    pub start_unix: i64,
    pub open_model: bool,
    pub entries: Vec<Entry>,
    pub aggregate: Entry,
    pub stages: Vec<StageStats>,
    pub seconds: Vec<Second>,
    pub failures: BTreeMap<(String, String, String), FailureRow>,
    pub exceptions: BTreeMap<String, u64>,
    pub relogins: u64,
    pub dropped: u64,
    /// Times "Reset stats" emptied the counts; the statistics run from `stats_start`.
    pub resets: u32,
    stats_start: Instant,
    /// When the last user stopped: the end of the load (reports and sinks come after it).
    ended: Option<Instant>,
    current: Vec<Window>,
    current_aggregate: Window,
    /// The last WINDOW_SECONDS seconds per endpoint (plus the aggregate last), newest last.
    pub(crate) ring: Vec<Vec<Window>>,
}

impl Recorder {
    pub fn new(endpoints: &[(String, String)], open_model: bool) -> Self {
        let entries: Vec<Entry> = endpoints
            .iter()
            .map(|(m, n)| Entry::new(m, n, open_model))
            .collect();
        let start = Instant::now();
        Self {
            start,
            resets: 0,
            stats_start: start,
            ended: None,
            start_unix: chrono::Utc::now().timestamp(),
            open_model,
            current: endpoints.iter().map(|_| Window::new()).collect(),
            current_aggregate: Window::new(),
            ring: Vec::new(),
            stages: Vec::new(),
            aggregate: Entry::new("", "Aggregated", open_model),
            entries,
            seconds: Vec::new(),
            failures: BTreeMap::new(),
            exceptions: BTreeMap::new(),
            relogins: 0,
            dropped: 0,
        }
    }

    fn elapsed_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub fn handle(&mut self, event: Event) {
        let at = self.elapsed_s();
        self.handle_at(event, at);
    }

    /// Events that arrived together, recorded at one reading of the clock.
    pub fn handle_all(&mut self, events: impl IntoIterator<Item = Event>) {
        let at = self.elapsed_s();
        for event in events {
            self.handle_at(event, at);
        }
    }

    fn handle_at(&mut self, event: Event, at: f64) {
        match event {
            Event::Sample(s) => self.record(&s, at),
            Event::Relogin => self.relogins += 1,
            Event::Dropped(n) => self.dropped += n,
            Event::Exception(message) => *self.exceptions.entry(message).or_default() += 1,
            Event::Stage(index) => self.begin_stage(index),
            Event::TlsHandshake { endpoint, us } => self.handshake(endpoint as usize, us),
        }
    }

    fn handshake(&mut self, i: usize, us: u64) {
        let Some(entry) = self.entries.get_mut(i) else {
            return;
        };
        entry.handshake(us);
        self.aggregate.handshake(us);
        if let Some(stage) = self.stages.last_mut() {
            stage.entries[i].handshake(us);
            stage.aggregate.handshake(us);
        }
    }

    fn begin_stage(&mut self, index: usize) {
        let now = self.elapsed_s();
        if let Some(last) = self.stages.last_mut() {
            last.end_s = now;
        }
        let open = self.open_model;
        self.stages.push(StageStats {
            index,
            start_s: now,
            end_s: now,
            entries: self
                .entries
                .iter()
                .map(|e| Entry::new(&e.method, &e.name, open))
                .collect(),
            aggregate: Entry::new("", "Aggregated", open),
        });
    }

    fn record(&mut self, s: &Sample, at: f64) {
        let i = s.endpoint as usize;
        let Some(entry) = self.entries.get_mut(i) else {
            return;
        };
        entry.record(s, at);
        self.aggregate.record(s, at);
        if let Some(stage) = self.stages.last_mut() {
            stage.entries[i].record(s, at);
            stage.aggregate.record(s, at);
        }
        let failed = matches!(s.outcome, Outcome::Failure(_));
        for w in [&mut self.current[i], &mut self.current_aggregate] {
            w.requests += 1;
            w.failures += u64::from(failed);
            w.histogram.saturating_record(s.raw_us.max(1));
        }
        if let Outcome::Failure(error) = &s.outcome {
            let now = chrono::Utc::now().timestamp();
            let entry = &self.entries[i];
            let row = self
                .failures
                .entry((entry.method.clone(), entry.name.clone(), error.to_string()))
                .or_insert_with(|| FailureRow {
                    method: entry.method.clone(),
                    name: entry.name.clone(),
                    error: error.to_string(),
                    occurrences: 0,
                    first_seen: now,
                    last_seen: now,
                    status: s.status,
                    example: None,
                });
            if row.example.is_none() {
                row.example = s.example.as_deref().map(str::to_owned);
            }
            row.occurrences += 1;
            row.last_seen = now;
        }
    }

    /// Closes the current second: its series point and Locust's history row.
    pub fn tick(&mut self, users: usize) {
        let t = self.seconds.len() as u64 + 1;
        let endpoints_now: Vec<Window> = self
            .current
            .iter_mut()
            .map(|w| std::mem::replace(w, Window::new()))
            .collect();
        let aggregate_now = std::mem::replace(&mut self.current_aggregate, Window::new());
        let mut second_windows = endpoints_now;
        second_windows.push(aggregate_now);
        let point = |w: &Window| EndpointSecond {
            requests: w.requests,
            failures: w.failures,
            p50: percentile_ms(&w.histogram, 0.5),
            p95: percentile_ms(&w.histogram, 0.95),
            p99: percentile_ms(&w.histogram, 0.99),
        };
        let n = second_windows.len();
        let endpoints: Vec<EndpointSecond> = second_windows[..n - 1].iter().map(point).collect();
        let agg = point(&second_windows[n - 1]);
        self.ring.push(second_windows);
        if self.ring.len() > WINDOW_SECONDS {
            self.ring.remove(0);
        }
        let history = crate::report::history::row(self);
        self.seconds.push(Second {
            t,
            unix: chrono::Utc::now().timestamp(),
            users,
            stage: self.stages.last().map_or(0, |s| s.index),
            requests: agg.requests,
            failures: agg.failures,
            p50: agg.p50,
            p95: agg.p95,
            p99: agg.p99,
            endpoints,
            history,
        });
    }

    /// Ends the run: closes the last stage and stops the clock of `duration_s`.
    pub fn finish(&mut self) {
        let now = self.elapsed_s();
        if let Some(last) = self.stages.last_mut() {
            last.end_s = now;
        }
        self.ended.get_or_insert_with(Instant::now);
    }

    /// Seconds the statistics cover: from the start (or the last reset) to the end of the load,
    /// never the time spent afterwards on monitors and reports (requests/s would count it).
    pub fn duration_s(&self) -> f64 {
        let end = self.ended.unwrap_or_else(Instant::now);
        end.saturating_duration_since(self.stats_start)
            .as_secs_f64()
    }

    /// Locust's "Reset stats": every count, histogram, failure and exception starts again from
    /// zero now; the per-second series (what happened when) is kept.
    pub fn reset(&mut self) {
        let open = self.open_model;
        for e in &mut self.entries {
            *e = Entry::new(&e.method, &e.name, open);
        }
        self.aggregate = Entry::new("", "Aggregated", open);
        for stage in &mut self.stages {
            for e in &mut stage.entries {
                *e = Entry::new(&e.method, &e.name, open);
            }
            stage.aggregate = Entry::new("", "Aggregated", open);
        }
        // The stage in progress measures from now on; its per-second rate must not count before.
        let now = self.elapsed_s();
        if let Some(last) = self.stages.last_mut() {
            last.start_s = now;
        }
        self.failures.clear();
        self.exceptions.clear();
        self.relogins = 0;
        self.dropped = 0;
        self.current = self.entries.iter().map(|_| Window::new()).collect();
        self.current_aggregate = Window::new();
        self.ring.clear();
        self.resets += 1;
        self.stats_start = Instant::now();
    }
}

/// Rebuilding a finished recorder from a summary.json (`crate::summary`'s `into_results`): the
/// clock fields are private, and only here can they be set so that `duration_s()` answers what
/// the run measured instead of the time since the summary was read.
impl Recorder {
    /// A finished recorder holding `entries` (in the scenario's index order, which the series'
    /// per-endpoint points follow), with empty live windows; the caller fills the public fields.
    pub(crate) fn restored(
        entries: Vec<Entry>,
        open_model: bool,
        start_unix: i64,
        duration_s: f64,
    ) -> Self {
        let now = Instant::now();
        let span = std::time::Duration::try_from_secs_f64(duration_s).unwrap_or_default();
        // An Instant cannot always go back that far (shortly after boot): then the span ends
        // in the future instead, which `duration_s()` measures the same.
        let (stats_start, ended) = match now.checked_sub(span) {
            Some(start) => (start, now),
            None => (now, now.checked_add(span).unwrap_or(now)),
        };
        let mut r = Self::new(&[], open_model);
        r.start = stats_start;
        r.stats_start = stats_start;
        r.ended = Some(ended);
        r.start_unix = start_unix;
        r.current = entries.iter().map(|_| Window::new()).collect();
        r.entries = entries;
        r
    }
}

#[cfg(test)]
mod tests;
