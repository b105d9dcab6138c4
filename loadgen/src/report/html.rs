//! The HTML report: one self-contained file (inline CSS and SVG, no script, no external URL) that
//! opens offline: the run, the verdict, Locust's tables, the stages, and the charts over time.

use std::fmt::Write as _;

use super::Results;
use super::charts::{Marks, Series, line_chart};
use crate::stats::{Entry, percentile_ms};

const HTML_PERCENTILES: [f64; 9] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0];

pub fn render(r: &Results) -> String {
    let m = &r.meta;
    let title = match &m.phase {
        Some(p) => format!("loadgen report: {p}"),
        None => format!("loadgen report: {}", m.scenario),
    };
    let mut h = String::with_capacity(256 * 1024);
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{CSS}</style></head><body>",
        esc(&title)
    );
    let verdict = if r.passed() {
        "<span class=\"pass\">PASSED</span>"
    } else {
        "<span class=\"fail\">FAILED</span>"
    };
    let _ = writeln!(
        h,
        "<h1>{}</h1>\n<table class=\"meta\">\
         <tr><th>Verdict</th><td>{verdict} (failure rate {:.2}%: {})</td></tr>\
         <tr><th>Target host</th><td>{}</td></tr>\
         <tr><th>Scenario</th><td>{}</td></tr>\
         <tr><th>During</th><td>{} &ndash; {} ({:.0} s)</td></tr>\
         <tr><th>Load model</th><td>{}</td></tr>\
         <tr><th>Seed</th><td>{}</td></tr>\
         <tr><th>Command</th><td><code>{}</code></td></tr></table>",
        esc(&title),
        r.recorder.aggregate.fail_ratio() * 100.0,
        r.failure_band(),
        esc(&m.host),
        esc(&m.scenario),
        m.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        m.ended_at.format("%H:%M:%S UTC"),
        m.duration_s,
        model_text(r),
        m.seed,
        esc(&m.command),
    );
    if m.tls_insecure {
        h.push_str(
            "<p class=\"warn\">HTTPS with --insecure: TLS certificates NOT verified. The \
             traffic was encrypted, but the server it went to was not authenticated.</p>\n",
        );
    }
    if let Some(protocol) = &m.protocol {
        let _ = writeln!(h, "<p>Protocol: {} (--http2)</p>", esc(protocol));
    }
    if let Some(w) = r.saturation.warning() {
        let _ = writeln!(h, "<p class=\"warn\">{}</p>", esc(&w));
    }
    if r.recorder.relogins > 0 || r.recorder.dropped > 0 {
        let _ = writeln!(
            h,
            "<p class=\"note\">Re-logins after a 401: {}. Iterations dropped (no free user in time): {}.</p>",
            r.recorder.relogins, r.recorder.dropped
        );
    }

    super::baseline::html(&mut h, r);
    super::reconciliation::html(&mut h, r);
    super::faults::html(&mut h, r);
    thresholds(&mut h, r);
    super::server::findings_html(&mut h, r);
    request_statistics(&mut h, r);
    percentiles(&mut h, r);
    stages(&mut h, r);
    drift(&mut h, r);
    failures(&mut h, r);
    charts(&mut h, r);
    super::server::html(&mut h, r);
    h.push_str("<footer>Made by loadgen (shopload). Percentiles are exact to 3 significant digits (HdrHistogram).</footer>\n</body></html>\n");
    h
}

fn model_text(r: &Results) -> String {
    if r.recorder.open_model {
        "open (arrival rate): latencies are counted from each iteration's intended start \
         (coordinated omission corrected); the service-time view is shown beside them"
            .to_owned()
    } else {
        "closed (users with think time): latencies are service times".to_owned()
    }
}

fn thresholds(h: &mut String, r: &Results) {
    h.push_str("<h2>Thresholds</h2>\n");
    if r.verdicts.is_empty() {
        h.push_str("<p class=\"note\">No thresholds were set.</p>\n");
        return;
    }
    h.push_str("<table><tr><th>Threshold</th><th>Scope</th><th>Measured</th><th>Needed</th><th>Result</th></tr>\n");
    for v in &r.verdicts {
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&v.threshold),
            esc(&v.scope),
            esc(&v.actual_text),
            esc(&v.limit_text),
            if v.passed {
                "<span class=\"pass\">pass</span>"
            } else {
                "<span class=\"fail\">FAIL</span>"
            }
        );
    }
    h.push_str("</table>\n");
}

