//! Rules on what a run uses up rather than how fast it answers: memory a process keeps and does
//! not give back (a leak the soak phase is there to find), and the database's time spent reading
//! whole tables (an index missing). Generic: they read the monitors' series and plans, never a
//! route's name.

use super::generic::slope;
use super::{ms, short};
use crate::diagnosis::{Finding, FindingId, View};

const MIB: f64 = 1024.0 * 1024.0;

pub(crate) fn memory_growth(v: &View) -> Vec<Finding> {
    let Some(server) = &v.server else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    // The generator keeps its exact histograms as it goes: its own growth is not the target's.
    for p in server.processes.iter().filter(|p| p.name != "loadgen") {
        let settled: Vec<_> = p.settled().collect();
        let points: Vec<(f64, f64)> = settled
            .iter()
            .map(|p| (p.t as f64, p.rss_bytes as f64))
            .collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        let Some(rate) = slope(&points) else {
            continue;
        };
        let grown = last.1 - first.1;
        // Memory that came with more processes (a database's backends as users were added, each
        // warming its caches; a pre-fork server's new workers) is not kept by anyone: what each
        // process holds is what must grow. For one process it is the same thing.
        let each: Vec<f64> = settled
            .iter()
            .map(|p| p.rss_bytes as f64 / p.processes.max(1) as f64)
            .collect();
        let (each_first, each_last) = (each[0], each[each.len() - 1]);
        // Grows by a real amount, by a real share, and all along the run (not a step once
        // warm): 32 MiB and a quarter more, up in at least half of the seconds, per process too.
        let rising = each.windows(2).filter(|w| w[1] > w[0]).count();
        if grown < 32.0 * MIB
            || grown < first.1 * 0.25
            || each_last - each_first < each_first * 0.25
            || rate <= 0.0
            || rising * 2 < points.len()
        {
            continue;
        }
        let per_request = if v.requests > 0 {
            format!(
                ", {:.1} KiB per request of the run's {}",
                grown / 1024.0 / v.requests as f64,
                v.requests
            )
        } else {
            String::new()
        };
        findings.push(Finding {
            id: FindingId::MemoryGrowth,
            title: format!(
                "{}'s memory grows {:.1} MiB/s and is not given back",
                p.name,
                rate / MIB
            ),
            evidence: format!(
                "{} (pid {}) resident memory {:.0} MiB → {:.0} MiB between {} and {} \
                 (+{:.1} MiB/s{per_request}); at this rate it adds {:.1} GiB an hour",
                p.name,
                p.pid,
                first.1 / MIB,
                last.1 / MIB,
                v.clock(first.0 as u64),
                v.clock(last.0 as u64),
                rate / MIB,
                rate * 3600.0 / MIB / 1024.0
            ),
            fix: "find what each request keeps (an unbounded cache or list, Django's DEBUG = True \
                  keeping every query, logging at DEBUG); recycle workers meanwhile (gunicorn \
                  --max-requests 1000 --max-requests-jitter 100), run fewer web workers, and give \
                  Redis a maxmemory with an eviction policy"
                .into(),
        });
    }
    findings
}

/// A statement whose plan reads a whole large table to keep a few rows, while it takes a real
/// share of the database's time.
pub(crate) fn missing_index(v: &View) -> Vec<Finding> {
    let Some(pg) = v.server.as_ref().and_then(|s| s.postgres.as_ref()) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    for plan in &pg.plans {
        let Some(scan) = plan
            .seq_scans
            .iter()
            .filter(|s| s.filter.is_some() && s.table_rows >= 10_000)
            .max_by_key(|s| s.table_rows)
        else {
            continue;
        };
        if plan.mean_ms < 2.0 || plan.share_percent < 10.0 {
            continue;
        }
        let filter = scan.filter.as_deref().unwrap_or_default();
        findings.push(Finding {
            id: FindingId::MissingIndex,
            title: format!(
                "sequential scan of {} ({} rows) on every call of a statement: an index is missing",
                scan.table, scan.table_rows
            ),
            evidence: format!(
                "`{}`: {} calls, mean {}, {:.0} % of the database's time; its plan ({}) reads \
                 all of {} to keep the rows where {filter}",
                short(&plan.query),
                plan.calls,
                ms(Some(plan.mean_ms)),
                plan.share_percent,
                plan.nodes.join(" > "),
                scan.table
            ),
            fix: format!(
                "index the filtered column(s) of {}: `CREATE INDEX CONCURRENTLY ON {} (...)` with \
                 the columns of {filter} (in Django: `db_index=True` or `Meta.indexes`, then \
                 migrate); then check with EXPLAIN that the plan uses it",
                scan.table, scan.table
            ),
        });
    }
    findings
}
