//! Rules that hold for any target: they read the generator's own health, status codes, and the
//! server-side series (PostgreSQL, Redis, the pool, the job backlog, CPU), never a route's name
//! (the login storm finds its login through the scenario's facts). A target other than our shop
//! still gets these findings.

use std::fmt::Write as _;

use super::shop::is_reservation_bug;
use super::{by_status, ms, pct, short};
use crate::diagnosis::{Finding, FindingId, View};

pub(crate) fn generator_saturated(v: &View) -> Vec<Finding> {
    v.saturation
        .iter()
        .map(|w| Finding {
            id: FindingId::GeneratorSaturated,
            title: "generator saturated: results not trustworthy".into(),
            evidence: w.clone(),
            fix: "run fewer users per loadgen process, or more processes (another machine); \
                  then run again before reading the latencies"
                .into(),
        })
        .collect()
}

pub(crate) fn server_errors(v: &View) -> Vec<Finding> {
    // The one reach into the shop's rules: 5xx that `reservation-serializer` explains are its
    // finding, not a second one here.
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
        id: FindingId::ServerErrors,
        title: format!("server errors on {:.2} % of requests", pct(n, v.requests)),
        evidence,
        fix: "read the shop's log at those times (each answer's X-Request-Id is on its log \
              lines); errors that start with a saturated pool or CPU are that bottleneck's"
            .into(),
    }]
}

/// Median of the points in `range` of a per-second series.
pub(crate) fn median(series: &[Option<f64>], range: std::ops::Range<usize>) -> Option<f64> {
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

pub(crate) fn pool_saturated(v: &View) -> Vec<Finding> {
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
        id: FindingId::PoolSaturated,
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

pub(crate) fn db_connections(v: &View) -> Vec<Finding> {
    let Some(pg) = v.server.as_ref().and_then(|s| s.postgres.as_ref()) else {
        return Vec::new();
    };
    const FIX: &str = "PgBouncer in transaction mode (max_client_conn 1000, default_pool_size 25), \
                       fewer or smaller application pools, persistent connections";
    // The database's own CONNECTION LIMIT first: where it is set it is the one that binds (the
    // application's role is refused beyond it while the server has room).
    if let Some(limit) = pg.database_connection_limit.filter(|l| *l > 0)
        && let Some((peak, n)) = pg
            .points
            .iter()
            .filter_map(|p| Some((p, p.in_database?)))
            .max_by_key(|(_, n)| *n)
        && n as f64 >= limit as f64 * 0.9
    {
        return vec![Finding {
            id: FindingId::DbConnections,
            title: format!(
                "connections to database {:?} near its limit: {n} of {limit}",
                pg.database
            ),
            evidence: format!(
                "{n} connections to {:?} at {} ({} client connections on the server: {} \
                 active, {} idle, {} idle in transaction); the database's CONNECTION LIMIT is \
                 {limit} (every role but superusers is refused beyond it: \"too many connections \
                 for database\"){}",
                pg.database,
                v.clock(peak.t),
                peak.total,
                peak.active,
                peak.idle,
                peak.idle_in_transaction,
                pg.max_connections
                    .map(|m| format!(", max_connections = {m}"))
                    .unwrap_or_default()
            ),
            fix: format!("{FIX}; or raise the limit (ALTER DATABASE ... CONNECTION LIMIT)"),
        }];
    }
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
        id: FindingId::DbConnections,
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
        fix: FIX.into(),
    }]
}

/// Least-squares slope of `(t, y)`.
pub(crate) fn slope(points: &[(f64, f64)]) -> Option<f64> {
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

pub(crate) fn job_backlog(v: &View) -> Vec<Finding> {
    let Some(server) = &v.server else {
        return Vec::new();
    };
    // Every backlog the monitors followed: the shop's own gauge (else its job stream), and each
    // Celery queue; the one growing fastest is named.
    let backlog = server
        .job_backlog()
        .into_iter()
        .map(|(t, n)| (t as f64, n))
        .collect();
    let mut backlogs: Vec<(String, Vec<(f64, f64)>)> = vec![("job".to_owned(), backlog)];
    if let Some(r) = &server.redis {
        for (i, queue) in r.queues.iter().enumerate() {
            let waiting = r
                .points
                .iter()
                .filter_map(|p| Some((p.t as f64, p.queues.get(i).copied()?? as f64)))
                .collect();
            backlogs.push((format!("Celery queue {queue}"), waiting));
        }
    }
    let growing = backlogs.into_iter().filter_map(|(what, series)| {
        let rate = slope(&series)?;
        let (first, last) = (series[0], series[series.len() - 1]);
        let peak = series.iter().map(|p| p.1).fold(0.0, f64::max);
        (rate >= 0.5 && last.1 - first.1 >= 50.0 && last.1 >= 0.8 * peak)
            .then_some((what, rate, first, last))
    });
    let Some((what, rate, first, last)) = growing.max_by(|a, b| a.1.total_cmp(&b.1)) else {
        return Vec::new();
    };
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
        id: FindingId::JobBacklog,
        title: format!("{what} backlog grows {rate:.0}/s: the workers are too slow"),
        evidence: format!(
            "{what} backlog {:.0} → {:.0} jobs between {:.0} s and {:.0} s (+{rate:.1}/s){worked}",
            first.1, last.1, first.0, last.0
        ),
        fix: "more worker concurrency or workers, priority queues for the urgent jobs, and slow \
              work moved out of the jobs' critical path"
            .into(),
    }]
}

