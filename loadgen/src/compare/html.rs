//! A comparison as one offline page: the table with its verdicts, the gate, and both runs' charts
//! overlaid on one time axis (seconds since each run's start), for the aggregate and for every
//! endpoint whose latency changed significantly.

use std::fmt::Write as _;

use super::gate::Check;
use super::{Comparison, Judgement, Metric};
use crate::report::charts::{Marks, Series, line_chart};
use crate::report::html::esc;
use crate::summary::Summary;

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;\
text-align:right}td:first-child,td:nth-child(2),th{text-align:left}.regressed{background:#fdd}\
.improved{background:#dfd}.note{color:#666}.broken{color:#b00;font-weight:bold}svg{max-width:100%}";

pub fn render(c: &Comparison, checks: &[Check], base: &Summary, new: &Summary) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} vs {}</title>\
         <style>{CSS}</style></head><body><h1>Before and after</h1>",
        esc(&c.base.path),
        esc(&c.new.path)
    );
    for (label, r) in [("base", &c.base), ("new", &c.new)] {
        let _ = write!(
            h,
            "<p><b>{label}</b>: {} &mdash; {}{}, {}, {:.0} s, {}</p>",
            esc(&r.path),
            r.phase
                .as_deref()
                .map(|p| format!("phase {}, ", esc(p)))
                .unwrap_or_default(),
            esc(&r.scenario),
            esc(&r.started_at),
            r.duration_s,
            if r.passed { "passed" } else { "failed" }
        );
    }
    for d in &c.differences {
        let _ = write!(h, "<p class=\"broken\">not like for like: {}</p>", esc(d));
    }
    if !checks.is_empty() {
        h.push_str("<h2>Regression gate</h2><ul>");
        for k in checks {
            let _ = write!(
                h,
                "<li{}>{} {} {}: {}</li>",
                if k.broken { " class=\"broken\"" } else { "" },
                if k.broken { "BROKEN" } else { "ok" },
                esc(&k.limit),
                esc(&k.subject),
                esc(&k.detail)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str(
        "<h2>Figures</h2><table><tr><th>endpoint</th><th>figure</th><th>base</th><th>new</th>\
         <th>change</th><th>seconds</th><th>verdict</th></tr>",
    );
    for row in &c.rows {
        let class = match row.judgement {
            Judgement::Regressed => " class=\"regressed\"",
            Judgement::Improved => " class=\"improved\"",
            _ => "",
        };
        let _ = write!(
            h,
            "<tr{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td></tr>",
            esc(&row.subject),
            row.metric.as_str(),
            super::render::value(row.base, row.metric),
            super::render::value(row.new, row.metric),
            super::render::change(row),
            row.samples.0,
            row.samples.1,
            esc(&super::render::verdict(row))
        );
    }
    h.push_str("</table>");
    for (title, list) in [
        ("Only in base", &c.only_in_base),
        ("Only in new", &c.only_in_new),
    ] {
        if !list.is_empty() {
            let _ = write!(h, "<p>{title}: {}</p>", esc(&list.join(", ")));
        }
    }
    for (title, list) in [
        ("Findings that appeared", &c.findings_appeared),
        ("Findings that went away", &c.findings_gone),
    ] {
        if !list.is_empty() {
            let names: Vec<&str> = list.iter().map(|f| f.as_str()).collect();
            let _ = write!(h, "<p>{title}: {}</p>", names.join(", "));
        }
    }
    h.push_str(
        "<h2>Both runs on one time axis</h2><p class=\"note\">seconds since each run's start</p>",
    );
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
    h.push_str(&line_chart(
        "Requests/s, aggregate",
        "requests/s",
        &pair(&|s| s.series.iter().map(|x| Some(x.requests as f64)).collect()),
        &Marks::default(),
    ));
    h.push_str(&line_chart(
        "p95 (ms), aggregate",
        "ms",
        &pair(&|s| s.series.iter().map(|x| x.p95).collect()),
        &Marks::default(),
    ));
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
        h.push_str(&line_chart(
            &format!("p95 (ms), {subject}"),
            "ms",
            &pair(&of),
            &Marks::default(),
        ));
    }
    h.push_str("</body></html>\n");
    h
}
