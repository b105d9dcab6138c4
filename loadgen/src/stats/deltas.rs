//! What a worker of a Locust master reports every 3 s: per (method, name) the counts since the
//! last report, response times in Locust's rounded buckets, requests and failures per wall-clock
//! second, errors with their occurrences. Kept beside the exact recorder (which stays whole for
//! the worker's own summary.json) and emptied at each report, as Locust's worker resets its
//! stats after each send, so the master can add reports up.

use std::collections::BTreeMap;

use super::{Event, Outcome, Sample};

/// Locust's `bucket_response_time`: about two significant digits (147 -> 150, 3432 -> 3400), so
/// a report holds at most a few hundred keys and lands in the same buckets as a Python worker's.
/// Python's `round` sends ties to the even neighbour; so does this.
pub fn bucket_ms(ms: f64) -> u64 {
    let to = |step: f64| ((ms / step).round_ties_even() * step) as u64;
    if ms < 100.0 {
        to(1.0)
    } else if ms < 1_000.0 {
        to(10.0)
    } else if ms < 10_000.0 {
        to(100.0)
    } else {
        to(1_000.0)
    }
}

/// One row of a report: Locust's `StatsEntry` fields, counted since the last report.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaEntry {
    pub num_requests: u64,
    pub num_failures: u64,
    /// Milliseconds, summed unrounded.
    pub total_response_time: f64,
    pub min_response_time: Option<f64>,
    pub max_response_time: f64,
    pub total_content_length: u64,
    /// Locust's bucket (ms) -> requests.
    pub response_times: BTreeMap<u64, u64>,
    /// Unix second -> requests (failures included).
    pub num_reqs_per_sec: BTreeMap<i64, u64>,
    pub num_fail_per_sec: BTreeMap<i64, u64>,
    /// Unix time of the last request, or None before the first.
    pub last_request_timestamp: Option<f64>,
    /// Unix time this span began (the master keeps the earliest).
    pub start_time: f64,
}

impl DeltaEntry {
    fn new(start_time: f64) -> Self {
        Self {
            num_requests: 0,
            num_failures: 0,
            total_response_time: 0.0,
            min_response_time: None,
            max_response_time: 0.0,
            total_content_length: 0,
            response_times: BTreeMap::new(),
            num_reqs_per_sec: BTreeMap::new(),
            num_fail_per_sec: BTreeMap::new(),
            last_request_timestamp: None,
            start_time,
        }
    }

    fn record(&mut self, ms: f64, bytes: u64, failed: bool, now: f64) {
        let second = now.floor() as i64;
        self.num_requests += 1;
        self.total_response_time += ms;
        self.min_response_time = Some(self.min_response_time.map_or(ms, |m| m.min(ms)));
        self.max_response_time = self.max_response_time.max(ms);
        self.total_content_length += bytes;
        *self.response_times.entry(bucket_ms(ms)).or_default() += 1;
        *self.num_reqs_per_sec.entry(second).or_default() += 1;
        if failed {
            self.num_failures += 1;
            *self.num_fail_per_sec.entry(second).or_default() += 1;
        }
        self.last_request_timestamp = Some(now);
    }
}

/// One error (method, name, message) since the last report.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorDelta {
    pub method: String,
    pub name: String,
    pub error: String,
    pub occurrences: u64,
    pub first_seen: f64,
    pub last_seen: f64,
}

/// A report's worth of numbers, taken out of `LocustDeltas`.
#[derive(Debug, Clone, PartialEq)]
pub struct LocustReport {
    /// (method, name, counts) of each endpoint that had a request since the last report.
    pub entries: Vec<(String, String, DeltaEntry)>,
    /// Locust's "Aggregated" row.
    pub total: DeltaEntry,
    pub errors: Vec<ErrorDelta>,
    /// The scenario's own errors (Locust's `exception` messages).
    pub exceptions: Vec<String>,
}

impl LocustReport {
    /// A report of an idle worker (Locust's worker reports every 3 s, users or not).
    pub fn empty(now: f64) -> Self {
        Self {
            entries: Vec::new(),
            total: DeltaEntry::new(now),
            errors: Vec::new(),
            exceptions: Vec::new(),
        }
    }
}

/// The running counts between two reports.
#[derive(Debug)]
pub struct LocustDeltas {
    endpoints: Vec<(String, String)>,
    entries: Vec<DeltaEntry>,
    total: DeltaEntry,
    errors: BTreeMap<(u32, Box<str>), (u64, f64, f64)>,
    exceptions: Vec<String>,
}

impl LocustDeltas {
    pub fn new(endpoints: &[(String, String)], now: f64) -> Self {
        Self {
            endpoints: endpoints.to_vec(),
            entries: endpoints.iter().map(|_| DeltaEntry::new(now)).collect(),
            total: DeltaEntry::new(now),
            errors: BTreeMap::new(),
            exceptions: Vec::new(),
        }
    }

