//! The view of a run that the rules read: a plain summary of the client's numbers (per endpoint,
//! per failure kind) beside the server's series. It is its own type, built once from `Results`,
//! so each rule stays a pure function of it and tests build a run by hand, field by field,
//! without running load.

use crate::monitor::Server;
use crate::report::Results;
use crate::scenario::Scenario;

/// What the scenario says about its endpoints, which the run's numbers alone do not.
#[derive(Debug, Clone, Default)]
pub struct ScenarioFacts {
    /// `METHOD NAME` of the login and the token refresh.
    pub login: Option<String>,
    pub refresh: Option<String>,
    /// `METHOD NAME` of endpoints always sent without credentials (a cache may serve them).
    pub anonymous: Vec<String>,
}

impl ScenarioFacts {
    pub fn of(s: &Scenario) -> Self {
        let key = |i: usize| s.endpoints.get(i).map(|(m, n)| format!("{m} {n}"));
        let requests = s
            .on_start
            .iter()
            .chain(s.tasks.iter().flat_map(|t| t.requests.iter()));
        let mut authed = vec![false; s.endpoints.len()];
        let mut used = vec![false; s.endpoints.len()];
        for r in requests {
            if let Some(u) = used.get_mut(r.endpoint) {
                *u = true;
            }
            // A token the scenario sends itself (`headers = { Authorization = ... }`) counts too.
            let own_credentials = r
                .headers
                .iter()
                .any(|(name, _)| *name == http::header::AUTHORIZATION);
            if ((r.with_auth && s.auth.is_some()) || own_credentials)
                && let Some(a) = authed.get_mut(r.endpoint)
            {
                *a = true;
            }
        }
        Self {
            login: s.auth.as_ref().and_then(|a| key(a.login.endpoint)),
            refresh: s
                .auth
                .as_ref()
                .and_then(|a| a.refresh.as_ref())
                .and_then(|r| key(r.endpoint)),
            anonymous: (0..s.endpoints.len())
                .filter(|&i| used[i] && !authed[i])
                .filter_map(key)
                .collect(),
        }
    }
}

/// One endpoint as the client saw it.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    pub method: String,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub handled: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    /// p95 of each second (index = second - 1).
    pub p95_by_second: Vec<Option<f64>>,
    pub anonymous: bool,
}

impl Endpoint {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.name)
    }
}

/// A kind of failure of one endpoint.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub method: String,
    pub name: String,
    pub error: String,
    /// The answer's status, when there was one.
    pub status: Option<u16>,
    pub occurrences: u64,
    /// Seconds since the start of the first one.
    pub first_s: f64,
    /// The server's answer: status, explaining headers (`Allow: ...`), body excerpt.
    pub example: Option<String>,
}

/// The run, as the rules read it.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub duration_s: f64,
    pub start_unix: i64,
    pub peak_users: usize,
    pub mean_users: f64,
    pub requests: u64,
    pub endpoints: Vec<Endpoint>,
    pub failures: Vec<Failure>,
    pub relogins: u64,
    pub login: Option<String>,
    pub refresh: Option<String>,
    /// The generator's own warning, when it was saturated.
    pub saturation: Option<String>,
    pub server: Option<Server>,
}

impl View {
    pub fn of(r: &Results, facts: &ScenarioFacts, server: Option<&Server>) -> Self {
        let rec = &r.recorder;
        let endpoints = rec
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.requests > 0)
            .map(|(i, e)| {
                let key = format!("{} {}", e.method, e.name);
                Endpoint {
                    method: e.method.clone(),
                    name: e.name.clone(),
                    requests: e.requests,
                    failures: e.failures,
                    handled: e.handled,
                    p50_ms: e.percentile_ms(0.5),
                    p95_ms: crate::stats::percentile_ms(e.headline(), 0.95),
                    mean_ms: e.avg_ms(),
                    p95_by_second: rec
                        .seconds
                        .iter()
                        .map(|s| s.endpoints.get(i).and_then(|p| p.p95))
                        .collect(),
                    anonymous: facts.anonymous.contains(&key),
                }
            })
            .collect();
        let failures = rec
            .failures
            .values()
            .map(|f| Failure {
                method: f.method.clone(),
                name: f.name.clone(),
                status: f.status,
                error: f.error.clone(),
                occurrences: f.occurrences,
                first_s: (f.first_seen - rec.start_unix).max(0) as f64,
                example: f.example.clone(),
            })
            .collect();
        let users: Vec<usize> = rec.seconds.iter().map(|s| s.users).collect();
        Self {
            duration_s: r.meta.duration_s,
            start_unix: rec.start_unix,
            peak_users: users.iter().copied().max().unwrap_or(0),
            mean_users: if users.is_empty() {
                0.0
            } else {
                users.iter().sum::<usize>() as f64 / users.len() as f64
            },
            requests: rec.aggregate.requests,
            endpoints,
            failures,
            relogins: rec.relogins,
            login: facts.login.clone(),
            refresh: facts.refresh.clone(),
            saturation: r.saturation.warning(),
            server: server.cloned(),
        }
    }

    pub(crate) fn endpoint(&self, key: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.key() == key)
    }

    /// Wall-clock time of second `t`, for evidence a reader matches with the server's logs.
    pub(crate) fn clock(&self, t: u64) -> String {
        chrono::DateTime::from_timestamp(self.start_unix + t as i64, 0)
            .map(|d| d.format("%H:%M:%S UTC").to_string())
            .unwrap_or_else(|| format!("{t} s"))
    }
}
