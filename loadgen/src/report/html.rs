//! The HTML report: one self-contained file (inline CSS and SVG, no script, no external URL) that
//! opens offline: the run, the verdict, Locust's tables, the stages, and the charts over time.
//! Written with maud: every value inserted is escaped unless its type says it is markup already.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Results;
use super::charts::{Marks, Series, framed, line_chart};
use crate::stats::{Entry, percentile_ms};

const HTML_PERCENTILES: [f64; 9] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0];

pub fn render(r: &Results) -> String {
    let m = &r.meta;
    let title = match &m.phase {
        Some(p) => format!("loadgen report: {p}"),
        None => format!("loadgen report: {}", m.scenario),
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { (title) }
                table.meta {
                    tr { th { "Verdict" } td {
                        (passed(r.passed(), "PASSED", "FAILED"))
                        (format!(" (failure rate {:.2}%: {})", r.recorder.aggregate.fail_ratio() * 100.0, r.failure_band()))
                    } }
                    tr { th { "Target host" } td { (m.host) } }
                    tr { th { "Scenario" } td { (m.scenario) } }
                    tr { th { "During" } td {
                        (m.started_at.format("%Y-%m-%d %H:%M:%S UTC")) " – "
                        (m.ended_at.format("%H:%M:%S UTC")) (format!(" ({:.0} s)", m.duration_s))
                    } }
                    tr { th { "Load model" } td { (model_text(r)) } }
                    tr { th { "Seed" } td { (m.seed) } }
                    tr { th { "Command" } td { code { (m.command) } } }
                }
                @if m.tls_insecure {
                    p.warn {
                        "HTTPS with --insecure: TLS certificates NOT verified. The traffic was \
                         encrypted, but the server it went to was not authenticated."
                    }
                }
                @if let Some(protocol) = &m.protocol {
                    p { "Protocol: " (protocol) " (--http2)" }
                }
                @if let Some(w) = r.saturation.warning() {
                    p.warn { (w) }
                }
                @if r.recorder.relogins > 0 || r.recorder.dropped > 0 {
                    p.note {
                        "Re-logins after a 401: " (r.recorder.relogins)
                        ". Iterations dropped (no free user in time): " (r.recorder.dropped) "."
                    }
                }
                (super::baseline::html(r))
                (super::reconciliation::html(r))
                (super::faults::html(r))
                (thresholds(r))
                (super::server::findings_html(r))
                (request_statistics(r))
                (percentiles(r))
                (stages(r))
                (drift(r))
                (failures(r))
                (charts(r))
                (super::server::html(r))
                footer {
                    "Made by loadgen (shopload). Percentiles are exact to 3 significant digits \
                     (HdrHistogram)."
                }
            }
        }
    };
    let mut page = page.into_string();
    page.push('\n');
    page
}

/// A pass or a failure, coloured.
pub fn passed(ok: bool, pass: &str, fail: &str) -> Markup {
    html! {
        @if ok { span.pass { (pass) } } @else { span.fail { (fail) } }
    }
}

fn model_text(r: &Results) -> &'static str {
    if r.recorder.open_model {
        "open (arrival rate): latencies are counted from each iteration's intended start \
         (coordinated omission corrected); the service-time view is shown beside them"
    } else {
        "closed (users with think time): latencies are service times"
    }
}

fn thresholds(r: &Results) -> Markup {
    html! {
        h2 { "Thresholds" }
        @if r.verdicts.is_empty() {
            p.note { "No thresholds were set." }
        } @else {
            table {
                tr { th { "Threshold" } th { "Scope" } th { "Measured" } th { "Needed" } th { "Result" } }
                @for v in &r.verdicts {
                    tr {
                        td { code { (v.threshold) } }
                        td { (v.scope) }
                        td.n { (v.actual_text) }
                        td.n { (v.limit_text) }
                        td { (passed(v.passed, "pass", "FAIL")) }
                    }
                }
            }
        }
    }
}

/// The endpoints with requests, by name, then the aggregate.
fn rows(r: &Results) -> Vec<&Entry> {
    let mut rows = r.sorted_entries();
    rows.push(&r.recorder.aggregate);
    rows
}

