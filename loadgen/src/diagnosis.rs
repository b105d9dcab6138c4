//! The diagnosis: rules that read the client's numbers and the server's together and name what
//! went wrong, with the evidence and the fix, e.g. "GET /api/products/ p95 840 ms; 20 queries per
//! request (N+1)". Each rule looks for one known bottleneck or bug of the load-test plan; a rule
//! without the data it needs (no monitor) stays silent, and a clean run yields no finding, so
//! every finding is worth reading.
//!
//! Rules read a [`View`], a plain summary of the run that tests build by hand.

use std::fmt::Write as _;

use serde::Serialize;

use crate::monitor::Server;
use crate::report::Results;
use crate::scenario::Scenario;

/// One thing the run shows, named so a reader can act on it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    /// Stable name (`n-plus-one`, `pool-saturated`, ...), for scripts.
    pub id: &'static str,
    pub title: String,
    pub evidence: String,
    pub fix: String,
}

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
                .any(|(name, _)| *name == hyper::header::AUTHORIZATION);
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
                status: status_of(&f.error, f.example.as_deref()),
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

    fn endpoint(&self, key: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.key() == key)
    }

    /// Wall-clock time of second `t`, for evidence a reader matches with the server's logs.
    fn clock(&self, t: u64) -> String {
        chrono::DateTime::from_timestamp(self.start_unix + t as i64, 0)
            .map(|d| d.format("%H:%M:%S UTC").to_string())
            .unwrap_or_else(|| format!("{t} s"))
    }
}

/// The status in a failure: the answer's first word (`405 Method Not Allowed ...`), else Locust's
/// wording (`HTTPError('405 Client Error: ...')`).
pub fn status_of(error: &str, example: Option<&str>) -> Option<u16> {
    let leading = |s: &str| {
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        (digits.len() == 3).then(|| digits.parse().ok()).flatten()
    };
    example
        .and_then(leading)
        .or_else(|| error.strip_prefix("HTTPError('").and_then(leading))
}

type Rule = fn(&View) -> Vec<Finding>;

/// Every rule, in the order findings are listed: what makes the results untrustworthy first, then
/// bugs, then bottlenecks.
const RULES: [Rule; 14] = [
    generator_saturated,
    method_not_allowed,
    reservation_serializer,
    unauthorized,
    short_tokens,
    server_errors,
    pool_saturated,
    db_connections,
    n_plus_one,
    no_cache,
    inline_jobs,
    job_backlog,
    login_storm,
    redis_memory,
];

/// Runs every rule.
pub fn diagnose(view: &View) -> Vec<Finding> {
    RULES.iter().flat_map(|rule| rule(view)).collect()
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(v) if v >= 10.0 => format!("{v:.0} ms"),
        Some(v) => format!("{v:.1} ms"),
    }
}

fn short(query: &str) -> String {
    let one_line: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 100 {
        let mut s: String = one_line.chars().take(99).collect();
        s.push('…');
        s
    } else {
        one_line
    }
}

fn generator_saturated(v: &View) -> Vec<Finding> {
    v.saturation
        .iter()
        .map(|w| Finding {
            id: "generator-saturated",
            title: "generator saturated: results not trustworthy".into(),
            evidence: w.clone(),
            fix: "run fewer users per loadgen process, or more processes (another machine); \
                  then run again before reading the latencies"
                .into(),
        })
        .collect()
}

/// Failures with `status`, grouped by endpoint: (method, name, occurrences, first failure).
fn by_status(v: &View, keep: impl Fn(u16) -> bool) -> Vec<(String, u64, &Failure)> {
    let mut groups: Vec<(String, u64, &Failure)> = Vec::new();
    for f in &v.failures {
        if !f.status.is_some_and(&keep) {
            continue;
        }
        let key = format!("{} {}", f.method, f.name);
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            Some(g) => {
                g.1 += f.occurrences;
                if f.first_s < g.2.first_s {
                    g.2 = f;
                }
            }
            None => groups.push((key, f.occurrences, f)),
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1));
    groups
}

