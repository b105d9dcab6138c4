//! A comparison as one offline page: the table with its verdicts, the gate, and both runs' charts
//! overlaid on one time axis (seconds since each run's start), for the aggregate and for every
//! endpoint whose latency changed significantly. Written with maud: every value inserted is escaped
//! unless its type says it is markup already.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::gate::Check;
use super::{Comparison, Judgement, Metric};
use crate::report::charts::{Marks, Series, line_chart};
use crate::summary::Summary;

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;\
text-align:right}td:first-child,td:nth-child(2),th{text-align:left}.regressed{background:#fdd}\
.improved{background:#dfd}.note{color:#666}.broken{color:#b00;font-weight:bold}svg{max-width:100%}";

pub fn render(c: &Comparison, checks: &[Check], base: &Summary, new: &Summary) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (c.base.path) " vs " (c.new.path) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "Before and after" }
                (runs(c))
                (figures(c, checks))
                (charts(c, base, new))
            }
        }
    };
    let mut page = page.into_string();
    page.push('\n');
    page
}

/// The two runs, and why they are not like for like.
fn runs(c: &Comparison) -> Markup {
    html! {
        @for (label, r) in [("base", &c.base), ("new", &c.new)] {
            p {
                b { (label) } ": " (r.path) " — "
                @if let Some(phase) = &r.phase { "phase " (phase) ", " }
                (r.scenario) ", " (r.started_at) ", " (format!("{:.0}", r.duration_s)) " s, "
                (if r.passed { "passed" } else { "failed" })
            }
        }
        @for d in &c.differences {
            p.broken { "not like for like: " (d) }
        }
    }
}

/// The gate, the table of figures with their verdicts, and what one run has alone.
fn figures(c: &Comparison, checks: &[Check]) -> Markup {
    html! {
        @if !checks.is_empty() {
            h2 { "Regression gate" }
            ul {
                @for k in checks {
                    li class=[k.broken.then_some("broken")] {
                        (if k.broken { "BROKEN" } else { "ok" }) " " (k.limit) " " (k.subject) ": "
                        (k.detail)
                    }
                }
            }
        }
        h2 { "Figures" }
        table {
            tr {
                th { "endpoint" } th { "figure" } th { "base" } th { "new" } th { "change" }
                th { "seconds" } th { "verdict" }
            }
            @for row in &c.rows {
                @let class = match row.judgement {
                    Judgement::Regressed => Some("regressed"),
                    Judgement::Improved => Some("improved"),
                    _ => None,
                };
                tr class=[class] {
                    td { (row.subject) }
                    td { (row.metric.as_str()) }
                    td { (super::render::value(row.base, row.metric)) }
                    td { (super::render::value(row.new, row.metric)) }
                    td { (super::render::change(row)) }
                    td { (row.samples.0) "/" (row.samples.1) }
                    td { (super::render::verdict(row)) }
                }
            }
        }
        @for (title, list) in [("Only in base", &c.only_in_base), ("Only in new", &c.only_in_new)] {
            @if !list.is_empty() {
                p { (title) ": " (list.join(", ")) }
            }
        }
        @for (title, list) in [
            ("Findings that appeared", &c.findings_appeared),
            ("Findings that went away", &c.findings_gone),
        ] {
            @if !list.is_empty() {
                p { (title) ": " (list.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")) }
            }
        }
    }
}

/// Both runs' charts on one time axis: the aggregate, and every endpoint whose latency changed.
fn charts(c: &Comparison, base: &Summary, new: &Summary) -> Markup {
    let pair = |f: &dyn Fn(&Summary) -> Vec<Option<f64>>| {
        vec![
            Series {
                name: "base".into(),
                points: f(base),
            },
            Series {
                name: "new".into(),
                points: f(new),
            },
        ]
    };
    let mut charts = vec![
        line_chart(
            "Requests/s, aggregate",
            "requests/s",
            &pair(&|s| s.series.iter().map(|x| Some(x.requests as f64)).collect()),
            &Marks::default(),
        ),
        line_chart(
            "p95 (ms), aggregate",
            "ms",
            &pair(&|s| s.series.iter().map(|x| x.p95).collect()),
            &Marks::default(),
        ),
    ];
    let changed: Vec<&str> = c
        .rows
        .iter()
        .filter(|r| {
            r.subject != "Aggregated"
                && matches!(r.metric, Metric::P50 | Metric::P95 | Metric::P99)
                && matches!(r.judgement, Judgement::Regressed | Judgement::Improved)
        })
        .map(|r| r.subject.as_str())
        .fold(Vec::new(), |mut v, s| {
            if !v.contains(&s) {
                v.push(s);
            }
            v
        });
    for subject in changed {
        let of = |s: &Summary| -> Vec<Option<f64>> {
            let Some(i) = s
                .endpoints
                .iter()
                .position(|k| format!("{} {}", k.method, k.name) == subject)
            else {
                return Vec::new();
            };
            s.series
                .iter()
                .map(|x| x.endpoints.get(i).and_then(|e| e.p95))
                .collect()
        };
        charts.push(line_chart(
            &format!("p95 (ms), {subject}"),
            "ms",
            &pair(&of),
            &Marks::default(),
        ));
    }
    html! {
        h2 { "Both runs on one time axis" }
        p.note { "seconds since each run's start" }
        @for chart in &charts { (chart) }
    }
}