fn request_statistics(r: &Results) -> Markup {
    // HTTPS runs get the handshakes' own columns: connection set-up is a real cost on staging.
    let tls = r.recorder.aggregate.tls_handshakes > 0;
    html! {
        h2 { "Request Statistics" }
        table {
            tr {
                th { "Type" } th { "Name" } th { "# Requests" } th { "# Fails" } th { "# Handled" }
                th { "Average (ms)" } th { "Min (ms)" } th { "Max (ms)" }
                th { "Average size (bytes)" } th { "RPS" } th { "Failures/s" }
                @if tls { th { "TLS handshakes" } th { "Average handshake (ms)" } }
            }
            @for e in rows(r) {
                tr class=[e.method.is_empty().then_some("total")] {
                    td { (e.method) }
                    td { (e.name) }
                    td.n { (e.requests) }
                    td.n { (e.failures) }
                    td.n { (e.handled) }
                    td.n { (ms(e.avg_ms())) }
                    td.n { (ms(e.min_ms())) }
                    td.n { (ms(e.max_ms())) }
                    td.n { (format!("{:.0}", e.avg_content_size())) }
                    td.n { (format!("{:.2}", r.rps(e))) }
                    td.n { (format!("{:.2}", r.fails_per_s(e))) }
                    @if tls {
                        td.n { (e.tls_handshakes) }
                        td.n { (ms(e.tls_handshake_avg_ms())) }
                    }
                }
            }
        }
    }
}

fn percentiles(r: &Results) -> Markup {
    let open = r.recorder.open_model;
    html! {
        h2 { "Response Time Statistics" }
        @if open {
            p.note {
                "Open model: each row shows the corrected latency (from the intended start) and, \
                 below it, the service time (from sending). A gap between them is time requests \
                 waited for a free user."
            }
        }
        table {
            tr {
                th { "Type" } th { "Name" } th { "View" }
                @for q in HTML_PERCENTILES { th { (pct(q)) "%ile (ms)" } }
            }
            @for e in rows(r) {
                @let service = (if open { "service" } else { "response" }, &e.raw);
                @for (view, hist) in e.corrected.as_ref().map(|c| ("corrected", c)).into_iter().chain([service]) {
                    tr {
                        td { (e.method) }
                        td { (e.name) }
                        td { (view) }
                        @for q in HTML_PERCENTILES { td.n { (ms(percentile_ms(hist, q))) } }
                    }
                }
            }
        }
    }
}

fn stages(r: &Results) -> Markup {
    if r.recorder.stages.len() < 2 {
        return html! {};
    }
    html! {
        h2 { "Stages" }
        table {
            tr {
                th { "Stage" } th { "Users" } th { "Arrival rate" } th { "Duration (s)" }
                th { "# Requests" } th { "RPS" } th { "Fail %" } th { "Average (ms)" }
                th { "p95 (ms)" } th { "p99 (ms)" } th { "SLOs of the step" }
            }
            @for s in &r.recorder.stages {
                @let plan = r.meta.stages.get(s.index);
                @let seconds = s.end_s - s.start_s;
                @let a = &s.aggregate;
                tr {
                    td { (plan.map_or_else(|| format!("{}", s.index + 1), |p| p.name.clone())) }
                    td.n { (plan.map_or(0, |p| p.users)) }
                    td.n { (plan.and_then(|p| p.arrival_rate).map_or("-".to_owned(), |a| format!("{a}/s"))) }
                    td.n { (format!("{seconds:.0}")) }
                    td.n { (a.requests) }
                    td.n { (format!("{:.1}", super::per_second(a.requests, seconds))) }
                    td.n { (format!("{:.2}", a.fail_ratio() * 100.0)) }
                    td.n { (ms(a.avg_ms())) }
                    td.n { (ms(percentile_ms(a.headline(), 0.95))) }
                    td.n { (ms(percentile_ms(a.headline(), 0.99))) }
                    td { (step_slos(r, s.index)) }
                }
            }
        }
        @if !r.stage_slos.is_empty() {
            p.note {
                @match crate::trend::first_broken(&r.stage_slos) {
                    Some(first) => {
                        "First step that broke an SLO: " b { "stage " (first.stage) }
                        " (" (r.meta.stages.get(first.stage - 1).map_or(0, |p| p.users)) " users)."
                    }
                    None => "Every step held its SLOs.",
                }
            }
        }
    }
}

/// The SLO thresholds a step broke, or "ok".
fn step_slos(r: &Results, index: usize) -> Markup {
    html! {
        @match r.stage_slos.iter().find(|s| s.stage == index + 1) {
            Some(slo) if !slo.broken.is_empty() => {
                @for (i, v) in slo.broken.iter().enumerate() {
                    @if i > 0 { br; }
                    span.fail { (v.threshold) " (" (v.actual_text) ")" }
                }
            }
            Some(_) => "ok",
            None => "-",
        }
    }
}

