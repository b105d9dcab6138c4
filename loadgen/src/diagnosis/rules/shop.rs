//! Rules that know our shop: its routes (the cart, `reserv…`, the product list, payment confirm,
//! the token refresh), its framework's wording (DRF viewsets, simplejwt) and the plan's known
//! bugs. Kept apart from the generic rules so pointing loadgen at another target means reading
//! one file to see which findings may not apply.

use std::fmt::Write as _;

use super::{by_status, ms, pct, short};
use crate::diagnosis::{Endpoint, Finding, FindingId, View};

/// The `Allow: ...` of an answer.
pub(crate) fn allow_header(example: Option<&str>) -> Option<String> {
    let e = example?;
    let start = e.find("Allow: ")?;
    let rest = &e[start..];
    let end = rest
        .find(" · ")
        .or_else(|| rest.find(';'))
        .unwrap_or(rest.len());
    Some(rest[..end].trim().to_owned())
}

pub(crate) fn method_not_allowed(v: &View) -> Vec<Finding> {
    by_status(v, |s| s == 405)
        .into_iter()
        .filter(|(_, n, _)| *n >= 3)
        .map(|(key, n, f)| {
            let requests = v.endpoint(&key).map_or(n, |e| e.requests);
            let allow = allow_header(f.example.as_deref());
            Finding {
                id: FindingId::MethodNotAllowed,
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
pub(crate) fn is_reservation_bug(v: &View, key: &str, n: u64) -> bool {
    let requests = v.endpoint(key).map_or(n, |e| e.requests);
    key.to_ascii_lowercase().contains("reserv") && requests >= 3 && n * 10 >= requests * 9
}

pub(crate) fn reservation_serializer(v: &View) -> Vec<Finding> {
    by_status(v, |s| s >= 500)
        .into_iter()
        .filter(|(key, n, _)| is_reservation_bug(v, key, *n))
        .map(|(key, n, f)| {
            let requests = v.endpoint(&key).map_or(n, |e| e.requests);
            Finding {
                id: FindingId::ReservationSerializer,
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

pub(crate) fn unauthorized(v: &View) -> Vec<Finding> {
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
            id: FindingId::TokenExpiry,
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
            id: FindingId::Unauthorized,
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
pub(crate) fn short_tokens(v: &View) -> Vec<Finding> {
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
        id: FindingId::ShortToken,
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

pub(crate) fn n_plus_one(v: &View) -> Vec<Finding> {
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
        id: FindingId::NPlusOne,
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

pub(crate) fn no_cache(v: &View) -> Vec<Finding> {
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
        id: FindingId::NoCache,
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
pub(crate) fn is_list(name: &str) -> bool {
    let path = name.split('?').next().unwrap_or("");
    path.trim_matches('/').split('/').any(|s| !s.is_empty())
        && !path.contains('[')
        && !path.contains('{')
        && !path
            .rsplit('/')
            .find(|s| !s.is_empty())
            .is_some_and(|last| last.chars().all(|c| c.is_ascii_digit()))
}

pub(crate) fn inline_jobs(v: &View) -> Vec<Finding> {
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
        id: FindingId::InlineJobs,
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
