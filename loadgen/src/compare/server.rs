//! The server's side of two runs, where both have it: database connections and statements per
//! request (the PostgreSQL monitor), pool waits (the shop's /metrics), CPU per request of each
//! watched process. Per-second series are judged as the client's are.

use std::collections::HashMap;

use super::{Metric, Row, judge};
use crate::summary::Summary;

pub fn rows(base: &Summary, new: &Summary, min_change_percent: f64) -> Vec<Row> {
    let (Some(a), Some(b)) = (&base.server, &new.server) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    if let (Some(pa), Some(pb)) = (&a.postgres, &b.postgres) {
        let series = |d: &crate::monitor::postgres::Data| -> Vec<f64> {
            d.points.iter().map(|p| p.total as f64).collect()
        };
        let (sa, sb) = (series(pa), series(pb));
        rows.push(judge(
            "postgres (peak)",
            Metric::DbConnections,
            peak(&sa),
            peak(&sb),
            &sa,
            &sb,
            min_change_percent,
        ));
        let per_request = |d: &crate::monitor::postgres::Data, s: &Summary| {
            let statements = d.statements.as_ref()?;
            (s.aggregate.requests > 0)
                .then(|| statements.calls as f64 / s.aggregate.requests as f64)
        };
        rows.push(judge(
            "postgres",
            Metric::StatementsPerRequest,
            per_request(pa, base),
            per_request(pb, new),
            &[],
            &[],
            min_change_percent,
        ));
    }
    if let (Some(ma), Some(mb)) = (&a.metrics, &b.metrics) {
        let series = |d: &crate::monitor::metrics::Data| -> Vec<f64> {
            d.points.iter().filter_map(|p| p.pool_waiting).collect()
        };
        let (sa, sb) = (series(ma), series(mb));
        if !sa.is_empty() && !sb.is_empty() {
            rows.push(judge(
                "shop pool (mean)",
                Metric::PoolWaiting,
                mean(&sa),
                mean(&sb),
                &sa,
                &sb,
                min_change_percent,
            ));
        }
    }
    for pa in &a.processes {
        let Some(pb) = b.processes.iter().find(|p| p.name == pa.name) else {
            continue;
        };
        let (sa, ta) = cpu_per_kilo_request(pa, base);
        let (sb, tb) = cpu_per_kilo_request(pb, new);
        rows.push(judge(
            &pa.name,
            Metric::CpuPerKiloRequest,
            ta,
            tb,
            &sa,
            &sb,
            min_change_percent,
        ));
    }
    rows
}

/// CPU seconds per 1,000 requests: each second's, and the whole run's.
fn cpu_per_kilo_request(p: &crate::monitor::process::Data, s: &Summary) -> (Vec<f64>, Option<f64>) {
    let requests: HashMap<u64, u64> = s.series.iter().map(|x| (x.t, x.requests)).collect();
    let mut each = Vec::new();
    let (mut cpu_s, mut total) = (0.0, 0u64);
    for point in &p.points {
        let (Some(cpu), Some(&n)) = (point.cpu_percent, requests.get(&point.t)) else {
            continue;
        };
        cpu_s += cpu / 100.0;
        total += n;
        if n > 0 {
            each.push(cpu / 100.0 / n as f64 * 1000.0);
        }
    }
    let whole = (total > 0).then(|| cpu_s / total as f64 * 1000.0);
    (each, whole)
}

fn peak(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}