fn drift(r: &Results) -> Markup {
    let Some(d) = &r.drift else {
        return html! {};
    };
    html! {
        h2 { "Drift" }
        p.note {
            "The first " (d.window_s) " s of steady load against the last " (d.window_s) " s."
        }
        table {
            tr {
                th { "Window" } th { "Seconds" } th { "Users" } th { "# Requests" } th { "Fail %" }
                th { "p50 (ms)" } th { "p95 (ms)" }
            }
            @for (name, w) in [("first", &d.first), ("last", &d.last)] {
                tr {
                    td { (name) }
                    td.n { (w.from_s) "-" (w.to_s) }
                    td.n { (w.users) }
                    td.n { (w.requests) }
                    td.n { (format!("{:.2}", w.fail_ratio * 100.0)) }
                    td.n { (ms(w.p50_ms)) }
                    td.n { (ms(w.p95_ms)) }
                }
            }
        }
        @if d.flags.is_empty() {
            p { "Steady: no drift beyond tolerance." }
        }
        @for flag in &d.flags {
            p.fail { (flag) }
        }
    }
}

fn failures(r: &Results) -> Markup {
    html! {
        h2 { "Failures Statistics" }
        @if r.recorder.failures.is_empty() {
            p.note { "No failures." }
        } @else {
            table {
                tr {
                    th { "# Failures" } th { "Method" } th { "Name" } th { "Message" }
                    th { "First seen" } th { "Last seen" } th { "The server's answer" }
                }
                @for f in r.recorder.failures.values() {
                    tr {
                        td.n { (f.occurrences) }
                        td { (f.method) }
                        td { (f.name) }
                        td { (f.error) }
                        td { (time(f.first_seen)) }
                        td { (time(f.last_seen)) }
                        td { code { (f.example.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
        @if !r.recorder.exceptions.is_empty() {
            h2 { "Exceptions Statistics" }
            table {
                tr { th { "# occurrences" } th { "Message" } }
                @for (message, count) in &r.recorder.exceptions {
                    tr { td.n { (count) } td { (message) } }
                }
            }
        }
    }
}

fn charts(r: &Results) -> Markup {
    let seconds = &r.recorder.seconds;
    if seconds.is_empty() {
        return html! {};
    }
    let marks = Marks::of(r);
    let series = |name: &str, f: &dyn Fn(&crate::stats::Second) -> Option<f64>| Series {
        name: name.to_owned(),
        points: seconds.iter().map(f).collect(),
    };
    let per_endpoint: Vec<Series> = r
        .recorder
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.requests > 0)
        .map(|(i, e)| Series {
            name: format!("{} {}", e.method, e.name),
            points: seconds
                .iter()
                .map(|s| s.endpoints.get(i).and_then(|p| p.p95))
                .collect(),
        })
        .collect();
    let charts = [
        line_chart(
            "Total Requests per Second",
            "per second",
            &[
                series("RPS", &|s| Some(s.requests as f64)),
                series("Failures/s", &|s| Some(s.failures as f64)),
            ],
            &marks,
        ),
        line_chart(
            "Response Times (ms)",
            "ms",
            &[
                series("50th percentile", &|s| s.p50),
                series("95th percentile", &|s| s.p95),
                series("99th percentile", &|s| s.p99),
            ],
            &marks,
        ),
        line_chart(
            "Number of Users",
            "users",
            &[series("Users", &|s| Some(s.users as f64))],
            &marks,
        ),
        line_chart(
            "95th percentile per endpoint (ms)",
            "ms",
            &per_endpoint,
            &marks,
        ),
    ];
    html! {
        h2 { "Charts" }
        p.note {
            @if marks.bands.is_empty() {
                "Dashed lines mark stage boundaries."
            } @else {
                "Dashed lines mark stage boundaries; shaded bands the injected faults' windows."
            }
        }
        @for chart in &charts { (framed(chart)) }
    }
}

fn pct(q: f64) -> String {
    let p = q * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round() as i64)
    } else {
        format!("{p}")
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "N/A".to_owned(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.0}"),
    }
}

fn time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}\
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left}th{background:#f4f4f4}\
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:bold}\
table.meta th{width:9em}.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}\
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em}.note{color:#555}\
.chart{margin:1em 0}footer{margin-top:3em;color:#888;font-size:.8em}";