fn request_statistics(h: &mut String, r: &Results) {
    // HTTPS runs get the handshakes' own columns: connection set-up is a real cost on staging.
    let tls = r.recorder.aggregate.tls_handshakes > 0;
    h.push_str("<h2>Request Statistics</h2>\n<table><tr><th>Type</th><th>Name</th><th># Requests</th><th># Fails</th><th># Handled</th><th>Average (ms)</th><th>Min (ms)</th><th>Max (ms)</th><th>Average size (bytes)</th><th>RPS</th><th>Failures/s</th>");
    if tls {
        h.push_str("<th>TLS handshakes</th><th>Average handshake (ms)</th>");
    }
    h.push_str("</tr>\n");
    let mut rows: Vec<&Entry> = r.sorted_entries();
    rows.push(&r.recorder.aggregate);
    for e in rows {
        let _ = write!(
            h,
            "<tr{}><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td>",
            if e.method.is_empty() {
                " class=\"total\""
            } else {
                ""
            },
            esc(&e.method),
            esc(&e.name),
            e.requests,
            e.failures,
            e.handled,
            ms(e.avg_ms()),
            ms(e.min_ms()),
            ms(e.max_ms()),
            e.avg_content_size(),
            r.rps(e),
            r.fails_per_s(e),
        );
        if tls {
            let _ = write!(
                h,
                "<td class=\"n\">{}</td><td class=\"n\">{}</td>",
                e.tls_handshakes,
                ms(e.tls_handshake_avg_ms())
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn percentiles(h: &mut String, r: &Results) {
    let open = r.recorder.open_model;
    h.push_str("<h2>Response Time Statistics</h2>\n");
    if open {
        h.push_str("<p class=\"note\">Open model: each row shows the corrected latency (from the intended start) and, below it, the service time (from sending). A gap between them is time requests waited for a free user.</p>\n");
    }
    h.push_str("<table><tr><th>Type</th><th>Name</th><th>View</th>");
    for q in HTML_PERCENTILES {
        let _ = write!(h, "<th>{}%ile (ms)</th>", pct(q));
    }
    h.push_str("</tr>\n");
    let mut rows: Vec<&Entry> = r.sorted_entries();
    rows.push(&r.recorder.aggregate);
    for e in rows {
        let mut views = Vec::new();
        if let Some(c) = &e.corrected {
            views.push(("corrected", c));
        }
        views.push((if open { "service" } else { "response" }, &e.raw));
        for (view, hist) in views {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{view}</td>",
                esc(&e.method),
                esc(&e.name)
            );
            for q in HTML_PERCENTILES {
                let _ = write!(h, "<td class=\"n\">{}</td>", ms(percentile_ms(hist, q)));
            }
            h.push_str("</tr>\n");
        }
    }
    h.push_str("</table>\n");
}

fn stages(h: &mut String, r: &Results) {
    if r.recorder.stages.len() < 2 {
        return;
    }
    h.push_str("<h2>Stages</h2>\n<table><tr><th>Stage</th><th>Users</th><th>Arrival rate</th><th>Duration (s)</th><th># Requests</th><th>RPS</th><th>Fail %</th><th>Average (ms)</th><th>p95 (ms)</th><th>p99 (ms)</th><th>SLOs of the step</th></tr>\n");
    for s in &r.recorder.stages {
        let plan = r.meta.stages.get(s.index);
        let seconds = s.end_s - s.start_s;
        let a = &s.aggregate;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&plan.map_or_else(|| format!("{}", s.index + 1), |p| p.name.clone())),
            plan.map_or(0, |p| p.users),
            plan.and_then(|p| p.arrival_rate)
                .map_or("-".to_owned(), |a| format!("{a}/s")),
            seconds,
            a.requests,
            super::per_second(a.requests, seconds),
            a.fail_ratio() * 100.0,
            ms(a.avg_ms()),
            ms(percentile_ms(a.headline(), 0.95)),
            ms(percentile_ms(a.headline(), 0.99)),
            step_slos(r, s.index),
        );
    }
    h.push_str("</table>\n");
    if !r.stage_slos.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"note\">{}</p>",
            match crate::trend::first_broken(&r.stage_slos) {
                Some(first) => format!(
                    "First step that broke an SLO: <b>stage {}</b> ({} users).",
                    first.stage,
                    r.meta.stages.get(first.stage - 1).map_or(0, |p| p.users)
                ),
                None => "Every step held its SLOs.".to_owned(),
            }
        );
    }
}