pub(crate) fn login_storm(v: &View) -> Vec<Finding> {
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
        id: FindingId::LoginStorm,
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

pub(crate) fn redis_memory(v: &View) -> Vec<Finding> {
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
        id: FindingId::RedisMemory,
        title: format!("Redis memory at {:.0} % of maxmemory", pct(peak, max)),
        evidence: format!("used_memory up to {peak} bytes, maxmemory {max} bytes"),
        fix: "a larger maxmemory, an eviction policy for the cache (allkeys-lru), shorter TTLs, \
              and a job stream that is trimmed"
            .into(),
    }]
}

/// The requests the application counted (its exported routes), else the run's own.
fn server_requests(v: &View, m: &crate::monitor::metrics::Data) -> u64 {
    match m.routes.iter().map(|r| r.requests).sum::<u64>() {
        0 => v.requests,
        n => n,
    }
}

/// N+1 read from the application's own statement counter (django-prometheus'
/// `django_db_execute_total`) where PostgreSQL's statements are not watched: a team's staging
/// shop often exports its metrics but gives no database login.
pub(crate) fn statements_per_request(v: &View) -> Vec<Finding> {
    let Some(server) = &v.server else {
        return Vec::new();
    };
    if server
        .postgres
        .as_ref()
        .is_some_and(|p| p.statements.is_some())
    {
        return Vec::new(); // `n-plus-one` reads the statements themselves
    }
    let Some(m) = &server.metrics else {
        return Vec::new();
    };
    let (Some(statements), requests) = (m.db_statements, server_requests(v, m)) else {
        return Vec::new();
    };
    if requests == 0 || statements < 200 {
        return Vec::new();
    }
    let per = statements as f64 / requests as f64;
    if per < 10.0 {
        return Vec::new();
    }
    let slowest = m
        .routes
        .iter()
        .filter(|r| r.method == "GET" && r.requests >= 10)
        .max_by(|a, b| {
            a.mean_ms
                .unwrap_or(0.0)
                .total_cmp(&b.mean_ms.unwrap_or(0.0))
        });
    let mean_ms = m
        .points
        .iter()
        .filter_map(|p| p.db_statement_mean_ms)
        .collect::<Vec<_>>();
    let mut evidence = format!(
        "the application ran {statements} statements for the {requests} requests it answered \
         ({per:.1} per request; {})",
        m.url
    );
    if !mean_ms.is_empty() {
        let mean = mean_ms.iter().sum::<f64>() / mean_ms.len() as f64;
        let _ = write!(evidence, "; {} per statement on average", ms(Some(mean)));
    }
    if let Some(r) = slowest {
        let _ = write!(
            evidence,
            "; the slowest read: {} {} at {} mean on the server",
            r.method,
            r.route,
            ms(r.mean_ms)
        );
    }
    vec![Finding {
        id: FindingId::NPlusOne,
        title: format!("{per:.0} database statements per request (N+1)"),
        evidence,
        fix: "load the related rows with the list, not one query per row: select_related / \
              prefetch_related in Django (django-debug-toolbar or assertNumQueries shows the view); \
              --db-url with pg_stat_statements names the statement"
            .into(),
    }]
}

/// A new database connection for most requests: Django's default `CONN_MAX_AGE = 0` closes the
/// connection at the end of every request, so each one pays PostgreSQL's connection start-up
/// (a process fork and authentication, milliseconds) before its first query.
pub(crate) fn db_connection_churn(v: &View) -> Vec<Finding> {
    let Some(m) = v.server.as_ref().and_then(|s| s.metrics.as_ref()) else {
        return Vec::new();
    };
    let (Some(opened), requests) = (m.db_new_connections, server_requests(v, m)) else {
        return Vec::new();
    };
    if opened < 50 || requests == 0 || (opened as f64) < requests as f64 * 0.5 {
        return Vec::new();
    }
    let peak = m
        .points
        .iter()
        .filter_map(|p| Some((p.t, p.db_new_connections_per_s?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut evidence = format!(
        "{opened} database connections opened for {requests} requests ({:.0} %; {})",
        pct(opened, requests),
        m.url
    );
    if let Some((t, rate)) = peak {
        let _ = write!(evidence, "; up to {rate:.0} a second at {}", v.clock(t));
    }
    vec![Finding {
        id: FindingId::DbConnectionChurn,
        title: format!(
            "a new database connection for {:.0} % of requests",
            pct(opened, requests)
        ),
        evidence,
        fix: "keep connections open between requests: CONN_MAX_AGE = 60 (with \
              CONN_HEALTH_CHECKS = True) in Django's DATABASES, or a pool (Django 5.1's \
              OPTIONS pool with psycopg 3, or PgBouncer in transaction mode)"
            .into(),
    }]
}