/// The `Allow: ...` of an answer.
fn allow_header(example: Option<&str>) -> Option<String> {
    let e = example?;
    let start = e.find("Allow: ")?;
    let rest = &e[start..];
    let end = rest
        .find(" · ")
        .or_else(|| rest.find(';'))
        .unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned())
}

fn method_not_allowed(v: &View) -> Vec<Finding> {
    by_status(v, |s| s == 405)
        .into_iter()
        .filter(|(_, n, _)| *n >= 3)
        .map(|(key, n, f)| {
            let requests = v.endpoint(&key).map_or(n, |e| e.requests);
            let allow = allow_header(f.example.as_deref());
            Finding {
                id: "method-not-allowed",
                title: format!(
                    "{key} 405{}: the route has no {}",
                    allow.as_deref().map_or(String::new(), |a| format!(" {a}")),
                    if f.method == "POST" {
                        "create".to_owned()
                    } else {
                        format!("{} handler", f.method)
                    }
                ),
                evidence: format!(
                    "405 Method Not Allowed on {n} of {requests} requests ({:.0} %), from the \
                     first one{}",
                    pct(n, requests),
                    allow.map_or(String::new(), |a| format!("; the server answers {a}"))
                ),
                fix: format!(
                    "route {} to a view that accepts it (in DRF: a viewset with create, e.g. \
                     ModelViewSet or CreateModelMixin, registered on the router), or correct the \
                     scenario's method",
                    f.method
                ),
            }
        })
        .collect()
}

/// 5xx on nearly every request of a stock-reservation endpoint: a deterministic bug, not load.
fn is_reservation_bug(v: &View, key: &str, n: u64) -> bool {
    let requests = v.endpoint(key).map_or(n, |e| e.requests);
    key.to_ascii_lowercase().contains("reserv") && requests >= 3 && n * 10 >= requests * 9
}

fn reservation_serializer(v: &View) -> Vec<Finding> {
    by_status(v, |s| s >= 500)
        .into_iter()
        .filter(|(key, n, _)| is_reservation_bug(v, key, *n))
        .map(|(key, n, f)| {
            let requests = v.endpoint(&key).map_or(n, |e| e.requests);
            Finding {
                id: "reservation-serializer",
                title: format!(
                    "{key} answers {} on every request: the view hands the domain result to the serializer",
                    f.status.unwrap_or(500)
                ),
                evidence: format!(
                    "{} on {n} of {requests} requests ({:.0} %), from the first one at {:.0} s, \
                     whatever the load{}",
                    f.status.unwrap_or(500),
                    pct(n, requests),
                    f.first_s,
                    f.example
                        .as_deref()
                        .map_or(String::new(), |e| format!("; the answer: {}", short(e)))
                ),
                fix: "convert the ReservationResult (success, reservation, error_message, \
                      error_code) into response data in the view before serializing; the shop's \
                      log holds the AttributeError"
                    .into(),
            }
        })
        .collect()
}

