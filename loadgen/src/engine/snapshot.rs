//! The live statistics a caller (the console, a web UI, a Locust master's worker loop) reads
//! while a run goes. The aggregator builds one `Snapshot` per second (and at once after a reset
//! or at the end) from the numbers it alone owns, and publishes it on a watch channel: readers
//! never lock the aggregator and the request path never computes a percentile.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::report::history;
use crate::runner::{Live, State};
use crate::stats::{Entry, FailureRow, PERCENTILES, Recorder, percentile_ms};

/// One row of the live statistics: an endpoint, or the aggregate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EntrySnapshot {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    /// Expected business errors (a status the scenario marks as handled).
    pub handled: u64,
    pub avg_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub avg_content_size: f64,
    /// Requests/s and failures/s over the last seconds (Locust's "Current RPS").
    pub current_rps: f64,
    pub current_fail_per_s: f64,
    /// Locust's percentile columns (50 % ... 100 %) since the start or the last reset.
    pub percentiles_ms: [Option<f64>; 11],
    /// The same over the last seconds (Locust's "current" response-time percentiles).
    pub current_percentiles_ms: [Option<f64>; 11],
}

/// One second of the aggregate series (the charts' points).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    pub t: u64,
    pub unix: i64,
    pub users: usize,
    pub stage: usize,
    pub requests: u64,
    pub failures: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// Everything the live view shows at one moment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    pub state: State,
    /// Users running now, and the number the run is heading for.
    pub users: usize,
    pub target_users: usize,
    /// The stage in progress (index into the stages as they ran).
    pub stage: usize,
    /// Seconds since the start of the run.
    pub elapsed_s: f64,
    /// How often "Reset stats" has emptied the counts (a reader tells a reset from a new run).
    pub resets: u32,
    /// Endpoints with requests, by name then method (Locust's order).
    pub entries: Vec<EntrySnapshot>,
    pub aggregate: EntrySnapshot,
    /// The aggregate's per-second series since the start (kept across resets).
    pub series: Vec<Point>,
    pub failures: Vec<FailureRow>,
    /// Errors of the scenario itself: message and count.
    pub exceptions: Vec<(String, u64)>,
    pub relogins: u64,
    pub dropped_iterations: u64,
}

impl Snapshot {
    /// The snapshot of a run that has not started yet.
    pub fn empty() -> Self {
        Self {
            state: State::Spawning,
            users: 0,
            target_users: 0,
            stage: 0,
            elapsed_s: 0.0,
            resets: 0,
            entries: Vec::new(),
            aggregate: entry(&Entry::new("", "Aggregated", false), None),
            series: Vec::new(),
            failures: Vec::new(),
            exceptions: Vec::new(),
            relogins: 0,
            dropped_iterations: 0,
        }
    }

    /// The recorder's numbers now. Called by the aggregator only.
    pub(crate) fn of(r: &Recorder, live: &Live, state: State) -> Self {
        let span = r.ring.len() as f64;
        let windows: Vec<_> = (0..=r.entries.len())
            .map(|k| history::window(r, k))
            .collect();
        let row = |k: usize, e: &Entry| {
            let (requests, failures, h) = &windows[k];
            entry(e, Some((*requests, *failures, h, span)))
        };
        let mut entries: Vec<(usize, &Entry)> = r
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.requests > 0)
            .collect();
        entries.sort_by(|(_, a), (_, b)| (&a.name, &a.method).cmp(&(&b.name, &b.method)));
        let rows = entries.into_iter().map(|(k, e)| row(k, e)).collect();
        Self {
            state,
            users: live.users.load(std::sync::atomic::Ordering::Relaxed),
            target_users: live.target_users.load(std::sync::atomic::Ordering::Relaxed),
            stage: r.stages.last().map_or(0, |s| s.index),
            elapsed_s: r.start.elapsed().as_secs_f64(),
            resets: r.resets,
            entries: rows,
            aggregate: row(r.entries.len(), &r.aggregate),
            series: r
                .seconds
                .iter()
                .map(|s| Point {
                    t: s.t,
                    unix: s.unix,
                    users: s.users,
                    stage: s.stage,
                    requests: s.requests,
                    failures: s.failures,
                    p50: s.p50,
                    p95: s.p95,
                    p99: s.p99,
                })
                .collect(),
            failures: r.failures.values().cloned().collect(),
            exceptions: r.exceptions.iter().map(|(m, c)| (m.clone(), *c)).collect(),
            relogins: r.relogins,
            dropped_iterations: r.dropped,
        }
    }
}

/// An entry's row; `recent` is its last seconds: requests, failures, their histogram, and how
/// many seconds those are.
fn entry(e: &Entry, recent: Option<(u64, u64, &Histogram<u64>, f64)>) -> EntrySnapshot {
    let per_s = |n: u64, span: f64| n as f64 / span.max(1.0);
    EntrySnapshot {
        method: e.method.clone(),
        name: e.name.clone(),
        requests: e.requests,
        failures: e.failures,
        handled: e.handled,
        avg_ms: e.avg_ms(),
        min_ms: e.min_ms(),
        max_ms: e.max_ms(),
        avg_content_size: e.avg_content_size(),
        current_rps: recent.map_or(0.0, |(n, _, _, span)| per_s(n, span)),
        current_fail_per_s: recent.map_or(0.0, |(_, f, _, span)| per_s(f, span)),
        percentiles_ms: PERCENTILES.map(|q| e.percentile_ms(q)),
        current_percentiles_ms: PERCENTILES
            .map(|q| recent.and_then(|(_, _, h, _)| percentile_ms(h, q))),
    }
}
