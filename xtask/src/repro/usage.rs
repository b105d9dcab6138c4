//! Symptom checks of the bottlenecks that show as something used up over the run: jobs piling up,
//! memory kept, a table read whole, the database's connections. Pure functions of an
//! [`Observed`], like `symptoms`.

use super::runner::Observed;
use super::symptoms::{Symptom, excerpt};

const MIB: f64 = 1024.0 * 1024.0;

/// The job backlog over the run: the shop's own gauge, else its stream's length.
pub(super) fn backlog_symptom(o: &Observed) -> Symptom {
    let series = o
        .summary
        .server
        .as_ref()
        .map(loadgen::monitor::Server::job_backlog)
        .unwrap_or_default();
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return Symptom {
            present: false,
            lines: vec!["no job backlog was sampled (see the report's notes)".into()],
        };
    };
    let peak = series.iter().map(|p| p.1).fold(0.0, f64::max);
    let seconds = (last.0 - first.0).max(1) as f64;
    let mut lines = vec![format!(
        "job backlog {:.0} → {:.0} jobs in {seconds:.0} s ({:+.1}/s), peak {peak:.0}",
        first.1,
        last.1,
        (last.1 - first.1) / seconds
    )];
    if let Some(e) = o.summary.entry("POST", "/api/payments/confirm/") {
        lines.push(format!(
            "POST /api/payments/confirm/: {} payments confirmed",
            e.requests
        ));
    }
    Symptom {
        present: last.1 - first.1 >= 50.0,
        lines,
    }
}

/// The database's connections against its limit, and the requests that found none.
pub(super) fn connections_symptom(o: &Observed) -> Symptom {
    let agg = &o.summary.aggregate;
    let pg = o.summary.server.as_ref().and_then(|s| s.postgres.as_ref());
    let limit = pg.and_then(|p| p.database_connection_limit);
    let peak = pg
        .and_then(|p| p.points.iter().filter_map(|p| p.in_database).max())
        .unwrap_or(0);
    let mut lines = vec![match limit {
        Some(limit) => format!("connections to the database: peak {peak} of its limit {limit}"),
        None => format!("connections to the database: peak {peak} (no limit was read)"),
    }];
    lines.push(format!(
        "all requests: p95 {:.0} ms, {} of {} failed",
        agg.percentiles_ms.p95.unwrap_or(0.0),
        agg.failures,
        agg.requests
    ));
    if let Some(line) = o.shop_log.lines().find(|l| {
        l.contains("too many connections")
            || l.contains("pool timed out")
            || l.contains("PoolTimedOut")
    }) {
        lines.push(format!("the shop's log: {}", excerpt(line.trim(), 200)));
    }
    Symptom {
        present: agg.failures > 0 || limit.is_some_and(|l| peak >= l),
        lines,
    }
}

/// The order list's latency, and the statement that took the database's time with its plan.
pub(super) fn slow_list_symptom(o: &Observed) -> Symptom {
    let Some(p50) = o
        .summary
        .entry("GET", "/api/orders/")
        .and_then(|e| e.percentiles_ms.p50)
    else {
        return Symptom {
            present: false,
            lines: vec!["no order list was answered".into()],
        };
    };
    let mut lines = vec![format!("GET /api/orders/ median {p50:.1} ms")];
    let pg = o.summary.server.as_ref().and_then(|s| s.postgres.as_ref());
    let Some(plan) = pg.and_then(|p| p.plans.first()) else {
        lines.push("no statement plan was read (pg_stat_statements, see the notes)".into());
        return Symptom {
            present: false,
            lines,
        };
    };
    lines.push(format!(
        "the database's top statement: mean {:.1} ms a call, {:.0} % of its time, plan {}",
        plan.mean_ms,
        plan.share_percent,
        plan.nodes.join(" > ")
    ));
    // The plan decides, not the clock alone: a user's few hundred orders come by index, while
    // 300,000 rows read whole take tens to hundreds of milliseconds. A mean alone could call a
    // fixed run slow on a machine busy with other loads (CI runs repros side by side).
    let reads_whole_table = plan
        .seq_scans
        .iter()
        .any(|scan| scan.filter.is_some() && scan.table_rows >= 10_000);
    Symptom {
        present: reads_whole_table && plan.mean_ms >= 20.0,
        lines,
    }
}

/// The shop's resident memory after warming up, and how much it grew.
pub(super) fn memory_symptom(o: &Observed) -> Symptom {
    let shop = o
        .summary
        .server
        .as_ref()
        .and_then(|s| s.processes.iter().find(|p| p.name == "shop"));
    let points: Vec<(u64, u64)> = shop
        .into_iter()
        .flat_map(|p| p.settled())
        .map(|p| (p.t, p.rss_bytes))
        .collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Symptom {
            present: false,
            lines: vec!["the shop's memory was not sampled".into()],
        };
    };
    let grown = last.1 as f64 - first.1 as f64;
    Symptom {
        present: grown >= 64.0 * MIB,
        lines: vec![format!(
            "the shop's resident memory {:.0} MiB → {:.0} MiB between {} s and {} s ({:+.0} MiB) \
             for {} requests",
            first.1 as f64 / MIB,
            last.1 as f64 / MIB,
            first.0,
            last.0,
            grown / MIB,
            o.summary.aggregate.requests
        )],
    }
}