fn unauthorized(v: &View) -> Vec<Finding> {
    let groups = by_status(v, |s| s == 401);
    let n: u64 = groups.iter().map(|g| g.1).sum();
    if n < 3 {
        return Vec::new();
    }
    let first = groups
        .iter()
        .map(|g| g.2.first_s)
        .fold(f64::INFINITY, f64::min);
    let endpoints: Vec<String> = groups
        .iter()
        .take(3)
        .map(|(k, c, _)| format!("{k} {c}"))
        .collect();
    let relogins = if v.relogins > 0 {
        format!("; re-logins after a 401: {}", v.relogins)
    } else {
        String::new()
    };
    // Expiry: the 401s began a few seconds in, on endpoints that also answered with success
    // (before the token expired, or after a new login). Missing users or a wrong scheme fail
    // from the first request and every time.
    let worked = groups.iter().any(|(key, failed, _)| {
        v.endpoint(key)
            .is_some_and(|e| e.requests > e.failures.max(*failed))
    });
    if first >= 3.0 && worked {
        vec![Finding {
            id: "token-expiry",
            title: format!(
                "401 on {:.1} % of requests, all after {first:.0} s: access token expiry",
                pct(n, v.requests)
            ),
            evidence: format!(
                "{n} answers 401 Unauthorized, the first {first:.0} s into the run (none \
                 before: the tokens worked, then expired){relogins}; by endpoint: {}",
                endpoints.join(", ")
            ),
            fix: "refresh the access token before it expires (POST /api/auth/refresh/ with the \
                  refresh token) and log in again once on a 401; or give access tokens a \
                  lifetime longer than the test"
                .into(),
        }]
    } else {
        vec![Finding {
            id: "unauthorized",
            title: format!("401 from the start on {n} requests: authentication fails"),
            evidence: format!(
                "the first 401 came {first:.0} s into the run{relogins}; by endpoint: {}",
                endpoints.join(", ")
            ),
            fix: "create the test users (`cargo xtask seed`), check the server runs with the \
                  expected secret, and test the login on its own before the load test"
                .into(),
        }]
    }
}

/// A client that refreshes before expiry (loadgen) never sees the 401s of short-lived tokens,
/// but refreshes often: every user refreshing every few tens of seconds is the symptom.
fn short_tokens(v: &View) -> Vec<Finding> {
    let Some(refresh) = v.refresh.as_deref().and_then(|k| v.endpoint(k)) else {
        return Vec::new();
    };
    let users = v.mean_users.max(1.0);
    if (refresh.requests as f64) < users.max(3.0) {
        return Vec::new();
    }
    let every = users * v.duration_s / refresh.requests as f64;
    if every >= 120.0 {
        return Vec::new();
    }
    vec![Finding {
        id: "short-token",
        title: format!(
            "access tokens live about {:.0} s: every user refreshed every {every:.0} s",
            every / 0.9
        ),
        evidence: format!(
            "{} refreshes ({}) by {users:.0} users over {:.0} s; loadgen refreshes at nine tenths \
             of a token's life, so a client that does not refresh gets 401 after that long",
            refresh.requests,
            refresh.key(),
            v.duration_s
        ),
        fix: "give access tokens a longer lifetime (simplejwt's ACCESS_TOKEN_LIFETIME is 5 min by \
              default); clients must refresh before expiry"
            .into(),
    }]
}

