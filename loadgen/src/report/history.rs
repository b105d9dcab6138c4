//! Locust's `_stats_history.csv` rows: each second, for every endpoint with requests and the
//! aggregate, the last ten seconds' rates and percentiles beside the cumulative columns. The
//! aggregator takes one row set per tick (the cumulative numbers are those of that moment and
//! cannot be rebuilt afterwards); the CSV writer only formats them.

use hdrhistogram::Histogram;

use crate::stats::{PERCENTILES, Recorder, histogram, percentile_ms};

/// Locust's stats_history.csv cells for one row (an endpoint, or the aggregate) at one second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryCells {
    /// The endpoint's index, or None for the aggregate.
    pub endpoint: Option<usize>,
    /// Requests/s and failures/s over the last 10 s.
    pub rps_window: f64,
    pub fails_window: f64,
    /// Percentiles over the last 10 s (`--csv-full-history`).
    pub window: Option<[f64; 11]>,
    /// Percentiles since the start (the Aggregated row without full history).
    pub cumulative: Option<[f64; 11]>,
    pub total_requests: u64,
    pub total_failures: u64,
    pub total_median: Option<f64>,
    pub total_avg: Option<f64>,
    pub total_min: Option<f64>,
    pub total_max: Option<f64>,
    pub total_avg_size: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryRow {
    /// Endpoints with requests so far, then the aggregate last.
    pub rows: Vec<HistoryCells>,
}

/// The rows of the second the recorder just closed.
pub fn row(r: &Recorder) -> HistoryRow {
    let n = r.entries.len() + 1;
    let span = r.ring.len().max(1) as f64;
    let mut rows = Vec::with_capacity(n);
    for k in 0..n {
        let aggregate = k + 1 == n;
        let entry = if aggregate {
            &r.aggregate
        } else {
            &r.entries[k]
        };
        if entry.requests == 0 && !aggregate {
            continue;
        }
        let (requests, failures, merged) = window(r, k);
        let all = |h: &Histogram<u64>| {
            (!h.is_empty()).then(|| PERCENTILES.map(|q| percentile_ms(h, q).unwrap_or(0.0)))
        };
        rows.push(HistoryCells {
            endpoint: (!aggregate).then_some(k),
            rps_window: requests as f64 / span,
            fails_window: failures as f64 / span,
            window: all(&merged),
            cumulative: all(&entry.raw),
            total_requests: entry.requests,
            total_failures: entry.failures,
            total_median: entry.percentile_ms(0.5),
            total_avg: entry.avg_ms(),
            total_min: entry.min_ms(),
            total_max: entry.max_ms(),
            total_avg_size: entry.avg_content_size(),
        });
    }
    HistoryRow { rows }
}

/// Requests, failures and the merged histogram of row `k` (an endpoint's index, or
/// `entries.len()` for the aggregate) over the recent seconds.
pub fn window(r: &Recorder, k: usize) -> (u64, u64, Histogram<u64>) {
    let mut requests = 0;
    let mut failures = 0;
    let mut merged = histogram(2);
    for second in &r.ring {
        if let Some(w) = second.get(k) {
            requests += w.requests;
            failures += w.failures;
            let _ = merged.add(&w.histogram);
        }
    }
    (requests, failures, merged)
}
