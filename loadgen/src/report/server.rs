//! The server side in the reports: the diagnosis (HTML and console), and the monitors' charts and
//! statement tables (HTML). Server charts use the client charts' x axis (second 1 of the run is
//! second 1 on both), so a latency jump and the pool filling up line up on the page.

use std::fmt::Write as _;

use maud::{Markup, html};

use super::Results;
use super::charts::{Marks, Series, framed, line_chart};
use crate::monitor::postgres::Statement;

/// Routes drawn in the per-route chart (the busiest; a legend of 30 routes helps nobody).
const CHART_ROUTES: usize = 8;

/// The diagnosis, for the HTML report (after the thresholds: it says what to do about them).
pub fn findings_html(r: &Results) -> Markup {
    if r.server.is_none() && r.findings.is_empty() {
        return html! {};
    }
    html! {
        h2 { "Diagnosis" }
        @if r.findings.is_empty() {
            p.note {
                "No finding: nothing in the client's or the server's numbers matches a known \
                 bottleneck or bug."
            }
        }
        @for f in &r.findings {
            div.warn {
                p { b { (f.title) } " " code { (f.id) } }
                p { "Evidence: " (f.evidence) }
                p { "Fix: " (f.fix) }
            }
        }
    }
}

/// The diagnosis and the monitors' notes, as the console's last lines.
pub fn console(out: &mut String, r: &Results) {
    if let Some(s) = &r.server {
        if let Some(st) = s.postgres.as_ref().and_then(|p| p.statements.as_ref())
            && !st.by_total_time.is_empty()
        {
            let _ = writeln!(
                out,
                "\nStatements by total time ({} calls of {} statements during the run)",
                st.calls, st.distinct
            );
            for s in st.by_total_time.iter().take(3) {
                let _ = writeln!(
                    out,
                    "  {:>9.0} ms {:>8} calls {:>8.2} ms/call  {}",
                    s.total_ms,
                    s.calls,
                    s.mean_ms,
                    one_line(&s.query, 90)
                );
            }
        }
        for n in &s.notes {
            let _ = writeln!(out, "\nnote ({}): {}", n.monitor, n.message);
        }
    }
    if r.findings.is_empty() {
        if r.server.is_some() {
            let _ = writeln!(out, "\nDiagnosis: no finding");
        }
        return;
    }
    let _ = writeln!(out, "\nDiagnosis");
    for f in &r.findings {
        let _ = writeln!(out, "  [{}] {}", f.id, f.title);
        let _ = writeln!(out, "      evidence: {}", f.evidence);
        let _ = writeln!(out, "      fix: {}", f.fix);
    }
}

fn one_line(query: &str, width: usize) -> String {
    let q: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if q.chars().count() > width {
        let mut s: String = q.chars().take(width - 1).collect();
        s.push('…');
        s
    } else {
        q
    }
}

/// A per-second series placed on the client's seconds (index t - 1), gaps where it has no point.
fn aligned<T>(
    n: usize,
    points: &[T],
    t: impl Fn(&T) -> u64,
    v: impl Fn(&T) -> Option<f64>,
) -> Vec<Option<f64>> {
    let mut out = vec![None; n];
    for p in points {
        let i = t(p) as usize;
        if (1..=n).contains(&i) {
            out[i - 1] = v(p);
        }
    }
    out
}