fn server_errors(v: &View) -> Vec<Finding> {
    let groups: Vec<_> = by_status(v, |s| s >= 500)
        .into_iter()
        .filter(|(key, n, _)| !is_reservation_bug(v, key, *n))
        .collect();
    let n: u64 = groups.iter().map(|g| g.1).sum();
    if n == 0 || (n < 3 && pct(n, v.requests) < 1.0) {
        return Vec::new();
    }
    let first = groups
        .iter()
        .map(|g| g.2)
        .min_by(|a, b| a.first_s.total_cmp(&b.first_s));
    let mut evidence = format!(
        "{n} server errors ({:.2} % of requests): {}",
        pct(n, v.requests),
        groups
            .iter()
            .take(4)
            .map(|(k, c, _)| format!("{k} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(f) = first {
        let _ = write!(
            evidence,
            "; the first at {} ({:.0} s)",
            v.clock(f.first_s as u64),
            f.first_s
        );
        if let Some(e) = &f.example {
            let _ = write!(evidence, ", answering {}", short(e));
        }
    }
    vec![Finding {
        id: "server-errors",
        title: format!("server errors on {:.2} % of requests", pct(n, v.requests)),
        evidence,
        fix: "read the shop's log at those times (each answer's X-Request-Id is on its log \
              lines); errors that start with a saturated pool or CPU are that bottleneck's"
            .into(),
    }]
}

/// Median of the points in `range` of a per-second series.
fn median(series: &[Option<f64>], range: std::ops::Range<usize>) -> Option<f64> {
    let mut xs: Vec<f64> = series
        .get(range)
        .unwrap_or_default()
        .iter()
        .flatten()
        .copied()
        .collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    Some(xs[xs.len() / 2])
}

fn pool_saturated(v: &View) -> Vec<Finding> {
    let Some(m) = v.server.as_ref().and_then(|s| s.metrics.as_ref()) else {
        return Vec::new();
    };
    let full: Vec<&crate::monitor::metrics::Point> = m
        .points
        .iter()
        .filter(|p| {
            p.pool_waiting.is_some_and(|w| w > 0.0)
                || matches!((p.pool_in_use, p.pool_max), (Some(u), Some(max)) if max > 0.0 && u >= max)
        })
        .collect();
    if full.len() < 3 || full.len() * 20 < m.points.len() {
        return Vec::new();
    }
    let from = full[0].t;
    let max = full.iter().filter_map(|p| p.pool_max).fold(0.0, f64::max);
    let waiting = full
        .iter()
        .filter_map(|p| p.pool_waiting)
        .fold(0.0, f64::max);
    let mut evidence = format!(
        "{} of {max:.0} connections in use in {} of {} seconds, from {} ({from} s){}",
        max,
        full.len(),
        m.points.len(),
        v.clock(from),
        if waiting > 0.0 {
            format!("; up to {waiting:.0} requests waiting for a connection")
        } else {
            String::new()
        }
    );
    // Every route that needs a connection slows at once: the pool, not one query.
    let before = (from as usize).saturating_sub(1);
    let rose: Vec<String> = v
        .endpoints
        .iter()
        .filter_map(|e| {
            let after = median(&e.p95_by_second, before..e.p95_by_second.len())?;
            match median(&e.p95_by_second, 0..before) {
                Some(b) if after > b * 2.0 && after - b > 20.0 => {
                    Some(format!("{} {} → {}", e.key(), ms(Some(b)), ms(Some(after))))
                }
                None if after > 200.0 => Some(format!("{} {}", e.key(), ms(Some(after)))),
                _ => None,
            }
        })
        .collect();
    if !rose.is_empty() {
        let _ = write!(
            evidence,
            "; p95 of {} rose together: {}",
            if rose.len() > 1 {
                "these routes"
            } else {
                "this route"
            },
            rose.into_iter().take(4).collect::<Vec<_>>().join(", ")
        );
    }
    vec![Finding {
        id: "pool-saturated",
        title: format!(
            "DB pool saturated from {} ({max:.0} connections)",
            v.clock(from)
        ),
        evidence,
        fix: "a larger pool (as many connections as requests doing database work at once), \
              shorter transactions, or PgBouncer (transaction pooling) in front of PostgreSQL"
            .into(),
    }]
}

fn db_connections(v: &View) -> Vec<Finding> {
    let Some(pg) = v.server.as_ref().and_then(|s| s.postgres.as_ref()) else {
        return Vec::new();
    };
    let Some(max) = pg.max_connections.filter(|m| *m > 0) else {
        return Vec::new();
    };
    let Some(peak) = pg.points.iter().max_by_key(|p| p.total) else {
        return Vec::new();
    };
    if (peak.total as f64) < max as f64 * 0.9 {
        return Vec::new();
    }
    vec![Finding {
        id: "db-connections",
        title: format!(
            "PostgreSQL connections near the limit: {} of {max}",
            peak.total
        ),
        evidence: format!(
            "{} client connections at {} ({} active, {} idle, {} idle in transaction); \
             max_connections = {max}",
            peak.total,
            v.clock(peak.t),
            peak.active,
            peak.idle,
            peak.idle_in_transaction
        ),
        fix: "PgBouncer in transaction mode (max_client_conn 1000, default_pool_size 25), fewer \
              or smaller application pools, persistent connections"
            .into(),
    }]
}

fn n_plus_one(v: &View) -> Vec<Finding> {
    let Some(st) = v
        .server
        .as_ref()
        .and_then(|s| s.postgres.as_ref())
        .and_then(|p| p.statements.as_ref())
    else {
        return Vec::new();
    };
    if v.requests == 0 {
        return Vec::new();
    }
    let repeated: Vec<_> = st
        .by_calls
        .iter()
        .filter(|s| s.calls >= 200 && s.calls as f64 >= 3.0 * v.requests as f64)
        .collect();
    let Some(top) = repeated.first() else {
        return Vec::new();
    };
    // The reads that ran them: the slowest GET endpoint with real traffic.
    let endpoint = v
        .endpoints
        .iter()
        .filter(|e| e.method == "GET" && e.requests >= 10)
        .max_by(|a, b| {
            a.mean_ms
                .unwrap_or(0.0)
                .total_cmp(&b.mean_ms.unwrap_or(0.0))
        });
    let statements: Vec<String> = repeated
        .iter()
        .take(3)
        .map(|s| {
            let per = endpoint.map_or(String::new(), |e| {
                format!(
                    ", {:.1} per request of {}",
                    s.calls as f64 / e.requests as f64,
                    e.key()
                )
            });
            format!(
                "`{}` ran {} times ({:.1} per request overall{per})",
                short(&s.query),
                s.calls,
                s.calls as f64 / v.requests as f64
            )
        })
        .collect();
    let title = match endpoint {
        Some(e) => format!(
            "{} p95 {}; {:.0} queries per request (N+1)",
            e.key(),
            ms(e.p95_ms),
            repeated.iter().map(|s| s.calls).sum::<u64>() as f64 / e.requests as f64
        ),
        None => format!(
            "{:.0} queries per request (N+1)",
            top.calls as f64 / v.requests as f64
        ),
    };
    vec![Finding {
        id: "n-plus-one",
        title,
        evidence: format!(
            "{}; all statements: {} calls for {} requests",
            statements.join("; "),
            st.calls,
            v.requests
        ),
        fix: "load the related rows with the list, not one query per row: a join, or \
              select_related / prefetch_related in Django"
            .into(),
    }]
}

fn no_cache(v: &View) -> Vec<Finding> {
    let Some(redis) = v.server.as_ref().and_then(|s| s.redis.as_ref()) else {
        return Vec::new();
    };
    // Lists read without credentials: what a shop caches (a detail page or `/` may well not be).
    let anonymous: Vec<&Endpoint> = v
        .endpoints
        .iter()
        .filter(|e| e.anonymous && e.method == "GET" && is_list(&e.name))
        .collect();
    let reads: u64 = anonymous.iter().map(|e| e.requests).sum();
    let gets = redis.commands.get("get").copied().unwrap_or(0);
    if reads < 30 || gets * 10 >= reads {
        return Vec::new();
    }
    // When PostgreSQL is watched, the reads must also have gone to it: a target that answers
    // from memory is not missing a cache.
    let statements = v
        .server
        .as_ref()
        .and_then(|s| s.postgres.as_ref())
        .and_then(|p| p.statements.as_ref());
    if statements.is_some_and(|st| st.calls * 2 < reads) {
        return Vec::new();
    }
    let busiest = anonymous.iter().max_by_key(|e| e.requests);
    let mut evidence = format!(
        "{reads} anonymous GET requests ({}), and Redis answered {gets} GET commands and {} key \
         hits during the run",
        anonymous
            .iter()
            .map(|e| format!("{} {}", e.key(), e.requests))
            .collect::<Vec<_>>()
            .join(", "),
        redis.hits
    );
    if let Some(top) = v
        .server
        .as_ref()
        .and_then(|s| s.postgres.as_ref())
        .and_then(|p| p.statements.as_ref())
        .and_then(|s| s.by_calls.first())
    {
        let _ = write!(
            evidence,
            "; PostgreSQL ran `{}` {} times",
            short(&top.query),
            top.calls
        );
    }
    vec![Finding {
        id: "no-cache",
        title: format!(
            "{} is not cached: every request reads the database",
            busiest.map_or_else(|| "the product list".to_owned(), |e| e.key())
        ),
        evidence,
        fix: "cache the product list's pages in Redis for about 5 minutes, invalidated when \
              products or stock change"
            .into(),
    }]
}

/// A collection path (`/api/products/`, `/api/products/?search=`): one segment at least, no id.
fn is_list(name: &str) -> bool {
    let path = name.split('?').next().unwrap_or("");
    path.trim_matches('/').split('/').any(|s| !s.is_empty())
        && !path.contains('[')
        && !path.contains('{')
        && !path
            .rsplit('/')
            .find(|s| !s.is_empty())
            .is_some_and(|last| last.chars().all(|c| c.is_ascii_digit()))
}

fn inline_jobs(v: &View) -> Vec<Finding> {
    let Some(server) = &v.server else {
        return Vec::new();
    };
    let Some(confirm) = v
        .endpoints
        .iter()
        .filter(|e| e.method == "POST" && e.name.contains("confirm"))
        .max_by_key(|e| e.requests)
    else {
        return Vec::new();
    };
    let done = confirm.requests - confirm.failures - confirm.handled;
    let queued = server
        .redis
        .as_ref()
        .map(|r| r.commands.get("xadd").copied().unwrap_or(0));
    let worked = server.metrics.as_ref().and_then(|m| m.jobs_processed);
    let no_jobs = match (queued, worked) {
        (None, None) => return Vec::new(),
        (q, w) => q.is_none_or(|q| q * 10 < done) && w.is_none_or(|w| w * 10 < done),
    };
    if done < 10 || !no_jobs || confirm.p50_ms.is_none_or(|p| p < 250.0) {
        return Vec::new();
    }
    vec![Finding {
        id: "inline-jobs",
        title: format!(
            "{} p50 {}: follow-up work runs inside the request",
            confirm.key(),
            ms(confirm.p50_ms)
        ),
        evidence: format!(
            "{done} payments confirmed (p50 {}, p95 {}), while the job queue received {} jobs and \
             the workers finished {}: the e-mail and the points accrual run before the answer",
            ms(confirm.p50_ms),
            ms(confirm.p95_ms),
            queued.map_or_else(|| "?".to_owned(), |q| q.to_string()),
            worked.map_or_else(|| "?".to_owned(), |w| w.to_string())
        ),
        fix: "enqueue the e-mail and points accrual as async jobs after the commit (Celery, or \
              the shop's Redis stream) so the buyer's answer does not wait for them"
            .into(),
    }]
}

/// Least-squares slope of `(t, y)`.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 5 {
        return None;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(n, d), (x, y)| {
        (n + (x - mx) * (y - my), d + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den)
}

fn job_backlog(v: &View) -> Vec<Finding> {
    let Some(server) = &v.server else {
        return Vec::new();
    };
    let from_metrics: Vec<(f64, f64)> = server
        .metrics
        .iter()
        .flat_map(|m| &m.points)
        .filter_map(|p| Some((p.t as f64, p.jobs_backlog?)))
        .collect();
    let series = if from_metrics.is_empty() {
        server
            .redis
            .iter()
            .flat_map(|r| &r.points)
            .filter_map(|p| Some((p.t as f64, p.stream_length? as f64)))
            .collect()
    } else {
        from_metrics
    };
    let Some(rate) = slope(&series) else {
        return Vec::new();
    };
    let (first, last) = (series[0], series[series.len() - 1]);
    let peak = series.iter().map(|p| p.1).fold(0.0, f64::max);
    if rate < 0.5 || last.1 - first.1 < 50.0 || last.1 < 0.8 * peak {
        return Vec::new();
    }
    let worked = server
        .metrics
        .as_ref()
        .and_then(|m| m.jobs_processed)
        .map_or(String::new(), |w| {
            format!(
                "; the workers finished {:.1} jobs/s",
                w as f64 / v.duration_s.max(1.0)
            )
        });
    vec![Finding {
        id: "job-backlog",
        title: format!("job backlog grows {rate:.0}/s: the workers are too slow"),
        evidence: format!(
            "backlog {:.0} → {:.0} jobs between {:.0} s and {:.0} s (+{rate:.1}/s){worked}",
            first.1, last.1, first.0, last.0
        ),
        fix: "more worker concurrency or workers, priority queues for the urgent jobs, and slow \
              work moved out of the jobs' critical path"
            .into(),
    }]
}

fn login_storm(v: &View) -> Vec<Finding> {
    let Some(login) = v.login.as_deref().and_then(|k| v.endpoint(k)) else {
        return Vec::new();
    };
    let Some(p50) = login.p50_ms else {
        return Vec::new();
    };
    let cpu = v.server.as_ref().and_then(|s| {
        s.processes
            .iter()
            .filter(|p| p.name != "loadgen")
            .filter_map(|p| Some((p, p.max_cpu()?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    });
    let repeated = login.requests >= 20 && login.requests as f64 >= 2.0 * v.peak_users as f64;
    // The busiest second of every watched process together (loadgen, the database and the shop
    // share the cores on one machine): the hashing process alone may never reach them all.
    let machine = v.server.as_ref().and_then(|s| {
        let cores = s.processes.first()?.cores;
        let mut by_second: std::collections::BTreeMap<u64, f64> = Default::default();
        for p in &s.processes {
            for point in &p.points {
                *by_second.entry(point.t).or_default() += point.cpu_percent.unwrap_or(0.0);
            }
        }
        let busiest = by_second.values().copied().fold(0.0, f64::max);
        Some((busiest, cores))
    });
    let cpu_bound = cpu.is_some_and(|(p, c)| c >= 0.9 * p.cores as f64 * 100.0)
        || machine.is_some_and(|(busy, cores)| busy >= 0.9 * cores as f64 * 100.0);
    let storm = p50 >= 500.0
        && (repeated
            || (p50 >= 1000.0 && cpu_bound)
            || (p50 >= 1000.0 && cpu.is_none() && login.requests >= 50));
    if !storm {
        return Vec::new();
    }
    let cpu_text = match (cpu, machine) {
        (Some((p, c)), Some((busy, cores))) if c < 0.9 * cores as f64 * 100.0 => format!(
            " with {}'s CPU at {c:.0} % and the machine's at {busy:.0} % ({cores} cores)",
            p.name
        ),
        (Some((p, c)), _) => format!(" with {}'s CPU at {c:.0} % ({} cores)", p.name, p.cores),
        _ => String::new(),
    };
    vec![Finding {
        id: "login-storm",
        title: format!(
            "{} p50 {}{cpu_text}: PBKDF2 login storm",
            login.key(),
            ms(Some(p50))
        ),
        evidence: format!(
            "{} logins ({:.1} per user at the peak of {} users), p50 {}, p95 {}: each login \
             hashes the password (Django's PBKDF2, ~1,000,000 iterations), so logins at once \
             queue for the CPU",
            login.requests,
            login.requests as f64 / v.peak_users.max(1) as f64,
            v.peak_users,
            ms(Some(p50)),
            ms(login.p95_ms)
        ),
        fix: "log each user in once and keep its token (refresh it, never a login per task); \
              ramp users up more slowly"
            .into(),
    }]
}

fn redis_memory(v: &View) -> Vec<Finding> {
    let Some(r) = v.server.as_ref().and_then(|s| s.redis.as_ref()) else {
        return Vec::new();
    };
    let (Some(max), Some(peak)) = (
        r.maxmemory,
        r.points.iter().filter_map(|p| p.used_memory).max(),
    ) else {
        return Vec::new();
    };
    if (peak as f64) < max as f64 * 0.9 {
        return Vec::new();
    }
    vec![Finding {
        id: "redis-memory",
        title: format!("Redis memory at {:.0} % of maxmemory", pct(peak, max)),
        evidence: format!("used_memory up to {peak} bytes, maxmemory {max} bytes"),
        fix: "a larger maxmemory, an eviction policy for the cache (allkeys-lru), shorter TTLs, \
              and a job stream that is trimmed"
            .into(),
    }]
}

#[cfg(test)]
mod tests;