/// The SLO thresholds a step broke, or "ok".
fn step_slos(r: &Results, index: usize) -> String {
    match r.stage_slos.iter().find(|s| s.stage == index + 1) {
        Some(slo) if !slo.broken.is_empty() => slo
            .broken
            .iter()
            .map(|v| {
                format!(
                    "<span class=\"fail\">{} ({})</span>",
                    esc(&v.threshold),
                    esc(&v.actual_text)
                )
            })
            .collect::<Vec<_>>()
            .join("<br>"),
        Some(_) => "ok".to_owned(),
        None => "-".to_owned(),
    }
}

fn drift(h: &mut String, r: &Results) {
    let Some(d) = &r.drift else {
        return;
    };
    let _ = writeln!(
        h,
        "<h2>Drift</h2>\n<p class=\"note\">The first {0} s of steady load against the last {0} s.</p>\n\
         <table><tr><th>Window</th><th>Seconds</th><th>Users</th><th># Requests</th><th>Fail %</th><th>p50 (ms)</th><th>p95 (ms)</th></tr>",
        d.window_s
    );
    for (name, w) in [("first", &d.first), ("last", &d.last)] {
        let _ = writeln!(
            h,
            "<tr><td>{name}</td><td class=\"n\">{}-{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            w.from_s,
            w.to_s,
            w.users,
            w.requests,
            w.fail_ratio * 100.0,
            ms(w.p50_ms),
            ms(w.p95_ms)
        );
    }
    h.push_str("</table>\n");
    if d.flags.is_empty() {
        h.push_str("<p>Steady: no drift beyond tolerance.</p>\n");
    }
    for flag in &d.flags {
        let _ = writeln!(h, "<p class=\"fail\">{}</p>", esc(flag));
    }
}

fn failures(h: &mut String, r: &Results) {
    h.push_str("<h2>Failures Statistics</h2>\n");
    if r.recorder.failures.is_empty() {
        h.push_str("<p class=\"note\">No failures.</p>\n");
    } else {
        h.push_str("<table><tr><th># Failures</th><th>Method</th><th>Name</th><th>Message</th><th>First seen</th><th>Last seen</th><th>The server's answer</th></tr>\n");
        for f in r.recorder.failures.values() {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                f.occurrences,
                esc(&f.method),
                esc(&f.name),
                esc(&f.error),
                time(f.first_seen),
                time(f.last_seen),
                esc(f.example.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>\n");
    }
    if !r.recorder.exceptions.is_empty() {
        h.push_str("<h2>Exceptions Statistics</h2>\n<table><tr><th># occurrences</th><th>Message</th></tr>\n");
        for (message, count) in &r.recorder.exceptions {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\">{count}</td><td>{}</td></tr>",
                esc(message)
            );
        }
        h.push_str("</table>\n");
    }
}

fn charts(h: &mut String, r: &Results) {
    let seconds = &r.recorder.seconds;
    if seconds.is_empty() {
        return;
    }
    let marks = Marks::of(r);
    h.push_str(if marks.bands.is_empty() {
        "<h2>Charts</h2>\n<p class=\"note\">Dashed lines mark stage boundaries.</p>\n"
    } else {
        "<h2>Charts</h2>\n<p class=\"note\">Dashed lines mark stage boundaries; shaded bands \
         the injected faults' windows.</p>\n"
    });
    let series = |name: &str, f: &dyn Fn(&crate::stats::Second) -> Option<f64>| Series {
        name: name.to_owned(),
        points: seconds.iter().map(f).collect(),
    };
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
            &r.recorder
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
                .collect::<Vec<_>>(),
            &marks,
        ),
    ];
    for chart in charts {
        // Inline SVG needs no namespace declaration in HTML, and the file then names no URL at all.
        let _ = writeln!(
            h,
            "<div class=\"chart\">{}</div>",
            chart.replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
        );
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

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}\
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left}th{background:#f4f4f4}\
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.total td{font-weight:bold}\
table.meta th{width:9em}.pass{color:#1a7f37;font-weight:bold}.fail{color:#cf222e;font-weight:bold}\
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em}.note{color:#555}\
.chart{margin:1em 0}footer{margin-top:3em;color:#888;font-size:.8em}";