/// The monitors' section of the HTML report.
pub fn html(r: &Results) -> Markup {
    let Some(s) = &r.server else {
        return html! {};
    };
    // As long as the client's series, or the server's own if the client has none.
    let n = r.recorder.seconds.len().max(1);
    let marks = Marks::of(r);
    let mut charts: Vec<Markup> = Vec::new();
    if let Some(m) = &s.metrics {
        charts.extend(metrics_charts(m, n, &marks));
    }
    if let Some(pg) = &s.postgres {
        let series =
            |name: &str, f: &dyn Fn(&crate::monitor::postgres::Point) -> Option<f64>| Series {
                name: name.to_owned(),
                points: aligned(n, &pg.points, |p| p.t, f),
            };
        charts.push(line_chart(
            "PostgreSQL connections",
            "connections",
            &[
                series("total", &|p| Some(p.total as f64)),
                series("active", &|p| Some(p.active as f64)),
                series("idle", &|p| Some(p.idle as f64)),
                series("idle in transaction", &|p| {
                    Some(p.idle_in_transaction as f64)
                }),
                series("waiting on a lock", &|p| Some(p.lock_waiting as f64)),
            ],
            &marks,
        ));
        charts.push(line_chart(
            "PostgreSQL transactions per second",
            "per second",
            &[series("commits + rollbacks", &|p| p.transactions_per_s)],
            &marks,
        ));
    }
    if let Some(rd) = &s.redis {
        let series =
            |name: &str, f: &dyn Fn(&crate::monitor::redis::Point) -> Option<f64>| Series {
                name: name.to_owned(),
                points: aligned(n, &rd.points, |p| p.t, f),
            };
        charts.push(line_chart(
            "Redis memory (MB)",
            "MB",
            &[series("used_memory", &|p| {
                p.used_memory.map(|b| b as f64 / 1e6)
            })],
            &marks,
        ));
        charts.push(line_chart(
            "Redis commands and clients",
            "per second / clients",
            &[
                series("commands/s", &|p| p.ops_per_s),
                series("key hits/s", &|p| p.hits_per_s),
                series("key misses/s", &|p| p.misses_per_s),
                series("clients", &|p| p.connected_clients.map(|c| c as f64)),
            ],
            &marks,
        ));
        charts.push(line_chart(
            &format!("Job stream {} (group {})", rd.stream, rd.group),
            "entries",
            &[
                series("length (backlog)", &|p| p.stream_length.map(|v| v as f64)),
                series("pending (delivered, not acknowledged)", &|p| {
                    p.pending.map(|v| v as f64)
                }),
                series("lag (not delivered)", &|p| p.lag.map(|v| v as f64)),
            ],
            &marks,
        ));
        // A Celery queue that never held a message (the default `celery` beside our own shop's
        // stream) draws nothing.
        let waiting: Vec<Series> = rd
            .queues
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                rd.points
                    .iter()
                    .any(|p| p.queues.get(*i).copied().flatten().is_some_and(|n| n > 0))
            })
            .map(|(i, name)| {
                series(name, &|p: &crate::monitor::redis::Point| {
                    p.queues.get(i).copied().flatten().map(|v| v as f64)
                })
            })
            .collect();
        if !waiting.is_empty() {
            charts.push(line_chart(
                "Celery queues (Redis lists): messages waiting",
                "messages",
                &waiting,
                &marks,
            ));
        }
    }
    if !s.processes.is_empty() {
        let cpu: Vec<Series> = s
            .processes
            .iter()
            .map(|p| Series {
                name: format!("{} ({})", p.name, p.pid),
                points: aligned(n, &p.points, |x| x.t, |x| x.cpu_percent),
            })
            .collect();
        let cores = s.processes[0].cores;
        charts.push(line_chart(
            &format!("CPU (% of one core; {cores} cores = {}%)", cores * 100),
            "%",
            &cpu,
            &marks,
        ));
        let rss: Vec<Series> = s
            .processes
            .iter()
            .map(|p| Series {
                name: format!("{} ({})", p.name, p.pid),
                points: aligned(n, &p.points, |x| x.t, |x| Some(x.rss_bytes as f64 / 1e6)),
            })
            .collect();
        charts.push(line_chart("Memory (resident, MB)", "MB", &rss, &marks));
    }
    html! {
        h2 { "Server" }
        p.note {
            "Sampled once a second by loadgen's monitors; the x axis is the client charts' \
             (seconds since the start)."
        }
        @for note in &s.notes {
            p.warn { (note.monitor) ": " (note.message) }
        }
        @for chart in &charts { (framed(chart)) }
        @if let Some(m) = &s.metrics { (routes_table(m)) }
        @if let Some(pg) = &s.postgres {
            @match &pg.statements {
                Some(st) => {
                    h3 { "Statements during the run (pg_stat_statements, database " (pg.database) ")" }
                    p.note {
                        (st.calls) " calls of " (st.distinct) " distinct statements, "
                        (format!("{:.0}", st.total_ms)) " ms in all."
                    }
                    (statements_table("Top 10 by total time", &st.by_total_time))
                    (statements_table("Top 10 by mean time", &st.by_mean_time))
                    (statements_table("Top 10 by calls", &st.by_calls))
                }
                None => p.note { "No statement statistics (see the note above)." }
            }
        }
    }
}