    /// Counts one event at unix time `now` (one clock reading for a batch, as the recorder).
    pub fn observe(&mut self, event: &Event, now: f64) {
        match event {
            Event::Sample(s) => self.sample(s, now),
            Event::Exception(message) => self.exceptions.push(message.clone()),
            _ => {}
        }
    }

    fn sample(&mut self, s: &Sample, now: f64) {
        let Some(entry) = self.entries.get_mut(s.endpoint as usize) else {
            return;
        };
        let ms = s.raw_us as f64 / 1000.0;
        let failure = match &s.outcome {
            Outcome::Failure(message) => Some(message),
            // A handled business error is an answer the scenario expects: a success to Locust.
            Outcome::Success | Outcome::Handled => None,
        };
        entry.record(ms, s.bytes, failure.is_some(), now);
        self.total.record(ms, s.bytes, failure.is_some(), now);
        if let Some(message) = failure {
            let seen = self
                .errors
                .entry((s.endpoint, message.clone()))
                .or_insert((0, now, now));
            seen.0 += 1;
            seen.2 = now;
        }
    }

    /// Everything since the last report; the counts start again from zero at `now`.
    pub fn take(&mut self, now: f64) -> LocustReport {
        let entries = std::mem::replace(
            &mut self.entries,
            self.endpoints
                .iter()
                .map(|_| DeltaEntry::new(now))
                .collect(),
        );
        let errors = std::mem::take(&mut self.errors)
            .into_iter()
            .filter_map(|((endpoint, error), (occurrences, first, last))| {
                let (method, name) = self.endpoints.get(endpoint as usize)?.clone();
                Some(ErrorDelta {
                    method,
                    name,
                    error: error.into(),
                    occurrences,
                    first_seen: first,
                    last_seen: last,
                })
            })
            .collect();
        LocustReport {
            entries: self
                .endpoints
                .iter()
                .zip(entries)
                // Locust leaves out the rows with nothing to add.
                .filter(|(_, e)| e.num_requests > 0 || e.num_failures > 0)
                .map(|((method, name), e)| (method.clone(), name.clone(), e))
                .collect(),
            total: std::mem::replace(&mut self.total, DeltaEntry::new(now)),
            errors,
            exceptions: std::mem::take(&mut self.exceptions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_locusts() {
        // Values from Locust's own bucket_response_time (Python's round: ties to even).
        for (ms, bucket) in [
            (0.4, 0),
            (2.5, 2),
            (3.5, 4),
            (99.4, 99),
            (99.6, 100),
            (147.0, 150),
            (145.0, 140),
            (999.0, 1000),
            (3432.0, 3400),
            (58760.0, 59000),
        ] {
            assert_eq!(bucket_ms(ms), bucket, "{ms} ms");
        }
    }

    fn sample(endpoint: u32, us: u64, outcome: Outcome) -> Event {
        Event::Sample(Sample {
            endpoint,
            raw_us: us,
            lag_us: None,
            bytes: 10,
            outcome,
            status: Some(200),
            example: None,
        })
    }

    #[test]
    fn a_report_holds_what_came_since_the_last_and_then_starts_again() {
        let endpoints = vec![
            ("GET".to_owned(), "/a".to_owned()),
            ("POST".to_owned(), "/b".to_owned()),
        ];
        let mut d = LocustDeltas::new(&endpoints, 100.0);
        d.observe(&sample(0, 2_400, Outcome::Success), 100.2);
        d.observe(&sample(0, 147_000, Outcome::Handled), 101.7);
        d.observe(
            &sample(0, 9_000, Outcome::Failure("HTTPError('500')".into())),
            101.9,
        );
        d.observe(&Event::Exception("unset variable".into()), 101.9);
        let r = d.take(102.0);
        assert_eq!(
            r.entries.len(),
            1,
            "the endpoint without requests is left out"
        );
        let (method, name, e) = &r.entries[0];
        assert_eq!((method.as_str(), name.as_str()), ("GET", "/a"));
        assert_eq!((e.num_requests, e.num_failures), (3, 1));
        assert_eq!(e.response_times, BTreeMap::from([(2, 1), (9, 1), (150, 1)]));
        assert_eq!(e.num_reqs_per_sec, BTreeMap::from([(100, 1), (101, 2)]));
        assert_eq!(e.num_fail_per_sec, BTreeMap::from([(101, 1)]));
        assert_eq!(e.min_response_time, Some(2.4));
        assert_eq!(e.max_response_time, 147.0);
        assert!((e.total_response_time - 158.4).abs() < 1e-9);
        assert_eq!(e.total_content_length, 30);
        assert_eq!(e.start_time, 100.0);
        assert_eq!(r.total.num_requests, 3);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].occurrences, 1);
        assert_eq!(r.errors[0].error, "HTTPError('500')");
        assert_eq!(r.exceptions, vec!["unset variable".to_owned()]);

        let empty = d.take(105.0);
        assert!(empty.entries.is_empty() && empty.errors.is_empty());
        assert_eq!(empty.total.num_requests, 0);
        assert_eq!(empty.total.min_response_time, None);
        assert_eq!(empty.total.start_time, 102.0);
    }
}