fn metrics_charts(m: &crate::monitor::metrics::Data, n: usize, marks: &Marks) -> Vec<Markup> {
    let mut busiest: Vec<&crate::monitor::metrics::Route> = m.routes.iter().collect();
    busiest.sort_by_key(|r| std::cmp::Reverse(r.requests));
    busiest.truncate(CHART_ROUTES);
    let route_series =
        |f: &dyn Fn(&crate::monitor::metrics::RoutePoint) -> Option<f64>| -> Vec<Series> {
            busiest
                .iter()
                .map(|r| Series {
                    name: format!("{} {}", r.method, r.route),
                    points: aligned(n, &r.points, |p| p.t, f),
                })
                .collect()
        };
    let series = |name: &str, f: &dyn Fn(&crate::monitor::metrics::Point) -> Option<f64>| Series {
        name: name.to_owned(),
        points: aligned(n, &m.points, |p| p.t, f),
    };
    let mut charts = vec![
        line_chart(
            "Server-side mean time per route (ms, the shop's /metrics)",
            "ms",
            &route_series(&|p| p.mean_ms),
            marks,
        ),
        line_chart(
            "Server-side p95 per route (ms, from the histogram's buckets)",
            "ms",
            &route_series(&|p| p.p95_ms),
            marks,
        ),
    ];
    if m.points
        .iter()
        .any(|p| p.pool_max.is_some() || p.pool_in_use.is_some())
    {
        charts.push(line_chart(
            "Database pool (the shop's)",
            "connections",
            &[
                series("in use", &|p| p.pool_in_use),
                series("idle", &|p| p.pool_idle),
                series("max", &|p| p.pool_max),
                series("waiting", &|p| p.pool_waiting),
            ],
            marks,
        ));
    }
    if m.points.iter().any(|p| p.jobs_backlog.is_some()) {
        charts.push(line_chart(
            "Jobs (the shop's)",
            "jobs",
            &[
                series("backlog", &|p| p.jobs_backlog),
                series("in progress", &|p| p.jobs_in_progress),
                series("done per second", &|p| p.jobs_processed_per_s),
            ],
            marks,
        ));
    }
    if m.points.iter().any(|p| p.db_statements_per_s.is_some()) {
        charts.push(line_chart(
            "Database, as the application counts it (per second)",
            "per second",
            &[
                series("statements", &|p| p.db_statements_per_s),
                series("new connections", &|p| p.db_new_connections_per_s),
                series("errors", &|p| p.db_errors_per_s),
            ],
            marks,
        ));
        charts.push(line_chart(
            "Mean statement time (ms, the application's histogram)",
            "ms",
            &[series("mean", &|p| p.db_statement_mean_ms)],
            marks,
        ));
    }
    charts
}

fn routes_table(m: &crate::monitor::metrics::Data) -> Markup {
    if m.routes.is_empty() {
        return html! {};
    }
    let mut routes: Vec<_> = m.routes.iter().collect();
    routes.sort_by(|a, b| {
        b.mean_ms
            .unwrap_or(0.0)
            .total_cmp(&a.mean_ms.unwrap_or(0.0))
    });
    html! {
        h3 { "Server-side time per route (the shop's /metrics)" }
        table {
            tr {
                th { "Method" } th { "Route" } th { "# Requests" } th { "# 5xx" }
                th { "Mean server time (ms)" }
            }
            @for r in routes {
                tr {
                    td { (r.method) }
                    td { (r.route) }
                    td.n { (r.requests) }
                    td.n { (r.server_errors) }
                    td.n { (r.mean_ms.map_or("-".to_owned(), |v| format!("{v:.2}"))) }
                }
            }
        }
    }
}

fn statements_table(title: &str, statements: &[Statement]) -> Markup {
    html! {
        h4 { (title) }
        @if statements.is_empty() {
            p.note { "No statement ran." }
        } @else {
            table {
                tr { th { "Calls" } th { "Total (ms)" } th { "Mean (ms)" } th { "Rows" } th { "Statement" } }
                @for s in statements {
                    tr {
                        td.n { (s.calls) }
                        td.n { (format!("{:.1}", s.total_ms)) }
                        td.n { (format!("{:.3}", s.mean_ms)) }
                        td.n { (s.rows) }
                        td { code { (one_line(&s.query, 300)) } }
                    }
                }
            }
        }
    }
}
